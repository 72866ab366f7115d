import numpy as np
from keras_hub.src.tests.test_case import TestCase

from keras_vim.models.vit_vqgan.vit_vqgan_discriminator import (
    ViTVQGANDiscriminator,
)


class ViTVQGANDiscriminatorTest(TestCase):
    def test_layer_basics(self):
        images = np.random.default_rng(0).uniform(size=(2, 8, 8, 3))
        self.run_layer_test(
            cls=ViTVQGANDiscriminator,
            init_kwargs={"image_size": 8, "base_filters": 4},
            input_data=images.astype("float32"),
            # One logit per image.
            expected_output_shape=(2,),
            # From-RGB 2, one residual block of three convolutions 6, final
            # convolution 2, two dense layers 4 (kernels and biases).
            expected_num_trainable_weights=14,
            # The logits stay float32 under every policy; the helper
            # expects the compute dtype.
            run_precision_checks=False,
        )
