import os

import keras
import numpy as np
from keras_hub.src.tests.test_case import TestCase

import keras_vim
from tests.models.babeldraw.babeldraw_test import build
from tests.models.babeldraw_reranker.babeldraw_reranker_test import CONFIG
from tests.models.vim.vim_transformer_test import tiny_tokenizer

PROMPTS = ["a red 3 in the top left", "a blue 5 in the bottom right"]


def with_reranker(model):
    keras.utils.set_random_seed(2)
    reranker = keras_vim.BabeldrawReranker(
        keras_vim.BabeldrawRerankerBackbone(**CONFIG), model.preprocessor
    )
    return keras_vim.Babeldraw(
        model.backbone, model.preprocessor, reranker=reranker
    )


class BabeldrawRerankingTest(TestCase):
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

    def test_saved_with_the_task(self):
        model = with_reranker(build(image_tokenizer=tiny_tokenizer()))
        out = model.generate(
            PROMPTS, num_images=2, num_candidates=3, seed=4, verbose=0
        )
        path = os.path.join(self.get_temp_dir(), "babeldraw")
        model.save_to_preset(path)
        self.assertTrue(os.path.isfile(os.path.join(path, "task.weights.h5")))
        restored = keras_vim.Babeldraw.from_preset(path)
        again = restored.generate(
            PROMPTS, num_images=2, num_candidates=3, seed=4, verbose=0
        )
        self.assertAllEqual(again["token_ids"], out["token_ids"])
        self.assertAllClose(again["scores"], out["scores"], atol=1e-6)
        file = os.path.join(self.get_temp_dir(), "babeldraw.keras")
        model.save(file)
        loaded = keras.saving.load_model(file)
        self.assertAllClose(
            loaded.generate(
                PROMPTS, num_images=2, num_candidates=3, seed=4, verbose=0
            )["scores"],
            out["scores"],
            atol=1e-6,
        )
