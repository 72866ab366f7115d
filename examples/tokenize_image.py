"""Tokenizes an image with a ViT-VQGAN preset and writes the reconstruction.

The image is cut into tiles of the model's input size, each tile becomes a
grid of code ids, and the decoded tiles are stitched back. Writes a PNG with
the original (left) and the reconstruction (right) and the token ids as
`.npy`, and prints PSNR and bits per pixel.

    python examples/tokenize_image.py                  # scikit-image's cat
    python examples/tokenize_image.py --image my.png --output recon.png
"""

import argparse
import math

import numpy as np
from PIL import Image

import keras_vim
from keras_vim.utils.image_utils import psnr


def tile(image, size):
    rows, cols = image.shape[0] // size, image.shape[1] // size
    image = image[: rows * size, : cols * size]
    tiles = image.reshape(rows, size, cols, size, 3).transpose(0, 2, 1, 3, 4)
    return tiles.reshape(-1, size, size, 3), rows, cols


def untile(tiles, rows, cols):
    size = tiles.shape[1]
    x = tiles.reshape(rows, cols, size, size, 3).transpose(0, 2, 1, 3, 4)
    return x.reshape(rows * size, cols * size, 3)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="vit_vqgan_photos_64")
    parser.add_argument(
        "--image", default=None, help="defaults to skimage's chelsea"
    )
    parser.add_argument("--output", default="reconstruction.png")
    args = parser.parse_args()

    if args.image:
        image = np.asarray(Image.open(args.image).convert("RGB"))
    else:
        from keras_vim.utils.sample_data import load_photo

        image = load_photo("chelsea")
    model = keras_vim.ViTVQGAN.from_preset(args.preset)
    size = model.backbone.image_size
    if min(image.shape[:2]) < size:
        raise ValueError(
            f"--image must be at least {size}x{size}. "
            f"Received: {image.shape[:2]}"
        )
    tiles, rows, cols = tile(image, size)
    token_ids = model.encode(tiles)
    reconstruction = model.decode(token_ids)
    original = untile(tiles, rows, cols)
    recon = np.round(untile(reconstruction, rows, cols) * 255).astype("uint8")
    Image.fromarray(np.concatenate([original, recon], axis=1)).save(args.output)
    ids_path = args.output.rsplit(".", 1)[0] + "_token_ids.npy"
    np.save(ids_path, token_ids)
    bits = token_ids.size * math.log2(model.backbone.codebook_size)
    print(
        f"{token_ids.size} tokens ({token_ids.shape[0]} tiles of "
        f"{token_ids.shape[1]}x{token_ids.shape[2]}), "
        f"{bits / original.shape[0] / original.shape[1]:.3f} bits/pixel, "
        f"PSNR {psnr(original, recon):.2f} dB -> {args.output}, {ids_path}"
    )


if __name__ == "__main__":
    main()
