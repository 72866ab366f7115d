import os

import keras
import numpy as np
import pytest
from keras import ops
from keras_hub.samplers import GreedySampler
from keras_hub.src.tests.test_case import TestCase

import keras_vim
from tests.models.task_test_utils import eager_dataset_maps
from tests.models.vim.vim_backbone_test import TINY
from tests.models.vim.vim_backbone_test import random_tokens


def build(**kwargs):
    keras.utils.set_random_seed(0)
    backbone = keras_vim.VIMBackbone(**{**TINY, **kwargs})
    model = keras_vim.VIMTransformer(backbone)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    return model


def tiny_tokenizer():
    keras.utils.set_random_seed(1)
    backbone = keras_vim.ViTVQGANBackbone(
        image_size=16,
        patch_size=4,
        codebook_size=32,
        lookup_dim=4,
        encoder_num_layers=1,
        encoder_num_heads=2,
        encoder_hidden_dim=16,
        encoder_intermediate_dim=16,
        decoder_num_layers=1,
        decoder_num_heads=2,
        decoder_hidden_dim=16,
        decoder_intermediate_dim=16,
    )
    return keras_vim.ViTVQGAN(backbone, discriminator_base_filters=0)


def logits(model, token_ids, class_ids):
    return ops.convert_to_numpy(
        model(
            {
                "token_ids": token_ids,
                "class_ids": np.asarray(class_ids, "int32"),
            }
        )
    )


def with_class_prompt(class_ids, tokens):
    return np.concatenate([np.asarray(class_ids)[:, None], tokens], axis=1)


