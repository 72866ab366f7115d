"""Measures the `vit_vqgan_photos_64` preset on photographs it never saw.

For each held-out scikit-image photograph (`TOKENIZER_HELD_OUT_PHOTOS`:
every third colour photograph by name, starting with the second) and each of
scikit-learn's two sample photographs (another package, never trained on),
on random 64x64 crops at full and half scale:
- PSNR and SSIM of the ViT-VQGAN reconstruction;
- the same for k-means over 8x8 patches with the model's codebook size,
  fitted on augmented crops of the model's own training photographs (the
  classical vector quantizer with the same grid and the same bits);
- `block_boundary_ratio` (pixel steps across token boundaries over steps
  inside tokens) of the reconstructions, k-means and the originals;
- the codebook usage; and all of these on the held-out scikit-image crops
  together (where the preset's bars are: `held_out_together`).

    KERAS_BACKEND=jax python examples/evaluate_vit_vqgan_photos.py
"""

import argparse
import json

import numpy as np

import keras_vim
from keras_vim.utils.image_utils import save_image_grid
from keras_vim.utils.sample_data import OTHER_PACKAGE_PHOTOS
from keras_vim.utils.sample_data import TOKENIZER_HELD_OUT_PHOTOS
from keras_vim.utils.sample_data import augmented_photo_crops
from keras_vim.utils.sample_data import held_out_photo_crops
from keras_vim.utils.tokenizer_evaluation import fit_patch_kmeans
from keras_vim.utils.tokenizer_evaluation import reconstruction_quality


def evaluate(
    preset="vit_vqgan_photos_64",
    photos=TOKENIZER_HELD_OUT_PHOTOS + OTHER_PACKAGE_PHOTOS,
    crops_per_photo=128,
    num_train_crops=8192,
    seed=1,
    grid_path=None,
):
    """Per-photograph and pooled quality of a photo tokenizer preset."""
    model = keras_vim.ViTVQGAN.from_preset(preset)
    size = model.backbone.image_size
    codebook_size = model.backbone.codebook_size
    train = augmented_photo_crops(num_train_crops, size=size, seed=seed)
    kmeans = fit_patch_kmeans(train, codebook_size, model.backbone.patch_size)
    crops = {
        name: held_out_photo_crops(name, crops_per_photo, size, seed=seed)
        for name in photos
    }
    rows, grid = {}, []
    for name, images in crops.items():
        result = reconstruction_quality(model, kmeans, images)
        recon = result.pop("reconstructions")
        token_ids = result.pop("token_ids")
        result["codebook_usage"] = len(np.unique(token_ids)) / codebook_size
        rows[name] = result
        grid += [images[:6], (recon[:6] * 255).round().astype("uint8")]
    # The bars are on the held-out scikit-image photographs together.
    held_out = np.concatenate(
        [crops[n] for n in photos if n in TOKENIZER_HELD_OUT_PHOTOS]
    )
    pooled = reconstruction_quality(model, kmeans, held_out)
    token_ids = pooled.pop("token_ids")
    pooled.pop("reconstructions")
    pooled["codebook_usage"] = len(np.unique(token_ids)) / codebook_size
    if grid_path:
        save_image_grid(np.concatenate(grid), grid_path, columns=6)
    return {
        "preset": preset,
        "crops_per_photo": crops_per_photo,
        "bits_per_pixel": token_ids[0].size * np.log2(codebook_size) / size**2,
        "photos": rows,
        "held_out_together": pooled,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="vit_vqgan_photos_64")
    parser.add_argument("--crops-per-photo", type=int, default=128)
    parser.add_argument("--grid", default="vit_vqgan_photos_64_held_out.png")
    args = parser.parse_args()
    results = evaluate(
        args.preset, crops_per_photo=args.crops_per_photo, grid_path=args.grid
    )
    print(json.dumps(results, indent=2))
