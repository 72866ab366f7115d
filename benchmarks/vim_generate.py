"""Tokens per second of `VIMTransformer.generate`, per backend.

A batch of 16 images at 256 (16x16) and 1024 (32x32) tokens, with and
without the key/value cache, with and without classifier-free guidance, all
measured in one run and printed with ratios:

    python benchmarks/vim_generate.py                 # all backends, one table
    KERAS_BACKEND=jax python benchmarks/vim_generate.py --worker

Model: random weights (speed does not depend on training), 8192 codes, 10
classes, and by default 4 blocks of width 512 (`--hidden-dim`,
`--num-layers` change it). Cached figures time whole `generate()` calls
(after one compiling call on JAX and TensorFlow). "No cache" is the cost of
recomputing the whole prefix at every step: one compiled forward pass per
prefix length, timed at four lengths, fitted by a quadratic in the length
and summed over every step, which leaves out sampling and so flatters the
no-cache side. Running that loop for real takes tens of minutes per backend
on a 2-core CPU.
"""

import json
import sys

from backends import best_time
from backends import run_per_backend
from backends import worker_parser

BATCH = 16


def prefix_recompute_seconds(backbone, batch, tokens, compiles):
    """Seconds to run the backbone over every prefix 1..tokens once."""
    import numpy as np

    lengths = [tokens // 4, tokens // 2, 3 * tokens // 4, tokens]
    times = []
    for length in lengths:
        inputs = {
            "token_ids": np.zeros((batch, length), "int32"),
            "class_ids": np.zeros((batch,), "int32"),
        }
        times.append(
            best_time(lambda: backbone.predict_on_batch(inputs), 3, compiles)
        )
    fit = np.polynomial.Polynomial.fit(lengths, times, 2)
    return float(np.sum(fit(np.arange(1, tokens + 1))))


def measure(hidden_dim, num_layers, grids, modes):
    import warnings

    import keras
    import numpy as np

    import keras_vim

    warnings.filterwarnings("ignore")
    compiles = keras.config.backend() != "torch"
    results = {}
    for grid in grids:
        tokens = grid * grid
        keras.utils.set_random_seed(0)
        backbone = keras_vim.VIMBackbone(
            vocabulary_size=8192,
            grid_size=grid,
            num_layers=num_layers,
            num_heads=hidden_dim // 64,
            hidden_dim=hidden_dim,
            intermediate_dim=4 * hidden_dim,
            num_classes=10,
        )
        if keras.config.backend() == "tensorflow":
            # generate() runs under XLA there: time the recompute so too.
            backbone.jit_compile = True
        model = keras_vim.VIMTransformer(backbone)
        classes = np.arange(BATCH) % 10
        for guided in [mode == "guided" for mode in modes]:
            name = f"{tokens} tokens, " + ("guided" if guided else "unguided")
            seconds = best_time(
                lambda: model.generate(
                    class_ids=classes,
                    guidance_scale=3.0 if guided else 1.0,
                    seed=0,
                    verbose=0,
                ),
                repeats=1,
                warmup=compiles,
            )
            results[f"{name}, cache"] = BATCH * tokens / seconds
            print(
                f"{name}, cache: {seconds:.1f} s", file=sys.stderr, flush=True
            )
            seconds = prefix_recompute_seconds(
                backbone, BATCH * (2 if guided else 1), tokens, compiles
            )
            results[f"{name}, no cache"] = BATCH * tokens / seconds
            print(
                f"{name}, no cache: {seconds:.1f} s",
                file=sys.stderr,
                flush=True,
            )
    return results


def main():
    parser = worker_parser(__doc__)
    parser.add_argument("--hidden-dim", type=int, default=512)
    parser.add_argument("--num-layers", type=int, default=4)
    parser.add_argument("--grids", type=int, nargs="+", default=[16, 32])
    parser.add_argument(
        "--modes",
        nargs="+",
        default=["unguided", "guided"],
        choices=["unguided", "guided"],
    )
    args = parser.parse_args()
    if args.worker:
        print(
            json.dumps(
                measure(
                    args.hidden_dim, args.num_layers, args.grids, args.modes
                )
            )
        )
        return
    options = [
        "--hidden-dim",
        str(args.hidden_dim),
        "--num-layers",
        str(args.num_layers),
        "--grids",
        *map(str, args.grids),
        "--modes",
        *args.modes,
    ]
    print(
        f"batch {BATCH}, {args.num_layers} blocks of width "
        f"{args.hidden_dim}, 8192 codes"
    )
    print(
        f"{'backend':12s}{'tokens':>8s}{'cached tok/s':>14s}"
        f"{'guided tok/s':>14s}"
        f"{'cache speed-up':>20s}{'guidance cost':>15s}"
    )
    nan = float("nan")
    for backend, r in run_per_backend(__file__, options).items():
        for grid in args.grids:
            t = grid * grid
            cached = r.get(f"{t} tokens, unguided, cache", nan)
            guided = r.get(f"{t} tokens, guided, cache", nan)
            speedup = cached / r.get(f"{t} tokens, unguided, no cache", nan)
            guided_speedup = guided / r.get(
                f"{t} tokens, guided, no cache", nan
            )
            print(
                f"{backend:12s}{t:8d}{cached:14.0f}{guided:14.0f}"
                f"{speedup:9.1f}x ({guided_speedup:.1f}x)"
                f"{cached / guided:14.2f}x"
            )


if __name__ == "__main__":
    main()
