import os

import keras
import numpy as np
import pytest
from keras import ops
from keras_hub.src.tests.test_case import TestCase

import keras_vim
from keras_vim.models.babeldraw.babeldraw_preprocessor import (
    BabeldrawPreprocessor,
)
from tests.models.babeldraw.babeldraw_test import CAPTIONS
from tests.models.babeldraw.babeldraw_test import digits_preset_inputs
from tests.models.babeldraw.babeldraw_test import random_ids
from tests.models.babeldraw.babeldraw_test import text_tokenizer
from tests.models.task_test_utils import with_pass_through_preprocessor
from tests.models.vim.vim_transformer_test import tiny_tokenizer

CONFIG = dict(
    text_vocabulary_size=32,
    image_vocabulary_size=32,
    grid_size=4,
    num_layers=1,
    num_heads=2,
    hidden_dim=16,
    intermediate_dim=32,
    embedding_dim=8,
    max_text_length=12,
)


def build_reranker(image_tokenizer=None, **kwargs):
    keras.utils.set_random_seed(0)
    preprocessor = BabeldrawPreprocessor(
        text_tokenizer(), image_tokenizer, grid_size=4, vocabulary_size=32
    )
    backbone = keras_vim.BabeldrawRerankerBackbone(**{**CONFIG, **kwargs})
    model = keras_vim.BabeldrawReranker(backbone, preprocessor)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    return model


