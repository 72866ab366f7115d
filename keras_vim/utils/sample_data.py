"""Small real image sets that ship inside pip packages (no downloads).

Used by the examples that train the shipped presets and by the tests that
check their quality. Needs scikit-image (`pip install keras-vim[examples]`).
"""

import numpy as np

# The split the `super_resolution_photos_2x` preset was trained with.
TRAIN_PHOTOS = (
    "astronaut",
    "rocket",
    "motorcycle_left",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
)
HELD_OUT_PHOTOS = ("chelsea", "coffee")

# Every colour photograph scikit-image ships, by name (`cat` is `chelsea`;
# `motorcycle_left` is one view of a stereo pair, its twin is not used).
COLOUR_PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "hubble_deep_field",
    "immunohistochemistry",
    "motorcycle_left",
    "retina",
    "rocket",
)
# The photo tokenizer's split: every third photograph by name, starting with
# the second, is never seen in training.
TOKENIZER_HELD_OUT_PHOTOS = COLOUR_PHOTOS[1::3]
TOKENIZER_TRAIN_PHOTOS = tuple(
    name for name in COLOUR_PHOTOS if name not in TOKENIZER_HELD_OUT_PHOTOS
)
# scikit-image's greyscale photographs and textures, tinted for training.
GREY_PHOTOS = (
    "brick",
    "camera",
    "cell",
    "clock",
    "coins",
    "grass",
    "gravel",
    "moon",
    "page",
)

# Photographs from another package (scikit-learn's), in no training set here.
OTHER_PACKAGE_PHOTOS = ("china.jpg", "flower.jpg")


def load_photo(name):
    """One scikit-image (or, for `OTHER_PACKAGE_PHOTOS`, scikit-learn)
    photograph as uint8 `(H, W, 3)`; grey ones are repeated over the three
    channels."""
    import skimage.data
    import skimage.io

    if name in OTHER_PACKAGE_PHOTOS:
        from sklearn.datasets import load_sample_image

        return load_sample_image(name)

    if name == "motorcycle_left":
        import os

        path = os.path.join(skimage.data.data_dir, "motorcycle_left.png")
        return skimage.io.imread(path)[..., :3]
    photo = getattr(skimage.data, name)()
    if photo.ndim == 2:
        return np.repeat(photo[..., None], 3, axis=-1)
    return photo[..., :3]


def photo_pyramid(names, scales=(1.0, 0.5), min_size=1):
    """The photos at several scales (more variety of content per pixel);
    a scale that would make a photo smaller than `min_size` is skipped."""
    from PIL import Image

    images = []
    for name in names:
        photo = load_photo(name)
        for scale in scales:
            h, w = photo.shape[:2]
            if min(h, w) * scale < min_size:
                continue
            size = (max(int(w * scale), 1), max(int(h * scale), 1))
            images.append(
                np.asarray(Image.fromarray(photo).resize(size, Image.LANCZOS))
            )
    return images


def random_crops(images, num_crops, size, seed=0, flip=True):
    """`num_crops` random `size x size` uint8 crops, with random flips."""
    rng = np.random.default_rng(seed)
    weights = np.array([im.shape[0] * im.shape[1] for im in images], "float64")
    picks = rng.choice(len(images), size=num_crops, p=weights / weights.sum())
    crops = np.empty((num_crops, size, size, 3), "uint8")
    for i, k in enumerate(picks):
        image = images[k]
        top = rng.integers(0, image.shape[0] - size + 1)
        left = rng.integers(0, image.shape[1] - size + 1)
        crop = image[top : top + size, left : left + size]
        if flip and rng.random() < 0.5:
            crop = crop[:, ::-1]
        crops[i] = crop
    return crops


def photo_crops(split, num_crops, size=64, seed=0):
    """Random crops of the training or held-out photographs.

    Args:
        split: `"train"` or `"held_out"`.
        num_crops: int.
        size: int. Crop height and width.
        seed: int.
    """
    if split not in ("train", "held_out"):
        raise ValueError(
            f"`split` must be 'train' or 'held_out'. Received: split={split!r}"
        )
    names = TRAIN_PHOTOS if split == "train" else HELD_OUT_PHOTOS
    return random_crops(
        photo_pyramid(names), num_crops, size, seed=seed, flip=split == "train"
    )


