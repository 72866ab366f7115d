import keras
from keras_hub.models import Backbone

from keras_vim.layers.pixel_shuffle import PixelShuffle
from keras_vim.utils.preset_utils import load_preset

SCALES = (2, 4)


@keras.saving.register_keras_serializable(package="keras_vim")
class SuperResolutionBackbone(Backbone):
    """The seed's super-resolution upsampler: residual convolutions, EDSR-style.

    The last stage of the seed's text-to-image pipeline is "a stack of
    convolution layers with residual connections" that upsamples the
    sampled image. This is an EDSR body (Lim et al., 2017): a 3x3 head
    convolution, `num_blocks` residual blocks (conv, ReLU, conv, scaled by
    `residual_scale`, added back) and a long skip around the body, then a
    2x pixel-shuffle stage per factor of 2 and a 3x3 tail to the output
    channels. The network predicts the residual over bilinear upsampling of
    its input (its last convolution starts at zero, so an untrained model
    is a bilinear upsampler).
    Fully convolutional: any input size.

    Input: `"images"` `(batch, h, w, num_channels)` float in [0, 1].
    Output: `(batch, h * scale, w * scale, num_channels)` (not clipped);
    with `predict_scale=True`, a dict of those `"images"` and a float32
    `"log_scale"` of the same shape: the per-pixel scale of ViT-VQGAN's
    logit-Laplace likelihood, for `SuperResolution`'s logit-Laplace loss.

    Args:
        scale: int, 2 or 4.
        num_blocks: int. Residual blocks.
        filters: int. Channels of the body.
        residual_scale: float. Scale of each block's residual.
        num_channels: int. Image channels.
        predict_scale: bool. Also predict the logit-Laplace log-scale.
        dtype: dtype policy of the layers.

    Example:
    ```python
    backbone = keras_vim.SuperResolutionBackbone(scale=2, num_blocks=4)
    backbone(np.zeros((1, 32, 32, 3))).shape  # (1, 64, 64, 3)
    ```
    """

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        return load_preset(super().from_preset, preset, load_weights, **kwargs)

    def __init__(
        self,
        scale=2,
        num_blocks=8,
        filters=64,
        residual_scale=0.1,
        num_channels=3,
        predict_scale=False,
        dtype=None,
        **kwargs,
    ):
        if scale not in SCALES:
            raise ValueError(
                f"`scale` must be one of {SCALES}. Received: scale={scale!r}"
            )
        kwargs.setdefault("name", "super_resolution_backbone")

        def conv(channels, name, activation=None, initializer="glorot_uniform"):
            return keras.layers.Conv2D(
                channels,
                3,
                padding="same",
                activation=activation,
                kernel_initializer=initializer,
                dtype=dtype,
                name=name,
            )

        # === Functional model ===
        images = keras.Input((None, None, num_channels), name="images")
        head = conv(filters, "head")(images)
        x = head
        for i in range(num_blocks):
            residual = conv(filters, f"block_{i}_conv_1", "relu")(x)
            residual = conv(filters, f"block_{i}_conv_2")(residual)
            residual = keras.layers.Rescaling(
                residual_scale, dtype=dtype, name=f"block_{i}_scale"
            )(residual)
            x = keras.layers.Add(dtype=dtype, name=f"block_{i}_add")(
                [x, residual]
            )
        x = conv(filters, "body_output")(x)
        x = keras.layers.Add(dtype=dtype, name="body_skip")([head, x])
        for i in range(scale.bit_length() - 1):
            x = conv(filters * 4, f"upsample_{i}_conv")(x)
            x = PixelShuffle(2, dtype=dtype, name=f"upsample_{i}_shuffle")(x)
        features = x
        # Zero-initialised: training starts from bilinear upsampling.
        x = conv(num_channels, "tail", initializer="zeros")(features)
        bilinear = keras.layers.UpSampling2D(
            scale, interpolation="bilinear", dtype=dtype, name="bilinear"
        )(images)
        outputs = keras.layers.Add(dtype=dtype, name="output")([bilinear, x])
        if predict_scale:
            # float32: it feeds the likelihood, as ViT-VQGAN's statistics.
            log_scale = keras.layers.Conv2D(
                num_channels,
                3,
                padding="same",
                kernel_initializer="zeros",
                dtype="float32",
                name="log_scale",
            )(features)
            outputs = {"images": outputs, "log_scale": log_scale}
        super().__init__(inputs=images, outputs=outputs, dtype=dtype, **kwargs)

        # === Config ===
        self.scale = scale
        self.num_blocks = num_blocks
        self.filters = filters
        self.residual_scale = residual_scale
        self.num_channels = num_channels
        self.predict_scale = predict_scale

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "scale": self.scale,
                "num_blocks": self.num_blocks,
                "filters": self.filters,
                "residual_scale": self.residual_scale,
                "num_channels": self.num_channels,
                "predict_scale": self.predict_scale,
            }
        )
        return config
