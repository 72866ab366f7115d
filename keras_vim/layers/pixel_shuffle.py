import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_vim")
class PixelShuffle(keras.layers.Layer):
    """Sub-pixel upsampling: `(b, h, w, c * f * f)` -> `(b, h * f, w * f, c)`.

    Each group of `f * f` channels becomes an `f x f` block of pixels
    (Shi et al., 2016); the usual last step of a super-resolution network,
    after a convolution to `f * f` times the output channels.

    Args:
        factor: int. Upsampling factor.

    Example:
    ```python
    keras_vim.layers.PixelShuffle(2)(np.zeros((1, 8, 8, 12))).shape
    # (1, 16, 16, 3)
    ```
    """

    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        self.factor = int(factor)

    def call(self, x):
        f = self.factor
        channels = x.shape[-1] // (f * f)
        batch, height, width = ops.shape(x)[0], ops.shape(x)[1], ops.shape(x)[2]
        x = ops.reshape(x, (batch, height, width, f, f, channels))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (batch, height * f, width * f, channels))

    def compute_output_shape(self, input_shape):
        f = self.factor
        batch, height, width, channels = input_shape
        return (
            batch,
            None if height is None else height * f,
            None if width is None else width * f,
            channels // (f * f),
        )

    def compute_output_spec(self, x):
        # From the spec: Keras gives `compute_output_shape` no shape for a
        # numpy `x` (keras-hub's precision test passes numpy).
        return keras.KerasTensor(
            self.compute_output_shape(x.shape), self.compute_dtype
        )

    def get_config(self):
        config = super().get_config()
        config["factor"] = self.factor
        return config
