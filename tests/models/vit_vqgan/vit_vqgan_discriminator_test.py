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

    def test_matches_a_numpy_reference(self):
        # Two residual blocks: 16 -> 8 -> 4.
        layer = ViTVQGANDiscriminator(16, base_filters=4, max_filters=8)
        images = np.random.default_rng(1).uniform(size=(3, 16, 16, 3))
        layer.build(images.shape)
        self.assertAllClose(
            layer(images.astype("float32")),
            reference_logits(layer, images),
            atol=1e-4,
            rtol=1e-4,
        )


def reference_logits(layer, images):
    """StyleGAN2's residual discriminator in numpy, with `layer`'s weights:
    each block's second convolution and skip see the halved maps."""

    def conv(x, conv_layer):
        kernel, bias = (np.asarray(w.numpy()) for w in conv_layer.weights)
        size, pad = kernel.shape[0], kernel.shape[0] // 2
        padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        height, width = x.shape[1:3]
        return bias + sum(
            padded[:, i : i + height, j : j + width] @ kernel[i, j]
            for i in range(size)
            for j in range(size)
        )

    def halve(x):
        b, h, w, c = x.shape
        return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))

    def leaky_relu(x):
        return np.where(x > 0, x, 0.2 * x)

    def dense(x, dense_layer):
        kernel, bias = (np.asarray(w.numpy()) for w in dense_layer.weights)
        return x @ kernel + bias

    x = leaky_relu(conv(images * 2.0 - 1.0, layer.from_rgb))
    for conv_0, conv_1, skip in layer.blocks:
        shortcut = conv(halve(x), skip)
        x = leaky_relu(conv(halve(leaky_relu(conv(x, conv_0))), conv_1))
        x = (x + shortcut) / np.sqrt(2.0)
    std = np.sqrt(x.var(axis=0) + 1e-8).mean()
    x = np.concatenate([x, np.full(x.shape[:-1] + (1,), std)], axis=-1)
    x = leaky_relu(conv(x, layer.final_conv)).reshape(len(x), -1)
    x = leaky_relu(dense(x, layer.final_dense))
    return dense(x, layer.output_dense)[:, 0]
