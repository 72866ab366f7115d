import numpy as np
from keras import ops
from keras_hub.src.tests.test_case import TestCase

from keras_vim.models.vim.vim_attention import VIMAttention
from keras_vim.models.vim.vim_decoder_block import VIMDecoderBlock
from keras_vim.models.vim.vim_decoder_block import conv_attention_mask

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

    def test_conv_attention_mask_against_a_loop(self):
        grid, window, length = 5, 1, 26
        got = ops.convert_to_numpy(
            conv_attention_mask(ops.arange(length), length, grid, window)
        )
        expected = np.zeros((length, length), bool)
        for query in range(length):
            row, column = divmod(query, grid)
            for key in range(query + 1):
                if key == 0:
                    expected[query, key] = True
                    continue
                key_row, key_column = divmod(key - 1, grid)
                expected[query, key] = key_row >= row - 1 or (
                    key_row >= row - 1 - window
                    and abs(key_column - column) <= window
                )
        self.assertAllEqual(got, expected)
        # Some earlier tokens are hidden, every row still sees itself.
        self.assertLess(got.sum(), np.tril(np.ones_like(got)).sum())
        self.assertTrue(np.diag(got).all())
        # A window as wide as the grid is plain causal attention.
        full = conv_attention_mask(ops.arange(length), length, grid, grid)
        self.assertAllEqual(
            ops.convert_to_numpy(full), np.tril(np.ones_like(got))
        )

    def test_conv_attention_block(self):
        # 1 start token + a 4x4 grid; window 0: row and row above only.
        x = np.random.default_rng(2).normal(size=(2, 17, 8)).astype("float32")
        block = VIMDecoderBlock(2, 16, attention_window=0, grid_size=4)
        full = ops.convert_to_numpy(block(x))
        # Position 16 (row 4) does not see tokens 0-7 (positions 1-8) ...
        changed = x.copy()
        changed[:, 1:9] = np.random.default_rng(3).normal(size=(2, 8, 8))
        out = ops.convert_to_numpy(block(changed))
        self.assertAllClose(out[:, 16], full[:, 16], atol=1e-5)
        self.assertGreater(np.abs(out[:, 9] - full[:, 9]).max(), 1e-4)
        # ... and the cached steps apply the same mask.
        cache = ops.zeros((2, 2, 2, 17, 4))
        for index in range(17):
            step, cache = block.call_with_cache(
                ops.convert_to_tensor(x[:, index : index + 1]), cache, index
            )
            self.assertAllClose(
                ops.convert_to_numpy(step)[:, 0], full[:, index], atol=1e-5
            )
        with self.assertRaisesRegex(ValueError, "attention_window"):
            VIMDecoderBlock(2, 16, attention_window=-1, grid_size=4)
        with self.assertRaisesRegex(ValueError, "grid_size"):
            VIMDecoderBlock(2, 16, attention_window=1)
