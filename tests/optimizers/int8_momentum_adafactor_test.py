import math
import os

import keras
import numpy as np
from keras import ops
from keras_hub.src.tests.test_case import TestCase

from keras_vim.optimizers import Int8MomentumAdafactor
from keras_vim.optimizers import WarmupExponentialDecay
from keras_vim.optimizers import babeldraw_optimizer
from keras_vim.optimizers import vim_optimizer
from keras_vim.optimizers.int8_block_quantization import momentum_block_size
from keras_vim.optimizers.int8_block_quantization import quantize_int8_blockwise
from keras_vim.optimizers.int8_momentum_adafactor import _state_layouts
from keras_vim.optimizers.int8_momentum_adafactor import (
    dequantize_int8_blockwise,
)


def reference_adafactor_step(
    params,
    grads,
    state,
    step,
    learning_rate,
    weight_decay=0.0,
    decayed=(),
    beta_1=0.9,
    beta_2=0.96,
    epsilon_1=1e-30,
    clip_threshold=1.0,
    bias_correction=True,
):
    """One float32 step of the same algorithm, momentum kept in float."""
    f32 = np.float32
    new_params = {}
    for name, param in params.items():
        grad = grads[name].astype(f32)
        if name in decayed:
            param = param - param * f32(weight_decay) * f32(learning_rate)
        squared = np.square(grad) + f32(epsilon_1)
        if param.ndim >= 2:
            state[name + "/r"] = f32(beta_2) * state[name + "/r"] + f32(
                1 - beta_2
            ) * squared.mean(-1)
            state[name + "/c"] = f32(beta_2) * state[name + "/c"] + f32(
                1 - beta_2
            ) * squared.mean(-2)
            row, column = state[name + "/r"], state[name + "/c"]
            v_hat = (
                row[..., :, None]
                * column[..., None, :]
                / row.mean(-1)[..., None, None]
            )
        else:
            state[name + "/v"] = (
                f32(beta_2) * state[name + "/v"] + f32(1 - beta_2) * squared
            )
            v_hat = state[name + "/v"]
        if bias_correction:
            v_hat = v_hat / f32(1 - beta_2**step)
        update = grad / np.sqrt(v_hat)
        rms = np.sqrt(np.mean(np.square(update)))
        update = update / max(f32(1.0), rms / f32(clip_threshold))
        state[name + "/m"] = (
            f32(beta_1) * state[name + "/m"] + f32(1 - beta_1) * update
        )
        new_params[name] = (
            param - f32(learning_rate) * state[name + "/m"]
        ).astype(f32)
    return new_params


def reference_state(params):
    state = {}
    for name, param in params.items():
        state[name + "/m"] = np.zeros_like(param)
        if param.ndim >= 2:
            state[name + "/r"] = np.zeros(param.shape[:-1], "float32")
            state[name + "/c"] = np.zeros(
                param.shape[:-2] + param.shape[-1:], "float32"
            )
        else:
            state[name + "/v"] = np.zeros_like(param)
    return state


class LeastSquares:
    """`mean((x @ kernel + bias - y) ** 2)` with its analytic gradient."""

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.x = rng.normal(size=(32, 8)).astype("float32")
        true_kernel = rng.normal(size=(8, 16)).astype("float32")
        true_bias = rng.normal(size=(16,)).astype("float32")
        self.y = self.x @ true_kernel + true_bias
        self.initial = {
            "kernel": (0.1 * rng.normal(size=(8, 16))).astype("float32"),
            "bias": np.zeros((16,), "float32"),
        }

    def loss(self, params):
        error = self.x @ params["kernel"] + params["bias"] - self.y
        return float(np.mean(np.square(error)))

    def grads(self, params):
        error = self.x @ params["kernel"] + params["bias"] - self.y
        d_error = 2.0 * error / error.size
        return {
            "kernel": (self.x.T @ d_error).astype("float32"),
            "bias": d_error.sum(0).astype("float32"),
        }


def state_bytes_per_parameter(optimizer, variables):
    state_bytes = sum(
        math.prod(v.shape) * np.dtype(v.dtype).itemsize
        for v in optimizer.variables
    )
    return state_bytes / sum(math.prod(v.shape) for v in variables)


