"""Checks run in a JAX process that sees 8 simulated CPU devices.

`XLA_FLAGS=--xla_force_host_platform_device_count=8` must be set before JAX
starts, so `model_parallel_test.py` runs this module in its own process:
`python -m tests.distribution.distributed_checks` prints one JSON object.

For each model: the weights' shardings on a 2x4 ("batch", "model") mesh
against what its layout map promises, and one training step and a short
greedy `generate` under `ModelParallel` and `DataParallel` against the
same model on one device.
"""

import contextlib
import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_vim  # noqa: E402
from keras_vim.models.babeldraw.babeldraw_preprocessor import (  # noqa: E402
    BabeldrawPreprocessor,
)
from tests.models.babeldraw.babeldraw_test import CAPTIONS  # noqa: E402
from tests.models.babeldraw.babeldraw_test import text_tokenizer  # noqa: E402

# Heads, hidden and vocabulary sizes divisible by the mesh axes (2, 4).
SHARED = dict(num_heads=4, hidden_dim=16, intermediate_dim=32)
VIM = dict(vocabulary_size=32, grid_size=4, num_layers=2, num_classes=3)
BABELDRAW = dict(
    text_vocabulary_size=32,
    image_vocabulary_size=32,
    grid_size=4,
    num_encoder_layers=1,
    num_decoder_layers=2,
    max_text_length=12,
    dropout=0.0,
)
RERANKER = dict(
    text_vocabulary_size=32,
    image_vocabulary_size=32,
    grid_size=4,
    num_layers=1,
    embedding_dim=8,
    max_text_length=12,
    dropout=0.0,
)
VIT_VQGAN = dict(
    image_size=16,
    patch_size=4,
    encoder_num_layers=1,
    encoder_num_heads=4,
    encoder_hidden_dim=16,
    encoder_intermediate_dim=32,
    decoder_num_layers=1,
    decoder_num_heads=4,
    decoder_hidden_dim=16,
    decoder_intermediate_dim=32,
    codebook_size=32,
    lookup_dim=4,
)


def sgd():
    # Plain SGD: a weight's change is proportional to its gradient, so a
    # wrong sharded gradient shows (Adam's normalised steps would hide it).
    return keras.optimizers.SGD(0.1)


def mesh():
    return keras.distribution.DeviceMesh(
        (2, 4), ("batch", "model"), keras.distribution.list_devices()
    )


def sharding_mismatches(weights, layout_map):
    """Paths whose placed sharding differs from the map's promise."""
    mismatches = []
    for variable in weights:
        layout = layout_map[variable.path]
        expected = (
            (None,) * len(variable.shape) if layout is None else layout.axes
        )
        spec = tuple(variable.value.sharding.spec)
        spec += (None,) * (len(variable.shape) - len(spec))
        if spec != tuple(expected):
            mismatches.append(f"{variable.path}: {spec} != {expected}")
    return mismatches


def vim_model():
    backbone = keras_vim.VIMBackbone(**VIM, **SHARED, dropout=0.0)
    model = keras_vim.VIMTransformer(backbone, class_dropout_rate=0.0)
    model.compile(optimizer=sgd(), sampler="greedy")
    return model


def vim_run(model):
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 32, (8, 16)).astype("int32")
    model.fit(tokens, np.arange(8) % 3, batch_size=8, shuffle=False, verbose=0)
    return model.generate(class_ids=[0, 1, 2, 0, 1, 2, 0, 1], seed=0)[
        "token_ids"
    ]


def babeldraw_preprocessor():
    return BabeldrawPreprocessor(
        text_tokenizer(), None, grid_size=4, vocabulary_size=32
    )


def babeldraw_model():
    backbone = keras_vim.BabeldrawBackbone(**BABELDRAW, **SHARED)
    model = keras_vim.Babeldraw(
        backbone, babeldraw_preprocessor(), prompt_dropout_rate=0.0
    )
    model.compile(optimizer=sgd(), sampler="greedy")
    return model


def babeldraw_recipe_model():
    """Babeldraw with the seed's int8-momentum Adafactor recipe."""
    model = babeldraw_model()
    model.compile(
        optimizer=keras_vim.optimizers.babeldraw_optimizer(
            learning_rate=1e-2, warmup_steps=0
        ),
        sampler="greedy",
    )
    return model


