import keras
from keras import ops


def null_padding_mask(padding_mask):
    """The mask of the null prompt: only the first (padding) token seen."""
    positions = ops.arange(ops.shape(padding_mask)[1])
    return ops.broadcast_to(positions[None, :] == 0, ops.shape(padding_mask))


@keras.saving.register_keras_serializable(package="keras_vim")
class BabeldrawPromptDropout(keras.layers.Layer):
    """Replaces whole prompts by padding at random during training.

    Trains the "no prompt" distribution alongside the conditional one, so
    that classifier-free guidance can contrast the two at sampling time
    (the seed fine-tunes "while randomly replacing the prompt with padding
    tokens"). A dropped prompt is all `pad_token_id` with only its first
    position visible (`null_padding_mask`), exactly the null prompt
    `generate` uses: no attention row is ever fully masked, so every
    attention implementation agrees on it.

    Args:
        rate: float. Probability of dropping a prompt.
        pad_token_id: int.
        seed: int or `None`.

    Example:
    ```python
    layer = BabeldrawPromptDropout(0.1, pad_token_id=0)
    ids, mask = layer(token_ids, padding_mask, training=True)
    ```
    """

    def __init__(self, rate, pad_token_id, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = float(rate)
        self.pad_token_id = int(pad_token_id)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, token_ids, padding_mask, training=None):
        if not training or not self.rate:
            return token_ids, padding_mask
        batch_size = ops.shape(token_ids)[0]
        keep = (
            keras.random.uniform((batch_size, 1), seed=self.seed_generator)
            >= self.rate
        )
        token_ids = ops.where(
            keep, token_ids, ops.cast(self.pad_token_id, token_ids.dtype)
        )
        return token_ids, ops.where(
            keep, padding_mask, null_padding_mask(padding_mask)
        )

    def compute_output_spec(self, token_ids, padding_mask, training=None):
        return (
            keras.KerasTensor(token_ids.shape, token_ids.dtype),
            keras.KerasTensor(padding_mask.shape, padding_mask.dtype),
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "rate": self.rate,
                "pad_token_id": self.pad_token_id,
                "seed": self.seed,
            }
        )
        return config
