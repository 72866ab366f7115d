import keras
from keras import ops

from keras_vim.generation.direct_call import direct_call


@keras.saving.register_keras_serializable(package="keras_vim")
class VIMAttention(keras.layers.MultiHeadAttention):
    """Multi-head attention with a heads-major key/value cache for decoding.

    Without a cache it is Keras' `MultiHeadAttention` (causal when called
    with `use_causal_mask=True`). With a cache it runs one decoding step:

    - self-attention (`cache_update_index` given): the cache is
      `(2, batch, num_heads, length, head_dim)`, keys then values. The
      step's keys and values are written into it once (in place on torch,
      where the decoding loop owns the cache) and the query attends
      causally over the filled positions, and only where `attention_mask`
      (`(batch or 1, query, length)`, optional) allows. keras-hub's
      `CachedMultiHeadAttention` splits, updates and restacks a
      `(batch, 2, length, heads, head_dim)` cache instead; on a 2-core CPU
      those copies were most of a decoding step.
    - cross-attention (`cache_update_index=None`): the cache holds the keys
      and values of the encoder output, computed once by `compute_cache`,
      and is read only; `attention_mask` `(batch, 1, encoder_length)` hides
      encoder padding.

    Decoding is inference: no dropout, and the projections run through
    `direct_call`, as eager torch spends more time in `Layer.__call__` than
    in a one-token projection.

    Args:
        num_heads: int. Attention heads.
        key_dim: int. Size of each head.
        **kwargs: other `keras.layers.MultiHeadAttention` arguments.

    Example:
    ```python
    layer = VIMAttention(num_heads=2, key_dim=4)
    x = np.ones((1, 1, 8), "float32")
    cache = np.zeros((2, 1, 2, 5, 4), "float32")
    output, cache = layer(x, x, cache=cache, cache_update_index=0)
    ```
    """

    def call(
        self,
        query,
        value,
        key=None,
        attention_mask=None,
        use_causal_mask=False,
        cache=None,
        cache_update_index=None,
        training=None,
    ):
        if cache is None:
            return super().call(
                query,
                value,
                key=key,
                attention_mask=attention_mask,
                use_causal_mask=use_causal_mask,
                training=training,
            )
        if cache_update_index is not None:
            cache = self._write_cache(
                cache,
                key if key is not None else value,
                value,
                cache_update_index,
            )
        query = direct_call(self.query_dense, query)
        query = ops.multiply(
            query, ops.cast(1.0 / self._key_dim**0.5, query.dtype)
        )
        # Scores: (batch, heads, query, key).
        scores = ops.einsum("bqnh,bnkh->bnqk", query, cache[0])
        if cache_update_index is not None:
            positions = ops.arange(ops.shape(query)[1]) + cache_update_index
            mask = (
                ops.arange(ops.shape(cache)[3])[None, :] <= positions[:, None]
            )[None]
            if attention_mask is not None:
                mask = ops.logical_and(mask, ops.cast(attention_mask, "bool"))
            # Every row keeps its own position, so -inf never empties a row.
            scores = ops.where(mask[:, None], scores, float("-inf"))
        elif attention_mask is not None:
            # (batch, query, key) -> (batch, heads, query, key).
            mask = ops.cast(attention_mask, "bool")[:, None]
            scores = ops.where(mask, scores, ops.cast(-1e9, scores.dtype))
        scores = ops.softmax(scores, axis=-1)
        output = ops.einsum("bnqk,bnkh->bqnh", scores, cache[1])
        return direct_call(self.output_dense, output), cache

    def compute_cache(self, value, key=None):
        """The read-only cross-attention cache of `value` (e.g. an encoder)."""
        key = value if key is None else key
        return ops.stack(
            (
                ops.transpose(direct_call(self.key_dense, key), (0, 2, 1, 3)),
                ops.transpose(
                    direct_call(self.value_dense, value), (0, 2, 1, 3)
                ),
            )
        )

    def _write_cache(self, cache, key, value, index):
        update = ops.stack(
            (
                direct_call(self.key_dense, key),
                direct_call(self.value_dense, value),
            )
        )
        update = ops.cast(ops.transpose(update, (0, 1, 3, 2, 4)), cache.dtype)
        if keras.config.backend() == "torch":
            # In place: a functional update would clone the whole cache
            # every step. `index_copy_` takes a tensor index without reading
            # it back to the host, so a compiled step stays one graph.
            import torch

            positions = torch.arange(update.shape[3], device=cache.device)
            cache.index_copy_(3, positions + index, update)
            return cache
        return ops.slice_update(cache, [0, 0, 0, index, 0], update)
