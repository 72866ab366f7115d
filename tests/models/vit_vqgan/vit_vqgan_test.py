import os
from unittest import mock

import keras
import numpy as np
import pytest
from keras import ops
from keras_hub.src.tests.test_case import TestCase

import keras_vim
from keras_vim.models.vit_vqgan import vit_vqgan_losses as losses
from tests.models.vit_vqgan.vit_vqgan_backbone_test import TINY
from tests.models.vit_vqgan.vit_vqgan_backbone_test import (
    run_trained_preset_tests,
)


def build_task(discriminator_base_filters=4, compile=True, **backbone_kwargs):
    backbone = keras_vim.ViTVQGANBackbone(**{**TINY, **backbone_kwargs})
    converter = keras_vim.ViTVQGANImageConverter(image_size=(16, 16))
    return keras_vim.ViTVQGAN(
        backbone,
        keras_vim.ViTVQGANPreprocessor(converter),
        discriminator_base_filters=discriminator_base_filters,
        compile=compile,
    )


def images(n=4, size=16, seed=0):
    rng = np.random.default_rng(seed)
    # Smooth images: a gradient plus a little noise, uint8.
    ramp = np.linspace(0, 1, size)[None, :, None, None]
    x = 0.5 * ramp + 0.5 * rng.uniform(size=(n, 1, 1, 3)) * ramp.transpose(
        0, 2, 1, 3
    )
    x = x + 0.05 * rng.normal(size=(n, size, size, 3))
    return np.clip(np.round(x * 255), 0, 255).astype("uint8")


class LossTest(TestCase):
    def test_logit_laplace_matches_numpy_density(self):
        rng = np.random.default_rng(0)
        x = rng.uniform(size=(2, 4, 4, 3)).astype("float32")
        mu = rng.normal(size=x.shape).astype("float32")
        log_b = rng.normal(scale=0.5, size=x.shape).astype("float32")
        # Reference: -log of the logit-Laplace density of the squashed pixel.
        eps = 0.1
        xs = eps + (1 - 2 * eps) * x.astype("float64")
        b = np.exp(log_b.astype("float64"))
        density = np.exp(-np.abs(np.log(xs / (1 - xs)) - mu) / b) / (
            2 * b * xs * (1 - xs)
        )
        expected = (-np.log(density)).mean(axis=(1, 2, 3))
        got = losses.logit_laplace_loss(x, mu, log_b)
        self.assertAllClose(got, expected, rtol=1e-5, atol=1e-5)
        # Not the L1 stand-in of many ports.
        l1 = np.abs(x - 1 / (1 + np.exp(-mu))).mean(axis=(1, 2, 3))
        self.assertGreater(np.abs(ops.convert_to_numpy(got) - l1).min(), 0.01)

    def test_gradient_l2_loss(self):
        rng = np.random.default_rng(0)
        a = rng.random((2, 5, 6, 3)).astype("float32")
        b = rng.random((2, 5, 6, 3)).astype("float32")
        e = b - a
        expected = [
            np.mean(
                [
                    (e[n, y + 1, x] - e[n, y, x]) ** 2
                    for y in range(4)
                    for x in range(6)
                ]
            )
            + np.mean(
                [
                    (e[n, y, x + 1] - e[n, y, x]) ** 2
                    for y in range(5)
                    for x in range(5)
                ]
            )
            for n in range(2)
        ]
        self.assertAllClose(losses.gradient_l2_loss(a, b), expected)
        # Zero for a reconstruction off by a constant: only steps count.
        self.assertAllClose(losses.gradient_l2_loss(a, a + 0.2), [0.0, 0.0])

    def test_l2_and_gan_losses(self):
        a = np.zeros((2, 2, 2, 3), "float32")
        b = np.full((2, 2, 2, 3), 0.5, "float32")
        self.assertAllClose(losses.l2_loss(a, b), [0.25, 0.25])
        logits = np.array([0.0, 2.0], "float32")
        self.assertAllClose(
            losses.generator_adversarial_loss(logits), np.log1p(np.exp(-logits))
        )
        self.assertAllClose(
            losses.discriminator_loss(logits, -logits),
            2 * np.log1p(np.exp(-logits)),
        )


