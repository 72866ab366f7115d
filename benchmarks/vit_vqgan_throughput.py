"""Images per second of ViT-VQGAN `encode` and of one training step.

Runs every backend in its own process (the backend is fixed at import) and
prints one table, with each backend's figure also as a ratio to JAX measured
in the same run:

    python benchmarks/vit_vqgan_throughput.py            # all backends
    KERAS_BACKEND=torch python benchmarks/vit_vqgan_throughput.py --worker

Models: the shipped `vit_vqgan_photos_64` (64x64) and the architecture of
`vit_vqgan_small` (256x256, 1024 tokens, 56M parameters; random weights).
A training step is the full generator step plus the discriminator's own
step (adversarial weight 0.1; 16 base filters for the photo preset, as in
its last training run, the paper's 64 for `vit_vqgan_small`), with the
perceptual loss off. `vit_vqgan_small` recomputes its Transformer blocks in
the backward pass (`remat_blocks=True`, the preset's setting); its step is
also timed without. Each figure is the best of a few timed calls after
one compiling call.

On a GPU, `--gpu` times the `vit_vqgan_small` training step in the cases
of `GPU_CASES` (`mixed_bfloat16` and float32, with and without
`remat_blocks` or the discriminator, batch 32 or 64, some with XLA flags),
each case in its own process, and prints the peak GPU memory of each (an
out-of-memory failure is reported as such); `--cases` picks some:

    python benchmarks/vit_vqgan_throughput.py --gpu --backends jax,torch
    python benchmarks/vit_vqgan_throughput.py --gpu --backends jax \
        --cases "small, mixed_bfloat16, 32;small, float32, 32"
"""

import json
import os
import sys

from backends import best_time
from backends import run_per_backend
from backends import worker_parser

CASES = {
    # name: (preset, backbone settings, encode batch (None: not timed), train
    # batch, timed repeats after a warm-up call, discriminator base filters)
    "vit_vqgan_photos_64": ("vit_vqgan_photos_64", {}, 64, 32, 3, 16),
    # One 256x256 training step takes seconds on a 2-core CPU.
    "vit_vqgan_small": ("vit_vqgan_small", {}, 4, 1, 1, 64),
    "vit_vqgan_small, remat_blocks=False": (
        "vit_vqgan_small",
        {"remat_blocks": False},
        None,
        1,
        1,
        64,
    ),
}
SMALL = CASES["vit_vqgan_small"]
SMALL_NO_REMAT = CASES["vit_vqgan_small, remat_blocks=False"]
SMALL_NO_DISCRIMINATOR = (*SMALL[:-1], 0)
# XLA's GEMMs from cuBLAS only; its autotuner off; its compilation on one
# thread: the step's time varied between processes while the autotuner
# warned that its kernel timings were inaccurate ("Delay kernel timed
# out"), which XLA's issue tracker ties to work running beside the timed
# kernels.
NO_TRITON_GEMM = "--xla_gpu_enable_triton_gemm=false"
NO_AUTOTUNE = "--xla_gpu_autotune_level=0"
SERIAL_COMPILE = "--xla_gpu_force_compilation_parallelism=1"
GPU_CASES = {
    # name: (dtype policy, settings as in CASES, train batch, XLA_FLAGS)
    "small, mixed_bfloat16, 32": ("mixed_bfloat16", SMALL, 32, ""),
    "small, mixed_bfloat16, no discriminator, 32": (
        "mixed_bfloat16",
        SMALL_NO_DISCRIMINATOR,
        32,
        "",
    ),
    "small, mixed_bfloat16, cuBLAS GEMMs, 32": (
        "mixed_bfloat16",
        SMALL,
        32,
        NO_TRITON_GEMM,
    ),
    "small, mixed_bfloat16, no autotuning, 32": (
        "mixed_bfloat16",
        SMALL,
        32,
        NO_AUTOTUNE,
    ),
    "small, mixed_bfloat16, serial compilation, 32": (
        "mixed_bfloat16",
        SMALL,
        32,
        SERIAL_COMPILE,
    ),
    "small, mixed_bfloat16, no remat, 64": (
        "mixed_bfloat16",
        SMALL_NO_REMAT,
        64,
        "",
    ),
    "small, float32, 32": ("float32", SMALL, 32, ""),
    "small, float32, no remat, 32": ("float32", SMALL_NO_REMAT, 32, ""),
}


def peak_memory_gib():
    """Peak GPU memory of this process so far, or `None` off a GPU."""
    import keras

    if keras.config.backend() == "jax":
        import jax

        stats = jax.local_devices()[0].memory_stats() or {}
        peak = stats.get("peak_bytes_in_use")
    elif keras.config.backend() == "torch":
        import torch

        available = torch.cuda.is_available()
        peak = torch.cuda.max_memory_allocated() if available else None
    else:
        peak = None
    return None if peak is None else peak / 2**30


