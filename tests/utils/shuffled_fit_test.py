from unittest import mock

import numpy as np
from keras_hub.src.tests.test_case import TestCase
from keras_hub.src.utils.pipeline_model import PipelineModel

import keras_vim
from keras_vim.utils.shuffled_fit import shuffled_batches


class ShuffledFitTest(TestCase):
    def test_every_epoch_is_a_new_permutation(self):
        x = np.arange(40)
        dataset, steps = shuffled_batches((x, x * 10), batch_size=8, epochs=3, seed=1)
        self.assertEqual(steps, 5)
        batches = list(dataset)
        self.assertEqual(len(batches), 15)
        epochs = [
            np.concatenate([b[0] for b in batches[i * 5 : (i + 1) * 5]])
            for i in range(3)
        ]
        for epoch in epochs:
            self.assertAllEqual(np.sort(epoch), x)
        self.assertFalse(np.array_equal(epochs[0], epochs[1]))
        self.assertFalse(np.array_equal(epochs[0], x))
        # Inputs and targets stay paired.
        self.assertAllEqual(batches[0][1], batches[0][0] * 10)

    def test_task_fit_passes_shuffled_batches(self):
        backbone = keras_vim.VIMBackbone(
            vocabulary_size=64, grid_size=2, num_layers=1, num_heads=2,
            hidden_dim=16, intermediate_dim=32,
        )
        model = keras_vim.VIMTransformer(backbone)
        # Sorted data: unshuffled, the first batch would hold ids 0-15 only.
        token_ids = np.repeat(np.arange(64, dtype="int32")[:, None], 4, axis=1)
        seen = {}

        def record(self, x=None, y=None, **kwargs):
            seen.update(x=x, y=y, **kwargs)

        with mock.patch.object(PipelineModel, "fit", record):
            model.fit(token_ids, batch_size=16, epochs=2)
        self.assertIsNone(seen["y"])
        self.assertEqual(seen["steps_per_epoch"], 4)
        batches = list(seen["x"])
        self.assertEqual(len(batches), 8)
        inputs, targets = batches[0]
        self.assertAllEqual(inputs["token_ids"], targets)
        first = targets[:, 0]
        self.assertGreater(first.max() - first.min(), 16)
