import keras
import numpy as np
from keras import ops

from keras_vim.utils.validation import validate_images
from keras_vim.utils.validation import validate_token_ids
from keras_vim.utils.validation import warn_if_cropped


class ViTVQGANInferenceModel(keras.Model):
    """One direction of a ViT-VQGAN backbone as a model, for `predict`.

    `ViTVQGAN.encode` and `decode` batch their inputs through this model. It
    is subclassed rather than functional on purpose: the quantizer reads its
    codebook outside a layer call, which a functional graph would freeze as
    a constant when it is built, so that a later `fit`, `load_weights` or
    `assign` would not reach it. Here `call` runs the backbone method
    whenever `predict` traces it, with the backbone's variables (which this
    model tracks, and shares) as they are then, on every backend. It holds
    no weights of its own and is never saved.

    Args:
        backbone: a `keras_vim.ViTVQGANBackbone`.
        kind: `"encode"` (images in `[0, 1]` -> `(batch, num_patches)` int32
            ids) or `"decode"` (ids -> float32 images in `[0, 1]`).

    Example:
    ```python
    encoder = ViTVQGANInferenceModel(backbone, "encode")
    token_ids = encoder.predict_batches(images, batch_size=32)
    ```
    """

    def __init__(self, backbone, kind, **kwargs):
        if kind not in ("encode", "decode"):
            raise ValueError(
                f"`kind` must be 'encode' or 'decode'. Received: kind={kind!r}"
            )
        super().__init__(**kwargs)
        self.backbone = backbone
        self.kind = kind

    def call(self, inputs):
        if self.kind == "encode":
            return self.backbone.encode_to_ids(inputs)
        return self.backbone.decode_from_ids(inputs)

    def predict_batches(self, inputs, batch_size, verbose="auto"):
        """`predict` to numpy, with an empty result for empty `inputs`.

        Args:
            inputs: numpy array, images for `"encode"`, ids for `"decode"`.
            batch_size: int. Examples per batch.
            verbose: progress bar; `"auto"` shows one when there is more
                than one batch.
        """
        b = self.backbone
        if self.kind == "encode":
            shape, dtype = (b.grid_size**2,), "int32"
        else:
            shape, dtype = (
                (b.image_size, b.image_size, b.num_channels),
                "float32",
            )
        if len(inputs) == 0:
            # Never `predict` on nothing: on JAX that leaves the shared
            # variables without values.
            return np.zeros((0,) + shape, dtype)
        if verbose == "auto":
            verbose = 1 if len(inputs) > batch_size else 0
        outputs = self.predict(inputs, batch_size=batch_size, verbose=verbose)
        return np.asarray(outputs, dtype)


def model_images(backbone, preprocessor, images):
    """Checked user images -> float32 model input at the model's size."""
    b = backbone
    images = validate_images(
        images, num_channels=b.num_channels, patch_size=b.patch_size
    )
    if preprocessor is not None:
        warn_if_cropped(images.shape, b.image_size)
        images = preprocessor(images)
    elif images.dtype == np.uint8:
        images = images.astype("float32") / 255.0
    images = ops.convert_to_numpy(images)
    if images.shape[1:3] != (b.image_size, b.image_size):
        raise ValueError(
            f"`images` must be {b.image_size}x{b.image_size} (or attach a "
            "preprocessor that resizes). Received: images.shape="
            f"{tuple(images.shape)}"
        )
    return images.astype("float32")


def flat_token_ids(backbone, token_ids):
    """Checked `(batch, g, g)` or `(batch, g * g)` ids -> `(batch, g * g)`."""
    ids = validate_token_ids(token_ids, backbone.codebook_size)
    g = backbone.grid_size
    if ids.ndim == 1 or ids.shape[-(ids.ndim - 1) :] not in (
        (g, g),
        (g * g,),
    ):
        raise ValueError(
            f"`token_ids` must have shape (batch, {g}, {g}) or "
            f"(batch, {g * g}). "
            f"Received: token_ids.shape={tuple(ids.shape)}"
        )
    return ids.reshape(-1, g * g)
