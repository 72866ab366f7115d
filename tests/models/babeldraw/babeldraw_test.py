import os

import keras
import numpy as np
import pytest
from keras import ops
from keras_hub.samplers import GreedySampler
from keras_hub.src.tests.test_case import TestCase

from keras_vim.models.babeldraw import babeldraw_decoding as decoding
from keras_vim.models.babeldraw.babeldraw import Babeldraw
from keras_vim.models.babeldraw.babeldraw_backbone import BabeldrawBackbone
from keras_vim.models.babeldraw.babeldraw_preprocessor import (
    BabeldrawPreprocessor,
)
from keras_vim.models.babeldraw.babeldraw_tokenizer import BabeldrawTokenizer
from tests.models.task_test_utils import eager_dataset_maps
from tests.models.vim.vim_transformer_test import tiny_tokenizer

CAPTIONS = [
    f"a {colour} {digit} in the {quadrant}"
    for colour in ("red", "green", "blue")
    for digit in range(10)
    for quadrant in ("top left", "bottom right")
]


def text_tokenizer(sequence_length=12):
    return BabeldrawTokenizer.train(
        CAPTIONS, vocabulary_size=32, sequence_length=sequence_length
    )


@keras.saving.register_keras_serializable(package="keras_vim_tests")
class PairedBabeldrawPreprocessor(BabeldrawPreprocessor):
    """A `BabeldrawPreprocessor` that also takes `x=(prompts, images)`.

    keras-hub's `run_task_test` calls `predict(x)` without `y`, but the
    images (`y` here) are Babeldraw's decoder inputs; keras-hub's
    `Seq2SeqLMPreprocessor` takes both sides in `x` for the same reason.
    """

    def call(self, x, y=None, sample_weight=None):
        if y is None and isinstance(x, tuple):
            x, y = x
        return super().call(x, y, sample_weight)


def tiny_config(**kwargs):
    config = dict(
        text_vocabulary_size=32,
        image_vocabulary_size=32,
        grid_size=4,
        num_encoder_layers=2,
        num_decoder_layers=2,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_text_length=12,
    )
    config.update(kwargs)
    return config


def build(image_tokenizer=None, **kwargs):
    keras.utils.set_random_seed(0)
    preprocessor = BabeldrawPreprocessor(
        text_tokenizer(), image_tokenizer, grid_size=4, vocabulary_size=32
    )
    model = Babeldraw(BabeldrawBackbone(**tiny_config(**kwargs)), preprocessor)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    return model


def model_inputs(model, prompts, image_ids):
    token_ids, mask = model.preprocessor.tokenize_prompts(prompts)
    return {
        "encoder_token_ids": token_ids,
        "encoder_padding_mask": mask,
        "decoder_token_ids": image_ids,
    }


def random_ids(n, seed=0):
    return np.random.default_rng(seed).integers(0, 32, (n, 16)).astype("int32")


def digits_preset_inputs():
    """Model inputs for the digits presets: "a red 3 in the top left"
    (the ids their tokenizer gives it) and 64 image ids."""
    prompt = np.zeros((1, 32), "int32")
    prompt[0, :10] = [5, 10, 52, 63, 50, 72, 8, 9, 26, 24]
    return {
        "encoder_token_ids": prompt,
        "encoder_padding_mask": prompt != 0,
        "decoder_token_ids": (np.arange(64) * 5 % 256).astype("int32")[None],
    }


def backbone_count(c, tied=True):
    """Hand count of `BabeldrawBackbone` weights."""
    d, m = c["hidden_dim"], c["intermediate_dim"]
    attention = 4 * d * d + 4 * d
    mlp = 2 * d * m + m + d
    encoder_block = attention + mlp + 4 * d
    decoder_block = 2 * attention + mlp + 6 * d
    return (
        c["text_vocabulary_size"] * d
        + c.get("max_text_length", 128) * d
        + c["num_encoder_layers"] * encoder_block
        + 2 * d
        + c["image_vocabulary_size"] * d * (1 if tied else 2)
        + d
        + (2 * c["grid_size"] + 1) * d
        + c["num_decoder_layers"] * decoder_block
        + 2 * d
    )


