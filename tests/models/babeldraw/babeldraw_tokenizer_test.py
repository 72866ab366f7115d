import os
import warnings

import numpy as np
import pytest
from keras_hub.src.tests.test_case import TestCase

from keras_vim.models.babeldraw.babeldraw_tokenizer import BabeldrawTokenizer

COLOURS = ("red", "green", "blue", "yellow", "cyan", "magenta", "white")
QUADRANTS = ("top left", "top right", "bottom left", "bottom right")
CAPTIONS = [
    f"a {colour} {digit} in the {quadrant}"
    for colour in COLOURS
    for digit in range(10)
    for quadrant in QUADRANTS
]
CAPTIONS += [f"{a} and {b}" for a, b in zip(CAPTIONS[:60], CAPTIONS[150:210])]
PROMPTS = [
    "a red 3 in the top left",
    "a blue 7 in the bottom right and a white 0 in the top left",
]
VOCABULARY_SIZE = 40


def _proto():
    if not hasattr(_proto, "cached"):
        _proto.cached = BabeldrawTokenizer.train(
            CAPTIONS, vocabulary_size=VOCABULARY_SIZE
        ).proto
    return _proto.cached


class BabeldrawTokenizerTest(TestCase):
    def setUp(self):
        self.tokenizer = BabeldrawTokenizer(proto=_proto(), sequence_length=48)

    def test_train_reserves_padding_and_is_deterministic(self):
        tokenizer = BabeldrawTokenizer.train(
            CAPTIONS, vocabulary_size=VOCABULARY_SIZE, sequence_length=48
        )
        self.assertEqual(tokenizer.proto, _proto())
        vocabulary = tokenizer.get_vocabulary()
        self.assertEqual(len(vocabulary), VOCABULARY_SIZE)
        self.assertEqual(vocabulary[:4], ["<pad>", "<unk>", "<s>", "</s>"])
        self.assertEqual(tokenizer.pad_token_id, 0)
        self.assertEqual(tokenizer.unk_token_id, 1)
        self.assertEqual(tokenizer.sequence_length, 48)
        self.assertEqual(
            BabeldrawTokenizer(proto=_proto()).sequence_length, 128
        )

    def test_preprocessing_layer(self):
        # Direct call, tf.data (TF Text), Grain, config round trip, and
        # detokenize back to the input.
        self.run_preprocessing_layer_test(
            cls=BabeldrawTokenizer,
            init_kwargs={"proto": _proto(), "sequence_length": 48},
            input_data=PROMPTS,
        )

    def test_tokenize_prompts_round_trip_and_padding(self):
        token_ids, padding_mask = self.tokenizer.tokenize_prompts(PROMPTS)
        self.assertEqual(token_ids.shape, (2, 48))
        self.assertEqual(padding_mask.shape, (2, 48))
        self.assertEqual(token_ids.dtype, np.int32)
        self.assertEqual(padding_mask.dtype, bool)
        self.assertAllEqual(token_ids, np.asarray(self.tokenizer(PROMPTS)))
        self.assertEqual(self.tokenizer.detokenize(token_ids), PROMPTS)
        # Padding is id 0 and exactly the masked-out positions.
        self.assertAllEqual(padding_mask, token_ids != 0)
        self.assertFalse(padding_mask[0].all())
        self.assertTrue(padding_mask[:, 0].all())
        self.assertAllEqual(
            padding_mask[0], np.arange(48) < np.sum(padding_mask[0])
        )

    def test_one_string_is_a_batch_of_one(self):
        token_ids, padding_mask = self.tokenizer.tokenize_prompts(PROMPTS[0])
        self.assertEqual(token_ids.shape, (1, 48))
        self.assertAllEqual(
            token_ids, self.tokenizer.tokenize_prompts(PROMPTS[:1])[0]
        )

    def test_truncation_warns_and_keeps_the_start(self):
        short = BabeldrawTokenizer(proto=_proto(), sequence_length=16)
        with pytest.warns(UserWarning, match=r"1 of 2 prompts.*=16"):
            token_ids, padding_mask = short.tokenize_prompts(
                [PROMPTS[1], "a red 3"]
            )
        full, _ = self.tokenizer.tokenize_prompts([PROMPTS[1]])
        self.assertAllEqual(token_ids[0], full[0, :16])
        self.assertTrue(padding_mask[0].all())
        self.assertFalse(padding_mask[1].all())
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            short.tokenize_prompts(["a red 3"])

    def test_save_to_preset_round_trip(self):
        preset_dir = os.path.join(self.get_temp_dir(), "tokenizer")
        self.tokenizer.save_to_preset(preset_dir)
        restored = BabeldrawTokenizer.from_preset(preset_dir)
        self.assertIsInstance(restored, BabeldrawTokenizer)
        self.assertEqual(restored.sequence_length, 48)
        self.assertEqual(
            restored.get_vocabulary(), self.tokenizer.get_vocabulary()
        )
        for expected, actual in zip(
            self.tokenizer.tokenize_prompts(PROMPTS),
            restored.tokenize_prompts(PROMPTS),
        ):
            self.assertAllEqual(expected, actual)
        shorter = BabeldrawTokenizer.from_preset(preset_dir, sequence_length=8)
        self.assertEqual(shorter.tokenize_prompts(["a red 3"])[0].shape, (1, 8))

    def test_from_preset_without_a_preset(self):
        with self.assertRaisesRegex(ValueError, "no config.json"):
            BabeldrawTokenizer.from_preset(self.get_temp_dir())

    def test_bad_prompts(self):
        cases = [
            ([], r"at least one string.*prompts=\[\]"),
            ([PROMPTS[0], 3], r"only strings.*prompts\[1\]=3"),
            ([PROMPTS[0], ""], r"non-empty.*prompts\[1\]=''.*unconditional"),
            (["   "], r"non-empty.*prompts\[0\]='   '"),
            (np.array([["a red 3"]]), r"1D array.*\(1, 1\)"),
            (7, "string or a list of strings.*prompts=7"),
        ]
        for prompts, message in cases:
            with self.assertRaisesRegex(ValueError, message):
                self.tokenizer.tokenize_prompts(prompts)

    def test_bad_proto(self):
        missing = os.path.join(self.get_temp_dir(), "missing.spm")
        cases = [
            (b"not a sentencepiece model", r"proto=<25 bytes"),
            (missing, "proto=.*missing.spm.*No such file"),
            (3, "proto=3"),
        ]
        for proto, message in cases:
            with self.assertRaisesRegex(ValueError, "`proto` must be"):
                BabeldrawTokenizer(proto=proto)
            with self.assertRaisesRegex(ValueError, message):
                BabeldrawTokenizer(proto=proto)
        # A failed `set_proto` keeps the vocabulary that was there.
        with self.assertRaises(ValueError):
            self.tokenizer.set_proto(b"garbage")
        self.assertEqual(self.tokenizer.proto, _proto())
        self.assertEqual(
            self.tokenizer.detokenize(
                self.tokenizer.tokenize_prompts(PROMPTS)[0]
            ),
            PROMPTS,
        )

    def test_bad_training_arguments(self):
        with self.assertRaisesRegex(ValueError, r"vocabulary_size=5000.*<="):
            BabeldrawTokenizer.train(CAPTIONS, vocabulary_size=5000)
        with self.assertRaisesRegex(ValueError, "vocabulary_size=0"):
            BabeldrawTokenizer.train(CAPTIONS, vocabulary_size=0)
        with self.assertRaisesRegex(ValueError, r"texts=\[\]"):
            BabeldrawTokenizer.train([], vocabulary_size=20)
        with self.assertRaisesRegex(ValueError, r"texts\[1\]=''"):
            BabeldrawTokenizer.train(["a red 3", ""], vocabulary_size=20)
        with self.assertRaisesRegex(ValueError, "sequence_length=0"):
            BabeldrawTokenizer(proto=_proto(), sequence_length=0)
