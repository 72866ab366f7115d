"""The decoding steps the generation engine runs for `Babeldraw`.

`generate_step` samples the image tokens of a batch of prompts; the others
are its pieces, also used directly by tests: the text encoder with its
cross-attention caches (`encode`), one cached decoder step
(`call_with_cache`), an empty self-attention cache (`init_cache`) and the
full recompute (`full_logits`) that the cached path must match.
"""

from keras import ops

from keras_vim.generation import guided_sample
from keras_vim.generation import recompute_step
from keras_vim.generation.direct_call import autocast
from keras_vim.generation.direct_call import direct_call
from keras_vim.models.babeldraw.babeldraw_prompt_dropout import (
    null_padding_mask,
)
from keras_vim.models.babeldraw.babeldraw_tokenizer import PAD_TOKEN_ID


def encode(backbone, token_ids, padding_mask):
    """Encoder output and the per-block cross-attention caches."""
    encoded = backbone.encode(token_ids, padding_mask, training=False)
    with autocast(backbone):
        cross_caches = tuple(
            layer.cross_attention_layer.compute_cache(encoded)
            for layer in backbone.decoder_layers
        )
    return encoded, cross_caches


def call_with_cache(
    backbone, token_ids, cache, cache_update_index, cross_caches, padding_mask
):
    """One decoding step at decoder position `cache_update_index`.

    Args:
        token_ids: `(batch, 1)` image ids at that position (ignored at
            position 0, the start token).
        cache: tuple of one `(2, batch, heads, length, head_dim)`
            self-attention cache per block (`init_cache`).
        cache_update_index: int or scalar tensor.
        cross_caches: from `encode`, computed once per prompt.
        padding_mask: `(batch, text_length)` encoder padding mask.

    Returns:
        `(logits, hidden, cache)`; `logits` `(batch, 1, vocabulary)`
        float32.
    """
    x = backbone.embed_step(token_ids, cache_update_index)
    caches = []
    with autocast(backbone):
        for layer, layer_cache, cross_cache in zip(
            backbone.decoder_layers, cache, cross_caches
        ):
            x, layer_cache = layer.call_with_cache(
                x,
                layer_cache,
                cache_update_index,
                cross_cache=cross_cache,
                encoder_padding_mask=padding_mask,
            )
            caches.append(layer_cache)
        hidden = direct_call(backbone.decoder_layer_norm, x)
        logits = direct_call(backbone.token_embedding, hidden, reverse=True)
    return logits, hidden, tuple(caches)


def init_cache(backbone, batch_size, dtype):
    """An empty self-attention cache for `call_with_cache`."""
    shape = (
        2,
        batch_size,
        backbone.num_heads,
        backbone.sequence_length + 1,
        backbone.hidden_dim // backbone.num_heads,
    )
    return tuple(
        ops.zeros(shape, dtype) for _ in range(backbone.num_decoder_layers)
    )


def full_logits(backbone, token_ids, padding_mask, prompt, position=None):
    """Float32 logits recomputing encoder and decoder.

    Args:
        token_ids, padding_mask: encoder inputs.
        prompt: `(batch, 1 + length)`: the start slot, then image ids.
        position: `None` (every position) or the one position to return.
    """
    hidden = backbone(
        {
            "encoder_token_ids": token_ids,
            "encoder_padding_mask": padding_mask,
            "decoder_token_ids": prompt[:, 1:],
        }
    )
    if position is not None:
        hidden = ops.take(hidden, position, axis=1)
    return backbone.token_embedding(hidden, reverse=True)


def generate_step(model, inputs, sampler, guided, use_cache):
    """Samples the image tokens after the start token of `inputs`.

    Args:
        inputs: dict with `"encoder_token_ids"`, `"encoder_padding_mask"`,
            `"decoder_token_ids"` (`(batch, 1 + length)`) and, guided, a
            scalar `"guidance_scale"`.
        sampler: a keras-hub sampler.
        guided: bool. Classifier-free guidance against the null prompt.
        use_cache: bool. Key/value caches, or full recompute.
    """
    token_ids = inputs["encoder_token_ids"]
    padding_mask = inputs["encoder_padding_mask"]
    prompt = inputs["decoder_token_ids"]
    if guided:
        # The null prompt, as prompt dropout trains it.
        token_ids = ops.concatenate(
            [token_ids, ops.full_like(token_ids, PAD_TOKEN_ID)], 0
        )
        padding_mask = ops.concatenate(
            [padding_mask, null_padding_mask(padding_mask)], 0
        )
    model_prompt = ops.concatenate([prompt, prompt], 0) if guided else prompt
    cache, step = _decoding_step(
        model, token_ids, padding_mask, model_prompt, use_cache
    )
    return guided_sample(
        sampler,
        step,
        prompt,
        cache,
        start_index=1,
        guidance_scale=inputs["guidance_scale"] if guided else None,
        null_prompt=prompt,
        on_step=model._sampling.report_progress,
        model=model,
        # The recompute path is for checks: it stays eager.
        compile_steps=model._sampling.compiles_steps and use_cache,
    )


def _decoding_step(model, token_ids, padding_mask, model_prompt, use_cache):
    """The engine's `(initial cache, step)`: cached or recomputing."""
    if not use_cache:
        return model_prompt, recompute_step(
            lambda buffer, position: full_logits(
                model.backbone, token_ids, padding_mask, buffer, position
            )
        )
    # The encoder runs once; its keys and values are cached per block.
    _, cross_caches = encode(model.backbone, token_ids, padding_mask)

    def step(ids, cache, index):
        logits, _, cache = call_with_cache(
            model.backbone, ids, cache, index, cross_caches, padding_mask
        )
        return logits[:, 0], cache

    batch_size = ops.shape(model_prompt)[0]
    return init_cache(model.backbone, batch_size, model.compute_dtype), step
