"""How well an image tokenizer reconstructs photographs it never saw.

The yardsticks of the photo tokenizer preset: PSNR and SSIM against a
classical vector quantizer with the same token grid and codebook size
(k-means over patches), codebook usage, and whether the token grid shows
(`block_boundary_ratio`). Needs scikit-learn and scikit-image.
"""

import numpy as np

from keras_vim.utils.image_utils import psnr


def image_patches(images, patch_size):
    """`(n * tokens, patch_size**2 * channels)` non-overlapping patches."""
    n, h, w, c = images.shape
    p = patch_size
    x = images.reshape(n, h // p, p, w // p, p, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, p * p * c)


def images_from_patches(flat, n, size, patch_size, channels=3):
    """Inverse of `image_patches` for square images."""
    g, p = size // patch_size, patch_size
    x = flat.reshape(n, g, g, p, p, channels).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(n, size, size, channels)


def fit_patch_kmeans(train, codebook_size, patch_size, seed=0):
    """scikit-learn `MiniBatchKMeans` over the patches of uint8 `train`."""
    from sklearn.cluster import MiniBatchKMeans

    kmeans = MiniBatchKMeans(
        codebook_size, batch_size=4096, n_init=1, random_state=seed, max_iter=50
    )
    return kmeans.fit(
        image_patches(train.astype("float32") / 255.0, patch_size)
    )


def kmeans_reconstruct(kmeans, images, patch_size):
    """Every patch of uint8 `images` replaced by its nearest centre, in
    [0, 1]."""
    flat = image_patches(images.astype("float32") / 255.0, patch_size)
    quantized = kmeans.cluster_centers_[kmeans.predict(flat)]
    recon = images_from_patches(
        quantized, len(images), images.shape[1], patch_size
    )
    return np.clip(recon, 0.0, 1.0)


def kmeans_psnr(train, test, codebook_size, patch_size, seed=0):
    """PSNR on uint8 `test` of k-means fitted on the patches of `train`."""
    kmeans = fit_patch_kmeans(train, codebook_size, patch_size, seed)
    return psnr(test, kmeans_reconstruct(kmeans, test, patch_size))


def block_boundary_ratio(images, patch_size):
    """Mean absolute step between neighbouring pixels across token
    boundaries, divided by the mean step inside tokens.

    About 1 for photographs; a tokenizer that draws every token as an
    isolated patch raises it (flat blocks with steps at their edges).

    Args:
        images: `(n, H, W, channels)`, uint8 or float.
        patch_size: int. The token grid's cell size.
    """
    x = np.asarray(images, "float64")
    across = np.arange(1, x.shape[2]) % patch_size == 0
    down = np.arange(1, x.shape[1]) % patch_size == 0
    dx = np.abs(np.diff(x, axis=2))
    dy = np.abs(np.diff(x, axis=1))
    boundary = np.concatenate(
        [dx[:, :, across].ravel(), dy[:, down].ravel()]
    ).mean()
    inside = np.concatenate(
        [dx[:, :, ~across].ravel(), dy[:, ~down].ravel()]
    ).mean()
    return float(boundary / inside)


def mean_step(images):
    """Mean absolute step between neighbouring pixels (rows and columns),
    in [0, 1] units: how much detail an image has. An L2-trained decoder
    blurs, so its reconstructions' is below the originals'."""
    x = _unit(images)
    steps = [np.abs(np.diff(x, axis=axis)).ravel() for axis in (1, 2)]
    return float(np.concatenate(steps).mean())


def mean_ssim(images, reconstructions):
    """Mean scikit-image `structural_similarity` over the images."""
    from skimage.metrics import structural_similarity

    a = _unit(images)
    b = _unit(reconstructions)
    return float(
        np.mean(
            [
                structural_similarity(x, y, channel_axis=-1, data_range=1.0)
                for x, y in zip(a, b)
            ]
        )
    )


def _unit(images):
    x = np.asarray(images)
    if x.dtype == np.uint8:
        return x.astype("float64") / 255.0
    return x.astype("float64")


def reconstruction_quality(tokenizer, kmeans, images):
    """The tokenizer against k-means on uint8 `images`.

    Args:
        tokenizer: a `keras_vim.ViTVQGAN`.
        kmeans: from `fit_patch_kmeans`, with the tokenizer's codebook size
            and patch size.
        images: `(n, size, size, 3)` uint8.

    Returns:
        A dict of PSNR, SSIM and `block_boundary_ratio` for the tokenizer,
        k-means and the originals, the PSNR margin, the tokenizer's
        `detail_ratio` (its `mean_step` over the originals'), the token ids
        and the reconstructions.
    """
    patch_size = tokenizer.backbone.patch_size
    token_ids = tokenizer.encode(images, verbose=0)
    recon = tokenizer.decode(token_ids, verbose=0)
    classical = kmeans_reconstruct(kmeans, images, patch_size)
    result = {
        "psnr": psnr(images, recon),
        "kmeans_psnr": psnr(images, classical),
        "ssim": mean_ssim(images, recon),
        "kmeans_ssim": mean_ssim(images, classical),
        "block_ratio": block_boundary_ratio(recon, patch_size),
        "original_block_ratio": block_boundary_ratio(images, patch_size),
        "kmeans_block_ratio": block_boundary_ratio(classical, patch_size),
        "detail_ratio": mean_step(recon) / mean_step(images),
    }
    result["margin"] = result["psnr"] - result["kmeans_psnr"]
    result["block_ratio_change"] = (
        result["block_ratio"] / result["original_block_ratio"] - 1.0
    )
    result = {k: round(float(v), 4) for k, v in result.items()}
    result["token_ids"] = token_ids
    result["reconstructions"] = recon
    return result


def jpeg_rate_distortion(images, qualities):
    """PIL JPEG's `(bits per pixel, PSNR)` at each quality, headers excluded.

    A JPEG file carries ~600 bytes of headers and tables whatever the
    image. The payload counted here is the file size minus the size of a
    flat grey image of the same shape at the same quality, so JPEG is
    charged only for what it spends on the content.

    Args:
        images: `(n, H, W, 3)` uint8.
        qualities: iterable of PIL JPEG qualities (1-95).

    Returns:
        A list of `(quality, bits_per_pixel, psnr)`.
    """
    from keras_vim.utils.image_utils import jpeg_roundtrip

    pixels = images.shape[1] * images.shape[2]
    grey = np.full_like(images[0], 128)
    points = []
    for quality in qualities:
        _, flat_bytes = jpeg_roundtrip(grey, quality)
        decoded, sizes = zip(*(jpeg_roundtrip(x, quality) for x in images))
        payload = max(float(np.mean(sizes)) - flat_bytes, 0.0)
        points.append(
            (quality, payload * 8 / pixels, psnr(images, np.stack(decoded)))
        )
    return points
