"""Quality bars of the shipped, trained `vit_vqgan_photos_64` preset."""

import numpy as np
import pytest
from keras_hub.src.tests.test_case import TestCase

import keras_vim
from keras_vim.utils.sample_data import TOKENIZER_HELD_OUT_PHOTOS
from keras_vim.utils.sample_data import augmented_photo_crops
from keras_vim.utils.sample_data import held_out_photo_crops
from keras_vim.utils.tokenizer_evaluation import fit_patch_kmeans
from keras_vim.utils.tokenizer_evaluation import reconstruction_quality

# Slow (trained presets, sampling, probes): `pytest -m large`, once in CI.
pytestmark = pytest.mark.large


class ViTVQGANPhotosPresetTest(TestCase):
    def test_beats_kmeans_uses_codebook_and_hides_token_grid(self):
        model = keras_vim.ViTVQGAN.from_preset("vit_vqgan_photos_64")
        codebook_size = model.backbone.codebook_size
        # Other crops and another k-means fit than the README's (seed 1).
        train = augmented_photo_crops(4096, seed=7)
        kmeans = fit_patch_kmeans(train, codebook_size, 8, seed=7)
        held_out = np.concatenate(
            [
                held_out_photo_crops(name, 64, seed=7)
                for name in TOKENIZER_HELD_OUT_PHOTOS
            ]
        )
        quality = reconstruction_quality(model, kmeans, held_out)
        self.assertEqual(quality["token_ids"].shape, (len(held_out), 8, 8))
        self.assertGreaterEqual(quality["margin"], 1.0)
        self.assertGreater(quality["ssim"], quality["kmeans_ssim"])
        usage = len(np.unique(quality["token_ids"])) / codebook_size
        self.assertGreaterEqual(usage, 0.8)
        # Steps across token boundaries vs inside tokens: within 15% of the
        # photographs' ratio (k-means is ~10x it, README).
        self.assertLessEqual(abs(quality["block_ratio_change"]), 0.15)
