import numpy as np
from keras import ops
from keras_hub.src.tests.test_case import TestCase

from keras_vim.models.vit_vqgan.vit_vqgan_decoder import ViTVQGANDecoder
from keras_vim.models.vit_vqgan.vit_vqgan_decoder import map_pixels
from tests.models.vit_vqgan.vit_vqgan_encoder_test import TINY_TRUNK


class ViTVQGANDecoderTest(TestCase):
    def setUp(self):
        rng = np.random.default_rng(0)
        self.tokens = rng.normal(size=(2, 16, 8)).astype("float32")

    def test_layer_basics(self):
        self.run_layer_test(
            cls=ViTVQGANDecoder,
            init_kwargs=TINY_TRUNK,
            input_data=self.tokens,
            # Reconstruction, location and log-scale of every pixel.
            expected_output_shape=((2, 16, 16, 3),) * 3,
            # Position table 1, one Transformer block 16, output LayerNorm
            # 2, tanh head 4, pixel projection 2.
            expected_num_trainable_weights=25,
            # The pixel statistics stay float32 under every policy (they
            # feed the likelihood); the helper expects the compute dtype.
            run_precision_checks=False,
        )

    def test_reconstruction_is_the_mean_of_the_location(self):
        decoder = ViTVQGANDecoder(**TINY_TRUNK)
        reconstruction, location, _ = decoder(self.tokens)
        self.assertAllClose(
            map_pixels(reconstruction), ops.sigmoid(location), atol=1e-5
        )

    def test_overlapping_patches_match_windows_added_in_numpy(self):
        decoder = ViTVQGANDecoder(
            **TINY_TRUNK, output_activation="raw", overlapping_patches=True
        )
        reconstruction, _, log_scale = decoder(self.tokens)
        stats = np.concatenate(
            [ops.convert_to_numpy(t) for t in (reconstruction, log_scale)],
            axis=-1,
        )
        # Each token's 8x8x6 window, centred on its 4x4 patch and weighted by
        # a tent, added into a canvas with a 2-pixel margin (cut off), then
        # divided by the summed weights.
        trunk = decoder._call_trunk(ops.convert_to_tensor(self.tokens))
        windows = ops.convert_to_numpy(decoder.pixel_projection(trunk))
        windows = windows.reshape(2, 4, 4, 8, 8, 6)
        tent = np.array([1, 3, 5, 7, 7, 5, 3, 1], "float32") / 8
        tent = np.outer(tent, tent)[..., None]
        canvas = np.zeros((2, 20, 20, 6), "float32")
        weights = np.zeros((20, 20, 1), "float32")
        for i in range(4):
            for j in range(4):
                rows = slice(4 * i, 4 * i + 8)
                cols = slice(4 * j, 4 * j + 8)
                canvas[:, rows, cols] += windows[:, i, j] * tent
                weights[rows, cols] += tent
        expected = canvas[:, 2:18, 2:18] / weights[2:18, 2:18]
        self.assertAllClose(stats, expected, atol=1e-5)
        # Inside the image the tents sum to one.
        self.assertAllClose(weights[4:16, 4:16], np.ones((12, 12, 1)))

    def test_overlapping_patches_paint_flat_colour_without_seams(self):
        decoder = ViTVQGANDecoder(
            **TINY_TRUNK, output_activation="raw", overlapping_patches=True
        )
        decoder.build((None, 16, 8))
        kernel, bias = decoder.pixel_projection.weights
        kernel.assign(np.zeros(kernel.shape, "float32"))
        bias.assign(np.full(bias.shape, 0.3, "float32"))
        reconstruction, _, _ = decoder(self.tokens)
        self.assertAllClose(reconstruction, np.full((2, 16, 16, 3), 0.3))

    def test_overlapping_patches_need_even_patch_size(self):
        with self.assertRaisesRegex(ValueError, "even `patch_size`"):
            ViTVQGANDecoder(
                **dict(TINY_TRUNK, image_size=15, patch_size=5),
                overlapping_patches=True,
            )

    def test_deblocking_matches_numpy_filter(self):
        plain = ViTVQGANDecoder(**TINY_TRUNK, output_activation="raw")
        deblocked = ViTVQGANDecoder(
            **TINY_TRUNK, output_activation="raw", deblocking_strength=0.1
        )
        plain.build((None, 16, 8))
        deblocked.build((None, 16, 8))
        for source, target in zip(plain.weights, deblocked.weights):
            target.assign(source)
        expected = ops.convert_to_numpy(plain(self.tokens)[0]).copy()
        # Rows, then columns: the pixels either side of each 4-pixel token
        # boundary move 10% of their difference towards each other.
        for axis in (1, 2):
            for b in (4, 8, 12):
                before = np.take(expected, b - 1, axis=axis)
                after = np.take(expected, b, axis=axis)
                index = [slice(None)] * 4
                index[axis] = b - 1
                expected[tuple(index)] = before + 0.1 * (after - before)
                index[axis] = b
                expected[tuple(index)] = after + 0.1 * (before - after)
        self.assertAllClose(deblocked(self.tokens)[0], expected, atol=1e-5)
        self.assertEqual(deblocked.get_config()["deblocking_strength"], 0.1)

    def test_deblocking_strength_must_be_below_one_half(self):
        with self.assertRaisesRegex(ValueError, "deblocking_strength"):
            ViTVQGANDecoder(**TINY_TRUNK, deblocking_strength=0.5)
