"""Quality bars of the shipped digit presets (tokenizer, VIMs, probe)."""

import pytest
from keras_hub.src.tests.test_case import TestCase

import keras_vim
from keras_vim.utils.digit_judge import shift_tolerant_digit_classifier
from keras_vim.utils.preset_evaluation import digits_probe_accuracies
from keras_vim.utils.preset_evaluation import digits_sample_quality
from keras_vim.utils.preset_evaluation import digits_training_token_ids

# Slow (trained presets, sampling, probes): `pytest -m large`, once in CI.
pytestmark = pytest.mark.large


class DigitPresetsTest(TestCase):
    def test_class_conditional_samples_are_new_and_recognised(self):
        tokenizer = keras_vim.ViTVQGAN.from_preset("vit_vqgan_digits_32")
        vim = keras_vim.VIMTransformer.from_preset("vim_digits_class")
        training_ids, _ = digits_training_token_ids(tokenizer)
        # Other samples than `examples/evaluate_digits_presets.py` (seed 0).
        quality = digits_sample_quality(
            vim,
            {"judge": shift_tolerant_digit_classifier()},
            training_ids,
            per_class=10,
            seed=11,
        )
        recognised = {}
        for scale, entry in quality.items():
            self.assertEqual(entry["images"].shape, (100, 32, 32, 3))
            # At most 5 of 100 repeat a training image's 16 tokens.
            self.assertLessEqual(entry["copies"], 5, f"guidance {scale}")
            recognised[scale] = entry["recognised"]["judge"]
        self.assertGreaterEqual(recognised[2.0], 0.9)
        self.assertGreaterEqual(recognised[3.0], 0.9)
        self.assertGreater(recognised[2.0], recognised[1.0])
        self.assertGreater(recognised[3.0], recognised[1.0])

    def test_linear_probe_on_unconditional_vim(self):
        tokenizer = keras_vim.ViTVQGAN.from_preset("vit_vqgan_digits_32")
        vim = keras_vim.VIMTransformer.from_preset("vim_digits")
        accuracies = digits_probe_accuracies(vim, tokenizer)
        self.assertEqual(len(accuracies), vim.backbone.num_layers)
        self.assertGreaterEqual(max(accuracies), 0.85)
