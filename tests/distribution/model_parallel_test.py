import json
import os
import subprocess
import sys

import keras
import pytest
from keras_hub.src.tests.test_case import TestCase

REPO = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def run_checks(*names):
    """`distributed_checks` in its own JAX process with 8 CPU devices."""
    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        XLA_FLAGS="--xla_force_host_platform_device_count=8",
    )
    completed = subprocess.run(
        [sys.executable, "-m", "tests.distribution.distributed_checks"]
        + list(names),
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(
    keras.config.backend() != "jax",
    reason="keras.distribution places variables on devices only on JAX "
    "(Keras 3.15's TensorFlow distribution backend is a prototype marked "
    "'do not use'; torch has none).",
)
class ModelParallelTest(TestCase):
    def assert_same_as_one_device(self, result, output_atol=0.0):
        self.assertEqual(result["num_devices"], 8)
        self.assertEqual(result["sharding_mismatches"], [])
        self.assertEqual(result["optimizer_state_mismatches"], [])
        self.assertGreater(result["sharded_weights"], 0)
        for kind in ("model_parallel", "data_parallel"):
            # One SGD step of 0.1 moves weights by ~1e-2; a wrong sharded
            # gradient would show far above float round-off.
            self.assertTrue(result[kind]["weights_changed"])
            self.assertLess(result[kind]["max_weight_difference"], 1e-4)
            self.assertLessEqual(result[kind]["output_difference"], output_atol)

    @pytest.mark.large
    def test_every_model_matches_one_device(self):
        results = run_checks(
            "vim", "babeldraw", "babeldraw_recipe", "reranker", "vit_vqgan"
        )
        self.assert_same_as_one_device(results["vim"])
        # Greedy image tokens identical; reranker scores within round-off.
        self.assert_same_as_one_device(results["babeldraw"])
        # The seed's recipe: int8-momentum Adafactor state sharded like its
        # variables, the same step as on one device.
        self.assert_same_as_one_device(results["babeldraw_recipe"])
        self.assert_same_as_one_device(results["reranker"], output_atol=1e-5)
        self.assert_same_as_one_device(results["vit_vqgan"])