class BabeldrawBackboneTest(TestCase):
    def setUp(self):
        self.init_kwargs = tiny_config()
        self.input_data = {
            "encoder_token_ids": np.ones((2, 12), "int32"),
            "encoder_padding_mask": np.ones((2, 12), bool),
            "decoder_token_ids": random_ids(2),
        }

    def test_backbone_basics(self):
        self.run_backbone_test(
            cls=BabeldrawBackbone,
            init_kwargs=self.init_kwargs,
            input_data=self.input_data,
            expected_output_shape=(2, 17, 16),
            variable_length_data=[
                {**self.input_data, "decoder_token_ids": random_ids(2)[:, :n]}
                for n in (1, 7, 16)
            ],
            run_quantization_check=False,
        )

    def test_text_encoder_warm_start(self):
        keras.utils.set_random_seed(1)
        source = BabeldrawBackbone(**self.init_kwargs)
        keras.utils.set_random_seed(2)
        target = BabeldrawBackbone(**self.init_kwargs)
        ids = self.input_data["encoder_token_ids"]
        mask = self.input_data["encoder_padding_mask"]
        decoder = [
            ops.convert_to_numpy(w) for w in target.decoder_layers[0].weights
        ]
        path = os.path.join(self.get_temp_dir(), "source")
        source.save_to_preset(path)
        target.load_text_encoder(path)
        self.assertAllClose(
            target.encode(ids, mask), source.encode(ids, mask), atol=1e-6
        )
        for before, after in zip(decoder, target.decoder_layers[0].weights):
            self.assertAllEqual(before, after)
        # A text encoder of another width is refused, and nothing changes.
        wider = BabeldrawBackbone(
            **{**self.init_kwargs, "hidden_dim": 32, "intermediate_dim": 64}
        )
        before = ops.convert_to_numpy(wider.encode(ids, mask))
        with self.assertRaisesRegex(ValueError, "does not fit.*width"):
            wider.load_text_encoder(source)
        self.assertAllClose(wider.encode(ids, mask), before)
        with self.assertRaisesRegex(ValueError, "source=int"):
            target.load_text_encoder(3)

    def test_param_count_by_hand(self):
        backbone = BabeldrawBackbone(**self.init_kwargs)
        self.assertEqual(
            backbone.count_params(), backbone_count(self.init_kwargs)
        )


