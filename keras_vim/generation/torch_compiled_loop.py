"""The per-token sampling loop on torch, one compiled graph per token.

Eager torch spends a decoding step in the host: Keras op dispatch, per-op
kernel launches and keras-hub's loop body, 20 ms a token on an H100 and 7
ms on a 2-core CPU for a 2-block model whose arithmetic takes microseconds.
Here the whole step (the model with its key/value cache, guidance, the
sampler's probabilities and draw, writing the token) goes through
`torch.compile` with static shapes and runs as a few fused kernels. The
position is a 0-d tensor, not a Python int, so one graph serves every
position: torch.compile compiles once per (model, batch, length, sampler)
and keeps it (up to `RECOMPILE_LIMIT` of them). The model preallocates the
cache and writes it in place (`index_copy_`).

Nothing is read back to the host inside the loop. keras' torch
`random.categorical` seeds a new `torch.Generator` from a Python int at
every call, so keras-hub's own samplers are drawn here by the Gumbel-max
trick on device, from torch's generator seeded once per run from the
sampler's seed: the same distributions, other random numbers than the eager
loop (greedy decoding gives the same tokens). Other sampler classes keep
their own `get_next_token`, which leaves the graph.

On a GPU the compiled step is then captured once per `generate()` call
as a CUDA graph and replayed for every token, so a token costs one graph
launch instead of a launch per kernel: the cache, the token buffer and the
position live at fixed addresses, the position is set on the device
(`fill_`), and torch's random numbers are graph-safe (each replay draws
new ones). `use_cuda_graphs = False` turns that off.

Where `torch.compile` fails (no C++ compiler, an unsupported platform),
`sample` warns once and samples eagerly; where CUDA graph capture fails, it
warns once and runs the compiled step without it.
"""

import types
import warnings
import weakref

import numpy as np
from keras import ops
from keras.tree import flatten as tree_flatten

from keras_vim.generation.token_draws import draw_token

# Replay the compiled step as a CUDA graph on GPUs (see the docstring).
use_cuda_graphs = True

_compiled_step = None  # For steps without a model (nothing to key on).
# Per model: (its signature, its own compiled step); see `_compiled`.
_model_steps = weakref.WeakKeyDictionary()
_compile_failed = False
_cuda_graphs_failed = False

# torch.compile keeps one graph per (model, batch, length, sampler) on
# `_step` (on a model's own copy of it), and past torch._dynamo's
# recompile limit (8 a function) a new one runs eagerly, ten times slower,
# with only a log line. A process that generates with many batch sizes or
# models gets this much room instead.
RECOMPILE_LIMIT = 64


