"""The sampling loop every image-token model plugs into.

A model hands over one decoding step, `step(token_ids, cache, index) ->
(logits, cache)`, and its initial cache; this module owns the rest: the
classifier-free guided batch, the keras-hub sampler's loop and the choice
between cached and recomputed decoding. An encoder-decoder model's step
closes over its encoder output and cross-attention cache, so nothing here
knows whether there is an encoder.
"""

import keras
from keras import ops

from keras_vim.generation import token_draws
from keras_vim.generation import torch_compiled_loop


def guided_logits(logits, guidance_scale):
    """Classifier-free guidance over a `[conditional; null]` batch.

    `uncond + scale * (cond - uncond)`: 1 gives the conditional logits, 0
    the unconditional ones.
    """
    conditional, unconditional = ops.split(logits, 2, axis=0)
    scale = ops.cast(guidance_scale, logits.dtype)
    return unconditional + scale * (conditional - unconditional)


def recompute_step(full_logits):
    """A `step` that recomputes the whole prefix instead of caching.

    Its "cache" is the `(batch, length)` token buffer, which the step fills
    in; `full_logits(token_ids, position)` gives the logits at `position`.
    Use `prompt` (guided: `[prompt; null_prompt]`) as the initial cache.
    For checking the cache and for benchmarks: it costs O(length**2).
    """

    def step(token_ids, buffer, index):
        buffer = ops.slice_update(buffer, [0, index], token_ids)
        return full_logits(buffer, index), buffer

    return step


def guided_sample(
    sampler,
    step,
    prompt,
    cache,
    start_index,
    guidance_scale=None,
    null_prompt=None,
    on_step=None,
    model=None,
    compile_steps=False,
):
    """Samples `prompt[:, start_index:]` token by token.

    Args:
        sampler: a `keras_hub.samplers.Sampler`.
        step: `step(token_ids, cache, index) -> (logits, cache)`: the
            model's logits `(model_batch, vocabulary)` for the token after
            `token_ids` `(model_batch, 1)`, which sits at position `index`.
            Guided, `model_batch` is twice the batch: conditional rows
            first, then null-conditioned rows.
        prompt: `(batch, length)` int tensor; positions before
            `start_index` hold the conditioning (a class token, a start
            token) and are kept.
        cache: the step's initial cache, for `model_batch` rows.
        start_index: int. The first position to sample.
        guidance_scale: `None` (unguided) or a scalar tensor.
        null_prompt: guided only: the prompt of the null-conditioned rows
            (same shape as `prompt`); it differs from `prompt` only before
            `start_index`, and the sampled tokens are shared.
        on_step: optional `on_step(index)`, called once per sampled token
            from inside the loop (progress).
        model: the Keras model, for keras-hub's loop on torch and for
            torch's compiled step (compiled per model).
        compile_steps: bool. Torch only: run each token's step (model,
            guidance, sampler) as one `torch.compile`d graph instead of
            keras-hub's eager loop (see `torch_compiled_loop`).

    Returns:
        `prompt` with every position from `start_index` on sampled.
    """
    guided = guidance_scale is not None
    compile_steps = compile_steps and keras.config.backend() == "torch"

    def next(tokens, cache, index):
        if on_step is not None and not compile_steps:
            on_step(index)
        position = index - 1
        # `take`, not `slice`: torch.compile reads a tensor slice start
        # back to the host; a gather stays in the graph.
        current = ops.expand_dims(ops.take(tokens, position, axis=1), 1)
        if guided:
            null = ops.expand_dims(ops.take(null_prompt, position, axis=1), 1)
            null = ops.where(position < start_index, null, current)
            current = ops.concatenate([current, null], axis=0)
        logits, cache = step(current, cache, position)
        logits = ops.cast(logits, "float32")
        if guided:
            logits = guided_logits(logits, guidance_scale)
        return logits, None, cache

    length = ops.shape(prompt)[1]
    mask = ops.arange(length)[None, :] < start_index
    mask = ops.broadcast_to(mask, ops.shape(prompt))
    if compile_steps:
        return torch_compiled_loop.sample(
            sampler, next, prompt, cache, start_index, mask, on_step, model
        )
    if keras.config.backend() == "tensorflow":
        # `keras.random.categorical` takes ~24 ms a token under XLA on CPU.
        sampler = token_draws.with_inverse_cdf_draws(sampler)
    return sampler(
        next=next,
        prompt=prompt,
        cache=cache,
        index=start_index,
        mask=mask,
        model=model,
    )
