"""What the last two text-to-image stages cost, per backend.

Reranking: `generate(prompts, num_candidates=K)` against plain `generate`
for the same prompts (guided, scale 3), and the reranker's scoring alone;
the K candidates are sampled in the same batches, so reranked generation
should cost about K times the sampling plus a small scoring cost.
Super-resolution: `SuperResolution.upscale` images per second, 2x from
64x64. All in one run, printed with ratios:

    python benchmarks/babeldraw_rerank_upscale.py          # all backends
    KERAS_BACKEND=jax python benchmarks/babeldraw_rerank_upscale.py --worker

Models: random weights, the sizes of the shipped `babeldraw_digits`
(2 + 4 blocks of width 128, 8x8 tokens, 256 codes), its reranker (2 blocks
per tower, width 128) and `super_resolution_photos_2x` (4 residual blocks,
32 filters).
"""

import json
import sys
import time

from backends import best_time
from backends import run_per_backend
from backends import worker_parser

PROMPTS = [
    "a red 3 in the top left",
    "a blue 7 in the bottom right and a white 0 in the top left",
    "a green 5 in the top right",
    "a yellow 1 in the bottom left and a cyan 9 in the top right",
]


def measure(num_prompts, num_candidates):
    import warnings

    import keras
    import numpy as np

    import keras_vim
    from keras_vim.models.babeldraw_reranker.babeldraw_reranker import embed

    warnings.filterwarnings("ignore")
    compiles = keras.config.backend() != "torch"
    keras.utils.set_random_seed(0)
    tokenizer = keras_vim.Tokenizer.train(
        PROMPTS * 8, vocabulary_size=60, model_type="bpe", sequence_length=32
    )
    sizes = dict(
        text_vocabulary_size=tokenizer.vocabulary_size(),
        image_vocabulary_size=256,
        grid_size=8,
        max_text_length=32,
        num_heads=4,
        hidden_dim=128,
    )
    preprocessor = keras_vim.BabeldrawPreprocessor(
        tokenizer, grid_size=8, vocabulary_size=256
    )
    reranker = keras_vim.BabeldrawRerankerBackbone(
        num_layers=2, intermediate_dim=256, embedding_dim=64, **sizes
    )
    model = keras_vim.Babeldraw(
        keras_vim.BabeldrawBackbone(
            num_encoder_layers=2,
            num_decoder_layers=4,
            intermediate_dim=512,
            **sizes,
        ),
        preprocessor,
        reranker=reranker,
    )
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(num_prompts)]
    results = {}
    for k in (1, num_candidates):
        seconds = best_time(
            lambda: model.generate(
                prompts,
                num_candidates=k,
                guidance_scale=3.0,
                seed=0,
                verbose=0,
            ),
            repeats=2,
            warmup=compiles,
        )
        results[f"generate, {k} candidates"] = seconds
        print(f"{k} candidates: {seconds:.2f} s", file=sys.stderr)
    text_ids, mask = preprocessor.tokenize_prompts(prompts)
    ids = np.zeros((num_prompts * num_candidates, 64), "int32")
    start = time.perf_counter()
    embed(reranker, text_ids, mask, ids)
    results["scoring"] = time.perf_counter() - start

    upsampler = keras_vim.SuperResolution(
        keras_vim.SuperResolutionBackbone(scale=2, num_blocks=4, filters=32)
    )
    images = np.random.default_rng(0).uniform(size=(64, 64, 64, 3))
    seconds = best_time(
        lambda: upsampler.upscale(images, batch_size=32, verbose=0),
        repeats=2,
        warmup=True,
    )
    results["upscale images/s"] = len(images) / seconds
    return results


def main():
    parser = worker_parser(__doc__)
    parser.add_argument("--num-prompts", type=int, default=16)
    parser.add_argument("--num-candidates", type=int, default=8)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.num_prompts, args.num_candidates)))
        return
    k = args.num_candidates
    options = [
        "--num-prompts",
        str(args.num_prompts),
        "--num-candidates",
        str(k),
    ]
    print(f"{args.num_prompts} prompts, guidance 3, best of {k} vs one sample")
    print(
        f"{'backend':12s}{'plain s':>9s}{f'best of {k} s':>13s}"
        f"{'cost ratio':>12s}{'scoring s':>11s}{'SR 2x img/s':>13s}"
    )
    for backend, r in run_per_backend(__file__, options).items():
        plain = r["generate, 1 candidates"]
        reranked = r[f"generate, {k} candidates"]
        print(
            f"{backend:12s}{plain:9.2f}{reranked:13.2f}"
            f"{reranked / plain:11.2f}x{r['scoring']:11.3f}"
            f"{r['upscale images/s']:13.1f}"
        )


if __name__ == "__main__":
    main()
