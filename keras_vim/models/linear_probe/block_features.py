import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_vim")
class BlockFeatures(keras.layers.Layer):
    """Sequence-mean outputs of some blocks of a frozen `VIMBackbone`.

    The backbone always runs in inference mode: a frozen network must not add
    dropout noise to the features a probe is trained on (Keras' functional
    models would otherwise pass `training=True` down during `fit`).

    Args:
        backbone: a `keras_vim.VIMBackbone`.
        block_indices: list of ints in `[0, num_layers)`.

    Example:
    ```python
    features = BlockFeatures(backbone, [0, 2])(token_ids)  # two (batch, dim)
    ```
    """

    def __init__(self, backbone, block_indices, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.block_indices = list(block_indices)

    def call(self, token_ids):
        b = self.backbone
        # Unconditional input: the "no class" start token first.
        class_ids = ops.zeros_like(token_ids[:, 0]) + b.no_class_id
        x = b.embed(token_ids, class_ids)
        features = {}
        for i, layer in enumerate(
            b.transformer_layers[: max(self.block_indices) + 1]
        ):
            x = layer(x, training=False)
            if i in self.block_indices:
                features[i] = ops.mean(ops.cast(x, "float32"), axis=1)
        return [features[i] for i in self.block_indices]

    def compute_output_spec(self, token_ids):
        # Not traced: torch traces on the "meta" device, where a mixed
        # precision backbone's variables are not autocast, and the eager
        # fallback's placeholder length overruns the position embedding.
        shape = (token_ids.shape[0], self.backbone.hidden_dim)
        return [keras.KerasTensor(shape, "float32") for _ in self.block_indices]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "backbone": keras.layers.serialize(self.backbone),
                "block_indices": self.block_indices,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config["backbone"], dict):
            config["backbone"] = keras.layers.deserialize(config["backbone"])
        return cls(**config)
