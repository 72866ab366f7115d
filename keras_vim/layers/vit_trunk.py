import functools

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

    With `remat_blocks`, training keeps only each block's input and
    recomputes the block in the backward pass (`keras.remat`): at 1024
    tokens and width 512 a block keeps ~118 MiB of float32 activations an
    image, half of them attention probabilities, which XLA materialises as
    it has no fused float32 attention kernel.
    """

    def _check_remat_blocks(self, remat_blocks):
        # A block recomputed with dropout would draw a second mask, and the
        # seed update inside the recomputed function is not allowed on JAX.
        if remat_blocks and self.dropout:
            raise ValueError(
                "`remat_blocks=True` needs `dropout=0`. Received: "
                f"remat_blocks={remat_blocks}, dropout={self.dropout}"
            )
        self.remat_blocks = bool(remat_blocks)

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
            if self.remat_blocks and training:
                # `training` stays a Python bool, out of the traced inputs.
                block = keras.remat(functools.partial(block, training=True))
                x = block(x)
            else:
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
            "remat_blocks": self.remat_blocks,
        }