class Int8MomentumAdafactorTest(TestCase):
    def run_against_reference(self, steps=50, learning_rate=0.05):
        problem = LeastSquares()
        variables = {
            name: keras.Variable(value, name=name)
            for name, value in problem.initial.items()
        }
        optimizer = Int8MomentumAdafactor(
            learning_rate=learning_rate,
            block_size=8,
            weight_decay=0.5,
            weight_decay_exclusions=["bias"],
        )
        params = dict(problem.initial)
        no_correction = dict(problem.initial)
        state = reference_state(params)
        state_no_correction = reference_state(params)
        for step in range(1, steps + 1):
            current = {
                name: ops.convert_to_numpy(variable)
                for name, variable in variables.items()
            }
            grads = problem.grads(current)
            optimizer.apply_gradients(
                [
                    (ops.convert_to_tensor(grads[name]), variables[name])
                    for name in variables
                ]
            )
            kwargs = dict(
                step=step,
                learning_rate=learning_rate,
                weight_decay=0.5,
                decayed=("kernel",),
            )
            params = reference_adafactor_step(
                params, problem.grads(params), state, **kwargs
            )
            no_correction = reference_adafactor_step(
                no_correction,
                problem.grads(no_correction),
                state_no_correction,
                bias_correction=False,
                **kwargs,
            )
        ours = {
            name: ops.convert_to_numpy(variable)
            for name, variable in variables.items()
        }
        return problem, ours, params, no_correction

    def test_matches_float_reference_on_least_squares(self):
        problem, ours, reference, no_correction = self.run_against_reference()
        deviation = max(
            np.max(np.abs(ours[name] - reference[name])) for name in ours
        )
        movement = max(
            np.max(np.abs(reference[name] - problem.initial[name]))
            for name in ours
        )
        # int8 momentum is not free: the paths differ, but by a small
        # fraction of how far the parameters moved.
        self.assertGreater(deviation, 0.0)
        self.assertLess(deviation, 0.02 * movement)
        # The tolerance tells algorithms apart: dropping the bias
        # correction alone moves the parameters ten times further.
        wrong = max(
            np.max(np.abs(no_correction[name] - reference[name]))
            for name in ours
        )
        self.assertGreater(wrong, 10 * deviation)
        initial_loss = problem.loss(problem.initial)
        self.assertLess(problem.loss(ours), 0.5 * initial_loss)
        self.assertAllClose(
            problem.loss(ours), problem.loss(reference), rtol=1e-2
        )

    def test_quantization_round_trip_error_is_within_half_a_step(self):
        rng = np.random.default_rng(1)
        # Blocks of very different magnitudes, and one all-zero block.
        magnitudes = np.repeat(
            10.0 ** rng.uniform(-6, 2, size=(4, 2, 1)), 128, -1
        )
        x = (rng.normal(size=(4, 2, 128)) * magnitudes).reshape(4, 256)
        x[1, 128:] = 0.0
        x = x.astype("float32")
        values, scales = quantize_int8_blockwise(ops.convert_to_tensor(x), 128)
        self.assertEqual(ops.dtype(values), "int8")
        self.assertEqual(tuple(scales.shape), (4, 2))
        values = ops.convert_to_numpy(values)
        scales = ops.convert_to_numpy(scales)
        self.assertLessEqual(np.abs(values.astype(int)).max(), 127)
        restored = ops.convert_to_numpy(
            dequantize_int8_blockwise(values, scales)
        )
        error = np.abs(restored - x).reshape(4, 2, 128)
        bound = 0.5 * scales[..., None] * (1 + 1e-5)
        self.assertTrue(np.all(error <= bound))
        # The block's largest value is exact up to float rounding.
        self.assertAllClose(
            np.abs(restored).reshape(4, 2, 128).max(-1),
            np.abs(x).reshape(4, 2, 128).max(-1),
            rtol=1e-6,
        )
        self.assertEqual(scales[1, 1], 0.0)
        self.assertTrue(np.all(restored[1, 128:] == 0.0))

    def test_block_size_divides_the_last_axis(self):
        self.assertEqual(momentum_block_size(2048, 128), 128)
        self.assertEqual(momentum_block_size(192, 128), 96)
        self.assertEqual(momentum_block_size(100, 128), 100)
        # A prime axis has no useful divisor: one block per row.
        self.assertEqual(momentum_block_size(257, 128), 257)
        self.assertEqual(momentum_block_size(1, 128), 1)

    def test_state_is_about_one_byte_per_parameter(self):
        model = keras.Sequential(
            [keras.Input((512,)), keras.layers.Dense(2048)]
        )
        variables = model.trainable_variables
        ours = Int8MomentumAdafactor(learning_rate=1e-3)
        ours.build(variables)
        adamw = keras.optimizers.AdamW(learning_rate=1e-3)
        adamw.build(variables)
        ours_bytes = state_bytes_per_parameter(ours, variables)
        adamw_bytes = state_bytes_per_parameter(adamw, variables)
        # 1 byte of momentum + 4 / 128 bytes of scales + the factored
        # second moment.
        self.assertLess(ours_bytes, 1.05)
        self.assertGreater(adamw_bytes, 7.99)
        self.assertLessEqual(3 * ours_bytes, adamw_bytes)
        dtypes = {v.dtype for v in ours.variables if v.shape == (512, 2048)}
        self.assertEqual(dtypes, {"int8"})

    def test_fit_and_save_restore_optimizer_state(self):
        rng = np.random.default_rng(2)
        x = rng.normal(size=(64, 8)).astype("float32")
        y = x @ rng.normal(size=(8, 4)).astype("float32")
        model = keras.Sequential(
            [
                keras.Input((8,)),
                keras.layers.Dense(16, activation="relu"),
                keras.layers.Dense(4),
            ]
        )
        schedule = WarmupExponentialDecay(1e-2, 5, 20, 100, 0.1)
        optimizer = Int8MomentumAdafactor(
            learning_rate=schedule,
            weight_decay=1e-2,
            global_clipnorm=4.0,
            weight_decay_exclusions=["bias"],
        )
        model.compile(optimizer=optimizer, loss="mse")
        history = model.fit(x, y, batch_size=16, epochs=10, verbose=0)
        losses = history.history["loss"]
        self.assertLess(losses[-1], 0.7 * losses[0])

        path = os.path.join(self.get_temp_dir(), "model.keras")
        model.save(path)
        restored = keras.saving.load_model(path)
        self.assertIsInstance(restored.optimizer, Int8MomentumAdafactor)
        self.assertEqual(
            restored.optimizer.get_config(), optimizer.get_config()
        )
        self.assertEqual(restored.optimizer.weight_decay_exclusions, ["bias"])
        saved = optimizer.variables
        loaded = restored.optimizer.variables
        self.assertEqual(
            [tuple(v.shape) for v in saved], [tuple(v.shape) for v in loaded]
        )
        momentums = [v for v in loaded if v.path.endswith("_momentum")]
        self.assertEqual(len(momentums), 4)
        self.assertEqual({v.dtype for v in momentums}, {"int8"})
        for before, after in zip(saved, loaded):
            self.assertEqual(before.dtype, after.dtype)
            np.testing.assert_array_equal(
                ops.convert_to_numpy(before), ops.convert_to_numpy(after)
            )
        # The restored momentum is a trained one, not zeros.
        self.assertGreater(
            np.abs(ops.convert_to_numpy(momentums[0]).astype(int)).max(), 0
        )

    def test_serialization(self):
        self.run_serialization_test(
            Int8MomentumAdafactor(
                learning_rate=WarmupExponentialDecay(1e-3, 10, 20, 30, 0.5),
                beta_1=0.8,
                beta_2=0.95,
                clip_threshold=2.0,
                block_size=64,
                weight_decay=0.1,
                weight_decay_exclusions=["gamma"],
            )
        )

    def test_invalid_arguments(self):
        for kwargs, name in [
            ({"beta_1": 1.0}, "beta_1"),
            ({"beta_2": -0.1}, "beta_2"),
            ({"block_size": 0}, "block_size"),
            ({"clip_threshold": 0.0}, "clip_threshold"),
        ]:
            with self.assertRaisesRegex(ValueError, name):
                Int8MomentumAdafactor(**kwargs)

    def test_state_layouts_follow_the_variable_layout(self):
        # Layouts only: the fake devices are never touched.
        mesh = keras.distribution.DeviceMesh(
            (2, 4), ("batch", "model"), devices=[f"cpu:{i}" for i in range(8)]
        )
        layout = keras.distribution.TensorLayout((None, "model"), mesh)
        layouts = _state_layouts(layout, (16, 1024), num_blocks=8)
        self.assertEqual(layouts["momentum"].axes, (None, "model"))
        self.assertEqual(layouts["scales"].axes, (None, "model"))
        self.assertEqual(layouts["row"].axes, (None,))
        self.assertEqual(layouts["column"].axes, ("model",))
        # 2 blocks cannot be split 4 ways: the scales are replicated.
        layouts = _state_layouts(layout, (16, 256), num_blocks=2)
        self.assertEqual(layouts["scales"].axes, (None, None))
        layout = keras.distribution.TensorLayout(("model", None), mesh)
        layouts = _state_layouts(layout, (1024, 16), num_blocks=1)
        self.assertEqual(layouts["scales"].axes, ("model", None))
        self.assertEqual(layouts["row"].axes, ("model",))
        self.assertEqual(layouts["column"].axes, (None,))
        self.assertIsNone(_state_layouts(None, (4, 4), 1)["momentum"])