def optimizer_state_mismatches(model):
    """Optimizer state whose sharding differs from its variable's.

    The int8 momentum must shard like its variable, and the factored row
    and column statistics like the variable without the averaged axis.
    """
    specs = {}
    for variable in model.trainable_variables:
        spec = tuple(variable.value.sharding.spec)
        spec += (None,) * (len(variable.shape) - len(spec))
        specs[variable.path.replace("/", "_")] = spec
    expected_by_suffix = {
        "_momentum": lambda spec: spec,
        "_row_second_moment": lambda spec: spec[:-1],
        "_column_second_moment": lambda spec: spec[:-2] + spec[-1:],
    }
    mismatches = []
    for state in model.optimizer.variables:
        name = state.path.split("/")[-1]
        for suffix, expected in expected_by_suffix.items():
            prefix = name[: -len(suffix)]
            if name.endswith(suffix) and prefix in specs:
                spec = tuple(state.value.sharding.spec)
                spec += (None,) * (len(state.shape) - len(spec))
                if spec != expected(specs[prefix]):
                    mismatches.append(f"{name}: {spec}")
    return mismatches


def babeldraw_run(model):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 32, (8, 16)).astype("int32")
    model.fit(CAPTIONS[:8], ids, batch_size=8, shuffle=False, verbose=0)
    return model.generate(CAPTIONS[:8], seed=0)["token_ids"]


def reranker_model():
    backbone = keras_vim.BabeldrawRerankerBackbone(**RERANKER, **SHARED)
    model = keras_vim.BabeldrawReranker(backbone, babeldraw_preprocessor())
    model.compile(optimizer=sgd())
    return model


def reranker_run(model):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 32, (8, 16)).astype("int32")
    model.fit(CAPTIONS[:8], ids, batch_size=8, shuffle=False, verbose=0)
    return model.score(CAPTIONS[:8], ids)


def vit_vqgan_model():
    backbone = keras_vim.ViTVQGANBackbone(**VIT_VQGAN)
    model = keras_vim.ViTVQGAN(backbone, discriminator_base_filters=0)
    model.compile(
        optimizer=sgd(), perceptual_weight=0.0, adversarial_weight=0.0
    )
    return model


def vit_vqgan_run(model):
    images = np.random.default_rng(0).uniform(size=(8, 16, 16, 3))
    model.fit(images.astype("float32"), batch_size=8, shuffle=False, verbose=0)
    return model.encode(images[:8].astype("float32"))


MODELS = {
    "vim": (vim_model, vim_run, keras_vim.VIMBackbone),
    "babeldraw": (babeldraw_model, babeldraw_run, keras_vim.BabeldrawBackbone),
    "babeldraw_recipe": (
        babeldraw_recipe_model,
        babeldraw_run,
        keras_vim.BabeldrawBackbone,
    ),
    "reranker": (
        reranker_model,
        reranker_run,
        keras_vim.BabeldrawRerankerBackbone,
    ),
    "vit_vqgan": (vit_vqgan_model, vit_vqgan_run, keras_vim.ViTVQGANBackbone),
}


def run_under(distribution, build, run, initial_weights):
    scope = distribution.scope() if distribution else contextlib.nullcontext()
    with scope:
        keras.utils.set_random_seed(0)
        model = build()
        model.set_weights(initial_weights)
        output = np.asarray(run(model))
        weights = [np.asarray(w) for w in model.get_weights()]
    return model, output, weights


def check_model(name):
    build, run, backbone_class = MODELS[name]
    keras.utils.set_random_seed(0)
    initial_weights = build().get_weights()
    _, reference, reference_weights = run_under(
        None, build, run, initial_weights
    )
    layout_map = backbone_class.get_layout_map(mesh())
    result = {"num_devices": len(keras.distribution.list_devices())}
    for kind, distribution in (
        (
            "model_parallel",
            keras.distribution.ModelParallel(
                layout_map=layout_map, batch_dim_name="batch"
            ),
        ),
        (
            "data_parallel",
            keras.distribution.DataParallel(
                devices=keras.distribution.list_devices()
            ),
        ),
    ):
        model, output, weights = run_under(
            distribution, build, run, initial_weights
        )
        result[kind] = {
            "max_weight_difference": max(
                float(np.max(np.abs(a - b)))
                for a, b, variable in zip(
                    weights, reference_weights, model.weights
                )
                # Attention is invariant to the key bias: its gradient is
                # round-off, which Adafactor's normalisation blows up.
                if not variable.path.endswith("key/bias")
            ),
            "output_difference": float(
                np.max(np.abs(output.astype("float64") - reference))
            ),
            "weights_changed": any(
                not np.allclose(a, b) for a, b in zip(weights, initial_weights)
            ),
        }
        if kind == "model_parallel":
            result["sharding_mismatches"] = sharding_mismatches(
                model.backbone.weights, layout_map
            )
            result["optimizer_state_mismatches"] = optimizer_state_mismatches(
                model
            )
            result["sharded_weights"] = sum(
                len(set(v.value.sharding.spec) - {None}) > 0
                for v in model.backbone.weights
            )
    return result


if __name__ == "__main__":
    import sys

    names = sys.argv[1:] or list(MODELS)
    print(json.dumps({name: check_model(name) for name in names}))
