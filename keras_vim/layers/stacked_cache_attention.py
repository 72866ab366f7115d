import keras
from keras import ops
from keras_hub.src.layers.modeling.cached_multi_head_attention import (
    CachedMultiHeadAttention,
)

from keras_vim.utils.direct_call import direct_call


class StackedCacheAttention(CachedMultiHeadAttention):
    """`CachedMultiHeadAttention` with a faster key/value cache for decoding.

    Same weights, config and results as the keras-hub parent; only cached
    decoding differs. The cache is `(2, batch, num_heads, length, head_dim)`
    (keys, then values) instead of the parent's `(batch, 2, length,
    num_heads, head_dim)`, and each step writes into it once (in place on
    torch). The parent splits, updates and restacks the cache, copying all of
    it at every step, and its strided key/value views make each attention
    product copy them again; on a 2-core CPU those copies were most of a
    decoding step (see `benchmarks/vim_generate.py`). With a cache, attention
    is causal over the cached positions, `attention_mask` is ignored, there
    is no dropout (decoding is inference) and the projections run through
    `direct_call`, as eager torch spends more time in `Layer.__call__` than
    in a one-token projection.

    Example:

    ```python
    layer = StackedCacheAttention(num_heads=2, key_dim=4)
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
        cache=None,
        cache_update_index=None,
        return_attention_scores=False,
        training=None,
    ):
        if cache is None:
            return super().call(
                query,
                value,
                key=key,
                attention_mask=attention_mask,
                return_attention_scores=return_attention_scores,
                training=training,
            )
        if cache_update_index is None:
            raise ValueError(
                "`StackedCacheAttention` needs `cache_update_index` with a "
                f"`cache`. Received: cache_update_index={cache_update_index}"
            )
        key = value if key is None else key
        update = ops.stack(
            (direct_call(self._key_dense, key), direct_call(self._value_dense, value))
        )
        update = ops.cast(ops.transpose(update, (0, 1, 3, 2, 4)), cache.dtype)
        if keras.config.backend() == "torch":
            # Eager torch would clone the whole cache; the decoding loop owns
            # it, so write in place.
            cache.narrow(3, cache_update_index, update.shape[3]).copy_(update)
        else:
            cache = ops.slice_update(cache, [0, 0, 0, cache_update_index, 0], update)
        query = direct_call(self._query_dense, query)
        query = ops.multiply(query, ops.cast(self._inverse_sqrt_key_dim, query.dtype))
        # Scores: (batch, heads, query, key).
        scores = ops.einsum("bqnh,bnkh->bnqk", query, cache[0])
        # Causal mask over the cache, built here: TransformerDecoder derives
        # its mask from axis 2 of the cache, which in this layout is heads.
        query_positions = ops.arange(ops.shape(query)[1]) + cache_update_index
        mask = ops.arange(ops.shape(cache)[3])[None, :] <= query_positions[:, None]
        # Every row keeps its own position, so -inf never empties a row.
        scores = ops.where(mask[None, None], scores, float("-inf"))
        scores = ops.softmax(scores, axis=-1)
        output = ops.einsum("bnqk,bnkh->bqnh", scores, cache[1])
        output = direct_call(self._output_dense, output)
        if return_attention_scores:
            return output, scores, cache
        return output, cache
