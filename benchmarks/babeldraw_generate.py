"""Images and image tokens per second of `Babeldraw.generate`, per backend.

Batches of 1 and 16 prompts at 256 (16x16) image tokens, with and without
the key/value caches, with and without classifier-free guidance, all
measured in one run and printed with ratios:

    python benchmarks/babeldraw_generate.py           # all backends, one table
    KERAS_BACKEND=jax python benchmarks/babeldraw_generate.py --worker

Model: random weights (speed does not depend on training), a 32-token
prompt, 8192 codes, and by default 4 encoder and 4 decoder blocks of width
512 (`--hidden-dim`, `--num-layers` change it). Cached figures time whole
`generate()` calls (after one compiling call on JAX and TensorFlow),
encoder pass included. "No cache" is the cost of recomputing encoder and
decoder over the whole prefix at every step, as `generate(use_cache=False)`
does: one compiled forward pass per prefix length, timed at four lengths,
fitted by a quadratic in the length and summed over every step, which
leaves out sampling and so flatters the no-cache side (the same method as
`vim_generate.py`).
"""

import json
import sys

from backends import best_time
from backends import run_per_backend
from backends import worker_parser

TEXT_LENGTH = 32
PROMPTS = [
    "a red 3 in the top left",
    "a blue 7 in the bottom right and a white 0 in the top left",
    "a green 5 in the top right",
    "a yellow 1 in the bottom left and a cyan 9 in the top right",
]


def prefix_recompute_seconds(backbone, batch, tokens, compiles):
    """Seconds to run the backbone over every prefix 1..tokens once."""
    import numpy as np

    lengths = [tokens // 4, tokens // 2, 3 * tokens // 4, tokens]
    times = []
    for length in lengths:
        inputs = {
            "encoder_token_ids": np.ones((batch, TEXT_LENGTH), "int32"),
            "encoder_padding_mask": np.ones((batch, TEXT_LENGTH), bool),
            "decoder_token_ids": np.zeros((batch, length), "int32"),
        }
        times.append(
            best_time(lambda: backbone.predict_on_batch(inputs), 3, compiles)
        )
    fit = np.polynomial.Polynomial.fit(lengths, times, 2)
    return float(np.sum(fit(np.arange(1, tokens + 1))))


def measure(hidden_dim, num_layers, batches):
    import warnings

    import keras

    import keras_vim

    warnings.filterwarnings("ignore")
    compiles = keras.config.backend() != "torch"
    grid = 16
    tokens = grid * grid
    keras.utils.set_random_seed(0)
    tokenizer = keras_vim.Tokenizer.train(
        PROMPTS * 8,
        vocabulary_size=60,
        model_type="bpe",
        sequence_length=TEXT_LENGTH,
    )
    backbone = keras_vim.BabeldrawBackbone(
        text_vocabulary_size=tokenizer.vocabulary_size(),
        image_vocabulary_size=8192,
        grid_size=grid,
        num_encoder_layers=num_layers,
        num_decoder_layers=num_layers,
        num_heads=hidden_dim // 64,
        hidden_dim=hidden_dim,
        intermediate_dim=4 * hidden_dim,
        max_text_length=TEXT_LENGTH,
    )
    if keras.config.backend() == "tensorflow":
        # generate() runs under XLA there: time the recompute so too.
        backbone.jit_compile = True
    model = keras_vim.Babeldraw(
        backbone,
        keras_vim.BabeldrawPreprocessor(
            tokenizer, grid_size=grid, vocabulary_size=8192
        ),
    )
    results = {}
    for batch in batches:
        prompts = [PROMPTS[i % len(PROMPTS)] for i in range(batch)]
        for guided in (False, True):
            name = f"batch {batch}, " + ("guided" if guided else "unguided")
            seconds = best_time(
                lambda: model.generate(
                    prompts,
                    guidance_scale=3.0 if guided else 1.0,
                    seed=0,
                    verbose=0,
                ),
                repeats=1,
                warmup=compiles,
            )
            results[f"{name}, cache"] = seconds
            print(f"{name}, cache: {seconds:.2f} s", file=sys.stderr)
            seconds = prefix_recompute_seconds(
                backbone, batch * (2 if guided else 1), tokens, compiles
            )
            results[f"{name}, no cache"] = seconds
            print(f"{name}, no cache: {seconds:.2f} s", file=sys.stderr)
    results["tokens"] = tokens
    return results


def main():
    parser = worker_parser(__doc__)
    parser.add_argument("--hidden-dim", type=int, default=512)
    parser.add_argument("--num-layers", type=int, default=4)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    args = parser.parse_args()
    if args.worker:
        print(
            json.dumps(measure(args.hidden_dim, args.num_layers, args.batches))
        )
        return
    options = [
        "--hidden-dim",
        str(args.hidden_dim),
        "--num-layers",
        str(args.num_layers),
        "--batches",
        *map(str, args.batches),
    ]
    print(
        f"{args.num_layers} encoder + {args.num_layers} decoder blocks of "
        f"width {args.hidden_dim}, 256 image tokens, 8192 codes"
    )
    print(
        f"{'backend':12s}{'batch':>6s}{'images/s':>10s}{'tokens/s':>10s}"
        f"{'guided img/s':>14s}{'cache speed-up':>20s}{'guidance cost':>15s}"
    )
    for backend, r in run_per_backend(__file__, options).items():
        for batch in args.batches:
            cached = r[f"batch {batch}, unguided, cache"]
            guided = r[f"batch {batch}, guided, cache"]
            speedup = r[f"batch {batch}, unguided, no cache"] / cached
            guided_speedup = r[f"batch {batch}, guided, no cache"] / guided
            print(
                f"{backend:12s}{batch:6d}{batch / cached:10.2f}"
                f"{batch * r['tokens'] / cached:10.0f}{batch / guided:14.2f}"
                f"{speedup:9.1f}x ({guided_speedup:.1f}x)"
                f"{guided / cached:14.2f}x"
            )


if __name__ == "__main__":
    main()
