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
