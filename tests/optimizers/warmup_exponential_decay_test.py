import keras
import numpy as np
from keras import ops
from keras_hub.src.tests.test_case import TestCase

from keras_vim.optimizers import WarmupExponentialDecay

RECIPE = {
    "learning_rate": 4.5e-5,
    "warmup_steps": 5000,
    "decay_start_step": 85000,
    "decay_end_step": 450000,
    "final_ratio": 0.025,
}


def value_at(schedule, step):
    return float(ops.convert_to_numpy(schedule(step)))


class WarmupExponentialDecayTest(TestCase):
    def test_values_at_recipe_steps(self):
        schedule = WarmupExponentialDecay(**RECIPE)
        peak, floor = 4.5e-5, 4.5e-5 * 0.025
        expected = {
            0: 0.0,
            1: peak / 5000,
            2500: peak / 2,
            5000: peak,
            40000: peak,
            85000: peak,
            # Halfway through the decay: the geometric mean.
            267500: peak * 0.025**0.5,
            450000: floor,
            1000000: floor,
        }
        for step, value in expected.items():
            self.assertAllClose(
                value_at(schedule, step), value, rtol=1e-5, atol=0
            )

    def test_decay_is_geometric(self):
        schedule = WarmupExponentialDecay(**RECIPE)
        ratios = [
            value_at(schedule, step + 36500) / value_at(schedule, step)
            for step in (85000, 150000, 300000, 413500)
        ]
        # Ten equal intervals of 36,500 steps span the decay.
        self.assertAllClose(ratios, [0.025**0.1] * 4, rtol=1e-5)

    def test_accepts_step_tensors(self):
        schedule = WarmupExponentialDecay(**RECIPE)
        for dtype in ("int32", "int64", "float32"):
            step = ops.convert_to_tensor(2500, dtype=dtype)
            self.assertAllClose(value_at(schedule, step), 2.25e-5, rtol=1e-5)
        steps = ops.convert_to_tensor([0, 5000, 450000], dtype="int32")
        self.assertAllClose(
            ops.convert_to_numpy(schedule(steps)),
            [0.0, 4.5e-5, 4.5e-5 * 0.025],
            rtol=1e-5,
        )

    def test_no_warmup_starts_at_peak(self):
        schedule = WarmupExponentialDecay(1e-3, 0, 0, 10, 0.5)
        self.assertAllClose(value_at(schedule, 0), 1e-3)
        self.assertAllClose(value_at(schedule, 10), 5e-4)

    def test_drives_an_optimizer(self):
        schedule = WarmupExponentialDecay(1.0, 4, 4, 8, 0.5)
        optimizer = keras.optimizers.SGD(learning_rate=schedule)
        variable = keras.Variable(np.zeros((1,), "float32"))
        for _ in range(3):
            optimizer.apply_gradients([(ops.ones((1,)), variable)])
        # Steps 0, 1, 2 use rates 0, 0.25, 0.5.
        self.assertAllClose(ops.convert_to_numpy(variable), [-0.75])

    def test_serialization(self):
        schedule = WarmupExponentialDecay(**RECIPE)
        self.run_serialization_test(schedule)
        revived = WarmupExponentialDecay.from_config(schedule.get_config())
        self.assertEqual(revived.get_config(), schedule.get_config())
        revived = keras.optimizers.schedules.deserialize(
            keras.optimizers.schedules.serialize(schedule)
        )
        self.assertIsInstance(revived, WarmupExponentialDecay)
        self.assertAllClose(
            value_at(revived, 300000), value_at(schedule, 300000)
        )

    def test_invalid_arguments(self):
        for kwargs, name in [
            ({"learning_rate": -1.0}, "learning_rate"),
            ({"learning_rate": "high"}, "learning_rate"),
            ({"warmup_steps": -5}, "warmup_steps"),
            ({"warmup_steps": 2.5}, "warmup_steps"),
            ({"decay_start_step": 100}, "decay_start_step"),
            ({"decay_end_step": 85000}, "decay_end_step"),
            ({"final_ratio": 0.0}, "final_ratio"),
            ({"final_ratio": 1.01}, "final_ratio"),
        ]:
            with self.assertRaisesRegex(ValueError, f"{name}=") as context:
                WarmupExponentialDecay(**{**RECIPE, **kwargs})
            self.assertIn(str(kwargs[name]), str(context.exception))
