import os

import keras
import numpy as np
from keras_hub.models import Task
from keras_hub.src.tests.test_case import TestCase

from keras_vim.utils.shuffled_fit import shuffled_fit_inputs


class LinearTask(Task):
    """A one-unit linear regression whose `fit` shuffles its arrays."""

    def __init__(self, dropout=0.0, **kwargs):
        inputs = keras.Input((1,), name="x")
        hidden = inputs
        if dropout:
            hidden = keras.layers.Dense(8, name="hidden")(hidden)
            hidden = keras.layers.Dropout(dropout)(hidden)
        outputs = keras.layers.Dense(1, name="dense")(hidden)
        super().__init__(inputs=inputs, outputs=outputs, compile=False)
        self.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")

    def fit(self, x=None, y=None, **kwargs):
        return super().fit(**shuffled_fit_inputs(x, y, **kwargs))


class StopAfterEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("interrupted")


def epoch_orders(fit_kwargs, epochs):
    """Sample ids per epoch, from the dataset `shuffled_fit_inputs` made."""
    dataset = fit_kwargs["x"]
    steps = fit_kwargs["steps_per_epoch"]
    return [
        np.concatenate([dataset[e * steps + s][0] for s in range(steps)])
        for e in range(epochs)
    ]


def linear_data(n=40):
    x = np.linspace(-1, 1, n).astype("float32")[:, None]
    return x, 3.0 * x + 1.0


class ShuffledFitInputsTest(TestCase):
    def test_every_epoch_is_a_new_permutation(self):
        ids = np.arange(40)
        np.random.seed(0)
        kwargs = shuffled_fit_inputs(ids, ids * 10, batch_size=8, epochs=3)
        self.assertEqual(kwargs["steps_per_epoch"], 5)
        self.assertIsNone(kwargs["y"])
        self.assertIsNone(kwargs["batch_size"])
        self.assertFalse(kwargs["shuffle"])
        self.assertEqual(len(kwargs["x"]), 15)
        orders = epoch_orders(kwargs, 3)
        for order in orders:
            self.assertAllEqual(np.sort(order), ids)
        self.assertFalse(np.array_equal(orders[0], orders[1]))
        self.assertFalse(np.array_equal(orders[0], ids))
        # Inputs and targets stay paired.
        inputs, targets = kwargs["x"][7]
        self.assertAllEqual(targets, inputs * 10)

    def test_epoch_order_depends_only_on_seed_and_epoch(self):
        ids = np.arange(20)
        np.random.seed(3)
        kwargs = shuffled_fit_inputs(ids, batch_size=4, epochs=4)
        orders = epoch_orders(kwargs, 4)
        # A fit resumed at epoch 2 starts its dataset at epoch 2's order.
        np.random.seed(3)
        resumed = shuffled_fit_inputs(ids, batch_size=4, epochs=4)
        resumed["callbacks"][-1].on_epoch_begin(2)
        resumed_orders = epoch_orders(resumed, 2)
        self.assertAllEqual(resumed_orders[0], orders[2])
        self.assertAllEqual(resumed_orders[1], orders[3])

    def test_leftover_samples_differ_between_epochs(self):
        ids = np.arange(10)
        np.random.seed(0)
        kwargs = shuffled_fit_inputs(ids, batch_size=4, epochs=6)
        self.assertEqual(kwargs["steps_per_epoch"], 2)
        seen = [set(o) for o in epoch_orders(kwargs, 6)]
        self.assertTrue(all(len(s) == 8 for s in seen))
        self.assertEqual(set().union(*seen), set(ids))

    def test_fewer_samples_than_batch_size(self):
        kwargs = shuffled_fit_inputs(np.arange(5), batch_size=32)
        self.assertEqual(kwargs["steps_per_epoch"], 1)
        self.assertEqual(len(kwargs["x"][0][0]), 5)

    def test_unequal_lengths_name_both(self):
        with self.assertRaisesRegex(
            ValueError, "x with 10 samples, y with 9 samples"
        ):
            shuffled_fit_inputs(np.zeros((10, 2)), np.zeros(9))
        with self.assertRaisesRegex(ValueError, "sample_weight with 7"):
            shuffled_fit_inputs(
                np.zeros(10), np.zeros(10), sample_weight=np.ones(7)
            )
        # Also when nothing is shuffled.
        with self.assertRaisesRegex(ValueError, r"x with \[3, 4\] samples"):
            shuffled_fit_inputs(
                {"a": np.zeros(3), "b": np.zeros(4)}, shuffle=False
            )

    def test_fit_with_unequal_lengths_raises_value_error(self):
        model = LinearTask()
        with self.assertRaisesRegex(ValueError, "x with 10 .* y with 9"):
            model.fit(np.zeros((10, 1)), np.zeros((9, 1)), verbose=0)

    def test_validation_split_takes_the_last_samples(self):
        ids = np.arange(10)
        kwargs = shuffled_fit_inputs(
            ids, ids, batch_size=4, validation_split=0.2
        )
        self.assertIsNone(kwargs["validation_split"])
        validation = kwargs["validation_data"]
        self.assertEqual(len(validation), 1)
        self.assertAllEqual(validation[0][0], [8, 9])
        self.assertAllEqual(np.sort(epoch_orders(kwargs, 1)[0]), np.arange(8))

    def test_unshuffled_inputs_pass_through(self):
        ids = np.arange(10)
        kwargs = shuffled_fit_inputs(ids, ids, shuffle=False, epochs=2)
        self.assertIs(kwargs["x"], ids)
        self.assertTrue(kwargs["y"] is ids and not kwargs["shuffle"])
        # `(x, sample_weight)` without `y` is left to keras-hub.
        weights = np.ones(10)
        kwargs = shuffled_fit_inputs(ids, sample_weight=weights)
        self.assertIs(kwargs["x"], ids)
        self.assertIs(kwargs["sample_weight"], weights)


class ShuffledFitTest(TestCase):
    def test_fit_trains_on_shuffled_batches(self):
        x, y = linear_data()

        def fit(shuffle):
            keras.utils.set_random_seed(0)
            model = LinearTask()
            history = model.fit(
                x, y, batch_size=8, epochs=2, shuffle=shuffle, verbose=0
            )
            self.assertEqual(len(history.history["loss"]), 2)
            return model.get_layer("dense").get_weights()[0]

        # keras-hub alone would train on the given order either way.
        self.assertNotAllClose(fit(True), fit(False), atol=1e-6)

    def test_resumed_fit_sees_the_same_epochs(self):
        x, y = linear_data()
        fit_kwargs = dict(batch_size=8, epochs=4, verbose=0)

        def fit(callbacks, seed=1):
            keras.utils.set_random_seed(seed)
            # Dropout: the resumed epochs must also draw the same masks.
            model = LinearTask(dropout=0.5)
            model.fit(x, y, callbacks=callbacks, **fit_kwargs)
            return model.get_layer("dense").get_weights()

        uninterrupted = fit([])
        backup = keras.callbacks.BackupAndRestore(
            os.path.join(self.get_temp_dir(), "backup")
        )
        with self.assertRaisesRegex(RuntimeError, "interrupted"):
            fit([backup, StopAfterEpoch(1)])
        resumed = fit([backup])
        for a, b in zip(uninterrupted, resumed):
            self.assertAllClose(a, b, atol=1e-6, rtol=1e-6)
        # The weights do depend on the order: another seed ends elsewhere.
        other = fit([], seed=2)
        self.assertNotAllClose(uninterrupted[0], other[0], atol=1e-6)