class TrainingRecipeTest(TestCase):
    def test_babeldraw_recipe(self):
        optimizer = babeldraw_optimizer()
        self.assertIsInstance(optimizer, Int8MomentumAdafactor)
        self.assertEqual(optimizer.global_clipnorm, 4.0)
        self.assertEqual(optimizer.beta_1, 0.9)
        self.assertEqual(optimizer.beta_2, 0.96)
        self.assertEqual(optimizer.weight_decay, 4.5e-2)
        schedule = optimizer._learning_rate
        self.assertIsInstance(schedule, WarmupExponentialDecay)
        self.assertEqual(
            schedule.get_config(),
            {
                "learning_rate": 4.5e-5,
                "warmup_steps": 5000,
                "decay_start_step": 85000,
                "decay_end_step": 450000,
                "final_ratio": 0.025,
                "name": "warmup_exponential_decay",
            },
        )
        self.assertEqual(
            sorted(optimizer.weight_decay_exclusions),
            ["beta", "bias", "gamma"],
        )

    def test_vim_recipe_decays_weights_but_not_norms_or_biases(self):
        optimizer = vim_optimizer(warmup_steps=0)
        kernel = keras.Variable(np.ones((4, 4), "float32"), name="kernel")
        gamma = keras.Variable(np.ones((4,), "float32"), name="gamma")
        bias = keras.Variable(np.ones((4,), "float32"), name="bias")
        variables = [kernel, gamma, bias]
        # A zero gradient moves nothing but the decayed weights.
        optimizer.apply_gradients(
            [(ops.zeros(v.shape, "float32"), v) for v in variables]
        )
        expected = np.float32(1.0) - np.float32(4.5e-2) * np.float32(4.5e-5)
        self.assertAllClose(
            ops.convert_to_numpy(kernel), np.full((4, 4), expected), atol=1e-7
        )
        self.assertLess(ops.convert_to_numpy(kernel).max(), 1.0)
        np.testing.assert_array_equal(ops.convert_to_numpy(gamma), 1.0)
        np.testing.assert_array_equal(ops.convert_to_numpy(bias), 1.0)

    def test_recipe_rejects_bad_arguments(self):
        for kwargs, name in [
            ({"warmup_steps": -1}, "warmup_steps"),
            ({"final_ratio": 0.0}, "final_ratio"),
            ({"final_ratio": 1.5}, "final_ratio"),
            ({"decay_end_step": 1000}, "decay_end_step"),
            ({"learning_rate": 0.0}, "learning_rate"),
            ({"global_clipnorm": 0.0}, "global_clipnorm"),
            ({"weight_decay": -1.0}, "weight_decay"),
        ]:
            with self.assertRaisesRegex(ValueError, name):
                babeldraw_optimizer(**kwargs)
