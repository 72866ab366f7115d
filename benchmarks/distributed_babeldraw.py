"""Babeldraw training under keras.distribution, and the recipe's memory.

On the JAX backend with 8 simulated CPU devices (set here, before JAX
starts): the time of one training step of a small Babeldraw (the shipped
`babeldraw_digits` sizes, random weights, global batch 32) on one device,
under `DataParallel` over 8 devices and under `ModelParallel` on a 2x4 and
a 4x2 ("batch", "model") mesh, with the bytes of weights plus optimizer
state each device holds; then optimizer-state bytes per parameter of the
seed's recipe (`Int8MomentumAdafactor`) against `keras.optimizers.AdamW`
and Keras's `Adafactor`, for that model and for one Transformer block of
the 350M size (width 1024, MLP 4096).

    python benchmarks/distributed_babeldraw.py

Simulated devices share the host's cores, so the step times compare
communication and partitioning overheads, not real speed-ups.
"""

import json
import os
import sys

os.environ["KERAS_BACKEND"] = "jax"
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from backends import best_time  # noqa: E402

import keras_vim  # noqa: E402

BATCH = 32
SIZES = dict(
    image_vocabulary_size=256,
    grid_size=8,
    num_encoder_layers=2,
    num_decoder_layers=4,
    num_heads=4,
    hidden_dim=128,
    intermediate_dim=512,
    max_text_length=32,
)
PROMPTS = [
    "a red 3 in the top left",
    "a blue 7 in the bottom right and a white 0 in the top left",
    "a green 5 in the top right",
    "a yellow 1 in the bottom left and a cyan 9 in the top right",
]


def build_babeldraw(optimizer):
    keras.utils.set_random_seed(0)
    tokenizer = keras_vim.Tokenizer.train(
        PROMPTS * 8, vocabulary_size=60, model_type="bpe", sequence_length=32
    )
    preprocessor = keras_vim.BabeldrawPreprocessor(
        tokenizer, grid_size=8, vocabulary_size=256
    )
    backbone = keras_vim.BabeldrawBackbone(
        text_vocabulary_size=tokenizer.vocabulary_size(), **SIZES
    )
    model = keras_vim.Babeldraw(backbone, preprocessor)
    model.compile(optimizer=optimizer)
    return model


def per_device_bytes(variables):
    """Bytes of `variables` on the first device (its shards)."""
    total = 0
    for variable in variables:
        value = variable.value
        shards = getattr(value, "addressable_shards", None)
        total += shards[0].data.nbytes if shards else value.nbytes
    return total


def train_step_figures(distribution):
    scope = distribution.scope() if distribution else _NoScope()
    with scope:
        model = build_babeldraw(keras_vim.optimizers.babeldraw_optimizer())
        rng = np.random.default_rng(0)
        prompts = [PROMPTS[i % 4] for i in range(BATCH)]
        ids = rng.integers(0, 256, (BATCH, 64)).astype("int32")
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(
            model.preprocessor(prompts, ids)
        )
        seconds = best_time(
            lambda: model.train_on_batch(x, y, sample_weight), repeats=5
        )
        state = per_device_bytes(
            model.backbone.weights + model.optimizer.variables
        )
    return {"step_ms": 1000 * seconds, "state_mb_per_device": state / 2**20}


class _NoScope:
    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False


def state_bytes_per_parameter(variables):
    parameters = sum(int(np.prod(v.shape)) for v in variables)
    optimizers = {
        "int8_momentum_adafactor": keras_vim.optimizers.babeldraw_optimizer(),
        "adamw": keras.optimizers.AdamW(),
        "keras_adafactor": keras.optimizers.Adafactor(),
    }
    figures = {}
    for name, optimizer in optimizers.items():
        optimizer.build(variables)
        state = [v for v in optimizer.variables if len(v.shape) > 0]
        nbytes = sum(
            int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in state
        )
        figures[name] = nbytes / parameters
    return figures


def main():
    devices = keras.distribution.list_devices()
    results = {"devices": len(devices)}
    meshes = {
        "model_parallel_2x4": (2, 4),
        "model_parallel_4x2": (4, 2),
    }
    runs = {"one_device": None}
    runs["data_parallel_8"] = keras.distribution.DataParallel(devices=devices)
    for name, shape in meshes.items():
        mesh = keras.distribution.DeviceMesh(shape, ("batch", "model"), devices)
        runs[name] = keras.distribution.ModelParallel(
            layout_map=keras_vim.BabeldrawBackbone.get_layout_map(mesh),
            batch_dim_name="batch",
        )
    for name, distribution in runs.items():
        print(f"[{name}]", file=sys.stderr, flush=True)
        results[name] = train_step_figures(distribution)
    small = build_babeldraw("adam").backbone.trainable_variables
    block = keras.layers.Dense(4096)
    block.build((None, 1024))
    output = keras.layers.Dense(1024)
    output.build((None, 4096))
    attention = keras.layers.MultiHeadAttention(16, 64)
    attention.build((None, 8, 1024), (None, 8, 1024))
    paper_block = (
        block.trainable_variables
        + output.trainable_variables
        + attention.trainable_variables
    )
    results["bytes_per_parameter"] = {
        "babeldraw_digits_size": state_bytes_per_parameter(small),
        "350m_block": state_bytes_per_parameter(paper_block),
    }
    print(json.dumps(results, indent=1))
    base = results["one_device"]["step_ms"]
    print("\n| run | step (ms) | vs one device | weights+state per device |")
    print("|---|---|---|---|")
    for name in runs:
        figures = results[name]
        print(
            f"| {name} | {figures['step_ms']:.0f} | "
            f"{figures['step_ms'] / base:.2f}x | "
            f"{figures['state_mb_per_device']:.2f} MB |"
        )
    print("\n| optimizer | bytes/param (small) | bytes/param (350M block) |")
    print("|---|---|---|")
    small_figures = results["bytes_per_parameter"]["babeldraw_digits_size"]
    paper_figures = results["bytes_per_parameter"]["350m_block"]
    for name in small_figures:
        print(
            f"| {name} | {small_figures[name]:.2f} | "
            f"{paper_figures[name]:.2f} |"
        )


if __name__ == "__main__":
    main()
