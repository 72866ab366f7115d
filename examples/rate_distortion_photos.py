"""Rate-distortion of photo tokenizers, k-means and JPEG on held-out crops.

PSNR against bits per pixel on 64x64 crops of the photographs the tokenizer
never saw (`TOKENIZER_HELD_OUT_PHOTOS`), for:
- each trained ViT-VQGAN given (a token costs log2(codebook size) bits);
- k-means over the same 8x8 patches at several codebook sizes, fitted on
  augmented crops of the tokenizer's training photographs;
- PIL JPEG at qualities 1-95, headers excluded (payload = file bytes minus
  the bytes of a flat grey image at the same quality).

The README's figure:

    KERAS_BACKEND=jax python examples/rate_distortion_photos.py \
        --tokenizers vit_vqgan_photos_64 photos_128_codes \
        --output examples/rate_distortion_photos.png

(`photos_128_codes` is a 128-code run of `examples/train_vit_vqgan_photos.py`
from the shipped preset; README has its command.) Needs matplotlib.
"""

import argparse
import json
import math
import os

import numpy as np

import keras_vim
from keras_vim.utils.image_utils import psnr
from keras_vim.utils.sample_data import TOKENIZER_HELD_OUT_PHOTOS
from keras_vim.utils.sample_data import augmented_photo_crops
from keras_vim.utils.sample_data import held_out_photo_crops
from keras_vim.utils.tokenizer_evaluation import jpeg_rate_distortion
from keras_vim.utils.tokenizer_evaluation import kmeans_psnr


def rate_distortion(tokenizers, codebook_sizes, crops_per_photo=128, seed=1):
    test = np.concatenate(
        [
            held_out_photo_crops(name, crops_per_photo, seed=seed)
            for name in TOKENIZER_HELD_OUT_PHOTOS
        ]
    )
    train = augmented_photo_crops(8192, seed=seed)
    pixels = test.shape[1] * test.shape[2]
    curves = {"tokenizer": [], "kmeans": [], "jpeg": []}
    for preset in tokenizers:
        model = keras_vim.ViTVQGAN.from_preset(preset)
        b = model.backbone
        token_ids = model.encode(test, verbose=0)
        bpp = token_ids[0].size * math.log2(b.codebook_size) / pixels
        quality = psnr(test, model.decode(token_ids, verbose=0))
        curves["tokenizer"].append((preset, bpp, quality))
    for size in codebook_sizes:
        bpp = (pixels // 64) * math.log2(size) / pixels
        curves["kmeans"].append((size, bpp, kmeans_psnr(train, test, size, 8)))
    curves["jpeg"] = jpeg_rate_distortion(test, range(1, 96, 2))
    return curves


def plot(curves, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    jpeg = [p for p in curves["jpeg"] if p[1] <= 0.5]
    ax.plot(
        [p[1] for p in jpeg], [p[2] for p in jpeg], ".-", label="JPEG payload"
    )
    kmeans = curves["kmeans"]
    ax.plot(
        [p[1] for p in kmeans],
        [p[2] for p in kmeans],
        "s--",
        label="k-means, 8x8 patches",
    )
    for name, bpp, quality in curves["tokenizer"]:
        ax.plot(bpp, quality, "r*", markersize=12)
        ax.annotate(
            os.path.basename(os.path.normpath(name)),
            (bpp, quality),
            textcoords="offset points",
            xytext=(9, -4),
            fontsize=8,
        )
    ax.plot([], [], "r*", label="ViT-VQGAN (trained)")
    ax.set_xlabel("bits per pixel")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title("64x64 crops of chelsea, immunohistochemistry, rocket")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--tokenizers", nargs="+", default=["vit_vqgan_photos_64"]
    )
    parser.add_argument(
        "--codebook-sizes",
        type=int,
        nargs="+",
        default=[64, 128, 256, 512, 1024],
    )
    parser.add_argument("--output", default="rate_distortion_photos.png")
    args = parser.parse_args()
    curves = rate_distortion(args.tokenizers, args.codebook_sizes)
    print(json.dumps(curves, indent=2))
    plot(curves, args.output)
    print(f"saved {args.output}")


if __name__ == "__main__":
    main()
