"""Quality bars of the shipped digit presets (tokenizer, VIMs, probe)."""

import numpy as np
import pytest
from keras_hub.src.tests.test_case import TestCase

import keras_vim
from keras_vim.utils.preset_evaluation import digits_probe_accuracies
from keras_vim.utils.sample_data import digit_classifier

# Slow (trained presets, sampling, probes): `pytest -m large`, once in CI.
pytestmark = pytest.mark.large


class DigitPresetsTest(TestCase):
    def test_class_conditional_samples_are_recognised(self):
        classify = digit_classifier()
        vim = keras_vim.VIMTransformer.from_preset("vim_digits_class")
        class_ids = np.repeat(np.arange(10), 10)
        accuracies = []
        for scale in (1.0, 3.0):
            out = vim.generate(
                class_ids=class_ids,
                temperature=1.0,
                guidance_scale=scale,
                seed=11,
            )
            self.assertEqual(out["images"].shape, (100, 32, 32, 3))
            accuracies.append(np.mean(classify(out["images"]) == class_ids))
        self.assertGreaterEqual(accuracies[0], 0.8)
        self.assertGreater(accuracies[1], accuracies[0])

    def test_linear_probe_on_unconditional_vim(self):
        tokenizer = keras_vim.ViTVQGAN.from_preset("vit_vqgan_digits_32")
        vim = keras_vim.VIMTransformer.from_preset("vim_digits")
        accuracies = digits_probe_accuracies(vim, tokenizer)
        self.assertEqual(len(accuracies), vim.backbone.num_layers)
        self.assertGreaterEqual(max(accuracies), 0.85)
