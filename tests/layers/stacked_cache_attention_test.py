import numpy as np
import pytest
from keras import ops
from keras_hub.src.tests.test_case import TestCase

from keras_vim.layers import StackedCacheAttention


class StackedCacheAttentionTest(TestCase):
    def build(self):
        layer = StackedCacheAttention(num_heads=2, key_dim=4)
        x = np.random.default_rng(0).normal(size=(3, 6, 8)).astype("float32")
        layer(x, x)  # builds, no cache: the parent's plain path
        return layer, x

    def test_cached_steps_match_causal_attention(self):
        layer, x = self.build()
        causal = np.tril(np.ones((3, 6, 6), bool))
        full = ops.convert_to_numpy(layer(x, x, attention_mask=causal))
        cache = ops.zeros((2, 3, 2, 6, 4))
        for index in range(6):
            step, cache = layer(
                x[:, index : index + 1], x[:, index : index + 1],
                cache=cache, cache_update_index=index,
            )
            self.assertAllClose(ops.convert_to_numpy(step)[:, 0], full[:, index], atol=1e-5)
        # Keys then values, heads-major, one slot written per step.
        keys = ops.convert_to_numpy(layer._key_dense(x))
        self.assertAllClose(ops.convert_to_numpy(cache)[0], keys.transpose(0, 2, 1, 3), atol=1e-6)

    def test_cache_needs_an_update_index(self):
        layer, x = self.build()
        with pytest.raises(ValueError, match="cache_update_index"):
            layer(x[:, :1], x[:, :1], cache=ops.zeros((2, 3, 2, 6, 4)))
