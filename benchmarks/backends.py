"""Runs a benchmark script once per Keras backend, each in its own process
(the backend is fixed at import time), and collects the JSON it prints."""

import json
import os
import subprocess
import sys

BACKENDS = ("jax", "tensorflow", "torch")


def run_per_backend(script):
    results = {}
    for backend in BACKENDS:
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        out = subprocess.run(
            [sys.executable, script, "--worker"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        results[backend] = json.loads(out.strip().splitlines()[-1])
    return results
