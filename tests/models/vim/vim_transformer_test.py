import os

import keras
import numpy as np
from keras import ops
from keras_hub.src.tests.test_case import TestCase

import keras_vim
from keras_vim.models.vim.vim_presets import ARCHITECTURE_PRESETS

TINY = dict(
    vocabulary_size=32,
    grid_size=4,
    num_layers=2,
    num_heads=2,
    hidden_dim=16,
    intermediate_dim=32,
    num_classes=3,
)


def vim_param_count(c, attention_output=True):
    """Hand count: blocks, token in/out tables, class table, 2D positions, LN."""
    d, m, v = c["hidden_dim"], c["intermediate_dim"], c["vocabulary_size"]
    attention = (4 if attention_output else 3) * d * d + 4 * d
    block = attention + (2 * d * m + m + d) + 4 * d
    classes = c.get("num_classes", 0) + 1
    return (
        c["num_layers"] * block
        + 2 * v * d
        + classes * d
        + (2 * c["grid_size"] + 1) * d
        + 2 * d
    )


def build(**kwargs):
    keras.utils.set_random_seed(0)
    backbone = keras_vim.VIMBackbone(**{**TINY, **kwargs})
    model = keras_vim.VIMTransformer(backbone)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    return model


def random_tokens(n=4, seed=0):
    return np.random.default_rng(seed).integers(0, 32, (n, 16)).astype("int32")


def logits(model, token_ids, class_ids):
    return ops.convert_to_numpy(
        model({"token_ids": token_ids, "class_ids": np.asarray(class_ids, "int32")})
    )


