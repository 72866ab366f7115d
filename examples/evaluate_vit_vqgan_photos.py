"""Measures the `vit_vqgan_photos_64` preset on photographs it never saw.

Reports, on random 64x64 crops of scikit-image's held-out photographs
(`chelsea`, `coffee`):
- PSNR of the ViT-VQGAN reconstruction;
- PSNR of a classical vector quantizer with the same token grid and codebook
  size: k-means (scikit-learn MiniBatchKMeans) over the 8x8 patches of the
  same kind of training crops the model saw;
- PSNR of PIL JPEG at the smallest size it can reach, for reference;
- bits per pixel (a token costs log2(codebook size) bits) and the fraction
  of the codebook used on the held-out crops.

    KERAS_BACKEND=jax python examples/evaluate_vit_vqgan_photos.py
"""

import argparse
import json
import math

import numpy as np

import keras_vim
from keras_vim.utils.image_utils import jpeg_roundtrip
from keras_vim.utils.image_utils import psnr
from keras_vim.utils.image_utils import save_image_grid
from keras_vim.utils.preset_evaluation import kmeans_psnr
from keras_vim.utils.sample_data import photo_crops


def jpeg_at_budget(images, budget_bytes):
    """JPEG at the highest quality within the byte budget, or quality 1."""
    results = []
    for image in images:
        best = None
        for quality in range(1, 96):
            decoded, size = jpeg_roundtrip(image, quality)
            if size > budget_bytes and best is not None:
                break
            best = (decoded, size)
        results.append(best)
    decoded = np.stack([r[0] for r in results])
    return psnr(images, decoded), float(np.mean([r[1] for r in results]))


def evaluate(
    preset="vit_vqgan_photos_64",
    num_crops=256,
    num_train_crops=2048,
    seed=1,
    grid_path=None,
):
    model = keras_vim.ViTVQGAN.from_preset(preset)
    b = model.backbone
    test = photo_crops("held_out", num_crops, size=b.image_size, seed=seed)
    train = photo_crops("train", num_train_crops, size=b.image_size, seed=seed)
    token_ids = model.encode(test)
    recon = model.decode(token_ids)
    bits_per_token = math.log2(b.codebook_size)
    bits = token_ids[0].size * bits_per_token
    jpeg_psnr, jpeg_bytes = jpeg_at_budget(test, bits / 8)
    results = {
        "preset": preset,
        "num_held_out_crops": num_crops,
        "psnr_vit_vqgan": round(psnr(test, recon), 2),
        "psnr_kmeans": round(
            kmeans_psnr(train, test, b.codebook_size, b.patch_size), 2
        ),
        "psnr_jpeg": round(jpeg_psnr, 2),
        "jpeg_bytes_per_image": round(jpeg_bytes, 1),
        "vq_bytes_per_image": bits / 8,
        "bits_per_pixel": round(bits / b.image_size**2, 4),
        "codebook_usage": round(len(np.unique(token_ids)) / b.codebook_size, 4),
    }
    if grid_path:
        save_image_grid(
            np.concatenate(
                [test[:8], (recon[:8] * 255).round().astype("uint8")]
            ),
            grid_path,
            columns=8,
        )
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="vit_vqgan_photos_64")
    parser.add_argument("--num-crops", type=int, default=256)
    parser.add_argument("--grid", default="vit_vqgan_photos_64_held_out.png")
    args = parser.parse_args()
    print(
        json.dumps(
            evaluate(args.preset, args.num_crops, grid_path=args.grid), indent=2
        )
    )
