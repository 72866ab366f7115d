import keras

from keras_vim.generation.direct_call import direct_call
from keras_vim.models.vim.vim_attention import VIMAttention


@keras.saving.register_keras_serializable(package="keras_vim")
class VIMDecoderBlock(keras.layers.Layer):
    """Pre-LN causal Transformer block with a decoding cache.

    LayerNorm -> causal self-attention -> dropout -> residual, then
    (optionally) LayerNorm -> cross-attention over an encoder sequence ->
    dropout -> residual, then LayerNorm -> GELU MLP -> dropout -> residual
    (Yu et al., 2021; the block of Vaswani et al. with the norm first).
    `call` runs a whole sequence; `call_with_cache` runs one decoding step
    against `VIMAttention` caches.

    Args:
        num_heads: int. Attention heads; must divide the model dimension.
        intermediate_dim: int. MLP hidden size.
        dropout: float. Dropout on attention probabilities, attention output
            and MLP output.
        layer_norm_epsilon: float.
        cross_attention: bool. Whether the block attends to an encoder
            sequence (encoder-decoder models).
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`).

    Example:
    ```python
    block = VIMDecoderBlock(num_heads=2, intermediate_dim=64)
    x = np.ones((2, 5, 16), "float32")
    y = block(x)  # (2, 5, 16), position i sees positions <= i
    ```
    """

    def __init__(
        self,
        num_heads,
        intermediate_dim,
        dropout=0.0,
        layer_norm_epsilon=1e-6,
        cross_attention=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.cross_attention = cross_attention

    def _layer_norm(self, name):
        return keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name=name
        )

    def _attention(self, name, hidden_dim):
        return VIMAttention(
            num_heads=self.num_heads,
            key_dim=hidden_dim // self.num_heads,
            dropout=self.dropout,
            dtype=self.dtype_policy,
            name=name,
        )

    def _dropout(self, name):
        return keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name=name
        )

    def build(self, decoder_sequence_shape, encoder_sequence_shape=None):
        input_shape = decoder_sequence_shape
        hidden_dim = input_shape[-1]
        if hidden_dim % self.num_heads:
            raise ValueError(
                f"`num_heads` must divide the model dimension. Received: "
                f"num_heads={self.num_heads}, hidden_dim={hidden_dim}"
            )
        self.self_attention_layer_norm = self._layer_norm(
            "self_attention_layer_norm"
        )
        self.self_attention_layer_norm.build(input_shape)
        self.self_attention = self._attention("self_attention", hidden_dim)
        self.self_attention.build(input_shape, input_shape)
        self.self_attention_dropout = self._dropout("self_attention_dropout")
        if self.cross_attention:
            encoder_shape = encoder_sequence_shape or input_shape
            self.cross_attention_layer_norm = self._layer_norm(
                "cross_attention_layer_norm"
            )
            self.cross_attention_layer_norm.build(input_shape)
            self.cross_attention_layer = self._attention(
                "cross_attention", hidden_dim
            )
            self.cross_attention_layer.build(input_shape, encoder_shape)
            self.cross_attention_dropout = self._dropout(
                "cross_attention_dropout"
            )
        self.feedforward_layer_norm = self._layer_norm("feedforward_layer_norm")
        self.feedforward_layer_norm.build(input_shape)
        self.feedforward_intermediate_dense = keras.layers.Dense(
            self.intermediate_dim,
            activation="gelu",
            dtype=self.dtype_policy,
            name="feedforward_intermediate_dense",
        )
        self.feedforward_intermediate_dense.build(input_shape)
        self.feedforward_output_dense = keras.layers.Dense(
            hidden_dim, dtype=self.dtype_policy, name="feedforward_output_dense"
        )
        self.feedforward_output_dense.build(
            tuple(input_shape[:-1]) + (self.intermediate_dim,)
        )
        self.feedforward_dropout = self._dropout("feedforward_dropout")
        self.built = True

    def call(
        self,
        decoder_sequence,
        encoder_sequence=None,
        encoder_padding_mask=None,
        training=None,
    ):
        x = decoder_sequence
        normed = self.self_attention_layer_norm(x)
        attention = self.self_attention(
            normed, normed, use_causal_mask=True, training=training
        )
        x = x + self.self_attention_dropout(attention, training=training)
        if self.cross_attention:
            mask = None
            if encoder_padding_mask is not None:
                mask = encoder_padding_mask[:, None, :]
            normed = self.cross_attention_layer_norm(x)
            attention = self.cross_attention_layer(
                normed,
                encoder_sequence,
                attention_mask=mask,
                training=training,
            )
            x = x + self.cross_attention_dropout(attention, training=training)
        y = self.feedforward_layer_norm(x)
        y = self.feedforward_output_dense(
            self.feedforward_intermediate_dense(y)
        )
        return x + self.feedforward_dropout(y, training=training)

    def call_with_cache(
        self,
        x,
        cache,
        cache_update_index,
        cross_cache=None,
        encoder_padding_mask=None,
    ):
        """One inference step at `cache_update_index`.

        Runs the sublayers through `direct_call` (eager torch spent about
        half of each decoding step in `Layer.__call__`); the caller opens
        the autocast scope under mixed precision.

        Args:
            x: `(batch, 1, hidden_dim)`.
            cache: the self-attention cache, `(2, batch, heads, length,
                head_dim)`.
            cache_update_index: int or scalar tensor.
            cross_cache: the cross-attention cache from
                `cross_attention_layer.compute_cache`, or `None`.
            encoder_padding_mask: `(batch, encoder_length)` bool or `None`.

        Returns:
            `(output, cache)`.
        """
        normed = direct_call(self.self_attention_layer_norm, x)
        attention, cache = direct_call(
            self.self_attention,
            normed,
            normed,
            cache=cache,
            cache_update_index=cache_update_index,
        )
        x = x + attention
        if self.cross_attention:
            mask = None
            if encoder_padding_mask is not None:
                mask = encoder_padding_mask[:, None, :]
            normed = direct_call(self.cross_attention_layer_norm, x)
            attention, _ = direct_call(
                self.cross_attention_layer,
                normed,
                normed,
                attention_mask=mask,
                cache=cross_cache,
            )
            x = x + attention
        y = direct_call(self.feedforward_layer_norm, x)
        y = direct_call(self.feedforward_intermediate_dense, y)
        return x + direct_call(self.feedforward_output_dense, y), cache

    def compute_output_spec(self, decoder_sequence, *args, **kwargs):
        return keras.KerasTensor(
            decoder_sequence.shape, dtype=self.compute_dtype
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "dropout": self.dropout,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "cross_attention": self.cross_attention,
            }
        )
        return config