def augmented_photo_crops(
    num_crops,
    size=64,
    seed=0,
    names=TOKENIZER_TRAIN_PHOTOS,
    grey_names=GREY_PHOTOS,
    grey_fraction=0.25,
    scales=(1.0, 0.5, 0.25),
):
    """Training crops for the photo tokenizer, augmented.

    Each crop picks a photograph uniformly (a large photograph gets no more
    crops than a small one), a scale, a position, one of the 8 flips and
    90-degree rotations, and a colour jitter (brightness, contrast,
    saturation, channel gains). A `grey_fraction` of the crops come from the
    greyscale photographs, tinted with random channel gains.

    Args:
        num_crops: int.
        size: int. Crop height and width.
        seed: int.
        names: colour photographs (`load_photo` names).
        grey_names: greyscale photographs; `()` for none.
        grey_fraction: float. Share of crops from `grey_names`.
        scales: the photographs are resized by each of these factors.

    Returns:
        `(num_crops, size, size, 3)` uint8.
    """
    rng = np.random.default_rng(seed)
    colour = [photo_pyramid([n], scales, min_size=size) for n in names]
    grey = [photo_pyramid([n], scales, min_size=size) for n in grey_names]
    crops = np.empty((num_crops, size, size, 3), "uint8")
    for i in range(num_crops):
        is_grey = bool(grey) and rng.random() < grey_fraction
        pyramid = (grey if is_grey else colour)[
            rng.integers(len(grey if is_grey else colour))
        ]
        image = pyramid[rng.integers(len(pyramid))]
        top = rng.integers(0, image.shape[0] - size + 1)
        left = rng.integers(0, image.shape[1] - size + 1)
        crop = image[top : top + size, left : left + size].astype("float32")
        crop = np.rot90(crop, rng.integers(4))
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        if is_grey:
            crop = crop * rng.uniform(0.55, 1.0, 3)
        crops[i] = _colour_jitter(crop, rng)
    return crops


def _colour_jitter(crop, rng):
    mean = crop.mean()
    crop = (crop - mean) * rng.uniform(0.8, 1.2) + mean  # contrast
    grey = crop.mean(-1, keepdims=True)
    crop = (crop - grey) * rng.uniform(0.7, 1.3) + grey  # saturation
    crop = crop * rng.uniform(0.92, 1.08, 3) + rng.uniform(-20, 20)
    return np.clip(np.round(crop), 0, 255).astype("uint8")


def held_out_photo_crops(name, num_crops, size=64, seed=0):
    """Random, unaugmented crops of one photograph at full and half scale."""
    return random_crops(
        photo_pyramid([name]), num_crops, size, seed=seed, flip=False
    )


def digits(size=32, split="all"):
    """scikit-learn's 1,797 handwritten digits as uint8 RGB images.

    The 8x8 originals (levels 0-16) are upsampled to `size x size` (nearest
    neighbour) and repeated over 3 channels. A fixed, stratified 80/20 split
    separates `"train"` (1,437) from `"test"` (360).

    Returns:
        `(images, labels)`: `(n, size, size, 3)` uint8 and `(n,)` int32.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    images = np.round(data.images * (255.0 / 16.0)).astype("uint8")
    factor = size // 8
    images = images.repeat(factor, axis=1).repeat(factor, axis=2)
    images = np.repeat(images[..., None], 3, axis=-1)
    labels = data.target.astype("int32")
    if split == "all":
        return images, labels
    index = np.arange(len(labels))
    train, test = train_test_split(
        index, test_size=0.2, random_state=0, stratify=labels
    )
    chosen = {"train": train, "test": test}[split]
    return images[chosen], labels[chosen]


def digit_classifier():
    """Logistic regression on the real 8x8 digits (train split): an
    independent judge of which digit a generated image shows.

    Returns:
        A function mapping `(n, H, W, 3)` images in [0, 1] or uint8 to
        predicted labels.
    """
    from sklearn.linear_model import LogisticRegression

    images, labels = digits(8, "train")
    features = images[..., 0].reshape(len(images), -1) / 255.0
    classifier = LogisticRegression(max_iter=2000).fit(features, labels)

    def predict(x):
        return classifier.predict(digit_pixels(x))

    return predict


def digit_pixels(images):
    """`(n, 64)` grey 8x8 pixels in [0, 1] of digit images, as the judges
    read them: averaged over channels, then average-pooled to 8x8.

    Args:
        images: `(n, H, H, channels)`, uint8 or float in [0, 1], `H` a
            multiple of 8.
    """
    x = np.asarray(images, "float64")
    if x.ndim != 4 or x.shape[1] != x.shape[2] or x.shape[1] % 8:
        raise ValueError(
            "Images must have shape (n, H, H, channels) with H a multiple "
            f"of 8. Received: shape={x.shape}"
        )
    if x.max() > 1.0:
        x = x / 255.0
    n, h = len(x), x.shape[1]
    pooled = x.mean(-1).reshape(n, 8, h // 8, 8, h // 8).mean(axis=(2, 4))
    return pooled.reshape(n, -1)


def shifted_copies(images, step=4):
    """`images` moved by -step, 0 and +step pixels along each axis.

    Args:
        images: `(n, H, W, ...)` array.
        step: int. The shift in pixels (4 is one original pixel of the
            32x32 `digits`); zeros fill in.

    Returns:
        The 9 copies `(9 * n, H, W, ...)`, one shift after another (row
        shift `-step`, `0`, `+step`, each with the three column shifts);
        the unshifted images are the fifth block.
    """
    copies = []
    h, w = images.shape[1:3]
    for dy in (-step, 0, step):
        for dx in (-step, 0, step):
            copy = np.zeros_like(images)
            copy[
                :, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)
            ] = images[
                :, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
            ]
            copies.append(copy)
    return np.concatenate(copies)
