import keras
import numpy as np
from keras import ops
from keras_hub.models import Task

from keras_vim.models.super_resolution.super_resolution_backbone import (
    SuperResolutionBackbone,
)
from keras_vim.models.vit_vqgan.vit_vqgan_decoder import logit
from keras_vim.models.vit_vqgan.vit_vqgan_decoder import map_pixels
from keras_vim.models.vit_vqgan.vit_vqgan_losses import l2_loss
from keras_vim.models.vit_vqgan.vit_vqgan_losses import logit_laplace_loss
from keras_vim.utils.compile_config import compile_from_saved_config
from keras_vim.utils.preset_utils import load_preset
from keras_vim.utils.shuffled_fit import shuffled_fit_inputs
from keras_vim.utils.validation import check_positive_int
from keras_vim.utils.validation import is_array_like
from keras_vim.utils.validation import validate_images


@keras.saving.register_keras_serializable(package="keras_vim")
class SuperResolution(Task):
    """Upsamples images 2x or 4x: the last stage of text-to-image.

    `fit(low_resolution, high_resolution)` with the L2 loss of ViT-VQGAN
    (mean squared error on [0, 1] pixels) by default; `upscale(images)`
    returns float32 images in [0, 1]. Images may be uint8 in [0, 255] or
    float in [0, 1], of any size: the high-resolution ones must be
    `backbone.scale` times larger. Attach a trained one to Babeldraw
    (`Babeldraw(..., super_resolution=...)`) to get upsampled samples from
    `generate(..., upscale=True)`.

    Args:
        backbone: a `keras_vim.SuperResolutionBackbone`.
        preprocessor: unused (images are checked and scaled to [0, 1]
            here); accepted for keras-hub's `from_preset`.

    Example:
    ```python
    model = keras_vim.SuperResolution(
        keras_vim.SuperResolutionBackbone(scale=2)
    )
    model.compile()
    model.fit(low_res_uint8, high_res_uint8, batch_size=16, epochs=10)
    model.upscale(low_res_uint8).shape  # (n, 2 * h, 2 * w, 3)
    ```
    """

    backbone_cls = SuperResolutionBackbone

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        return load_preset(super().from_preset, preset, load_weights, **kwargs)

    def __init__(self, backbone, preprocessor=None, **kwargs):
        kwargs.setdefault("name", "super_resolution")
        if not isinstance(backbone, SuperResolutionBackbone):
            raise ValueError(
                "`backbone` must be a `keras_vim.SuperResolutionBackbone`. "
                f"Received: backbone={type(backbone).__name__}"
            )
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = None
        # === Functional model ===
        super().__init__(
            inputs=backbone.input, outputs=backbone.output, **kwargs
        )

    def compile(
        self,
        optimizer="auto",
        loss="auto",
        l2_weight=1.0,
        logit_laplace_weight=0.1,
        **kwargs,
    ):
        """Configures training.

        Args:
            optimizer: `"auto"` (Adam, lr 1e-3) or a Keras optimizer.
            loss: `"auto"`: ViT-VQGAN's reconstruction losses, the L2
                (mean squared error) and, for a backbone built with
                `predict_scale=True`, `logit_laplace_weight` times the
                logit-Laplace negative log-likelihood (location: the
                predicted image in logit space; scale: the predicted
                `log_scale`). Or, for a backbone without `predict_scale`, a
                Keras loss on the images.
            l2_weight: float. Weight of the L2 term of `"auto"`.
            logit_laplace_weight: float. Weight of the logit-Laplace term
                of `"auto"` (ViT-VQGAN's default, 0.1).
        """
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(1e-3)
        if self.backbone.predict_scale:
            if loss not in ("auto", None):
                raise ValueError(
                    "A backbone with `predict_scale=True` trains on its "
                    "L2 + logit-Laplace loss: `loss` must be 'auto'. "
                    f"Received: loss={loss!r}"
                )
            # `compute_loss` below; Keras is given none.
            loss = None
        elif loss == "auto":
            loss = keras.losses.MeanSquaredError()
        self.l2_weight = float(l2_weight)
        self.logit_laplace_weight = float(logit_laplace_weight)
        super().compile(optimizer=optimizer, loss=loss, **kwargs)

    def get_compile_config(self):
        config = super().get_compile_config()
        if config is not None:
            config["l2_weight"] = self.l2_weight
            config["logit_laplace_weight"] = self.logit_laplace_weight
        return config

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        if not isinstance(y_pred, dict):
            return super().compute_loss(
                x, y, y_pred, sample_weight, training=training
            )
        images = ops.cast(y_pred["images"], "float32")
        location = logit(map_pixels(ops.clip(images, 0.0, 1.0)))
        per_example = self.l2_weight * l2_loss(y, images)
        per_example += self.logit_laplace_weight * logit_laplace_loss(
            y, location, y_pred["log_scale"]
        )
        if sample_weight is not None:
            per_example *= ops.cast(sample_weight, "float32")
        return ops.mean(per_example)

    def compile_from_config(self, config):
        compile_from_saved_config(self, config)

    def preprocess_samples(self, x, y=None, sample_weight=None):
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    def _pairs(self, x, y):
        if not is_array_like(x):
            return x, y
        x = _as_float(validate_images(x, "x", self.backbone.num_channels))
        if y is None:
            raise ValueError(
                "`fit` and `evaluate` take (low-resolution, high-resolution) "
                "image pairs: pass the high-resolution images as `y`."
            )
        y = _as_float(validate_images(y, "y", self.backbone.num_channels))
        s = self.backbone.scale
        expected = (len(x), x.shape[1] * s, x.shape[2] * s)
        if y.shape[:3] != expected:
            raise ValueError(
                f"`y` must be the {s}x larger images of `x`: shape "
                f"{expected + (y.shape[-1],)}. Received: x.shape={x.shape}, "
                f"y.shape={y.shape}"
            )
        return x, y

    def fit(self, x=None, y=None, **kwargs):
        x, y = self._pairs(x, y)
        return super().fit(**shuffled_fit_inputs(x, y, **kwargs))

    def evaluate(self, x=None, y=None, **kwargs):
        x, y = self._pairs(x, y)
        return super().evaluate(x, y, **kwargs)

    def upscale(self, images, batch_size=32, verbose="auto"):
        """`backbone.scale` times larger images, float32 in [0, 1].

        Args:
            images: `(batch, h, w, c)` or one `(h, w, c)` image, uint8 in
                [0, 255] or float in [0, 1].
            batch_size: int. Images per `predict` batch.
            verbose: `"auto"` (a progress bar for more than one batch), 0
                or 1.
        """
        return upscale(self.backbone, images, batch_size, verbose)


def upscale(backbone, images, batch_size=32, verbose="auto"):
    """`SuperResolution.upscale` with a `SuperResolutionBackbone`."""
    batch_size = check_positive_int("batch_size", batch_size)
    images = _as_float(
        validate_images(images, num_channels=backbone.num_channels)
    )
    s = backbone.scale
    if len(images) == 0:
        # Never `predict` on nothing: on JAX that leaves the variables
        # without values.
        _, h, w, c = images.shape
        return np.zeros((0, h * s, w * s, c), "float32")
    if verbose == "auto":
        verbose = 1 if len(images) > batch_size else 0
    outputs = backbone.predict(images, batch_size=batch_size, verbose=verbose)
    if isinstance(outputs, dict):
        outputs = outputs["images"]
    return np.clip(np.asarray(outputs, "float32"), 0.0, 1.0)


def _as_float(images):
    if images.dtype == np.uint8:
        return images.astype("float32") / 255.0
    return images.astype("float32")
