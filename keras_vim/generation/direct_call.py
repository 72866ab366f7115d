"""Calling layers without `Layer.__call__`, for per-token decoding steps.

The one module that touches a private Keras API (`AutocastScope`): a
decoding step that skips `Layer.__call__` must still open the autocast scope
`__call__` would open under a mixed-precision policy, and Keras exposes no
public way to do so.
"""

import contextlib

from keras.src.backend import AutocastScope


def direct_call(layer, *args, **kwargs):
    """Runs `layer.call` without `Layer.__call__`'s per-call bookkeeping.

    For decoding steps, which call small layers once per token: in eager
    torch `Layer.__call__` (input conversion, name and autocast scopes,
    masks) costs about 0.2 ms, more than a layer's own work there. The
    inputs must already have the layer's compute dtype; run mixed-precision
    layers under `autocast(layer)`. Quantized layers keep their `__call__`,
    which dispatches to `quantized_call`.
    """
    if getattr(layer, "quantization_mode", None) is not None:
        return layer(*args, **kwargs)
    return layer.call(*args, **kwargs)


def autocast(layer):
    """The variable-autocast scope `Layer.__call__` would open for `layer`."""
    policy = layer.dtype_policy
    if policy.compute_dtype == policy.variable_dtype:
        return contextlib.nullcontext()
    return AutocastScope(policy.compute_dtype)
