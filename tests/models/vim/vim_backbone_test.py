import numpy as np
import pytest
from keras import ops
from keras_hub.src.tests.test_case import TestCase

import keras_vim

TINY = dict(
    vocabulary_size=32,
    grid_size=4,
    num_layers=2,
    num_heads=2,
    hidden_dim=16,
    intermediate_dim=32,
    num_classes=3,
)
PAPER = {
    "vim_base": dict(num_layers=24, hidden_dim=1536, intermediate_dim=6144),
    "vim_large": dict(num_layers=36, hidden_dim=2048, intermediate_dim=8192),
}


def vim_param_count(c, attention_output=True):
    """Hand count: blocks, token tables, class table, 2D positions, LN."""
    d, m, v = c["hidden_dim"], c["intermediate_dim"], c["vocabulary_size"]
    attention = (4 if attention_output else 3) * d * d + 4 * d
    block = attention + (2 * d * m + m + d) + 4 * d
    classes = c.get("num_classes", 0) + 1
    return (
        c["num_layers"] * block
        + 2 * v * d
        + classes * d
        + (2 * c["grid_size"] + 1) * d
        + 2 * d
    )


def random_tokens(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 32, (n, 16)).astype("int32")


class VIMBackboneTest(TestCase):
    def setUp(self):
        self.init_kwargs = dict(TINY)
        self.input_data = {
            "token_ids": random_tokens(2),
            "class_ids": np.array([0, 3], "int32"),
        }

    def test_backbone_basics(self):
        self.run_backbone_test(
            cls=keras_vim.VIMBackbone,
            init_kwargs=self.init_kwargs,
            input_data=self.input_data,
            expected_output_shape=(2, 17, 16),
            variable_length_data=[
                {
                    "token_ids": random_tokens(2)[:, :length],
                    "class_ids": np.array([0, 3], "int32"),
                }
                for length in (2, 9, 16)
            ],
            run_quantization_check=False,
        )

    def test_saved_model(self):
        self.run_model_saving_test(
            cls=keras_vim.VIMBackbone,
            init_kwargs=self.init_kwargs,
            input_data=self.input_data,
        )

    def test_param_count_by_hand(self):
        backbone = keras_vim.VIMBackbone(**TINY)
        self.assertEqual(backbone.count_params(), vim_param_count(TINY))

    def test_position_embedding_is_2d(self):
        layer = keras_vim.layers.PositionEmbedding2D(4, 8, 1)
        out = ops.convert_to_numpy(layer(np.zeros((1, 17, 8), "float32")))[0]
        rows, cols, prefix = (ops.convert_to_numpy(w) for w in layer.weights)
        self.assertAllClose(out[0], prefix[0])
        for k in range(16):
            self.assertAllClose(out[1 + k], rows[k // 4] + cols[k % 4])

    def test_paper_param_counts(self):
        # The paper's 650M / 1697M match the blocks without their attention
        # output projection; see README.
        for name, paper in (("vim_base", 650e6), ("vim_large", 1697e6)):
            config = dict(vocabulary_size=8192, grid_size=32, **PAPER[name])
            self.assertLess(
                abs(vim_param_count(config, False) / paper - 1), 0.05
            )
        base = dict(vocabulary_size=8192, grid_size=32, **PAPER["vim_base"])
        self.assertAlmostEqual(vim_param_count(base) / 1e6, 705.2, delta=0.1)

    @pytest.mark.large
    def test_all_presets(self):
        for preset in ("vim_digits", "vim_digits_class"):
            self.run_preset_test(
                cls=keras_vim.VIMBackbone,
                preset=preset,
                input_data={
                    "token_ids": np.zeros((1, 16), "int32"),
                    "class_ids": np.zeros((1,), "int32"),
                },
                expected_output_shape=(1, 17, 128),
            )
