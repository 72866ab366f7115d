"""Settings for the whole test session.

The default suite's models are tiny, and on JAX (and TensorFlow's XLA) most
of their test time is XLA compiling them, most of that in LLVM's
optimisations. The default suite turns those off (what JAX's
`jax_disable_most_optimizations` does, set here through `XLA_FLAGS` so that
TensorFlow's XLA and test subprocesses get it too): the same programs,
compiled in about half the time and run a little slower. `-m large` runs
trained, paper-size models and keeps XLA's defaults.
"""

import os

FAST_COMPILE_XLA_FLAGS = (
    "--xla_backend_optimization_level=0 "
    "--xla_llvm_disable_expensive_passes=true"
)


def pytest_configure(config):
    if "not large" not in (config.option.markexpr or ""):
        return
    flags = os.environ.get("XLA_FLAGS", "")
    if FAST_COMPILE_XLA_FLAGS in flags:  # xdist workers inherit them.
        return
    os.environ["XLA_FLAGS"] = f"{flags} {FAST_COMPILE_XLA_FLAGS}".strip()
