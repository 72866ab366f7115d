import numpy as np
from keras import ops
from keras_hub.src.tests.test_case import TestCase

from keras_vim.layers.pixel_shuffle import PixelShuffle


class PixelShuffleTest(TestCase):
    def test_layer_basics(self):
        x = np.arange(2 * 3 * 4 * 12, dtype="float32").reshape(2, 3, 4, 12)
        self.run_layer_test(
            cls=PixelShuffle,
            init_kwargs={"factor": 2},
            input_data=x,
            expected_output_shape=(2, 6, 8, 3),
            # Channels (a, b, c) of pixel (i, j) land on pixel
            # (2i + a, 2j + b), channel c.
            expected_output_data=x.reshape(2, 3, 4, 2, 2, 3)
            .transpose(0, 1, 3, 2, 4, 5)
            .reshape(2, 6, 8, 3),
            # No weights to train.
            run_training_check=False,
        )

    def test_against_a_loop(self):
        x = np.random.default_rng(0).normal(size=(2, 3, 4, 12))
        out = ops.convert_to_numpy(PixelShuffle(2)(x))
        self.assertEqual(out.shape, (2, 6, 8, 3))
        for i in range(3):
            for j in range(4):
                for a in range(2):
                    for b in range(2):
                        self.assertAllClose(
                            out[:, 2 * i + a, 2 * j + b],
                            x[:, i, j].reshape(2, 2, 2, 3)[:, a, b],
                        )

    def test_unknown_spatial_size(self):
        self.assertEqual(
            PixelShuffle(4).compute_output_shape((None, None, 5, 32)),
            (None, None, 20, 2),
        )