class VIMBackboneTest(TestCase):
    def test_shapes_and_param_count(self):
        backbone = keras_vim.VIMBackbone(**TINY)
        hidden = backbone({"token_ids": random_tokens(2), "class_ids": np.array([0, 3])})
        self.assertEqual(tuple(hidden.shape), (2, 17, 16))
        self.assertEqual(backbone.count_params(), vim_param_count(TINY))

    def test_position_embedding_is_2d(self):
        layer = keras_vim.layers.PositionEmbedding2D(4, 8, 1)
        out = ops.convert_to_numpy(layer(np.zeros((1, 17, 8), "float32")))[0]
        rows, cols, prefix = (ops.convert_to_numpy(w) for w in layer.weights)
        self.assertAllClose(out[0], prefix[0])
        for k in range(16):
            self.assertAllClose(out[1 + k], rows[k // 4] + cols[k % 4])

    def test_preset_param_counts(self):
        # The paper's 650M / 1697M match the blocks without their attention
        # output projection; see README.
        for name, paper in (("vim_base", 650e6), ("vim_large", 1697e6)):
            config = ARCHITECTURE_PRESETS[name]
            self.assertLess(abs(vim_param_count(config, False) / paper - 1), 0.05)
        self.assertAlmostEqual(vim_param_count(ARCHITECTURE_PRESETS["vim_base"]) / 1e6, 705.2, delta=0.1)

    def test_serialization(self):
        self.run_serialization_test(keras_vim.VIMBackbone(**TINY))


class VIMTransformerTest(TestCase):
    def test_causality(self):
        model = build(dropout=0.0)
        tokens = random_tokens(1)
        base = logits(model, tokens, [1])
        for t in (0, 7, 15):
            changed = tokens.copy()
            changed[0, t] = (changed[0, t] + 1) % 32
            out = logits(model, changed, [1])
            # Output i predicts token i from tokens < i: only i > t may move.
            self.assertAllClose(out[:, : t + 1], base[:, : t + 1], atol=1e-5)
            self.assertGreater(np.abs(out[:, t + 1 :] - base[:, t + 1 :]).max() if t < 15 else 1, 1e-6)

    def test_cached_logits_match_full_recompute(self):
        prompt = np.concatenate([np.array([[2], [3]]), random_tokens(2)], axis=1)
        # Mixed precision checks that the cached step casts as Layer.__call__ would.
        for dtype, atol in (("float32", 1e-4), ("mixed_bfloat16", 2e-2)):
            model = build(dtype=dtype)
            full = ops.convert_to_numpy(model._full_logits(prompt))
            cache = model.init_cache(2)
            self.assertEqual(len(cache), 2)
            self.assertEqual(tuple(cache[0].shape), (2, 2, 2, 17, 8))  # (key/value, batch, heads, length, head_dim)
            for position in range(17):
                step, _, cache = model.call_with_cache(
                    prompt[:, position : position + 1], cache, position
                )
                self.assertAllClose(ops.convert_to_numpy(step)[:, 0], full[:, position], atol=atol)

    def test_fit_lowers_loss(self):
        model = build()
        tokens = np.tile(random_tokens(2), (8, 1))
        classes = np.array([0, 1] * 8)
        history = model.fit(
            tokens, classes, epochs=8, batch_size=8, verbose=0,
            validation_data=(tokens[:4], classes[:4]),
        )
        self.assertLess(history.history["loss"][-1], 0.8 * history.history["loss"][0])
        # Validation arrays go through the same input handling as `x`.
        self.assertLess(history.history["val_loss"][-1], history.history["val_loss"][0])

    def test_generate_is_seeded_and_cache_agrees(self):
        model = build()
        a = model.generate(class_ids=[0, 1, 2], seed=3)["token_ids"]
        self.assertEqual(a.shape, (3, 4, 4))
        self.assertTrue(a.min() >= 0 and a.max() < 32)
        self.assertAllEqual(model.generate(class_ids=[0, 1, 2], seed=3)["token_ids"], a)
        self.assertAllEqual(
            model.generate(class_ids=[0, 1, 2], seed=3, use_cache=False)["token_ids"], a
        )
        self.assertFalse(np.array_equal(model.generate(class_ids=[0, 1, 2], seed=4)["token_ids"], a))

    def test_guidance_scale_one_equals_conditional(self):
        model = build()
        # Make classes matter in the untrained model.
        table = model.backbone.class_embedding.embeddings
        table.assign(np.random.default_rng(0).normal(size=table.shape) * 3.0)
        plain = model.generate(class_ids=[0, 1, 2, 0], seed=5)["token_ids"]
        # Force the batched cond/uncond path with scale 1.
        model._validate_generate_arguments = lambda *args: True
        guided = model.generate(class_ids=[0, 1, 2, 0], seed=5, guidance_scale=1.0)
        self.assertAllEqual(guided["token_ids"], plain)
        strong = model.generate(class_ids=[0, 1, 2, 0], seed=5, guidance_scale=5.0)
        self.assertFalse(np.array_equal(strong["token_ids"], plain))

    def test_top_k_one_is_greedy(self):
        model = build()
        out = model.generate(class_ids=[1], top_k=1, seed=0)["token_ids"].reshape(1, 16)
        prompt = np.concatenate([[[1]], out], axis=1)
        greedy = ops.convert_to_numpy(model._full_logits(prompt))[:, :16].argmax(-1)
        self.assertAllEqual(out, greedy)

    def test_preset_and_keras_round_trip(self):
        model = build()
        tokens, classes = random_tokens(2), [0, 2]
        path = os.path.join(self.get_temp_dir(), "vim")
        model.save_to_preset(path)
        restored = keras_vim.VIMTransformer.from_preset(path)
        self.assertAllClose(logits(restored, tokens, classes), logits(model, tokens, classes), atol=1e-6)
        self.assertAllEqual(
            restored.generate(class_ids=[1], seed=0)["token_ids"],
            model.generate(class_ids=[1], seed=0)["token_ids"],
        )
        file = os.path.join(self.get_temp_dir(), "vim.keras")
        model.save(file)
        loaded = keras.saving.load_model(file)
        self.assertAllClose(logits(loaded, tokens, classes), logits(model, tokens, classes), atol=1e-6)

    def test_bad_input(self):
        model = build()
        unconditional = build(num_classes=0)
        cases = [
            (lambda: model.generate(class_ids=[3]), r"class_ids.*\[0, 3\).*\[3\]"),
            (lambda: model.generate(class_ids=[-1]), r"class_ids.*\[0, 3\)"),
            (lambda: unconditional.generate(class_ids=[0]), "unconditional.*class_ids"),
            (lambda: model.generate(class_ids=[0], temperature=0), "temperature.*> 0.*0"),
            (lambda: model.generate(class_ids=[0], temperature=-1.0), "temperature"),
            (lambda: model.generate(class_ids=[0], top_p=1.5), r"top_p.*\(0, 1\].*1.5"),
            (lambda: model.generate(class_ids=[0], top_p=0.0), r"top_p"),
            (lambda: model.generate(class_ids=[0], top_k=0), r"top_k.*\[1, 32\]"),
            (lambda: unconditional.generate(num_images=2, guidance_scale=3.0), "class-conditional"),
            (lambda: model.fit(np.full((2, 16), 32), [0, 1]), r"token_ids.*\[0, 32\)"),
            (lambda: model.fit(np.zeros((2, 17), "int32"), [0, 1]), "17 tokens.*16"),
            (lambda: model.fit(np.zeros((2, 16), "int32"), [0, 5]), r"class_ids.*\[0, 3\)"),
        ]
        for call, message in cases:
            with self.assertRaisesRegex(ValueError, message):
                call()


class ClassDropoutTest(TestCase):
    def test_drops_only_in_training(self):
        layer = keras_vim.models.vim.vim_class_dropout.VIMClassDropout(0.5, 10, seed=0)
        ids = np.arange(1000) % 10
        train = ops.convert_to_numpy(layer(ids, training=True))
        self.assertAllEqual(ops.convert_to_numpy(layer(ids)), ids)
        dropped = np.mean(train == 10)
        self.assertTrue(0.4 < dropped < 0.6)
        self.assertAllEqual(train[train != 10], ids[train != 10])
