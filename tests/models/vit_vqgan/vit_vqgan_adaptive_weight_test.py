import os

import keras
import numpy as np
from keras import ops
from keras_hub.src.tests.test_case import TestCase

from keras_vim.models.vit_vqgan import vit_vqgan_losses as losses
from tests.models.vit_vqgan.vit_vqgan_test import build_task
from tests.models.vit_vqgan.vit_vqgan_test import images


def gradient(fn, x):
    """d fn / d x on the current backend, as numpy."""
    backend = keras.config.backend()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(fn)(x))
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.Variable(x)
        with tf.GradientTape() as tape:
            value = fn(x)
        return tape.gradient(value, x).numpy()
    import torch

    x = torch.tensor(x, requires_grad=True)
    fn(x).backward()
    return x.grad.detach().numpy()


class AdaptiveAdversarialWeightTest(TestCase):
    def test_adversarial_gradient_is_rescaled_to_a_fraction(self):
        rng = np.random.default_rng(0)
        x, target, direction = (
            rng.normal(size=(2, 4, 4, 3)).astype("float32") for _ in range(3)
        )

        def loss(x):
            for_l2, for_gan = losses.balanced_adversarial_copies(x, 0.1)
            l2 = ops.sum(ops.square(for_l2 - ops.convert_to_tensor(target)))
            gan = ops.sum(for_gan * ops.convert_to_tensor(direction))
            return l2 + 50.0 * gan

        l2_grad = 2 * (x - target)
        # The factor 50 is normalised away: the GAN gradient is 10% of L2's.
        expected = l2_grad + 0.1 * np.linalg.norm(l2_grad) * (
            direction / np.linalg.norm(direction)
        )
        self.assertAllClose(gradient(loss, x), expected, rtol=1e-5, atol=1e-5)
        # Forward, both copies are the input.
        for copy in losses.balanced_adversarial_copies(x, 0.1):
            self.assertAllClose(copy, x)

    def test_fit_and_keras_file_keep_the_adaptive_weight(self):
        keras.utils.set_random_seed(2)
        model = build_task()
        model.compile(
            optimizer=keras.optimizers.Adam(3e-3),
            perceptual_weight=0.0,
            adversarial_weight=0.2,
            adaptive_adversarial_weight=True,
        )
        x = images(8)
        history = model.fit(x, batch_size=8, epochs=8, verbose=0).history
        self.assertTrue(np.all(np.isfinite(history["loss"])))
        self.assertLess(history["l2_loss"][-1], 0.7 * history["l2_loss"][0])
        self.assertTrue(
            np.all(np.isfinite(history["generator_adversarial_loss"]))
        )
        path = os.path.join(self.get_temp_dir(), "adaptive.keras")
        model.save(path)
        restored = keras.saving.load_model(path)
        weights = restored.loss_weights_config
        self.assertTrue(weights["adaptive_adversarial_weight"])
        self.assertEqual(weights["adversarial_weight"], 0.2)
        # The restored model trains on with the same rule.
        restored.fit(x, batch_size=8, epochs=1, verbose=0)

    def test_adversarial_weight_without_discriminator_is_an_error(self):
        model = build_task(discriminator_base_filters=0)
        # "auto" (the default) is off without a discriminator, 0.1 with one.
        self.assertEqual(model.loss_weights_config["adversarial_weight"], 0.0)
        self.assertEqual(
            build_task().loss_weights_config["adversarial_weight"], 0.1
        )
        with self.assertRaisesRegex(ValueError, "discriminator_base_filters"):
            model.compile(adversarial_weight=0.1)
