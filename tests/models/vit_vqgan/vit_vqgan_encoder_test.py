import numpy as np
from keras_hub.src.tests.test_case import TestCase

from keras_vim.models.vit_vqgan.vit_vqgan_encoder import ViTVQGANEncoder

TINY_TRUNK = dict(
    image_size=16,
    patch_size=4,
    num_layers=1,
    num_heads=2,
    hidden_dim=8,
    intermediate_dim=16,
)


class ViTVQGANEncoderTest(TestCase):
    def test_layer_basics(self):
        images = np.random.default_rng(0).uniform(size=(2, 16, 16, 3))
        self.run_layer_test(
            cls=ViTVQGANEncoder,
            init_kwargs=TINY_TRUNK,
            input_data=images.astype("float32"),
            # One vector per 4x4 patch.
            expected_output_shape=(2, 16, 8),
            # Patch embedding 2, position table 1, one Transformer block 16
            # (4 projections and 2 LayerNorms of attention, 2 Dense of the
            # MLP, each kernel and bias), output LayerNorm 2, tanh head 4.
            expected_num_trainable_weights=25,
            # The output LayerNorm is pinned to float32; the helper expects
            # every sublayer at the compute dtype.
            run_precision_checks=False,
        )
