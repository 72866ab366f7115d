"""Fine-tunes a Babeldraw preset on every device JAX sees, resumably.

The weights are split with `keras.distribution.ModelParallel` and the
backbone's layout map on a ("batch", "model") mesh (attention heads and
MLP hidden units on "model", the batch on "batch"; the frozen image
tokenizer is replicated, data-parallel), trained with the seed's recipe
(`keras_vim.optimizers.babeldraw_optimizer`: int8-momentum Adafactor,
warm-up then exponential decay, global-norm clipping 4.0), and
checkpointed by `keras.callbacks.BackupAndRestore` at the end of every
epoch. Run the same command again after a crash or preemption and it
resumes from the last finished epoch; the epochs' sample orders depend only
on `--seed` and the epoch, so the resumed run ends with the weights an
uninterrupted one would have (`tests/examples/` checks this).

On one CPU, simulate 8 devices (before JAX starts):

    KERAS_BACKEND=jax XLA_FLAGS=--xla_force_host_platform_device_count=8 \\
        python examples/train_babeldraw_distributed.py --epochs 4 \\
        --backup-dir /tmp/babeldraw_backup --output /tmp/babeldraw_tuned

On several hosts, call `keras.distribution.initialize()` first (see
README, "Scale out"); the data then must be split by host.
"""

import argparse
import math

import keras

import keras_vim
from keras_vim.utils.digit_canvases import make_canvases


def device_mesh(model_parallel):
    devices = keras.distribution.list_devices()
    if len(devices) % model_parallel:
        raise ValueError(
            f"`--model-parallel {model_parallel}` does not divide the "
            f"{len(devices)} devices."
        )
    return keras.distribution.DeviceMesh(
        (len(devices) // model_parallel, model_parallel),
        ("batch", "model"),
        devices,
    )


class StopAfterSteps(keras.callbacks.Callback):
    """Raises after `steps` training steps: a crash, for the resume test."""

    def __init__(self, steps):
        super().__init__()
        self.steps = steps
        self.seen = 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen >= self.steps:
            raise RuntimeError(f"Stopped after {self.seen} steps.")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="babeldraw_digits")
    parser.add_argument("--num-examples", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument(
        "--model-parallel",
        type=int,
        default=None,
        help="Size of the 'model' mesh axis (default: 4, 2 or 1, the "
        "largest that divides the device count).",
    )
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--warmup-steps", type=int, default=10)
    parser.add_argument("--backup-dir", default="babeldraw_backup")
    parser.add_argument("--output", default="babeldraw_tuned")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--stop-after-steps",
        type=int,
        default=None,
        help="Simulate a crash after this many steps (resume tests).",
    )
    args = parser.parse_args()

    num_devices = len(keras.distribution.list_devices())
    model_parallel = args.model_parallel or math.gcd(num_devices, 4)
    mesh = device_mesh(model_parallel)
    distribution = keras.distribution.ModelParallel(
        layout_map=keras_vim.BabeldrawBackbone.get_layout_map(mesh),
        batch_dim_name="batch",
    )
    print(
        f"{num_devices} devices, mesh {dict(zip(mesh.axis_names, mesh.shape))}"
    )

    keras.utils.set_random_seed(args.seed)
    images, captions, _ = make_canvases(
        args.num_examples, split="train", seed=args.seed
    )
    steps = args.epochs * (args.num_examples // args.batch_size)
    with distribution.scope():
        model = keras_vim.Babeldraw.from_preset(args.preset)
        model.compile(
            optimizer=keras_vim.optimizers.babeldraw_optimizer(
                learning_rate=args.learning_rate,
                warmup_steps=args.warmup_steps,
                decay_start_step=args.warmup_steps,
                decay_end_step=max(steps, args.warmup_steps + 1),
            )
        )
        callbacks = [keras.callbacks.BackupAndRestore(args.backup_dir)]
        if args.stop_after_steps:
            callbacks.append(StopAfterSteps(args.stop_after_steps))
        history = model.fit(
            captions,
            images,
            batch_size=args.batch_size,
            epochs=args.epochs,
            callbacks=callbacks,
        )
        model.save_to_preset(args.output)
    losses = ", ".join(f"{x:.4f}" for x in history.history.get("loss", []))
    print(f"Losses of the epochs run now: {losses}")
    print(f"Saved the preset to {args.output}")


if __name__ == "__main__":
    main()
