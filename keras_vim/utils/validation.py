"""Checks of user input at the public boundary, with messages that say what
was received and what is allowed."""

import numbers
import warnings

import numpy as np
from keras import ops


def to_numpy(value, name="value"):
    """Converts numpy, lists, and backend tensors to numpy."""
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (list, tuple)):
        try:
            return np.asarray(value)
        except ValueError as e:
            raise ValueError(
                f"`{name}` must be one array, or a list of equally shaped "
                f"arrays. Received a ragged list ({e})"
            ) from None
    return ops.convert_to_numpy(value)


def validate_images(images, name="images", num_channels=3, patch_size=None):
    """Returns `images` as a batched numpy array after checking it.

    Accepts `(H, W, C)` or `(batch, H, W, C)`, uint8 in [0, 255] or float in
    [0, 1]. Raises `ValueError` on ragged lists, booleans, the wrong rank or
    channel count, a size not divisible by `patch_size`, NaN/inf, or
    out-of-range values.
    """
    array = to_numpy(images, name)
    if array.dtype == bool:
        raise ValueError(
            f"`{name}` must be uint8 in [0, 255] or float in [0, 1], not "
            "boolean (it would read as almost black). Received: "
            f"{name}.dtype=bool; pass `{name}.astype('uint8') * 255` for "
            "a black and white image."
        )
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4:
        raise ValueError(
            f"`{name}` must have shape (batch, height, width, {num_channels}) "
            f"or (height, width, {num_channels}). Received: {name}.shape="
            f"{tuple(array.shape)}"
        )
    if array.shape[-1] != num_channels:
        raise ValueError(
            f"`{name}` must have {num_channels} channels in the last axis. "
            f"Received: {name}.shape={tuple(array.shape)}"
        )
    if patch_size and (
        array.shape[1] % patch_size or array.shape[2] % patch_size
    ):
        raise ValueError(
            f"`{name}` height and width must be multiples of the patch size "
            f"{patch_size}. Received: {name}.shape={tuple(array.shape)}"
        )
    if array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.integer):
        if array.size and (array.min() < 0 or array.max() > 255):
            raise ValueError(
                f"Integer `{name}` must be in [0, 255]. Received values in "
                f"[{array.min()}, {array.max()}]"
            )
        return array.astype("uint8")
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(
            f"`{name}` must be uint8 in [0, 255] or float in [0, 1]. "
            f"Received: {name}.dtype={array.dtype}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(
            f"`{name}` contains NaN or infinite values "
            f"({int(np.sum(~np.isfinite(array)))} of {array.size})."
        )
    if array.size and (array.min() < 0.0 or array.max() > 1.0):
        raise ValueError(
            f"Float `{name}` must be in [0, 1] (use uint8 for [0, 255]). "
            f"Received values in [{array.min():.4g}, {array.max():.4g}]"
        )
    return array.astype("float32")


def warn_if_cropped(image_shape, size, name="images"):
    """Warns that non-square images lose their sides to the centre crop.

    keras-hub's `ImageConverter` crops to the model's (square) aspect ratio
    before resizing, which drops part of the picture.
    """
    height, width = image_shape[1:3]
    if height is not None and width is not None and height != width:
        side = min(height, width)
        warnings.warn(
            f"`{name}` are {height}x{width}, not square: the image converter "
            f"keeps only their centre {side}x{side} square (then resizes "
            f"it to {size}x{size}). Pad or crop them yourself to choose "
            "what is kept.",
            stacklevel=3,
        )


def validate_token_ids(token_ids, vocabulary_size, name="token_ids"):
    """Returns `token_ids` as int32 numpy after checking dtype and range."""
    array = to_numpy(token_ids)
    if not (np.issubdtype(array.dtype, np.integer)):
        raise ValueError(
            f"`{name}` must be integers. Received: {name}.dtype={array.dtype}"
        )
    if array.size and (array.min() < 0 or array.max() >= vocabulary_size):
        bad = array[(array < 0) | (array >= vocabulary_size)]
        raise ValueError(
            f"`{name}` must be in [0, {vocabulary_size}). Received "
            f"{bad.size} out-of-range values, e.g. {int(bad.flat[0])}"
        )
    return array.astype("int32")


def is_array_like(x):
    """Whether `x` is an array (numpy, backend tensor) or a list of values."""
    return isinstance(x, (np.ndarray, list)) or hasattr(x, "shape")


def is_number(value):
    """A real number (numpy scalars included), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_int(value):
    """An integer (numpy integers included), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_positive_int(name, value, allow_none=False):
    """`value` as a Python int after checking it is an int >= 1."""
    # Python ints: torch's data loader rejects numpy integers.
    if allow_none and value is None:
        return None
    if not is_int(value) or value < 1:
        raise ValueError(
            f"`{name}` must be an int >= 1"
            + (" or None" if allow_none else "")
            + f". Received: {name}={value!r}"
        )
    return int(value)
