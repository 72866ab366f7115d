import keras
from keras import ops

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
        attention_window: int or `None`. `None` (the default) is full
            causal self-attention. An int `w >= 0` makes it the seed's
            conv-shaped sparse attention over a `grid_size x grid_size`
            raster of image tokens after one start token (see
            `conv_attention_mask`).
        grid_size: int. Image tokens per side; needed with
            `attention_window`.
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
        attention_window=None,
        grid_size=None,
        **kwargs,
    ):
        if attention_window is not None and (
            isinstance(attention_window, bool)
            or not isinstance(attention_window, int)
            or attention_window < 0
            or not isinstance(grid_size, int)
            or grid_size < 1
        ):
            raise ValueError(
                "`attention_window` must be `None` or an int >= 0, with "
                "`grid_size` a positive int. Received: "
                f"attention_window={attention_window!r}, "
                f"grid_size={grid_size!r}"
            )
        super().__init__(**kwargs)
        self.attention_window = attention_window
        self.grid_size = grid_size
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
        mask = None
        if self.attention_window is not None:
            length = ops.shape(x)[1]
            positions = ops.arange(length)
            mask = conv_attention_mask(
                positions, length, self.grid_size, self.attention_window
            )
            mask = ops.broadcast_to(
                mask[None], (ops.shape(x)[0], length, length)
            )
        attention = self.self_attention(
            normed,
            normed,
            attention_mask=mask,
            use_causal_mask=True,
            training=training,
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
        mask = None
        if self.attention_window is not None:
            mask = conv_attention_mask(
                ops.arange(ops.shape(x)[1]) + cache_update_index,
                ops.shape(cache)[3],
                self.grid_size,
                self.attention_window,
            )[None]
        attention, cache = direct_call(
            self.self_attention,
            normed,
            normed,
            attention_mask=mask,
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
                "attention_window": self.attention_window,
                "grid_size": self.grid_size,
            }
        )
        return config


def conv_attention_mask(query_positions, key_length, grid_size, window):
    """The seed's conv-shaped sparse self-attention pattern, as a bool mask.

    Decoder position 0 is the start token and position `p >= 1` holds image
    token `p - 1` of a `grid_size`-wide raster; position `p` predicts token
    `p`, at row `p // grid_size`, column `p % grid_size`. It sees, among
    the positions up to itself (causal): the start token, every earlier
    token of its own row and of the row above, and the tokens of the
    `window` rows above those within `window` columns of its own. With
    `window >= grid_size` this is full causal attention.

    Args:
        query_positions: int tensor `(queries,)` of decoder positions.
        key_length: int. Key positions `0 .. key_length - 1`.
        grid_size: int. Image tokens per row.
        window: int >= 0.

    Returns:
        A bool tensor `(queries, key_length)`.

    Example:
    ```python
    mask = conv_attention_mask(ops.arange(17), 17, grid_size=4, window=0)
    # Position 16 (row 4) sees the start token and positions 9-16
    # (tokens 8-15, rows 2 and 3).
    ```
    """
    queries = ops.cast(query_positions, "int32")[:, None]
    keys = ops.arange(key_length, dtype="int32")[None, :]
    row, column = queries // grid_size, queries % grid_size
    # Key position k holds token k - 1.
    key_row = (keys - 1) // grid_size
    key_column = (keys - 1) % grid_size
    near = ops.logical_or(
        key_row >= row - 1,
        ops.logical_and(
            key_row >= row - 1 - window,
            ops.abs(key_column - column) <= window,
        ),
    )
    return ops.logical_and(
        keys <= queries, ops.logical_or(ops.equal(keys, 0), near)
    )
