"""Quality bar of the shipped, trained `vit_vqgan_photos_64` preset."""

import numpy as np
import pytest
from keras_hub.src.tests.test_case import TestCase

import keras_vim
from keras_vim.utils.image_utils import psnr
from keras_vim.utils.sample_data import photo_crops
from keras_vim.utils.tokenizer_evaluation import kmeans_psnr

# Slow (trained presets, sampling, probes): `pytest -m large`, once in CI.
pytestmark = pytest.mark.large


class ViTVQGANPhotosPresetTest(TestCase):
    def test_beats_kmeans_and_uses_codebook(self):
        model = keras_vim.ViTVQGAN.from_preset("vit_vqgan_photos_64")
        # Crops of photographs the model never saw in training.
        held_out = photo_crops("held_out", 256, size=64, seed=7)
        token_ids = model.encode(held_out)
        self.assertEqual(token_ids.shape, (256, 8, 8))
        ours = psnr(held_out, model.decode(token_ids))
        codebook_size = model.backbone.codebook_size
        train = photo_crops("train", 1024, size=64, seed=7)
        baseline = kmeans_psnr(train, held_out, codebook_size, patch_size=8)
        self.assertGreater(ours, baseline)
        usage = len(np.unique(token_ids)) / codebook_size
        self.assertGreaterEqual(usage, 0.8)
