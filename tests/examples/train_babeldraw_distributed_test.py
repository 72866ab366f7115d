import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras_hub.src.tests.test_case import TestCase

import keras_vim

REPO = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
SCRIPT = os.path.join(REPO, "examples", "train_babeldraw_distributed.py")


def train(backup_dir, output, stop_after_steps=None):
    """The example on 8 simulated devices: 2 epochs of 2 steps."""
    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        XLA_FLAGS="--xla_force_host_platform_device_count=8",
    )
    command = [
        sys.executable,
        SCRIPT,
        "--num-examples=32",
        "--batch-size=16",
        "--epochs=2",
        "--learning-rate=1e-3",
        "--warmup-steps=1",
        f"--backup-dir={backup_dir}",
        f"--output={output}",
    ]
    if stop_after_steps:
        command.append(f"--stop-after-steps={stop_after_steps}")
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=1800
    )


@pytest.mark.large
@pytest.mark.skipif(
    keras.config.backend() != "jax",
    reason="The example uses keras.distribution, which places variables on "
    "devices only on JAX.",
)
class TrainBabeldrawDistributedTest(TestCase):
    def test_resumed_run_ends_where_an_uninterrupted_one_does(self):
        root = self.get_temp_dir()
        whole = train(f"{root}/backup_a", f"{root}/whole")
        self.assertEqual(whole.returncode, 0, whole.stderr[-3000:])
        self.assertIn("8 devices, mesh {'batch': 2, 'model': 4}", whole.stdout)

        # Crash in the second epoch, after one of its steps...
        crashed = train(f"{root}/backup_b", f"{root}/resumed", 3)
        self.assertNotEqual(crashed.returncode, 0)
        self.assertIn("Stopped after 3 steps", crashed.stderr)
        self.assertFalse(os.path.exists(f"{root}/resumed"))
        # ... and run the same command again: it resumes at epoch 2.
        resumed = train(f"{root}/backup_b", f"{root}/resumed")
        self.assertEqual(resumed.returncode, 0, resumed.stderr[-3000:])
        self.assertIn("Epoch 2/2", resumed.stdout)
        self.assertNotIn("Epoch 1/2", resumed.stdout)

        start = keras_vim.BabeldrawBackbone.from_preset("babeldraw_digits")
        a = keras_vim.BabeldrawBackbone.from_preset(f"{root}/whole")
        b = keras_vim.BabeldrawBackbone.from_preset(f"{root}/resumed")
        moved = max(
            np.abs(x - y).max()
            for x, y in zip(a.get_weights(), start.get_weights())
        )
        self.assertGreater(moved, 1e-4)
        for x, y in zip(a.get_weights(), b.get_weights()):
            np.testing.assert_allclose(x, y, atol=1e-6)