def measure_gpu_case(case, batch=None):
    """One `GPU_CASES` training step (at `batch` if given); its images/s
    and peak memory."""
    import keras

    policy, (preset, kwargs, *_, filters), case_batch, _ = GPU_CASES[case]
    batch = batch or case_batch
    keras.config.set_dtype_policy(policy)
    # Best of 3 timed steps after the compiling one.
    cases = {case: (preset, kwargs, None, batch, 3, filters)}
    try:
        results = measure(cases)
    except Exception as error:  # Out of memory, reported as a figure.
        message = str(error).strip().splitlines()[0][:300]
        print(f"{case}: failed: {message}", file=sys.stderr)
        results = {f"{case}/train_step": f"failed: {message}"}
    results[f"{case}/peak GiB"] = peak_memory_gib()
    print(f"{case}: peak {results[f'{case}/peak GiB']} GiB", file=sys.stderr)
    return results


def training_task(preset, backbone_kwargs, filters):
    """The task the benchmarks train: `preset`'s architecture and
    preprocessing, a discriminator of `filters` base filters (saved presets
    carry none; `0`: none), adversarial weight 0.1 (0 without a
    discriminator), perceptual loss off."""
    import keras_vim

    model = keras_vim.ViTVQGAN(
        keras_vim.ViTVQGANBackbone.from_preset(preset, **backbone_kwargs),
        keras_vim.ViTVQGANPreprocessor.from_preset(preset),
        discriminator_base_filters=filters,
    )
    model.compile(
        perceptual_weight=0.0, adversarial_weight=0.1 if filters else 0.0
    )
    return model


def measure(cases=CASES):
    import warnings

    import keras
    import numpy as np

    warnings.filterwarnings("ignore")
    results = {}
    for case, settings in cases.items():
        preset, backbone_kwargs, encode_batch, train_batch, repeats, filters = (
            settings
        )
        model = training_task(preset, backbone_kwargs, filters)
        size = model.backbone.image_size
        rng = np.random.default_rng(0)
        batch = max(encode_batch or 0, train_batch)
        images = rng.integers(0, 256, (batch, size, size, 3), "uint8")
        train_images = images[:train_batch].astype("float32") / 255.0

        def encode(model=model):
            model.encode(images, batch_size=encode_batch, verbose=0)

        def train(model=model):
            model.train_on_batch(train_images)

        for name, fn, batch in (
            ("encode", encode, encode_batch),
            ("train_step", train, train_batch),
        ):
            if batch is None:
                continue
            best = best_time(fn, repeats)
            results[f"{case}/{name}"] = batch / best
            print(
                f"{case}/{name}: {best:.2f} s for {batch} images",
                file=sys.stderr,
                flush=True,
            )
        del model
        keras.backend.clear_session()
    return results


def main():
    parser = worker_parser(__doc__)
    parser.add_argument("--gpu", action="store_true")
    parser.add_argument("--case", help="with --gpu --worker: one GPU case")
    parser.add_argument(
        "--train-batch", type=int, help="with --gpu: instead of each case's"
    )
    parser.add_argument(
        "--cases", help="with --gpu: GPU_CASES names, separated by ';'"
    )
    args = parser.parse_args()
    backends = args.backends.split(",")
    if args.worker:
        if args.gpu:
            result = measure_gpu_case(args.case, args.train_batch)
        else:
            result = measure()
        print(json.dumps(result))
        return
    if args.gpu:
        table = {backend: {} for backend in backends}
        cases = args.cases.split(";") if args.cases else GPU_CASES
        for case in cases:
            options = ["--gpu", f"--case={case}"]
            if args.train_batch:
                options.append(f"--train-batch={args.train_batch}")
            flags = f"{os.environ.get('XLA_FLAGS', '')} {GPU_CASES[case][3]}"
            env = {"XLA_FLAGS": flags.strip()}
            for backend, r in run_per_backend(
                __file__, options, backends, env
            ).items():
                table[backend].update(r)
    else:
        table = run_per_backend(__file__, backends=backends)
    print(json.dumps(table), file=sys.stderr)
    first = backends[0]
    print(f"{'case (images/s)':48s}" + "".join(f"{b:>18s}" for b in table))
    for key in table[first]:
        row = f"{key:48s}"
        for backend in table:
            value = table[backend].get(key)
            if isinstance(value, (int, float)):
                reference = table[first].get(key)
                numeric = isinstance(reference, (int, float)) and reference
                ratio = value / reference if numeric else float("nan")
                row += f"{value:10.3g} ({ratio:4.2f}x)"
            else:
                row += f"{str(value)[:18]:>18s}"
        print(row)


if __name__ == "__main__":
    main()
