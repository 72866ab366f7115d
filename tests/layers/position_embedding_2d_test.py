import numpy as np
from keras import ops
from keras_hub.src.tests.test_case import TestCase

from keras_vim.layers.position_embedding_2d import PositionEmbedding2D


class PositionEmbedding2DTest(TestCase):
    def setUp(self):
        self.init_kwargs = {
            "grid_size": 2,
            "hidden_dim": 8,
            "num_prefix_positions": 1,
        }
        # One prefix position and the 2x2 grid.
        self.input_data = np.zeros((2, 5, 8), "float32")

    def test_layer_basics(self):
        self.run_layer_test(
            cls=PositionEmbedding2D,
            init_kwargs=self.init_kwargs,
            input_data=self.input_data,
            expected_output_shape=(2, 5, 8),
            expected_num_trainable_weights=3,
        )

    def test_rows_plus_columns(self):
        layer = PositionEmbedding2D(**self.init_kwargs)
        output = ops.convert_to_numpy(layer(self.input_data))
        rows = ops.convert_to_numpy(layer.row_embeddings)
        columns = ops.convert_to_numpy(layer.column_embeddings)
        prefix = ops.convert_to_numpy(layer.prefix_embeddings)
        expected = np.stack(
            [prefix[0]] + [rows[k // 2] + columns[k % 2] for k in range(4)]
        )
        self.assertAllClose(output[0], expected)
        self.assertAllClose(output[1], expected)
        # A decoding step at sequence position 3 is image token 2: row 1,
        # column 0.
        step = layer(self.input_data[:, :1], start_index=3)
        self.assertAllClose(ops.convert_to_numpy(step)[0, 0], expected[3])
