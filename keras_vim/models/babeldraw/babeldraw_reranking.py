"""Keeps the candidates a `BabeldrawRerankerBackbone` scores best."""

import numpy as np

from keras_vim.models.babeldraw_reranker.babeldraw_reranker import embed


def rerank(reranker, text_ids, padding_mask, token_ids, num_images):
    """The `num_images` best candidates of each prompt, best first.

    Args:
        reranker: a `keras_vim.BabeldrawRerankerBackbone`.
        text_ids, padding_mask: `(num_prompts, text_length)`, one row per
            prompt.
        token_ids: `(num_prompts * num_candidates, grid**2)` sampled image
            ids, prompt-major.
        num_images: int. Candidates kept per prompt.

    Returns:
        `(token_ids, scores)`: `(num_prompts * num_images, grid**2)` ids
        and their cosine similarity with their prompt, prompt-major.
    """
    num_prompts = len(text_ids)
    text, image = embed(reranker, text_ids, padding_mask, token_ids)
    image = image.reshape(num_prompts, -1, image.shape[-1])
    scores = np.einsum("pe,pce->pc", text, image)
    # Stable: among equal scores the earlier sample stays first.
    order = np.argsort(-scores, axis=1, kind="stable")[:, :num_images]
    candidates = token_ids.reshape(num_prompts, -1, token_ids.shape[-1])
    chosen = np.take_along_axis(candidates, order[:, :, None], axis=1)
    return (
        chosen.reshape(num_prompts * num_images, -1),
        np.take_along_axis(scores, order, axis=1).reshape(-1),
    )
