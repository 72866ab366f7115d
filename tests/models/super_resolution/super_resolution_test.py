import os

import keras
import numpy as np
from keras import ops
from keras_hub.src.tests.test_case import TestCase

import keras_vim
from keras_vim.utils.image_utils import psnr
from tests.models.task_test_utils import with_pass_through_preprocessor
from tests.models.vit_vqgan.vit_vqgan_backbone_test import ramp_images

TINY = dict(scale=2, num_blocks=2, filters=16)


def build(**kwargs):
    keras.utils.set_random_seed(0)
    model = keras_vim.SuperResolution(
        keras_vim.SuperResolutionBackbone(**{**TINY, **kwargs})
    )
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    return model


def blocky_pairs(n, size=8, seed=0):
    """Images of flat 2x2-pixel blocks, and their exact 2x (nearest)
    enlargements: what bilinear upsampling blurs and a trained network
    can restore."""
    rng = np.random.default_rng(seed)
    cells = rng.integers(0, 256, (n, size // 2, size // 2, 3)).astype("uint8")
    low = cells.repeat(2, axis=1).repeat(2, axis=2)
    return low, low.repeat(2, axis=1).repeat(2, axis=2)


class SuperResolutionBackboneTest(TestCase):
    def test_backbone_basics(self):
        self.run_backbone_test(
            cls=keras_vim.SuperResolutionBackbone,
            init_kwargs=TINY,
            # A tensor: Keras cannot trace a numpy input straight into a
            # convolution in `compute_output_spec`.
            input_data=ops.convert_to_tensor(
                np.random.default_rng(0).uniform(size=(2, 8, 8, 3)), "float32"
            ),
            expected_output_shape=(2, 16, 16, 3),
            variable_length_data=[
                np.zeros((1, h, w, 3), "float32") for h, w in ((4, 4), (6, 10))
            ],
            run_quantization_check=False,
        )

    def test_four_times_and_bad_scale(self):
        backbone = keras_vim.SuperResolutionBackbone(
            scale=4, **{k: v for k, v in TINY.items() if k != "scale"}
        )
        self.assertEqual(backbone(np.zeros((1, 5, 7, 3))).shape, (1, 20, 28, 3))
        with self.assertRaisesRegex(ValueError, "scale=3"):
            keras_vim.SuperResolutionBackbone(scale=3)


# `SuperResolution` has no preprocessor (images are checked and scaled in
# `fit` and `upscale`); keras-hub's `run_task_test` calls one.
SuperResolutionWithPassThrough = with_pass_through_preprocessor(
    keras_vim.SuperResolution
)


class SuperResolutionTest(TestCase):
    def setUp(self):
        self.init_kwargs = {
            "backbone": keras_vim.SuperResolutionBackbone(**TINY)
        }
        low, high = blocky_pairs(4)
        self.train_data = (
            low.astype("float32") / 255,
            high.astype("float32") / 255,
        )

    def test_task_basics(self):
        self.run_task_test(
            cls=SuperResolutionWithPassThrough,
            init_kwargs=self.init_kwargs,
            train_data=self.train_data,
            expected_output_shape=(4, 16, 16, 3),
        )

    def test_all_presets(self):
        self.run_preset_test(
            cls=keras_vim.SuperResolution,
            preset="super_resolution_photos_2x",
            input_data=ramp_images(8),
            expected_output_shape=(1, 16, 16, 3),
            expected_partial_output=np.array(
                [-0.0223, -0.0149, 0.4903, 0.026, -0.0111], "float32"
            ),
        )

    def test_untrained_model_is_bilinear_upsampling(self):
        model = build()
        flat = np.full((1, 8, 8, 3), 0.25, "float32")
        self.assertAllClose(model.upscale(flat), np.full((1, 16, 16, 3), 0.25))

    def test_fit_beats_bilinear_on_held_out_images(self):
        model = build()
        low, high = blocky_pairs(128)
        history = model.fit(low, high, batch_size=16, epochs=10, verbose=0)
        self.assertLess(history.history["loss"][-1], history.history["loss"][0])
        low, high = blocky_pairs(32, seed=1)
        bilinear = ops.convert_to_numpy(
            keras.layers.UpSampling2D(2, interpolation="bilinear")(
                low.astype("float32") / 255
            )
        )
        learned = psnr(high, model.upscale(low))
        self.assertGreater(learned, psnr(high, np.clip(bilinear, 0, 1)) + 1)

    def test_logit_laplace_loss(self):
        # ViT-VQGAN's losses: L2 + 0.5 x logit-Laplace NLL with the
        # predicted per-pixel scale; checked against numpy on one batch.
        keras.utils.set_random_seed(0)
        backbone = keras_vim.SuperResolutionBackbone(**TINY, predict_scale=True)
        model = keras_vim.SuperResolution(backbone)
        model.compile(
            optimizer=keras.optimizers.Adam(3e-3), logit_laplace_weight=0.5
        )
        low, high = blocky_pairs(64)
        x, y = low[:8] / 255, (high[:8] / 255).astype("float32")
        out = backbone(x.astype("float32"))
        self.assertDTypeEqual(out["log_scale"], "float32")
        images = ops.convert_to_numpy(out["images"]).astype("float64")
        log_b = np.clip(ops.convert_to_numpy(out["log_scale"]), -10, 10)
        eps = 0.1

        def squash(v):
            return (1 - 2 * eps) * np.clip(v, 0, 1) + eps

        def logit(v):
            return np.log(v) - np.log1p(-v)

        target = squash(y.astype("float64"))
        nll = (
            np.abs(logit(target) - logit(squash(images))) * np.exp(-log_b)
            + log_b
            + np.log(2.0)
            + np.log(target * (1 - target))
        )
        expected = np.mean((images - y) ** 2) + 0.5 * np.mean(nll)
        loss = model.evaluate(low[:8], high[:8], batch_size=8, verbose=0)
        self.assertAllClose(loss, expected, rtol=1e-4)

        history = model.fit(low, high, batch_size=16, epochs=4, verbose=0)
        losses = history.history["loss"]
        self.assertLess(losses[-1], losses[0])
        self.assertEqual(model.upscale(low[:2]).shape, (2, 16, 16, 3))
        path = os.path.join(self.get_temp_dir(), "sr.keras")
        model.save(path)
        restored = keras.saving.load_model(path)
        self.assertEqual(restored.logit_laplace_weight, 0.5)
        self.assertAllClose(
            restored.evaluate(low[:8], high[:8], batch_size=8, verbose=0),
            model.evaluate(low[:8], high[:8], batch_size=8, verbose=0),
            atol=1e-6,
        )
        with self.assertRaisesRegex(ValueError, "loss.*'auto'"):
            model.compile(loss="mae")

    def test_saving_round_trips(self):
        model = build()
        low, high = blocky_pairs(16)
        model.fit(low, high, batch_size=8, epochs=1, verbose=0)
        expected = model.upscale(low)
        path = os.path.join(self.get_temp_dir(), "sr")
        model.save_to_preset(path)
        restored = keras_vim.SuperResolution.from_preset(path)
        self.assertAllClose(restored.upscale(low), expected, atol=1e-6)
        self.run_model_saving_test(
            cls=keras_vim.SuperResolution,
            init_kwargs=dict(backbone=model.backbone),
            input_data=low.astype("float32") / 255,
        )

    def test_bad_input(self):
        model = build()
        low, high = blocky_pairs(4)
        self.assertEqual(model.upscale(low[:0]).shape, (0, 16, 16, 3))
        cases = [
            (lambda: model.upscale(low.astype("float32")), r"\[0, 1\]"),
            (lambda: model.upscale(low[..., :2]), "3 channels"),
            (lambda: model.upscale(low, batch_size=0), "batch_size=0"),
            (lambda: model.fit(low, verbose=0), "high-resolution.*`y`"),
            (
                lambda: model.fit(low, high[:, :15], verbose=0),
                r"`y` must be the 2x larger.*\(4, 16, 16, 3\)",
            ),
        ]
        for call, message in cases:
            with self.assertRaisesRegex(ValueError, message):
                call()
        self.assertAllClose(model.upscale(low), model.upscale(low))
