"""Bad arguments to `VIMTransformer` and `LinearProbe`: clear errors, and
nothing changed by a rejected call."""

import re

import numpy as np
from keras import ops
from keras_hub.src.tests.test_case import TestCase

import keras_vim
from tests.models.vim.vim_backbone_test import TINY
from tests.models.vim.vim_transformer_test import build
from tests.models.vim.vim_transformer_test import tiny_tokenizer


def weights_of(model):
    return [ops.convert_to_numpy(w).copy() for w in model.weights]


class VIMAndLinearProbeInputTest(TestCase):
    def setUp(self):
        rng = np.random.default_rng(0)
        self.labels = np.arange(8) % 2
        self.tokens = rng.integers(0, TINY["vocabulary_size"], (8, 16))

    def assertRejected(self, call, message, model):
        before = weights_of(model)
        with self.assertRaisesRegex(ValueError, message):
            call()
        for a, b in zip(before, weights_of(model)):
            self.assertAllEqual(a, b)

    def test_vim_fit_rejects_bad_arguments(self):
        model = build(num_classes=3)
        fit = dict(epochs=1, verbose=0)
        cases = [
            (
                lambda: model.fit(self.tokens, **fit),
                r"class-conditional \(num_classes=3\).*y=None",
            ),
            (
                lambda: model.fit(
                    self.tokens, self.labels, batch_size=0, **fit
                ),
                r"`batch_size` must be an int >= 1 or None.*batch_size=0",
            ),
            (
                lambda: model.fit(
                    self.tokens, self.labels, batch_size=2.5, **fit
                ),
                "batch_size=2.5",
            ),
            (
                lambda: model.fit(self.tokens[:, :9], self.labels, **fit),
                r"`x`.*\(batch, 4, 4\) or \(batch, 16\)",
            ),
            (
                lambda: model.fit(self.tokens, self.labels[:, None], **fit),
                "`class_ids` must be a 1-D array",
            ),
        ]
        for call, message in cases:
            self.assertRejected(call, message, model)
        # Numpy integers are numbers.
        history = model.fit(
            self.tokens, self.labels, batch_size=np.int64(4), **fit
        )
        self.assertTrue(np.isfinite(history.history["loss"][-1]))

    def test_vim_generate_rejects_bad_arguments(self):
        model = build(num_classes=3)
        cases = [
            (lambda: model.generate(class_ids=[]), "`class_ids` is empty"),
            (
                lambda: model.generate(num_images=1, seed=2**40),
                re.escape("`seed` must be an int in [0, 2147483647]"),
            ),
            (
                lambda: model.generate(num_images=1, seed="abc"),
                "seed='abc'",
            ),
            (
                lambda: model.generate(num_images=1, temperature=np.inf),
                "`temperature` must be a finite number",
            ),
            (
                lambda: model.generate(class_ids=[1], guidance_scale=np.nan),
                "`guidance_scale` must be a finite number",
            ),
        ]
        for call, message in cases:
            self.assertRejected(call, message, model)
        # Numpy scalars are accepted wherever Python numbers are.
        out = model.generate(
            class_ids=np.array([1, 2]),
            seed=np.int64(3),
            temperature=np.float32(0.5),
            guidance_scale=np.float64(2.0),
            verbose=0,
        )
        self.assertEqual(out["token_ids"].shape, (2, 4, 4))

    def test_linear_probe_rejects_bad_arguments(self):
        vim = build(num_classes=0)
        backbone = vim.backbone
        probe = keras_vim.LinearProbe(backbone, block_index=0, num_classes=2)
        probe.compile()
        fit = dict(epochs=1, verbose=0)
        cases = [
            (
                lambda: probe.fit(self.tokens, np.eye(2)[self.labels], **fit),
                r"1-D array of integer class ids \(not one-hot\)",
            ),
            (
                lambda: probe.fit(self.tokens, np.arange(10) % 2, **fit),
                "`y` has 10 entries for 8 inputs",
            ),
            (
                lambda: probe.fit(
                    self.tokens, self.labels, batch_size=0, **fit
                ),
                "batch_size=0",
            ),
            (
                lambda: keras_vim.LinearProbe(backbone, True, 2),
                "`block_index` must be an int.*block_index=True",
            ),
            (
                lambda: keras_vim.LinearProbe(vim, 0, 2),
                r"pass its `\.backbone`.*backbone=VIMTransformer",
            ),
        ]
        for call, message in cases:
            self.assertRejected(call, message, probe)

        # A rejected fit left the feature standardisation unadapted.
        def mean():
            return ops.convert_to_numpy(probe.normalization.adapt_mean)

        self.assertAllEqual(mean(), np.zeros_like(mean()))
        probe.fit(self.tokens, self.labels, batch_size=4, **fit)
        self.assertNotAllClose(mean(), np.zeros_like(mean()))


class NonSquareImagesTest(TestCase):
    def test_centre_crop_is_announced(self):
        preprocessor = keras_vim.ViTVQGANPreprocessor(
            keras_vim.ViTVQGANImageConverter(image_size=(16, 16))
        )
        tokenizer = keras_vim.ViTVQGAN(
            tiny_tokenizer().backbone,
            preprocessor,
            discriminator_base_filters=0,
        )
        wide = np.random.default_rng(0).integers(0, 256, (2, 16, 24, 3))
        wide = wide.astype("uint8")
        with self.assertWarnsRegex(UserWarning, "16x24, not square.*16x16"):
            ids = tokenizer.encode(wide)
        # What is kept is the centre square.
        self.assertAllEqual(ids, tokenizer.encode(wide[:, :, 4:20]))
