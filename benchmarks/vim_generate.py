"""Tokens per second of `VIMTransformer.generate`, per backend.

A batch of 16 images at 256 (16x16) and 1024 (32x32) tokens, with and
without the key/value cache, with and without classifier-free guidance, all
measured in one run and printed with ratios:

    python benchmarks/vim_generate.py            # all backends, one table
    KERAS_BACKEND=jax python benchmarks/vim_generate.py --worker

Model: 4 blocks, width 128, 8192 codes, 10 classes, random weights (speed
does not depend on training). Recomputing a 1024-token prefix for every one
of 1024 steps takes far too long on a 2-core CPU: that one figure is
extrapolated as 1024 x the time of one full-sequence forward pass, and marked.
"""

import argparse
import json
import time

from backends import run_per_backend

BATCH = 16


def measure():
    import warnings

    import keras
    import numpy as np

    import keras_vim

    warnings.filterwarnings("ignore")
    results = {}
    for grid in (16, 32):
        tokens = grid * grid
        keras.utils.set_random_seed(0)
        backbone = keras_vim.VIMBackbone(
            vocabulary_size=8192, grid_size=grid, num_layers=4, num_heads=4,
            hidden_dim=128, intermediate_dim=512, num_classes=10,
        )
        model = keras_vim.VIMTransformer(backbone)
        classes = np.arange(BATCH) % 10
        for cache in (True, False):
            for scale in (1.0, 3.0):
                key = f"{tokens} tokens, {'cache' if cache else 'no cache'}, " + (
                    "guided" if scale != 1.0 else "unguided"
                )
                if not cache and tokens == 1024:
                    prompt = np.zeros((BATCH * (2 if scale != 1 else 1), tokens + 1), "int32")
                    model._full_logits(prompt, 5)
                    start = time.perf_counter()
                    model._full_logits(prompt, 5)
                    seconds = (time.perf_counter() - start) * tokens
                    key += " (extrapolated)"
                else:
                    def run():
                        model.generate(class_ids=classes, guidance_scale=scale,
                                       use_cache=cache, seed=0, verbose=0)

                    run()  # compile
                    start = time.perf_counter()
                    run()
                    seconds = time.perf_counter() - start
                results[key] = BATCH * tokens / seconds
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worker", action="store_true")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure()))
        return
    for backend, r in run_per_backend(__file__).items():
        print(f"\n{backend}: tokens/s (batch {BATCH})")
        for key, value in r.items():
            print(f"  {key:52s} {value:10.1f}")
        for tokens in (256, 1024):
            cached = r[f"{tokens} tokens, cache, unguided"]
            nocache_key = next(k for k in r if k.startswith(f"{tokens} tokens, no cache, unguided"))
            print(f"  {tokens} tokens: cache speed-up {cached / r[nocache_key]:.1f}x, "
                  f"guidance cost {cached / r[f'{tokens} tokens, cache, guided']:.2f}x")


if __name__ == "__main__":
    main()
