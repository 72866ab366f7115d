"""Images out as arrays and as PNG files a person can look at."""

import io
import math

import numpy as np


def psnr(images, reconstructions):
    """Mean PSNR in dB over a batch, images in [0, 1] (or uint8)."""
    a = _to_unit_float(images)
    b = _to_unit_float(reconstructions)
    mse = np.mean(np.square(a - b), axis=tuple(range(1, a.ndim)))
    return float(np.mean(10.0 * np.log10(1.0 / np.maximum(mse, 1e-10))))


def _to_unit_float(images):
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images.astype("float64") / 255.0
    return images.astype("float64")


def image_grid(images, columns=None, padding=2):
    """Tiles `(batch, H, W, C)` images into one uint8 `(H', W', C)` array."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        images = np.round(np.clip(images, 0.0, 1.0) * 255.0).astype("uint8")
    n, h, w, c = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    grid = np.full(
        (rows * (h + padding) + padding, columns * (w + padding) + padding, c),
        255,
        "uint8",
    )
    for i, image in enumerate(images):
        top = padding + (i // columns) * (h + padding)
        left = padding + (i % columns) * (w + padding)
        grid[top : top + h, left : left + w] = image
    return grid


def save_image_grid(images, path, columns=None):
    """Writes `images` as one PNG grid to `path`; returns the path."""
    from PIL import Image

    Image.fromarray(image_grid(images, columns)).save(path)
    return path


def jpeg_roundtrip(image, quality):
    """JPEG-compresses one uint8 image; returns `(decoded, num_bytes)`."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    size = buffer.tell()
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB")), size