def paired_data(n=64, seed=0):
    """Captions whose image ids say which caption they belong to: caption
    `p` has token `p` in the first three rows of its grid. Each run of 32 holds
    32 different captions."""
    rng = np.random.default_rng(seed)
    picks = np.concatenate([rng.permutation(32) for _ in range(-(-n // 32))])
    picks = picks[:n]
    captions = [CAPTIONS[p] for p in picks]
    ids = rng.integers(0, 32, (n, 16)).astype("int32")
    ids[:, :12] = picks[:, None]
    return captions, ids


class BabeldrawRerankerBackboneTest(TestCase):
    def setUp(self):
        self.input_data = {
            "text_token_ids": np.ones((2, 12), "int32"),
            "text_padding_mask": np.ones((2, 12), bool),
            "image_token_ids": random_ids(2),
        }

    def test_backbone_basics(self):
        self.run_backbone_test(
            cls=keras_vim.BabeldrawRerankerBackbone,
            init_kwargs=CONFIG,
            input_data=self.input_data,
            expected_output_shape={
                "text_embedding": (2, 8),
                "image_embedding": (2, 8),
                "logits": (2, 2),
            },
            run_quantization_check=False,
        )

    def test_embeddings_are_unit_norm_and_ignore_padding(self):
        backbone = keras_vim.BabeldrawRerankerBackbone(**CONFIG)
        out = {
            key: ops.convert_to_numpy(value)
            for key, value in backbone(self.input_data).items()
        }
        for key in ("text_embedding", "image_embedding"):
            norms = np.linalg.norm(out[key], axis=-1)
            self.assertAllClose(norms, np.ones(2), atol=1e-5)
        # Logits are the scaled cosine similarities (scale 1 / 0.07).
        expected = out["text_embedding"] @ out["image_embedding"].T / 0.07
        self.assertAllClose(out["logits"], expected, atol=1e-4)
        # Padded positions do not change the text embedding.
        mask = np.array([[True] * 5 + [False] * 7] * 2)
        ids = np.ones((2, 12), "int32")
        other = ids.copy()
        other[:, 5:] = 7
        self.assertAllClose(
            backbone.text_embeddings(ids, mask),
            backbone.text_embeddings(other, mask),
            atol=1e-6,
        )


# The reranker's `predict` and datasets take model-ready batches (its
# preprocessor runs on arrays in `fit`, `score` and `similarity_matrix`), so
# keras-hub's `run_task_test` feeds it those, through a preprocessor that
# passes them on.
RerankerWithPassThrough = with_pass_through_preprocessor(
    keras_vim.BabeldrawReranker
)


class BabeldrawRerankerTest(TestCase):
    def setUp(self):
        self.init_kwargs = {
            "backbone": keras_vim.BabeldrawRerankerBackbone(**CONFIG)
        }
        token_ids, padding_mask = text_tokenizer().tokenize_prompts(
            CAPTIONS[:4]
        )
        image_ids = random_ids(4)
        inputs = {
            "encoder_token_ids": token_ids,
            "encoder_padding_mask": padding_mask,
            "decoder_token_ids": image_ids,
        }
        # The loss ignores `y`; `fit` passes the image ids.
        self.train_data = (inputs, image_ids)

    def test_task_basics(self):
        self.run_task_test(
            cls=RerankerWithPassThrough,
            init_kwargs=self.init_kwargs,
            train_data=self.train_data,
            batch_size=4,
            # Every prompt's logit against every image of the batch.
            expected_output_shape=(4, 4),
        )

    @pytest.mark.large
    def test_all_presets(self):
        self.run_preset_test(
            cls=keras_vim.BabeldrawReranker,
            preset="babeldraw_digits_reranker",
            input_data=digits_preset_inputs(),
            # The similarity logit of the one prompt and image.
            expected_output_shape=(1, 1),
            expected_partial_output=np.array([-12.0829], "float32"),
        )

    def test_loss_is_symmetric_infonce(self):
        logits = np.random.default_rng(0).normal(size=(5, 5))
        logits = logits.astype("float32")

        def crossentropy(rows):
            rows = rows - rows.max(axis=1, keepdims=True)
            log_softmax = rows - np.log(np.exp(rows).sum(1, keepdims=True))
            return -np.diag(log_softmax)

        expected = (crossentropy(logits) + crossentropy(logits.T)) / 2
        loss = keras_vim.SymmetricContrastiveLoss(reduction=None)
        self.assertAllClose(loss(np.zeros((5, 16)), logits), expected)

    @pytest.mark.large
    def test_fit_learns_to_match_prompts(self):
        model = build_reranker()
        captions, ids = paired_data(256)
        model.fit(captions, ids, batch_size=32, epochs=20, verbose=0)
        # Chance (the same similarity everywhere) is log(32).
        after = model.evaluate(captions, ids, batch_size=32, verbose=0)
        self.assertLess(after, 0.5 * np.log(32))
        # Held-out pairs: each prompt finds its own image among 32 far more
        # often than chance (1 / 32).
        captions, ids = paired_data(32, seed=1)
        similarity = model.similarity_matrix(captions, ids)
        self.assertEqual(similarity.shape, (32, 32))
        self.assertGreater(np.mean(similarity.argmax(1) == np.arange(32)), 0.3)

    def test_fit_lowers_loss(self):
        model = build_reranker()
        captions, ids = paired_data(64)
        history = model.fit(captions, ids, batch_size=32, epochs=4, verbose=0)
        losses = history.history["loss"]
        self.assertLess(losses[-1], losses[0])

    def test_score_is_the_diagonal_of_the_similarity_matrix(self):
        model = build_reranker()
        captions, ids = paired_data(6)
        matrix = model.similarity_matrix(captions, ids, batch_size=4)
        self.assertAllClose(
            model.score(captions, ids, batch_size=4), np.diag(matrix)
        )
        self.assertEqual(
            model.similarity_matrix(captions[:2], ids).shape, (2, 6)
        )

    def test_saving_round_trips(self):
        model = build_reranker(image_tokenizer=tiny_tokenizer())
        captions, ids = paired_data(32)
        model.fit(captions, ids, batch_size=16, epochs=1, verbose=0)
        images = model.preprocessor.image_tokenizer.decode(ids[:4])
        scores = model.score(captions[:4], images)
        path = os.path.join(self.get_temp_dir(), "reranker")
        model.save_to_preset(path)
        restored = keras_vim.BabeldrawReranker.from_preset(path)
        self.assertAllClose(restored.score(captions[:4], images), scores)
        self.run_model_saving_test(
            cls=keras_vim.BabeldrawReranker,
            init_kwargs=dict(
                backbone=model.backbone, preprocessor=model.preprocessor
            ),
            input_data=model.preprocessor(captions[:4], ids[:4])[0],
        )

    def test_bad_input(self):
        model = build_reranker()
        captions, ids = paired_data(4)
        cases = [
            (lambda: model.score(captions[:3], ids), "3 entries.*4"),
            (lambda: model.score(captions, ids[:, :9]), "images"),
            (lambda: model.score(captions, ids + 40), "images"),
            (lambda: model.score([""] * 4, ids), "empty"),
            (lambda: model.score(captions, ids, batch_size=0), "batch_size"),
            (lambda: model.fit(captions, ids[:3], verbose=0), "4.*3"),
        ]
        for call, message in cases:
            with self.assertRaisesRegex(ValueError, message):
                call()
        with self.assertRaisesRegex(ValueError, "image vocabulary 32 vs 64"):
            keras_vim.BabeldrawReranker(
                keras_vim.BabeldrawRerankerBackbone(
                    **{**CONFIG, "image_vocabulary_size": 64}
                ),
                model.preprocessor,
            )