class ViTVQGANTest(TestCase):
    def setUp(self):
        self.init_kwargs = {
            "backbone": keras_vim.ViTVQGANBackbone(**TINY),
            "preprocessor": keras_vim.ViTVQGANPreprocessor(
                keras_vim.ViTVQGANImageConverter(image_size=(16, 16))
            ),
            "discriminator_base_filters": 4,
        }
        self.train_data = (images(4),)

    def test_task_basics(self):
        self.run_task_test(
            cls=keras_vim.ViTVQGAN,
            init_kwargs=self.init_kwargs,
            train_data=self.train_data,
            expected_output_shape={
                "reconstruction": (4, 16, 16, 3),
                "location": (4, 16, 16, 3),
                "log_scale": (4, 16, 16, 3),
                "token_ids": (4, 16),
                "quantizer_loss": (4,),
            },
            # No VGG16 download in tests.
            compile_kwargs={"perceptual_weight": 0.0},
        )

    @pytest.mark.large
    def test_all_presets(self):
        # The task's outputs are its backbone's.
        run_trained_preset_tests(self, keras_vim.ViTVQGAN)

    def test_compile_argument(self):
        # Building VGG16 would download its weights: the automatic compile
        # must not, though it keeps the paper's perceptual weight.
        no_vgg = mock.patch.object(
            keras.applications, "VGG16", side_effect=AssertionError("VGG16")
        )
        with no_vgg:
            model = keras_vim.ViTVQGAN(**self.init_kwargs)
            uncompiled = keras_vim.ViTVQGAN(**self.init_kwargs, compile=False)
        self.assertTrue(model.compiled)
        self.assertEqual(model.loss_weights_config["perceptual_weight"], 0.1)
        self.assertIsInstance(model.optimizer, keras.optimizers.MultiOptimizer)
        self.assertFalse(uncompiled.compiled)
        self.assertEqual(uncompiled.get_compile_config(), {})
        with self.assertRaisesRegex(ValueError, "You must call `compile"):
            uncompiled.fit(images(2), batch_size=2, verbose=0)

    def test_encode_decode(self):
        model = build_task()
        ids = model.encode(images(3))
        self.assertEqual(ids.shape, (3, 4, 4))
        self.assertEqual(ids.dtype, np.int32)
        decoded = model.decode(ids)
        self.assertEqual(decoded.shape, (3, 16, 16, 3))
        self.assertEqual(decoded.dtype, np.float32)
        self.assertTrue(decoded.min() >= 0 and decoded.max() <= 1)
        # uint8 and float [0, 1] inputs mean the same thing; other sizes resize.
        self.assertAllEqual(model.encode(images(3) / 255.0), ids)
        self.assertEqual(
            model.encode(np.zeros((32, 32, 3), "uint8")).shape, (1, 4, 4)
        )

    def test_frozen_discriminator_matches_discriminator(self):
        model = build_task()
        x = images(2).astype("float32") / 255
        self.assertAllClose(
            model.discriminator.frozen_call(x),
            model.discriminator(x),
            atol=1e-6,
        )

    def test_all_losses_fall_with_fit(self):
        keras.utils.set_random_seed(1)
        model = build_task()
        model.compile(
            optimizer=keras.optimizers.Adam(3e-3),
            perceptual_weight=0.1,
            gradient_l2_weight=1.0,
            perceptual_weights=None,
        )
        x = images(8)
        disc_before = ops.convert_to_numpy(
            model.discriminator.weights[0]
        ).copy()
        history = model.fit(x, batch_size=8, epochs=12, verbose=0).history
        for key in (
            "quantizer_loss",
            "logit_laplace_loss",
            "l2_loss",
            "gradient_l2_loss",
            "perceptual_loss",
            "generator_adversarial_loss",
            "discriminator_loss",
            "codebook_usage",
            "perplexity",
        ):
            self.assertTrue(np.all(np.isfinite(history[key])), key)
        self.assertLess(history["l2_loss"][-1], 0.7 * history["l2_loss"][0])
        self.assertLess(
            history["gradient_l2_loss"][-1], history["gradient_l2_loss"][0]
        )
        self.assertLess(
            history["logit_laplace_loss"][-1], history["logit_laplace_loss"][0]
        )
        self.assertGreater(history["codebook_usage"][0], 0)
        self.assertGreater(
            np.abs(
                ops.convert_to_numpy(model.discriminator.weights[0])
                - disc_before
            ).max(),
            0,
        )

    def test_discriminator_has_its_own_optimizer(self):
        model = build_task()
        model.compile(
            optimizer=keras.optimizers.SGD(0.0),
            discriminator_optimizer=keras.optimizers.SGD(0.1),
            perceptual_weight=0.0,
        )
        self.assertIsInstance(model.optimizer, keras.optimizers.MultiOptimizer)
        encoder_before = ops.convert_to_numpy(
            model.backbone.encoder.weights[0]
        ).copy()
        disc_before = ops.convert_to_numpy(
            model.discriminator.weights[0]
        ).copy()
        model.fit(images(8), batch_size=8, epochs=2, verbose=0)
        # Generator lr 0: untouched; discriminator lr 0.1: moved.
        self.assertAllClose(model.backbone.encoder.weights[0], encoder_before)
        disc_after = ops.convert_to_numpy(model.discriminator.weights[0])
        self.assertGreater(np.abs(disc_after - disc_before).max(), 1e-6)
        self.assertEqual(
            int(ops.convert_to_numpy(model.optimizer.iterations)), 2
        )

    def test_optimizer_state_survives_keras_file(self):
        model = build_task()
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            discriminator_optimizer=keras.optimizers.Adam(3e-3),
            perceptual_weight=0.0,
        )
        x = images(4)
        model.fit(x, batch_size=4, epochs=2, shuffle=False, verbose=0)
        ids = model.encode(x)
        model.decode(ids)
        path = os.path.join(self.get_temp_dir(), "trained.keras")
        model.save(path)
        restored = keras.saving.load_model(path)

        optimizer = restored.optimizer
        self.assertIsInstance(optimizer, keras.optimizers.MultiOptimizer)
        self.assertEqual(int(ops.convert_to_numpy(optimizer.iterations)), 2)
        # Iterations, learning rates and both Adams' moments, in order.
        self.assertEqual(
            len(restored.optimizer.variables), len(model.optimizer.variables)
        )
        for original, loaded in zip(
            model.optimizer.variables, restored.optimizer.variables
        ):
            self.assertAllClose(
                original, loaded, atol=0, rtol=0, msg=original.path
            )
        # The next step, from the restored state, is the original's next step
        # (the two optimizers' learning rates differ, so a discriminator
        # variable sent to the wrong one would show).
        model.fit(x, batch_size=4, epochs=1, shuffle=False, verbose=0)
        restored.fit(x, batch_size=4, epochs=1, shuffle=False, verbose=0)
        self.assertEqual(int(ops.convert_to_numpy(optimizer.iterations)), 3)
        for original, loaded in zip(model.weights, restored.weights):
            self.assertAllClose(
                original, loaded, atol=0, rtol=0, msg=original.path
            )
        # `decode`, already used before that step, decodes with its codebook.
        self.assertAllClose(model.decode(ids), restored.decode(ids), atol=1e-6)

    def test_saved_compile_config_reads_no_file(self):
        model = build_task()
        model.compile(perceptual_weights="imagenet")
        config = model.get_compile_config()
        self.assertEqual(config["perceptual_weights"], "imagenet")
        # A crafted file naming a path: the path is dropped, with a warning.
        config["perceptual_weights"] = "/somewhere/else/vgg16.h5"
        restored = build_task()
        with self.assertWarnsRegex(UserWarning, "is not read"):
            restored.compile_from_config(config)
        self.assertIsNone(restored.perceptual_weights)

    def test_preset_round_trip(self):
        model = build_task()
        x = images(2)
        path = os.path.join(self.get_temp_dir(), "preset")
        model.save_to_preset(path)
        restored = keras_vim.ViTVQGAN.from_preset(path)
        ids = model.encode(x)
        self.assertAllEqual(restored.encode(x), ids)
        self.assertAllClose(restored.decode(ids), model.decode(ids), atol=1e-6)
        self.assertAllClose(
            restored.discriminator.weights[0], model.discriminator.weights[0]
        )

    def test_keras_file_round_trip(self):
        model = build_task()
        x = images(2).astype("float32") / 255
        path = os.path.join(self.get_temp_dir(), "model.keras")
        model.save(path)
        restored = keras.saving.load_model(path)
        self.assertIsInstance(restored, keras_vim.ViTVQGAN)
        a, b = model.predict(x, verbose=0), restored.predict(x, verbose=0)
        for key in a:
            self.assertAllClose(a[key], b[key], atol=1e-6)

    def test_bad_images(self):
        model = build_task()
        bad = [
            (np.zeros((16, 16), "uint8"), r"shape \(batch, height, width, 3\)"),
            (np.zeros((1, 16, 16, 4), "uint8"), "must have 3 channels"),
            (np.full((1, 16, 16, 3), np.nan, "float32"), "NaN"),
            (np.full((1, 16, 16, 3), 2.0, "float32"), r"in \[0, 1\].*2"),
            (np.full((1, 16, 16, 3), 300, "int32"), r"\[0, 255\].*300"),
            (np.zeros((1, 16, 16, 3), "complex64"), "dtype=complex64"),
        ]
        for value, message in bad:
            with self.assertRaisesRegex(ValueError, "images.*" + message):
                model.encode(value)
        model_without_resize = keras_vim.ViTVQGAN(
            model.backbone, None, discriminator_base_filters=0
        )
        with self.assertRaisesRegex(
            ValueError, "multiples of the patch size 4"
        ):
            model_without_resize.encode(np.zeros((1, 18, 18, 3), "uint8"))
        with self.assertRaisesRegex(ValueError, "must be 16x16"):
            model_without_resize.encode(np.zeros((1, 32, 32, 3), "uint8"))

    def test_bad_token_ids(self):
        model = build_task()
        with self.assertRaisesRegex(
            ValueError, r"token_ids.*\[0, 32\).*e\.g\. 32"
        ):
            model.decode(np.full((1, 4, 4), 32))
        with self.assertRaisesRegex(ValueError, r"token_ids.*\[0, 32\).*-1"):
            model.decode(np.full((1, 16), -1))
        with self.assertRaisesRegex(
            ValueError, r"token_ids.*shape \(batch, 4, 4\)"
        ):
            model.decode(np.zeros((1, 5, 5), "int32"))
        with self.assertRaisesRegex(ValueError, "token_ids.*integers"):
            model.decode(np.zeros((1, 16), "float32"))

    def test_bad_compile_arguments(self):
        with self.assertRaisesRegex(ValueError, "l2_weight.*-1"):
            build_task().compile(l2_weight=-1)

    def test_bad_presets(self):
        with self.assertRaisesRegex(
            ValueError, "preset='missing_preset'.*vit_vqgan_small"
        ):
            keras_vim.ViTVQGAN.from_preset("missing_preset")
        folder = self.get_temp_dir()
        with self.assertRaisesRegex(ValueError, "has no config.json"):
            keras_vim.ViTVQGAN.from_preset(folder)
        with open(os.path.join(folder, "config.json"), "w") as f:
            f.write("{not json")
        with self.assertRaisesRegex(ValueError, "config.json is corrupt"):
            keras_vim.ViTVQGAN.from_preset(folder)
        # A preset whose weights file is truncated.
        path = os.path.join(self.get_temp_dir(), "truncated")
        build_task().save_to_preset(path)
        weights = os.path.join(path, "model.weights.h5")
        with open(weights, "rb") as f:
            data = f.read()
        with open(weights, "wb") as f:
            f.write(data[: len(data) // 2])
        with self.assertRaisesRegex(ValueError, "could not read"):
            keras_vim.ViTVQGAN.from_preset(path)

    def test_architecture_preset_warns(self):
        with pytest.warns(UserWarning, match="architecture-only"):
            backbone = keras_vim.ViTVQGANBackbone.from_preset("vit_vqgan_small")
        self.assertEqual(backbone.decoder.num_layers, 8)
        self.assertEqual(backbone.encoder.hidden_dim, 512)
