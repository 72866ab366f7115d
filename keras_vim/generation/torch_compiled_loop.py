"""The per-token sampling loop on torch, one compiled graph per token.

Eager torch spends a decoding step in the host: Keras op dispatch, per-op
kernel launches and keras-hub's loop body, 20 ms a token on an H100 and 7
ms on a 2-core CPU for a 2-block model whose arithmetic takes microseconds.
Here the whole step (the model with its key/value cache, guidance, the
sampler's probabilities and draw, writing the token) goes through
`torch.compile` with static shapes and runs as a few fused kernels. The
position is a 0-d tensor, not a Python int, so one graph serves every
position: torch.compile compiles once per (model, batch, length, sampler)
and keeps it. The model preallocates the cache and writes it in place
(`index_copy_`).

Nothing is read back to the host inside the loop. keras' torch
`random.categorical` seeds a new `torch.Generator` from a Python int at
every call, so keras-hub's own samplers are drawn here by the Gumbel-max
trick on device, from torch's generator seeded once per run from the
sampler's seed: the same distributions, other random numbers than the eager
loop (greedy decoding gives the same tokens). Other sampler classes keep
their own `get_next_token`, which leaves the graph.

Where `torch.compile` fails (no C++ compiler, an unsupported platform),
`sample` warns once and samples eagerly.
"""

import warnings

import numpy as np
from keras import ops

from keras_vim.generation.token_draws import draw_token

_compiled_step = None
_compile_failed = False


def sample(sampler, next, prompt, cache, start_index, mask, on_step=None):
    """Fills `prompt[:, start_index:]` as `sampler(next=next, ...)` would.

    Args:
        sampler: a keras-hub sampler.
        next: `next(prompt, cache, index) -> (logits, hidden, cache)`, as
            for the sampler; `index` is a 0-d int tensor.
        prompt: `(batch, length)` int tensor.
        cache: the initial cache `next` reads and writes.
        start_index: int, the first position to sample.
        mask: `(batch, length)` bool, true where `prompt` is kept.
        on_step: optional `on_step(index)`, called once per token.
    """
    global _compile_failed
    import torch

    step = _step if _compile_failed else _compiled()
    devices = [prompt.device] if prompt.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(_run_seed(sampler))
        for index in range(start_index, int(prompt.shape[1])):
            if on_step is not None:
                on_step(index)
            index = torch.tensor(index, device=prompt.device)
            arguments = (sampler, next, prompt, cache, index, mask)
            try:
                prompt, cache = step(*arguments)
            except Exception as error:
                # A compiler failure; a real error raises again eagerly.
                if step is _step:
                    raise
                _compile_failed = True
                warnings.warn(
                    "torch.compile failed, so generate() samples eagerly "
                    f"(several times slower per token). The error: {error}",
                    stacklevel=2,
                )
                step = _step
                prompt, cache = step(*arguments)
    return prompt


def _compiled():
    global _compiled_step
    if _compiled_step is None:
        import torch

        _compiled_step = torch.compile(_step, dynamic=False)
    return _compiled_step


def _step(sampler, next, prompt, cache, index, mask):
    """keras-hub's `Sampler` loop body, with a tensor `index`."""
    logits, _, cache = next(prompt, cache, index)
    probabilities = sampler.compute_probabilities(logits)
    next_token = draw_token(sampler, probabilities, _gumbel_choice)
    next_token = ops.cast(next_token, prompt.dtype)
    kept = ops.take(prompt, index, axis=1)
    next_token = ops.where(ops.take(mask, index, axis=1), kept, next_token)
    prompt = ops.slice_update(prompt, [0, index], next_token[:, None])
    return prompt, cache


def _run_seed(sampler):
    """One seed per run from the sampler's seed stream (advancing it)."""
    seed_generator = getattr(sampler, "seed_generator", None)
    if seed_generator is None:
        return 0
    state = ops.convert_to_numpy(seed_generator.next()).astype("uint32")
    # torch's CPU generator keeps 32 bits of a seed: mix both words in.
    return int(np.random.SeedSequence(state.tolist()).generate_state(1)[0])


def _gumbel_choice(weights):
    """One draw per row, proportional to `weights`, on torch's generator."""
    import torch

    uniform = torch.rand_like(weights).clamp(1e-20, 1.0 - 1e-7)
    return ops.argmax(ops.log(weights) - ops.log(-ops.log(uniform)), axis=-1)
