"""Shared benchmark helpers: timing, and running a benchmark script once per
Keras backend, each in its own process (the backend is fixed at import
time), collecting the JSON it prints."""

import argparse
import json
import os
import subprocess
import sys
import time

BACKENDS = ("jax", "tensorflow", "torch")


def best_time(fn, repeats, warmup=True):
    """Best wall time of `repeats` calls, after one call that compiles."""
    if warmup:
        fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def worker_parser(description):
    """The argument parser of a per-backend benchmark: its docstring as
    help, and `--worker` (measure this process's backend, print JSON)."""
    parser = argparse.ArgumentParser(
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--worker", action="store_true")
    parser.add_argument(
        "--backends",
        default=",".join(BACKENDS),
        help="comma-separated; e.g. jax,torch where TensorFlow is missing",
    )
    return parser


def run_per_backend(script, options=(), backends=BACKENDS, extra_env=None):
    """Runs `script --worker *options` per backend, with `extra_env` added to
    the environment; progress goes to stderr."""
    results = {}
    for backend in backends:
        print(f"[{backend}]", file=sys.stderr, flush=True)
        env = dict(os.environ, **(extra_env or {}))
        env.update(KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        out = subprocess.run(
            [sys.executable, script, "--worker", *options],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        ).stdout
        results[backend] = json.loads(out.strip().splitlines()[-1])
    return results