def sample(
    sampler, next, prompt, cache, start_index, mask, on_step=None, model=None
):
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
        model: the Keras model `next` runs, or `None`. With a model, the
            step is compiled for that model alone and without torch's
            per-call checks of its modules (see `_compiled`).
    """
    import torch

    devices = [prompt.device] if prompt.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), _recompile_room():
        torch.manual_seed(_run_seed(sampler))
        step = _step if _compile_failed else _compiled(model)
        arguments = (sampler, next, prompt, cache, start_index, mask, on_step)
        if _use_graphs(prompt):
            graphed = _sample_graphed(step, *arguments)
            if graphed is not None:
                return graphed
        return _sample_stepwise(step, *arguments)


def _recompile_room():
    """A context in which `_step` may have `RECOMPILE_LIMIT` graphs.

    torch._dynamo's config is torch's private API, used only here; it is
    read when a call meets a new shape, so patching it around our calls
    leaves the limit of the user's own compiled functions alone.
    """
    from torch._dynamo import config

    # `cache_size_limit` before torch 2.6.
    name = "recompile_limit"
    if not hasattr(config, name):
        name = "cache_size_limit"
    limit = max(RECOMPILE_LIMIT, getattr(config, name))
    return config.patch(**{name: limit})


def _sample_stepwise(step, sampler, next, prompt, cache, start, mask, on_step):
    """One compiled (or, failing that, eager) call per token."""
    global _compile_failed
    import torch

    # Set on the device: `torch.tensor(i, device="cuda")` per token would
    # copy from the host, which waits for the queued kernels.
    index = torch.tensor(start, device=prompt.device)
    for position in range(start, int(prompt.shape[1])):
        if on_step is not None:
            on_step(position)
        index.fill_(position)
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
                stacklevel=3,
            )
            step = _step
            prompt, cache = step(*arguments)
    return prompt


def _sample_graphed(step, sampler, next, prompt, cache, start, mask, on_step):
    """The compiled step captured as one CUDA graph, replayed per token.

    Returns `None` (after a warning) where compiling or capturing fails;
    the cache then holds nothing but what the first step writes anyway.
    """
    global _cuda_graphs_failed
    import torch

    index = torch.tensor(start, device=prompt.device)
    tokens = prompt.clone()

    def one_step():
        new_tokens, new_cache = step(sampler, next, tokens, cache, index, mask)
        tokens.copy_(new_tokens)
        # A recomputing step returns a new buffer: keep the old address.
        for old, new in zip(tree_flatten(cache), tree_flatten(new_cache)):
            if new.data_ptr() != old.data_ptr():
                old.copy_(new)

    try:
        replay = _capture(one_step, prompt.device)
    except Exception as error:
        _cuda_graphs_failed = True
        warnings.warn(
            "CUDA graph capture of the decoding step failed, so generate() "
            f"launches the compiled step per token. The error: {error}",
            stacklevel=3,
        )
        return None
    for position in range(start, int(prompt.shape[1])):
        if on_step is not None:
            on_step(position)
        index.fill_(position)
        replay()
    return tokens


def _use_graphs(prompt):
    on_gpu = prompt.device.type == "cuda"
    failed = _compile_failed or _cuda_graphs_failed
    return on_gpu and use_cuda_graphs and not failed


def _capture(function, device):
    """`function` (no arguments) captured as a CUDA graph; its replay.

    A first call, on a side stream as capture requires, compiles and lets
    cuBLAS and friends allocate their workspaces. In the sampling loop it
    writes the cache entries and the token that the first replay writes
    again.
    """
    import torch

    side = torch.cuda.Stream(device=device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        function()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        function()
    return graph.replay


def _compiled(model=None):
    """`_step` compiled: one for steps without a model, else one per model.

    Before every call torch._dynamo checks that the modules the step read
    are as when it compiled (about a third of a small model's CPU step).
    A model's step skips those checks (a filter torch marks unsafe) but
    gets a copy of `_step` of its own, since dynamo keeps graphs per code
    object: another model with the same shapes and other constants (a
    layer norm's epsilon) would otherwise run this one's graph. A model
    whose variables or backbone config change (quantized, LoRA) gets a
    new copy. Shapes, samplers and guidance scales are still checked.
    """
    global _compiled_step
    import torch

    skip = getattr(torch.compiler, "skip_guard_on_all_nn_modules_unsafe", None)
    if model is None or skip is None:
        if _compiled_step is None:
            _compiled_step = torch.compile(_step, dynamic=False)
        return _compiled_step
    signature = _signature(model)
    entry = _model_steps.get(model)
    if entry is None or entry[0] != signature:
        code = _step.__code__.replace()
        own_step = types.FunctionType(code, _step.__globals__, "_step")
        compiled = torch.compile(
            own_step, dynamic=False, options={"guard_filter_fn": skip}
        )
        entry = _model_steps[model] = (signature, compiled)
    return entry[1]


def _signature(model):
    """What a model's compiled step depends on besides its inputs."""
    backbone = getattr(model, "backbone", model)
    variables = tuple(
        (v.path, tuple(v.shape), str(v.dtype)) for v in model.variables
    )
    return variables, repr(backbone.get_config())


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
