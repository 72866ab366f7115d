"""Per-token step time of `VIMTransformer.generate`, per backend.

By default a model so small (2 blocks of width 64, batch 1, 256 image
tokens, 8192 codes) that its arithmetic is negligible: what is timed is the
host's cost of one decoding step (op dispatch, kernel launches, the
sampling loop), where eager torch used to lose to XLA's compiled loop.
Torch is timed eagerly and with its compiled decoding step
(`compile(jit_compile=True)`, see `keras_vim.generation.torch_compiled_loop`),
on a GPU also without its CUDA graph (and there the greedy tokens of the
three torch loops are compared on a small float32 model); unguided and with
classifier-free guidance (both passes in one batch):

    python benchmarks/decoding_overhead.py
    python benchmarks/decoding_overhead.py --one-thread   # a busy CPU
    python benchmarks/decoding_overhead.py --hidden-dim 768 --num-layers 12 \
        --batch 64 --guidance 4.0 --backends jax,torch    # on a GPU

Figures: milliseconds per token step, best of `--repeats` whole `generate()`
calls after a compiling call, divided by the number of tokens; in brackets
the ratio to JAX from the same run. The time of the first call (compiling)
is printed too.
"""

import json
import os
import sys
import time

from backends import best_time
from backends import run_per_backend
from backends import worker_parser

ONE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false "
    "intra_op_parallelism_threads=1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
}


def measure(args):
    import warnings

    import keras
    import numpy as np

    import keras_vim

    warnings.filterwarnings("ignore")
    if args.one_thread and keras.config.backend() == "torch":
        import torch

        torch.set_num_threads(1)
    keras.utils.set_random_seed(0)
    backbone = keras_vim.VIMBackbone(
        vocabulary_size=8192,
        grid_size=args.grid,
        num_layers=args.num_layers,
        num_heads=max(args.hidden_dim // 64, 1),
        hidden_dim=args.hidden_dim,
        intermediate_dim=4 * args.hidden_dim,
        num_classes=10,
        dtype=args.dtype,
    )
    model = keras_vim.VIMTransformer(backbone)
    tokens = args.grid * args.grid
    classes = np.arange(args.batch) % 10
    modes = [""]
    if keras.config.backend() == "torch":
        import torch

        from keras_vim.generation import torch_compiled_loop

        modes = ["eager", "compiled"]
        if torch.cuda.is_available():
            modes.append("compiled, no CUDA graph")
    rows = {}
    for mode in modes:
        if mode:
            model.compile(jit_compile=mode != "eager")
            torch_compiled_loop.use_cuda_graphs = "no CUDA" not in mode
        row = rows.setdefault(mode, {})
        for guidance in args.guidance:

            def generate():
                model.generate(
                    class_ids=classes,
                    guidance_scale=guidance,
                    seed=0,
                    verbose=0,
                )

            start = time.perf_counter()
            generate()
            first = time.perf_counter() - start
            seconds = best_time(generate, args.repeats, warmup=False)
            column = column_name(guidance)
            row[column] = 1000 * seconds / tokens
            row[column + ", first call s"] = first
            print(f"{mode} {column}: {row[column]:.2f} ms", file=sys.stderr)
    checks = {}
    if "compiled, no CUDA graph" in modes:
        checks = compare_graph_tokens()
    return {"rows": rows, "checks": checks}


def column_name(guidance):
    return "unguided" if guidance == 1.0 else f"guided {guidance}"


def compare_graph_tokens():
    """Greedy tokens of a small float32 VIM on the GPU from the CUDA graph
    loop, the compiled per-token loop and the eager loop: the fraction of
    tokens the graph loop shares with each."""
    import numpy as np

    import keras_vim
    from keras_vim.generation import torch_compiled_loop

    backbone = keras_vim.VIMBackbone(
        vocabulary_size=512,
        grid_size=8,
        num_layers=2,
        num_heads=2,
        hidden_dim=64,
        intermediate_dim=256,
        num_classes=10,
    )
    model = keras_vim.VIMTransformer(backbone)
    tokens = {}
    for loop, jit_compile, graphs in (
        ("eager", False, False),
        ("compiled", True, False),
        ("graph", True, True),
    ):
        model.compile(sampler="greedy", jit_compile=jit_compile)
        torch_compiled_loop.use_cuda_graphs = graphs
        tokens[loop] = model.generate(
            class_ids=np.arange(16) % 10, guidance_scale=3.0, verbose=0
        )["token_ids"]
    return {
        "CUDA graph capture failed": torch_compiled_loop._cuda_graphs_failed,
        "greedy tokens, graph == compiled": float(
            np.mean(tokens["graph"] == tokens["compiled"])
        ),
        "greedy tokens, graph == eager": float(
            np.mean(tokens["graph"] == tokens["eager"])
        ),
    }


def main():
    parser = worker_parser(__doc__)
    parser.add_argument("--hidden-dim", type=int, default=64)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--grid", type=int, default=16)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--one-thread", action="store_true")
    parser.add_argument("--guidance", default="1.0,4.0")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    args.guidance = [float(g) for g in args.guidance.split(",")]
    if args.worker:
        print(json.dumps(measure(args)))
        return
    if args.one_thread:
        os.environ.update(ONE_THREAD_ENV)
    options = [
        f"--hidden-dim={args.hidden_dim}",
        f"--num-layers={args.num_layers}",
        f"--batch={args.batch}",
        f"--grid={args.grid}",
        f"--dtype={args.dtype}",
        f"--guidance={','.join(map(str, args.guidance))}",
        f"--repeats={args.repeats}",
    ] + (["--one-thread"] if args.one_thread else [])
    results = run_per_backend(__file__, options, args.backends.split(","))
    print(
        f"{args.num_layers} blocks of width {args.hidden_dim}, batch "
        f"{args.batch}, {args.grid * args.grid} tokens, 8192 codes, "
        f"{args.dtype}{', one thread' if args.one_thread else ''}: "
        "ms per token step (ratio to JAX)"
    )
    columns = [column_name(g) for g in args.guidance]
    header = "".join(f"{column:>18s}" for column in columns)
    print(f"{'run':32s}{header}{'first call':>14s}")
    jax = results["jax"]["rows"][""] if "jax" in results else None
    for backend, r in results.items():
        for mode, row in r["rows"].items():
            cells = ""
            for column in columns:
                ratio = f" ({row[column] / jax[column]:.2f}x)" if jax else ""
                cells += f"{row[column]:.2f}{ratio}".rjust(18)
            first = row[columns[0] + ", first call s"]
            label = backend + (f", {mode}" if mode else "")
            print(f"{label:32s}{cells}{first:12.1f} s")
        for key, value in r["checks"].items():
            print(f"{backend}: {key}: {value}")


if __name__ == "__main__":
    main()
