"""Small real image sets that ship inside pip packages (no downloads).

Used by the examples that train the shipped presets and by the tests that
check their quality. Needs scikit-image (`pip install keras-vim[examples]`).
"""

import numpy as np

# Colour photographs bundled with scikit-image. The held-out ones are never
# seen in training: quality is measured on them.
TRAIN_PHOTOS = (
    "astronaut",
    "rocket",
    "motorcycle_left",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
)
HELD_OUT_PHOTOS = ("chelsea", "coffee")


def load_photo(name):
    """One scikit-image colour photograph as uint8 `(H, W, 3)`."""
    import skimage.data
    import skimage.io

    if name == "motorcycle_left":
        import os

        path = os.path.join(skimage.data.data_dir, "motorcycle_left.png")
        return skimage.io.imread(path)[..., :3]
    return getattr(skimage.data, name)()[..., :3]


def photo_pyramid(names, scales=(1.0, 0.5)):
    """The photos at several scales (more variety of content per pixel)."""
    from PIL import Image

    images = []
    for name in names:
        photo = load_photo(name)
        for scale in scales:
            h, w = photo.shape[:2]
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