class VIMTransformerTest(TestCase):
    def setUp(self):
        # Unconditional: `run_task_test` calls `predict(x)` with no `y`, and
        # a class-conditional VIM takes its class ids as `y`.
        self.init_kwargs = {
            "backbone": keras_vim.VIMBackbone(**{**TINY, "num_classes": 0})
        }
        self.train_data = (random_tokens(4),)

    def test_task_basics(self):
        # The preprocessor is eager (numpy checks, the image tokenizer):
        # `tf.data` runs it through `tf.py_function`.
        with eager_dataset_maps():
            self.run_task_test(
                cls=keras_vim.VIMTransformer,
                init_kwargs=self.init_kwargs,
                train_data=self.train_data,
                # Logits over the 32 codes for each of the 16 positions.
                expected_output_shape=(4, 16, 32),
            )

    @pytest.mark.large
    def test_all_presets(self):
        token_ids = (np.arange(16) * 7 % 128).astype("int32")[None]
        for preset, class_id, expected in (
            ("vim_digits", 0, [-2.3251, 3.9613, 4.382, -3.6853, -3.163]),
            (
                "vim_digits_class",
                3,
                [-1.3502, 2.9572, 2.5199, -3.8214, -1.2116],
            ),
        ):
            self.run_preset_test(
                cls=keras_vim.VIMTransformer,
                preset=preset,
                input_data={
                    "token_ids": token_ids,
                    "class_ids": np.array([class_id], "int32"),
                },
                # Logits over the 128 codes at each of the 16 positions.
                expected_output_shape=(1, 16, 128),
                expected_partial_output=np.array(expected, "float32"),
            )

    def test_causality(self):
        model = build(dropout=0.0)
        tokens = random_tokens(1)
        base = logits(model, tokens, [1])
        for t in (0, 7, 14):
            changed = tokens.copy()
            changed[0, t] = (changed[0, t] + 1) % 32
            out = logits(model, changed, [1])
            # Output i predicts token i from tokens < i: only i > t may move.
            self.assertAllClose(out[:, : t + 1], base[:, : t + 1], atol=1e-5)
            self.assertGreater(
                np.abs(out[:, t + 1 :] - base[:, t + 1 :]).max(), 1e-6
            )

    def test_cached_logits_match_full_recompute(self):
        prompt = with_class_prompt([2, 3], random_tokens(2))
        # Mixed precision checks that the cached step casts as
        # Layer.__call__ would.
        for dtype, atol in (("float32", 1e-4), ("mixed_bfloat16", 2e-2)):
            model = build(dtype=dtype)
            full = ops.convert_to_numpy(model.full_logits(prompt))
            self.assertEqual(full.dtype, np.float32)
            cache = model.init_cache(2)
            self.assertEqual(len(cache), 2)
            # (key/value, batch, heads, length, head_dim)
            self.assertEqual(tuple(cache[0].shape), (2, 2, 2, 17, 8))
            for position in range(17):
                step, _, cache = model.call_with_cache(
                    prompt[:, position : position + 1], cache, position
                )
                self.assertAllClose(
                    ops.convert_to_numpy(step)[:, 0],
                    full[:, position],
                    atol=atol,
                )

    def test_fit_lowers_loss(self):
        model = build()
        tokens = np.tile(random_tokens(2), (8, 1))
        classes = np.array([0, 1] * 8)
        history = model.fit(
            tokens,
            classes,
            epochs=8,
            batch_size=8,
            verbose=0,
            validation_data=(tokens[:4], classes[:4]),
        )
        loss, val_loss = history.history["loss"], history.history["val_loss"]
        self.assertLess(loss[-1], 0.8 * loss[0])
        # Validation arrays go through the same input handling as `x`.
        self.assertLess(val_loss[-1], val_loss[0])

    def test_generate_is_seeded_and_cache_agrees(self):
        model = build()
        a = model.generate(class_ids=[0, 1, 2], seed=3)["token_ids"]
        self.assertEqual(a.shape, (3, 4, 4))
        self.assertTrue(a.min() >= 0 and a.max() < 32)
        again = model.generate(class_ids=[0, 1, 2], seed=3)["token_ids"]
        self.assertAllEqual(again, a)
        recomputed = model.generate(
            class_ids=[0, 1, 2], seed=3, use_cache=False
        )
        self.assertAllEqual(recomputed["token_ids"], a)
        other = model.generate(class_ids=[0, 1, 2], seed=4)["token_ids"]
        self.assertFalse(np.array_equal(other, a))
        # Batches continue one random stream: same classes, new samples.
        batched = model.generate(class_ids=[0, 0], seed=3, batch_size=1)
        self.assertAllEqual(batched["token_ids"][0], a[0])
        self.assertFalse(np.array_equal(*batched["token_ids"]))

    def test_guidance(self):
        model = build()
        # Make classes matter in the untrained model.
        table = model.backbone.class_embedding.embeddings
        table.assign(np.random.default_rng(0).normal(size=table.shape) * 3.0)
        prompt = model.preprocessor.generate_preprocess([0, 1, 2, 0])
        inputs = {
            "token_ids": ops.convert_to_tensor(prompt),
            "guidance_scale": ops.convert_to_tensor(1.0),
        }

        def greedy(guided, use_cache=True):
            tokens = model.generate_step(
                inputs,
                sampler=GreedySampler(),
                guided=guided,
                use_cache=use_cache,
            )
            return ops.convert_to_numpy(tokens)

        # The guided batch at scale 1 equals the conditional pass.
        plain = greedy(guided=False)
        self.assertAllEqual(greedy(guided=True), plain)
        self.assertAllEqual(greedy(guided=True, use_cache=False), plain)
        kwargs = dict(class_ids=[0, 1, 2, 0], top_k=1)
        self.assertAllEqual(
            model.generate(**kwargs)["token_ids"].reshape(4, 16), plain[:, 1:]
        )
        strong = model.generate(guidance_scale=5.0, **kwargs)["token_ids"]
        self.assertFalse(np.array_equal(strong.reshape(4, 16), plain[:, 1:]))
        # Scale 0 is the unconditional model: all classes alike.
        unconditional = model.generate(guidance_scale=0.0, **kwargs)
        self.assertAllEqual(*unconditional["token_ids"][:2])

    def test_compiled_sampler_is_used_and_overridable(self):
        model = build()
        model.compile(sampler="greedy")
        self.assertIsInstance(model.sampler, GreedySampler)
        a = model.generate(class_ids=[1, 2], seed=0)["token_ids"]
        b = model.generate(class_ids=[1, 2], seed=1)["token_ids"]
        self.assertAllEqual(a, b)  # greedy ignores the seed
        prompt = with_class_prompt([1], a[:1].reshape(1, 16))
        greedy = ops.convert_to_numpy(model.full_logits(prompt))[:, :16]
        self.assertAllEqual(a[:1].reshape(1, 16), greedy.argmax(-1))
        # A call-time temperature switches back to sampling.
        hot = model.generate(class_ids=[1, 2], seed=0, temperature=50.0)
        self.assertFalse(np.array_equal(hot["token_ids"], a))
        # Tiny temperatures are greedy on every backend.
        model.compile(sampler="random")
        tiny = model.generate(class_ids=[1, 2], seed=7, temperature=1e-30)
        self.assertAllEqual(tiny["token_ids"], a)

    def test_image_tokenizer_survives_saving(self):
        tokenizer = tiny_tokenizer()
        keras.utils.set_random_seed(0)
        backbone = keras_vim.VIMBackbone(**TINY)
        model = keras_vim.VIMTransformer(backbone, image_tokenizer=tokenizer)
        images = np.random.default_rng(0).uniform(size=(2, 16, 16, 3))
        ids = tokenizer.encode(images)
        x, y = model.preprocessor(images, [0, 1])
        self.assertAllEqual(x["token_ids"], ids.reshape(2, 16))
        out = model.generate(class_ids=[1, 2], seed=0)
        self.assertEqual(out["images"].shape, (2, 16, 16, 3))
        path = os.path.join(self.get_temp_dir(), "vim")
        model.save_to_preset(path)
        restored = keras_vim.VIMTransformer.from_preset(path)
        again = restored.generate(class_ids=[1, 2], seed=0)
        self.assertAllEqual(again["token_ids"], out["token_ids"])
        self.assertAllClose(again["images"], out["images"], atol=1e-6)
        file = os.path.join(self.get_temp_dir(), "vim.keras")
        model.save(file)
        loaded = keras.saving.load_model(file)
        self.assertAllClose(
            loaded.image_tokenizer.decode(ids), tokenizer.decode(ids), atol=1e-6
        )

    def test_preset_and_keras_round_trip(self):
        model = build()
        tokens, classes = random_tokens(2), [0, 2]
        path = os.path.join(self.get_temp_dir(), "vim")
        model.save_to_preset(path)
        restored = keras_vim.VIMTransformer.from_preset(path)
        self.assertAllClose(
            logits(restored, tokens, classes),
            logits(model, tokens, classes),
            atol=1e-6,
        )
        self.assertAllEqual(
            restored.generate(class_ids=[1], seed=0)["token_ids"],
            model.generate(class_ids=[1], seed=0)["token_ids"],
        )
        self.run_model_saving_test(
            cls=keras_vim.VIMTransformer,
            init_kwargs={"backbone": keras_vim.VIMBackbone(**TINY)},
            input_data={"token_ids": tokens, "class_ids": np.array(classes)},
        )

    def test_keras_file_keeps_optimizer_state(self):
        keras.utils.set_random_seed(0)
        backbone = keras_vim.VIMBackbone(**{**TINY, "dropout": 0.0})
        model = keras_vim.VIMTransformer(backbone, class_dropout_rate=0.0)
        model.compile(
            optimizer=keras.optimizers.SGD(1e-2, momentum=0.9),
            sampler="greedy",
        )
        tokens, classes = random_tokens(8), np.arange(8) % 3
        fit = dict(batch_size=4, shuffle=False, verbose=0)
        model.fit(tokens, classes, epochs=2, **fit)
        file = os.path.join(self.get_temp_dir(), "vim.keras")
        model.save(file)
        loaded = keras.saving.load_model(file)
        self.assertIsInstance(loaded.optimizer, keras.optimizers.SGD)
        self.assertIsInstance(loaded.sampler, GreedySampler)
        self.assertEqual(int(loaded.optimizer.iterations), 4)
        for a, b in zip(model.optimizer.variables, loaded.optimizer.variables):
            self.assertAllEqual(a, b)
        model.fit(tokens, classes, epochs=1, **fit)
        loaded.fit(tokens, classes, epochs=1, **fit)
        for a, b in zip(model.weights, loaded.weights):
            self.assertAllClose(a, b, atol=1e-6)

    def test_bad_input(self):
        model = build()
        unconditional = build(num_classes=0)
        g = model.generate
        cases = [
            (lambda: g(class_ids=[3]), r"class_ids.*\[0, 3\).*\[3\]"),
            (lambda: g(class_ids=[-1]), r"class_ids.*\[0, 3\)"),
            (lambda: g(class_ids=[]), "class_ids.*empty"),
            (lambda: g(class_ids=[[0, 1]]), "class_ids.*1-D"),
            (
                lambda: unconditional.generate(class_ids=[0]),
                "unconditional.*class_ids",
            ),
            (lambda: g(class_ids=[0], temperature=0), "temperature.*> 0.*0"),
            (lambda: g(class_ids=[0], temperature=float("inf")), "temperature"),
            (lambda: g(class_ids=[0], top_p=1.5), r"top_p.*\(0, 1\].*1.5"),
            (lambda: g(class_ids=[0], top_p=0.0), r"top_p"),
            (lambda: g(class_ids=[0], top_k=0), r"top_k.*\[1, 32\]"),
            (
                lambda: g(class_ids=[0], guidance_scale=float("nan")),
                "guidance_scale.*nan",
            ),
            (lambda: g(class_ids=[0], guidance_scale=-1), "guidance_scale.*-1"),
            (lambda: g(class_ids=[0], seed=2**40), "seed"),
            (lambda: g(class_ids=[0], seed="abc"), "seed.*abc"),
            (lambda: g(class_ids=[0], batch_size=0), "batch_size.*0"),
            (lambda: g(num_images=0), "num_images.*0"),
            (
                lambda: unconditional.generate(
                    num_images=2, guidance_scale=3.0
                ),
                "class-conditional",
            ),
            (lambda: model.fit(np.full((2, 16), 32), [0, 1]), r"x.*\[0, 32\)"),
            (
                lambda: model.fit(np.zeros((2, 17), "int32"), [0, 1]),
                r"x.*\(batch, 16\).*17",
            ),
            (lambda: model.fit(np.zeros((2, 9), "int32"), [0, 1]), r"x.*9"),
            (
                lambda: model.fit(np.zeros((2, 16), "int32"), [0, 5]),
                r"class_ids.*\[0, 3\)",
            ),
            (
                lambda: model.fit(np.zeros((2, 16), "int32"), [0, 1, 2]),
                "3 entries for 2",
            ),
            (
                lambda: model.fit(np.zeros((2, 16, 16, 3)), [0, 1]),
                "images.*image_tokenizer",
            ),
        ]
        for call, message in cases:
            with self.assertRaisesRegex(ValueError, message):
                call()
        # Numpy scalars are numbers.
        out = g(
            class_ids=np.array([0]),
            temperature=np.float32(0.5),
            top_k=np.int64(4),
            seed=np.int64(1),
        )
        self.assertEqual(out["token_ids"].shape, (1, 4, 4))
