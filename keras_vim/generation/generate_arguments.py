"""Checks of the sampling arguments every `generate` takes, in one place."""

import math

from keras_hub.samplers import GreedySampler
from keras_hub.samplers import RandomSampler
from keras_hub.samplers import TopKSampler
from keras_hub.samplers import TopPSampler

from keras_vim.utils.validation import is_int
from keras_vim.utils.validation import is_number

# Below this temperature the sampling distribution is one-hot in float32
# anyway; dividing logits by it overflows on some backends, so sample
# greedily instead (the limit of sampling as the temperature goes to 0).
GREEDY_TEMPERATURE = 1e-6
MAX_SEED = 2**31 - 1


def check_sampling_arguments(
    temperature=None,
    top_k=None,
    top_p=None,
    guidance_scale=1.0,
    seed=None,
    vocabulary_size=None,
):
    """Validates the sampling arguments of `generate`.

    Args:
        temperature: `None` (the compiled sampler's) or a finite number > 0.
        top_k: `None` or an int in `[1, vocabulary_size]`.
        top_p: `None` or a number in `(0, 1]`.
        guidance_scale: a finite number >= 0; 1 is plain conditional
            sampling, 0 unconditional.
        seed: `None` or an int in `[0, 2**31 - 1]`.
        vocabulary_size: int or `None`, the upper bound of `top_k`.

    Returns:
        A dict of the arguments as Python numbers.
    """
    if temperature is not None and not (
        is_number(temperature)
        and math.isfinite(temperature)
        and temperature > 0
    ):
        raise ValueError(
            "`temperature` must be a finite number > 0 or None. "
            f"Received: temperature={temperature!r}"
        )
    if top_k is not None and not (
        is_int(top_k) and 0 < top_k <= (vocabulary_size or math.inf)
    ):
        raise ValueError(
            f"`top_k` must be an int in [1, {vocabulary_size}] or None. "
            f"Received: top_k={top_k!r}"
        )
    if top_p is not None and not (is_number(top_p) and 0 < top_p <= 1):
        raise ValueError(
            f"`top_p` must be a number in (0, 1] or None. Received: "
            f"top_p={top_p!r}"
        )
    if not (
        is_number(guidance_scale)
        and math.isfinite(guidance_scale)
        and guidance_scale >= 0
    ):
        raise ValueError(
            "`guidance_scale` must be a finite number >= 0 (1.0: no "
            f"guidance). Received: guidance_scale={guidance_scale!r}"
        )
    if seed is not None and not (is_int(seed) and 0 <= seed <= MAX_SEED):
        raise ValueError(
            f"`seed` must be an int in [0, {MAX_SEED}] or None. Received: "
            f"seed={seed!r}"
        )
    return {
        "temperature": None if temperature is None else float(temperature),
        "top_k": None if top_k is None else int(top_k),
        "top_p": None if top_p is None else float(top_p),
        "guidance_scale": float(guidance_scale),
        "seed": None if seed is None else int(seed),
    }


def sampler_for(default, temperature=None, top_k=None, top_p=None):
    """The keras-hub sampler for one `generate` call.

    `default` is the sampler given to `compile(sampler=...)`; call-time
    arguments override it: `top_p` gives a `TopPSampler` (with `top_k` as
    its `k`), `top_k` a `TopKSampler`, and `temperature` alone keeps the
    compiled sampler's kind (a `RandomSampler` instead of a greedy one).
    With no override the compiled sampler itself is returned.
    """
    overridden = not (temperature is None and top_k is None and top_p is None)
    if temperature is None:
        temperature = getattr(default, "temperature", 1.0)
    if temperature < GREEDY_TEMPERATURE:
        return GreedySampler()
    if not overridden:
        return default
    if top_p is not None:
        return TopPSampler(p=top_p, k=top_k, temperature=temperature)
    if top_k is not None:
        return TopKSampler(k=top_k, temperature=temperature)
    if isinstance(default, GreedySampler):
        # A temperature asks for sampling, which greedy decoding never does.
        return RandomSampler(temperature=temperature)
    config = default.get_config()
    config["temperature"] = temperature
    return type(default).from_config(config)


def sampler_key(sampler):
    """A hashable description of a sampler, to cache compiled loops by."""
    config = sampler.get_config()
    return (type(sampler).__name__,) + tuple(
        sorted((k, repr(v)) for k, v in config.items())
    )
