import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_vim")
class ContrastiveLogits(keras.layers.Layer):
    """Similarity logits of a batch of text and image embeddings.

    `logits[i, j] = exp(log_scale) * text[i] . image[j]` with a learned
    temperature (CLIP's parameterisation: the scale starts at
    `1 / initial_temperature` and is capped at `max_scale` so training
    cannot make the softmax arbitrarily sharp). `SymmetricContrastiveLoss`
    takes the softmax in float32 whatever the compute dtype.

    Args:
        initial_temperature: float. Starting softmax temperature.
        max_scale: float. Largest allowed `1 / temperature`.

    Example:
    ```python
    logits = keras_vim.layers.ContrastiveLogits()([text, image])  # (b, b)
    ```
    """

    def __init__(self, initial_temperature=0.07, max_scale=100.0, **kwargs):
        super().__init__(**kwargs)
        self.initial_temperature = initial_temperature
        self.max_scale = max_scale

    def build(self, input_shape):
        self.log_scale = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(
                -math.log(self.initial_temperature)
            ),
            name="log_scale",
        )

    @property
    def scale(self):
        return ops.minimum(ops.exp(self.log_scale), self.max_scale)

    def call(self, inputs):
        text, image = inputs
        scale = ops.cast(self.scale, self.compute_dtype)
        return scale * ops.matmul(text, ops.transpose(image))

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], input_shape[1][0])

    def compute_output_spec(self, inputs):
        # From the specs: Keras gives `compute_output_shape` no shapes for
        # numpy inputs (keras-hub's precision test passes numpy).
        text, image = inputs
        return keras.KerasTensor(
            self.compute_output_shape([text.shape, image.shape]),
            self.compute_dtype,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "initial_temperature": self.initial_temperature,
                "max_scale": self.max_scale,
            }
        )
        return config