class BabeldrawTest(TestCase):
    def setUp(self):
        # One block each: the harness compiles several functions.
        config = tiny_config(num_encoder_layers=1, num_decoder_layers=1)
        self.init_kwargs = {
            "backbone": BabeldrawBackbone(**config),
            "preprocessor": PairedBabeldrawPreprocessor(
                text_tokenizer(), grid_size=4, vocabulary_size=32
            ),
        }
        self.train_data = ((np.array(CAPTIONS[:4]), random_ids(4)),)

    def test_task_basics(self):
        # The preprocessor is eager (SentencePiece and numpy checks):
        # `tf.data` runs it through `tf.py_function`.
        with eager_dataset_maps():
            self.run_task_test(
                cls=Babeldraw,
                init_kwargs=self.init_kwargs,
                train_data=self.train_data,
                # Logits over the 32 codes for each of the 16 positions.
                expected_output_shape=(4, 16, 32),
            )

    @pytest.mark.large
    def test_all_presets(self):
        self.run_preset_test(
            cls=Babeldraw,
            preset="babeldraw_digits",
            input_data=digits_preset_inputs(),
            # Logits over the 256 codes at each of the 64 positions.
            expected_output_shape=(1, 64, 256),
            expected_partial_output=np.array(
                [3.8019, 0.4762, 5.3233, -3.9442, 5.3233], "float32"
            ),
        )

    @pytest.mark.skipif(
        keras.config.backend() != "torch",
        reason="Only torch layers are modules with a `train(mode)`.",
    )
    def test_fit_after_the_preprocessor_is_set_again(self):
        # Setting `task.preprocessor` (keras-hub's split preprocessing) makes
        # it a torch submodule, and `fit` calls `train(mode)` on every
        # submodule: the tokenizer's class-level `train` must not answer.
        model = build()
        model.preprocessor = model.preprocessor
        history = model.fit(CAPTIONS[:4], random_ids(4), epochs=1, verbose=0)
        self.assertTrue(np.isfinite(history.history["loss"][0]))
        tokenizer = BabeldrawTokenizer.train(CAPTIONS, vocabulary_size=32)
        self.assertEqual(tokenizer.vocabulary_size(), 32)

    def test_causality_and_cross_attention(self):
        model = build(dropout=0.0)
        ids = random_ids(1)
        base = ops.convert_to_numpy(
            model(model_inputs(model, ["a red 3 in the top left"], ids))
        )
        changed = ids.copy()
        changed[0, 7] = (changed[0, 7] + 1) % 32
        out = ops.convert_to_numpy(
            model(model_inputs(model, ["a red 3 in the top left"], changed))
        )
        self.assertAllClose(out[:, :8], base[:, :8], atol=1e-5)
        self.assertGreater(np.abs(out[:, 8:] - base[:, 8:]).max(), 1e-6)
        other = ops.convert_to_numpy(
            model(model_inputs(model, ["a blue 9 in the bottom right"], ids))
        )
        self.assertGreater(np.abs(other - base).max(), 1e-4)

    def test_cached_logits_match_full_recompute(self):
        prompts = ["a red 3 in the top left", "a green 1 in the bottom right"]
        for dtype, atol in (("float32", 1e-4), ("mixed_bfloat16", 3e-2)):
            model = build(dtype=dtype)
            inputs = model_inputs(model, prompts, random_ids(2))
            prompt = np.concatenate(
                [np.zeros((2, 1), "int32"), inputs["decoder_token_ids"]], 1
            )
            full = ops.convert_to_numpy(
                decoding.full_logits(
                    model.backbone,
                    inputs["encoder_token_ids"],
                    inputs["encoder_padding_mask"],
                    prompt,
                )
            )
            _, cross = decoding.encode(
                model.backbone,
                inputs["encoder_token_ids"],
                inputs["encoder_padding_mask"],
            )
            cache = decoding.init_cache(model.backbone, 2, model.compute_dtype)
            for position in range(17):
                step, _, cache = decoding.call_with_cache(
                    model.backbone,
                    prompt[:, position : position + 1],
                    cache,
                    position,
                    cross,
                    inputs["encoder_padding_mask"],
                )
                self.assertAllClose(
                    ops.convert_to_numpy(step)[:, 0],
                    full[:, position],
                    atol=atol,
                )

    def test_conv_shaped_sparse_attention(self):
        # One block: stacked blocks widen what a position sees.
        model = build(dropout=0.0, attention_window=0, num_decoder_layers=1)
        prompt = ["a red 3 in the top left"]
        ids = random_ids(1)
        base = ops.convert_to_numpy(model(model_inputs(model, prompt, ids)))
        # Logits 15 (token 15: row 3, column 3) see rows 2 and 3 and, with
        # window 0, token 7 above them: not tokens 0-6.
        changed = ids.copy()
        changed[0, :7] = (changed[0, :7] + 1) % 32
        out = ops.convert_to_numpy(model(model_inputs(model, prompt, changed)))
        self.assertAllClose(out[:, 15], base[:, 15], atol=1e-5)
        self.assertGreater(np.abs(out[:, 9] - base[:, 9]).max(), 1e-4)
        cached = model.generate(prompt, num_images=2, seed=0)
        recomputed = model.generate(
            prompt, num_images=2, seed=0, use_cache=False
        )
        self.assertAllEqual(cached["token_ids"], recomputed["token_ids"])

    def test_fit_lowers_loss(self):
        model = build(dropout=0.0)
        prompts = CAPTIONS[:8] * 2
        ids = np.tile(random_ids(8), (2, 1))
        history = model.fit(prompts, ids, epochs=15, batch_size=8, verbose=0)
        loss = history.history["loss"]
        self.assertLess(loss[-1], 0.8 * loss[0])

    def test_generate(self):
        model = build()
        prompts = ["a red 3 in the top left", "a blue 5 in the bottom right"]
        out = model.generate(prompts, num_images=2, seed=0)
        self.assertEqual(out["token_ids"].shape, (4, 4, 4))
        again = model.generate(prompts, num_images=2, seed=0)
        self.assertAllEqual(again["token_ids"], out["token_ids"])
        recomputed = model.generate(
            prompts, num_images=2, seed=0, use_cache=False
        )
        self.assertAllEqual(recomputed["token_ids"], out["token_ids"])
        guided = model.generate(
            prompts, num_images=2, seed=0, guidance_scale=3.0
        )
        recomputed = model.generate(
            prompts, num_images=2, seed=0, guidance_scale=3.0, use_cache=False
        )
        self.assertAllEqual(recomputed["token_ids"], guided["token_ids"])

    def test_guidance_scale_one_is_the_conditional_pass(self):
        model = build()
        inputs = model.preprocessor.generate_preprocess(
            ["a red 3 in the top left", "a blue 5 in the bottom right"]
        )
        inputs = {k: ops.convert_to_tensor(v) for k, v in inputs.items()}
        inputs["guidance_scale"] = ops.convert_to_tensor(1.0)

        def greedy(guided):
            return ops.convert_to_numpy(
                decoding.generate_step(
                    model,
                    inputs,
                    sampler=GreedySampler(),
                    guided=guided,
                    use_cache=True,
                )
            )

        self.assertAllEqual(greedy(True), greedy(False))

    def test_saving_round_trips(self):
        model = build(image_tokenizer=tiny_tokenizer())
        prompts = ["a red 3 in the top left"]
        out = model.generate(prompts, num_images=2, seed=1)
        self.assertEqual(out["images"].shape, (2, 16, 16, 3))
        path = os.path.join(self.get_temp_dir(), "babeldraw")
        model.save_to_preset(path)
        restored = Babeldraw.from_preset(path)
        again = restored.generate(prompts, num_images=2, seed=1)
        self.assertAllEqual(again["token_ids"], out["token_ids"])
        self.assertAllClose(again["images"], out["images"], atol=1e-6)
        file = os.path.join(self.get_temp_dir(), "babeldraw.keras")
        model.save(file)
        loaded = keras.saving.load_model(file)
        inputs = model_inputs(model, prompts, random_ids(1))
        self.assertAllClose(loaded(inputs), model(inputs), atol=1e-6)
        self.assertAllEqual(
            loaded.generate(prompts, num_images=2, seed=1)["token_ids"],
            out["token_ids"],
        )

    def test_bad_input(self):
        model = build()
        g = model.generate
        cases = [
            (lambda: g([]), "prompts"),
            (lambda: g([3]), "prompts"),
            (lambda: g(["a red 3"], num_images=0), "num_images.*0"),
            (lambda: g(["a red 3"], guidance_scale=-1.0), "guidance_scale.*-1"),
            (
                lambda: g(["a red 3"], guidance_scale=float("nan")),
                "guidance_scale.*nan",
            ),
            (
                lambda: model.fit(["a red 3"], random_ids(2)),
                "1 prompts.*2 images",
            ),
            (
                lambda: model.fit(["a red 3"], np.full((1, 16), 32)),
                r"y.*\[0, 32\)",
            ),
        ]
        for call, message in cases:
            with pytest.raises(ValueError, match=message):
                call()
        with pytest.warns(UserWarning, match="truncat"):
            g([" ".join(CAPTIONS[:4])], seed=0)
