import os

import keras
import numpy as np
from keras import ops
from keras_hub.src.tests.test_case import TestCase

import keras_vim
from tests.models.task_test_utils import with_pass_through_preprocessor
from tests.models.vim.vim_backbone_test import TINY
from tests.models.vim.vim_transformer_test import tiny_tokenizer

# The probe has no preprocessor (its token ids go straight to the frozen
# backbone); keras-hub's `run_task_test` calls one.
LinearProbeWithPassThrough = with_pass_through_preprocessor(
    keras_vim.LinearProbe
)


class LinearProbeTest(TestCase):
    def setUp(self):
        keras.utils.set_random_seed(0)
        self.backbone = keras_vim.VIMBackbone(**{**TINY, "num_classes": 0})
        rng = np.random.default_rng(0)
        # Two classes drawn from 4 different ids each: separable by a linear
        # probe on any backbone, random ones included.
        self.labels = np.arange(64) % 2
        self.tokens = rng.integers(0, 4, (64, 16)) + 16 * self.labels[:, None]
        self.init_kwargs = {
            "backbone": self.backbone,
            "block_index": 1,
            "num_classes": 2,
        }

    def test_task_basics(self):
        self.run_task_test(
            cls=LinearProbeWithPassThrough,
            init_kwargs=self.init_kwargs,
            train_data=(self.tokens[:4], self.labels[:4]),
            # Class probabilities.
            expected_output_shape=(4, 2),
        )

    def test_callers_backbone_is_left_as_it_is(self):
        keras_vim.LinearProbe(self.backbone, block_index=0, num_classes=2)
        self.assertTrue(self.backbone.trainable)
        self.assertEqual(
            len(self.backbone.trainable_weights), len(self.backbone.weights)
        )

    def test_one_probe_for_fit_and_accuracy_per_block(self):
        keras.utils.set_random_seed(3)
        (accuracy,) = keras_vim.LinearProbe.accuracy_per_block(
            self.backbone_one_block(),
            self.tokens,
            self.labels,
            self.tokens[:16],
            self.labels[:16],
            2,
            epochs=3,
        )
        keras.utils.set_random_seed(3)
        probe = keras_vim.LinearProbe(self.backbone_one_block(), 0, 2)
        probe.compile(optimizer=keras.optimizers.Adam(1e-2))
        probe.fit(self.tokens, self.labels, epochs=3, batch_size=128, verbose=0)
        _, expected = probe.evaluate(
            self.tokens[:16], self.labels[:16], verbose=0
        )
        self.assertAllClose(accuracy, expected)
        # Features are standardised with the training statistics.
        features = probe.features(self.tokens)
        normalized = ops.convert_to_numpy(probe.normalization(features))
        self.assertAllClose(normalized.mean(0), np.zeros(16), atol=1e-4)
        self.assertAllClose(normalized.std(0), np.ones(16), atol=1e-3)

    def backbone_one_block(self):
        keras.utils.set_random_seed(0)
        return keras_vim.VIMBackbone(
            **{**TINY, "num_classes": 0, "num_layers": 1}
        )

    def test_saving_keeps_optimizer_state(self):
        probe = keras_vim.LinearProbe(
            self.backbone, block_index=1, num_classes=2
        )
        probe.compile(optimizer=keras.optimizers.SGD(1e-2, momentum=0.9))
        fit = dict(batch_size=32, shuffle=False, verbose=0)
        probe.fit(self.tokens, self.labels, epochs=2, **fit)
        file = os.path.join(self.get_temp_dir(), "probe.keras")
        probe.save(file)
        loaded = keras.saving.load_model(file)
        self.assertIsInstance(loaded.optimizer, keras.optimizers.SGD)
        self.assertEqual(int(loaded.optimizer.iterations), 4)
        probe.fit(self.tokens, self.labels, epochs=1, **fit)
        loaded.fit(self.tokens, self.labels, epochs=1, **fit)
        for a, b in zip(probe.weights, loaded.weights):
            self.assertAllClose(a, b, atol=1e-6)
        self.run_model_saving_test(
            cls=keras_vim.LinearProbe,
            init_kwargs=dict(
                backbone=self.backbone, block_index=1, num_classes=2
            ),
            input_data=self.tokens[:4],
        )

    def test_image_tokenizer_survives_saving(self):
        tokenizer = tiny_tokenizer()
        probe = keras_vim.LinearProbe(
            self.backbone,
            block_index=1,
            num_classes=2,
            image_tokenizer=tokenizer,
        )
        images = np.random.default_rng(0).uniform(size=(4, 16, 16, 3))
        expected = probe.predict(images, verbose=0)
        ids = tokenizer.encode(images)

        file = os.path.join(self.get_temp_dir(), "probe.keras")
        probe.save(file)
        path = os.path.join(self.get_temp_dir(), "probe")
        probe.save_to_preset(path)
        for restored in (
            keras.saving.load_model(file),
            keras_vim.LinearProbe.from_preset(path),
        ):
            self.assertAllClose(
                restored.predict(images, verbose=0), expected, atol=1e-6
            )
            self.assertAllEqual(restored.image_tokenizer.encode(images), ids)
            self.assertAllClose(
                restored.image_tokenizer.decode(ids),
                tokenizer.decode(ids),
                atol=1e-6,
            )

    def test_features_are_mean_of_block_output(self):
        probe = keras_vim.LinearProbe(
            self.backbone, block_index=0, num_classes=2
        )
        block_out = keras.Model(
            self.backbone.input, self.backbone.transformer_layers[0].output
        )
        hidden = block_out(
            {"token_ids": self.tokens[:2], "class_ids": np.array([0, 0])}
        )
        expected = ops.convert_to_numpy(probe.head(ops.mean(hidden, axis=1)))
        self.assertAllClose(
            probe.predict(self.tokens[:2], verbose=0), expected, atol=1e-5
        )

    def test_fit_trains_head_only(self):
        probe = keras_vim.LinearProbe(
            self.backbone, block_index=1, num_classes=2
        )
        probe.compile(optimizer=keras.optimizers.Adam(3e-2))
        before = [ops.convert_to_numpy(w).copy() for w in self.backbone.weights]
        history = probe.fit(
            self.tokens, self.labels, epochs=60, batch_size=32, verbose=0
        )
        self.assertLess(history.history["loss"][-1], history.history["loss"][0])
        _, accuracy = probe.evaluate(self.tokens, self.labels, verbose=0)
        self.assertGreater(accuracy, 0.9)
        for w, b in zip(self.backbone.weights, before):
            self.assertAllClose(ops.convert_to_numpy(w), b)
        self.assertEqual(len(probe.trainable_weights), 2)

    def test_frozen_backbone_runs_without_dropout(self):
        probe = keras_vim.LinearProbe(
            self.backbone, block_index=1, num_classes=2
        )
        self.assertAllClose(
            probe(self.tokens[:4], training=True),
            probe(self.tokens[:4], training=False),
        )

    def test_accuracy_per_block(self):
        accuracies = keras_vim.LinearProbe.accuracy_per_block(
            self.backbone,
            self.tokens,
            self.labels,
            self.tokens,
            self.labels,
            2,
            epochs=30,
        )
        self.assertEqual(len(accuracies), 2)
        self.assertGreater(max(accuracies), 0.9)

    def test_bad_arguments(self):
        with self.assertRaisesRegex(ValueError, r"block_index.*\[0, 2\).*2"):
            keras_vim.LinearProbe(self.backbone, block_index=2, num_classes=2)
        with self.assertRaisesRegex(ValueError, r"block_index.*-1"):
            keras_vim.LinearProbe(self.backbone, block_index=-1, num_classes=2)
        probe = keras_vim.LinearProbe(
            self.backbone, block_index=0, num_classes=2
        )
        with self.assertRaisesRegex(ValueError, r"Labels.*\[0, 2\)"):
            probe.fit(self.tokens, self.labels + 5)
        with self.assertRaisesRegex(ValueError, "Labels.*one-hot"):
            probe.fit(self.tokens, np.eye(2)[self.labels])
        with self.assertRaisesRegex(ValueError, "65 entries for 64"):
            probe.fit(self.tokens, np.append(self.labels, 0))
        with self.assertRaisesRegex(ValueError, "block_index.*True"):
            keras_vim.LinearProbe(
                self.backbone, block_index=True, num_classes=2
            )
        vim = keras_vim.VIMTransformer(self.backbone)
        with self.assertRaisesRegex(ValueError, "backbone.*VIMTransformer"):
            keras_vim.LinearProbe(vim, block_index=0, num_classes=2)
