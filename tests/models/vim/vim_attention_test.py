import numpy as np
from keras import ops
from keras_hub.src.tests.test_case import TestCase

from keras_vim.models.vim.vim_attention import VIMAttention
from keras_vim.models.vim.vim_decoder_block import VIMDecoderBlock

X = np.random.default_rng(0).normal(size=(3, 6, 8)).astype("float32")
ENCODER = np.random.default_rng(1).normal(size=(3, 4, 8)).astype("float32")


class VIMAttentionTest(TestCase):
    def test_layer_basics(self):
        self.run_layer_test(
            cls=VIMAttention,
            init_kwargs={"num_heads": 2, "key_dim": 4},
            input_data={"query": X, "value": X},
            expected_output_shape=(3, 6, 8),
            expected_num_trainable_weights=8,
        )

    def test_cached_steps_match_causal_attention(self):
        layer = VIMAttention(num_heads=2, key_dim=4)
        full = ops.convert_to_numpy(layer(X, X, use_causal_mask=True))
        cache = ops.zeros((2, 3, 2, 6, 4))
        for index in range(6):
            step, cache = layer(
                X[:, index : index + 1],
                X[:, index : index + 1],
                cache=cache,
                cache_update_index=index,
            )
            self.assertAllClose(
                ops.convert_to_numpy(step)[:, 0], full[:, index], atol=1e-5
            )
        # Keys then values, heads-major, one slot written per step.
        keys = ops.convert_to_numpy(layer.key_dense(X)).transpose(0, 2, 1, 3)
        self.assertAllClose(ops.convert_to_numpy(cache)[0], keys, atol=1e-6)

    def test_cross_attention_cache_with_padding(self):
        layer = VIMAttention(num_heads=2, key_dim=4)
        mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], bool)
        full = layer(X, ENCODER, attention_mask=mask[:, None, :].repeat(6, 1))
        cache = layer.compute_cache(ENCODER)
        step, _ = layer(X, X, attention_mask=mask[:, None, :], cache=cache)
        self.assertAllClose(step, full, atol=1e-5)


class VIMDecoderBlockTest(TestCase):
    def test_layer_basics(self):
        self.run_layer_test(
            cls=VIMDecoderBlock,
            init_kwargs={"num_heads": 2, "intermediate_dim": 16},
            input_data=X,
            expected_output_shape=(3, 6, 8),
            expected_num_trainable_weights=16,
        )

    def test_cached_steps_match_full_block(self):
        for cross_attention in (False, True):
            block = VIMDecoderBlock(2, 16, cross_attention=cross_attention)
            mask = np.array([[1, 1, 1, 1], [1, 1, 1, 0], [1, 0, 0, 0]], bool)
            kwargs = {}
            if cross_attention:
                kwargs = {
                    "encoder_sequence": ENCODER,
                    "encoder_padding_mask": mask,
                }
            full = ops.convert_to_numpy(block(X, **kwargs))
            # Causal: the future does not change the past.
            changed = X.copy()
            changed[:, 4:] += 1.0
            out = ops.convert_to_numpy(block(changed, **kwargs))
            self.assertAllClose(out[:, :4], full[:, :4], atol=1e-5)
            cache = ops.zeros((2, 3, 2, 6, 4))
            cross = None
            if cross_attention:
                cross = block.cross_attention_layer.compute_cache(ENCODER)
            for index in range(6):
                step, cache = block.call_with_cache(
                    ops.convert_to_tensor(X[:, index : index + 1]),
                    cache,
                    index,
                    cross_cache=cross,
                    encoder_padding_mask=mask if cross_attention else None,
                )
                self.assertAllClose(
                    ops.convert_to_numpy(step)[:, 0], full[:, index], atol=1e-5
                )
