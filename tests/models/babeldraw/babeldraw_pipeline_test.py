"""Babeldraw's last stages: reranking candidates and upsampling."""

import os

import keras
import numpy as np
from keras_hub.src.tests.test_case import TestCase

import keras_vim
from tests.models.babeldraw.babeldraw_test import build
from tests.models.babeldraw_reranker.babeldraw_reranker_test import CONFIG
from tests.models.vim.vim_transformer_test import tiny_tokenizer

PROMPTS = ["a red 3 in the top left", "a blue 5 in the bottom right"]


def upsampler():
    """A small 2x upsampler whose weights are not bilinear upsampling."""
    keras.utils.set_random_seed(3)
    backbone = keras_vim.SuperResolutionBackbone(
        scale=2, num_blocks=1, filters=8
    )
    rng = np.random.default_rng(0)
    for weight in backbone.weights:
        weight.assign(weight + rng.normal(0, 0.05, weight.shape))
    return keras_vim.SuperResolution(backbone)


def with_reranker(model):
    keras.utils.set_random_seed(2)
    reranker = keras_vim.BabeldrawReranker(
        keras_vim.BabeldrawRerankerBackbone(**CONFIG), model.preprocessor
    )
    return keras_vim.Babeldraw(
        model.backbone, model.preprocessor, reranker=reranker
    )


class BabeldrawPipelineTest(TestCase):
    def test_keeps_the_best_candidates(self):
        model = with_reranker(build())
        # Same seed, same batch: the 8 samples a prompt gets below.
        every = model.generate(PROMPTS, num_images=8, seed=1, verbose=0)
        best = model.generate(
            PROMPTS, num_images=2, num_candidates=4, seed=1, verbose=0
        )
        self.assertEqual(best["token_ids"].shape, (4, 4, 4))
        self.assertEqual(best["scores"].shape, (4,))
        reranker = keras_vim.BabeldrawReranker(
            model.reranker, model.preprocessor
        )
        for p, prompt in enumerate(PROMPTS):
            candidates = every["token_ids"][8 * p : 8 * p + 8]
            scores = reranker.score([prompt] * 8, candidates)
            # The candidates come back sorted, best first.
            self.assertAllClose(every["scores"][8 * p : 8 * p + 8], scores)
            self.assertTrue(np.all(np.diff(scores) <= 1e-6))
            top = np.sort(scores)[::-1][:2]
            self.assertAllClose(best["scores"][2 * p : 2 * p + 2], top)
            self.assertAllEqual(
                best["token_ids"][2 * p : 2 * p + 2], candidates[:2]
            )

    def test_without_a_reranker(self):
        model = build()
        out = model.generate(PROMPTS, seed=1, verbose=0)
        self.assertNotIn("scores", out)
        with self.assertRaisesRegex(ValueError, "num_candidates.*reranker"):
            model.generate(PROMPTS, num_candidates=2)
        with self.assertRaisesRegex(ValueError, "num_candidates=0"):
            with_reranker(model).generate(PROMPTS, num_candidates=0)

    def test_upscale(self):
        base = build(image_tokenizer=tiny_tokenizer())
        sr = upsampler()
        model = keras_vim.Babeldraw(
            base.backbone, base.preprocessor, super_resolution=sr
        )
        plain = model.generate(PROMPTS, seed=5, verbose=0)
        large = model.generate(PROMPTS, seed=5, upscale=True, verbose=0)
        self.assertAllEqual(large["token_ids"], plain["token_ids"])
        self.assertEqual(large["images"].shape, (2, 32, 32, 3))
        self.assertAllClose(
            large["images"], sr.upscale(plain["images"]), atol=1e-6
        )
        with self.assertRaisesRegex(ValueError, "upscale=True.*super-res"):
            base.generate(PROMPTS, upscale=True)

    def test_saved_with_the_task(self):
        base = build(image_tokenizer=tiny_tokenizer())
        model = keras_vim.Babeldraw(
            base.backbone,
            base.preprocessor,
            reranker=with_reranker(base).reranker,
            super_resolution=upsampler().backbone,
        )
        out = model.generate(
            PROMPTS,
            num_images=2,
            num_candidates=3,
            upscale=True,
            seed=4,
            verbose=0,
        )
        path = os.path.join(self.get_temp_dir(), "babeldraw")
        model.save_to_preset(path)
        self.assertTrue(os.path.isfile(os.path.join(path, "task.weights.h5")))
        restored = keras_vim.Babeldraw.from_preset(path)
        again = restored.generate(
            PROMPTS,
            num_images=2,
            num_candidates=3,
            upscale=True,
            seed=4,
            verbose=0,
        )
        self.assertAllEqual(again["token_ids"], out["token_ids"])
        self.assertAllClose(again["scores"], out["scores"], atol=1e-6)
        self.assertAllClose(again["images"], out["images"], atol=1e-6)
        file = os.path.join(self.get_temp_dir(), "babeldraw.keras")
        model.save(file)
        loaded = keras.saving.load_model(file)
        reloaded = loaded.generate(
            PROMPTS,
            num_images=2,
            num_candidates=3,
            upscale=True,
            seed=4,
            verbose=0,
        )
        self.assertAllClose(reloaded["scores"], out["scores"], atol=1e-6)
        self.assertAllClose(reloaded["images"], out["images"], atol=1e-6)
