import numpy as np
import pytest
from keras_hub.src.tests.test_case import TestCase

from keras_vim.models.vim.vim_causal_lm_preprocessor import (
    VIMCausalLMPreprocessor,
)
from tests.models.vim.vim_transformer_test import tiny_tokenizer


class VIMCausalLMPreprocessorTest(TestCase):
    def setUp(self):
        self.preprocessor = VIMCausalLMPreprocessor(
            grid_size=2, vocabulary_size=8, num_classes=3
        )

    def test_ids_and_classes(self):
        ids = np.arange(8).reshape(2, 2, 2) % 8
        x, y = self.preprocessor(ids, [2, 0])
        self.assertAllEqual(x["token_ids"], ids.reshape(2, 4))
        self.assertAllEqual(x["class_ids"], [2, 0])
        self.assertAllEqual(y, ids.reshape(2, 4))
        unconditional = VIMCausalLMPreprocessor(grid_size=2, vocabulary_size=8)
        x, _ = unconditional(ids)
        self.assertAllEqual(x["class_ids"], [0, 0])  # "no class"

    def test_generate_pre_and_postprocess(self):
        prompt = self.preprocessor.generate_preprocess([1, 2])
        self.assertAllEqual(prompt, [[1, 0, 0, 0, 0], [2, 0, 0, 0, 0]])
        self.assertAllEqual(
            self.preprocessor.generate_preprocess(num_images=3)[:, 0], [3, 3, 3]
        )
        out = self.preprocessor.generate_postprocess(np.ones((2, 4), "int32"))
        self.assertEqual(out["token_ids"].shape, (2, 2, 2))
        self.assertNotIn("images", out)

    def test_images_through_the_tokenizer(self):
        tokenizer = tiny_tokenizer()
        self.run_serialization_test(VIMCausalLMPreprocessor(tokenizer))
        preprocessor = VIMCausalLMPreprocessor(tokenizer)
        self.assertEqual(
            (preprocessor.grid_size, preprocessor.vocabulary_size), (4, 32)
        )
        images = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3))
        x, _ = preprocessor(images.astype("uint8"))
        self.assertAllEqual(
            x["token_ids"],
            tokenizer.encode(images.astype("uint8")).reshape(3, 16),
        )
        out = preprocessor.generate_postprocess(x["token_ids"])
        self.assertAllClose(out["images"], tokenizer.decode(x["token_ids"]))
        with pytest.raises(ValueError, match="grid_size.*3.*4"):
            VIMCausalLMPreprocessor(tokenizer, grid_size=3)

    def test_bad_input(self):
        p = self.preprocessor
        cases = [
            (
                lambda: p(np.zeros((2, 3), "int32"), [0, 1]),
                r"x.*\(batch, 2, 2\).*\(2, 3\)",
            ),
            (lambda: p(np.full((2, 4), 8), [0, 1]), r"x.*\[0, 8\)"),
            (lambda: p(np.zeros((2, 4), "float32"), [0, 1]), "x.*integers"),
            (lambda: p(np.zeros((2, 4), bool), [0, 1]), "x.*integers"),
            (
                lambda: p(np.zeros((2, 4, 4, 3)), [0, 1]),
                "x.*images.*image_tokenizer",
            ),
            (
                lambda: p(np.zeros((2, 4), "int32")),
                r"class-conditional \(num_classes=\d+\).*y.*y=None",
            ),
            (
                lambda: p(np.zeros((2, 4), "int32"), [[0], [1]]),
                "class_ids.*1-D",
            ),
            (
                lambda: p(np.zeros((2, 4), "int32"), [0, 1.5]),
                "class_ids.*integer",
            ),
            (lambda: p(np.zeros((2, 4), "int32"), [0]), "1 entries for 2"),
            (lambda: p.generate_preprocess([0], num_images=2), "num_images.*2"),
            (lambda: p.generate_preprocess(num_images=1.5), "num_images.*1.5"),
        ]
        for call, message in cases:
            with pytest.raises(ValueError, match=message):
                call()
