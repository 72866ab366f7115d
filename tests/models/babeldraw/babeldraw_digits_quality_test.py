"""Quality bars of the shipped `babeldraw_digits` preset."""

import numpy as np
import pytest
from keras_hub.src.tests.test_case import TestCase

import keras_vim
from keras_vim.utils.canvas_judge import CanvasJudge
from keras_vim.utils.digit_canvases import make_canvases
from keras_vim.utils.image_utils import psnr
from keras_vim.utils.preset_evaluation import babeldraw_digits_match_rates
from keras_vim.utils.preset_evaluation import kmeans_psnr

# Slow (a trained preset, sampling): `pytest -m large`, once in CI.
pytestmark = pytest.mark.large


class BabeldrawDigitsPresetTest(TestCase):
    @classmethod
    def setUpClass(cls):
        cls.model = keras_vim.Babeldraw.from_preset("babeldraw_digits")

    def test_image_tokenizer_keeps_what_the_judge_reads(self):
        # Test-split digits, a seed the training script never used.
        images, _, layouts = make_canvases(200, "test", "any", seed=77)
        tokenizer = self.model.preprocessor.image_tokenizer
        reconstructed = tokenizer.decode(tokenizer.encode(images))
        self.assertEqual(reconstructed.shape, (200, 64, 64, 3))
        accepted = CanvasJudge().matches(reconstructed, layouts).mean()
        self.assertGreaterEqual(accepted, 0.9)
        train, _, _ = make_canvases(2000, "train", "seen", seed=0)
        self.assertGreater(
            psnr(images, reconstructed),
            kmeans_psnr(train, images, 256, 8) + 1.0,
        )

    def test_guided_samples_match_their_prompts(self):
        results = babeldraw_digits_match_rates(
            self.model, num_prompts=60, guidance_scales=(1.0, 3.0), seed=5
        )
        seen_guided = results["seen, guidance 3"]["match_rate"]
        seen_plain = results["seen, guidance 1"]["match_rate"]
        # Measured on 200 other prompts: 56.5% guided, 36% plain (the
        # issue's bar, 80%, is not met yet; see README).
        self.assertGreaterEqual(seen_guided, 0.4)
        self.assertGreater(seen_guided, seen_plain)
        # Unseen combinations too (measured 58%); a random layout of the
        # grammar matches far below 1%.
        unseen_guided = results["unseen, guidance 3"]["match_rate"]
        self.assertGreaterEqual(unseen_guided, 0.35)

    def test_same_seed_same_images(self):
        prompt = ["a red 3 in the top left and a white 0 in the bottom right"]
        first = self.model.generate(prompt, num_images=2, seed=3, verbose=0)
        again = self.model.generate(prompt, num_images=2, seed=3, verbose=0)
        self.assertEqual(first["images"].shape, (2, 64, 64, 3))
        self.assertAllClose(first["images"], again["images"])
        images = first["images"]
        self.assertTrue(np.all((images >= 0) & (images <= 1)))
