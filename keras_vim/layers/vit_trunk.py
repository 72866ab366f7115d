import keras
from keras_hub.layers import PositionEmbedding
from keras_hub.layers import TransformerEncoder


class ViTTrunkMixin:
    """The part ViT-VQGAN's encoder and decoder share.

    Learned position embedding, pre-LN Transformer blocks, a LayerNorm
    (Keras computes it in float32 under mixed precision), then the
    two-layer feed-forward head with tanh in the middle (Yu et al., 2021,
    section 3.1). The sublayers are attributes of the
    layer itself, so weight paths read `encoder/encoder_block_0/...`.
    """

    def _create_trunk(self, block_prefix):
        self.position_embedding = PositionEmbedding(
            self.num_patches, dtype=self.dtype_policy, name="position_embedding"
        )
        self.blocks = [
            TransformerEncoder(
                self.intermediate_dim,
                self.num_heads,
                dropout=self.dropout,
                activation="gelu",
                layer_norm_epsilon=self.layer_norm_epsilon,
                normalize_first=True,
                dtype=self.dtype_policy,
                name=f"{block_prefix}_{i}",
            )
            for i in range(self.num_layers)
        ]
        self.output_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon,
            dtype=self.dtype_policy,
            name="output_norm",
        )
        self.head_hidden = keras.layers.Dense(
            self.intermediate_dim,
            activation="tanh",
            dtype=self.dtype_policy,
            name="head_hidden",
        )
        self.head_output = keras.layers.Dense(
            self.hidden_dim, dtype=self.dtype_policy, name="head_output"
        )

    def _build_trunk(self):
        token_shape = (None, self.num_patches, self.hidden_dim)
        self.position_embedding.build(token_shape)
        for block in self.blocks:
            block.build(token_shape)
        self.output_norm.build(token_shape)
        self.head_hidden.build(token_shape)
        self.head_output.build((None, self.num_patches, self.intermediate_dim))

    def _call_trunk(self, tokens, training=False):
        x = tokens + self.position_embedding(tokens)
        for block in self.blocks:
            x = block(x, training=training)
        x = self.output_norm(x)
        return self.head_output(self.head_hidden(x))

    def _trunk_config(self):
        return {
            "image_size": self.image_size,
            "patch_size": self.patch_size,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "hidden_dim": self.hidden_dim,
            "intermediate_dim": self.intermediate_dim,
            "num_channels": self.num_channels,
            "dropout": self.dropout,
            "layer_norm_epsilon": self.layer_norm_epsilon,
        }
