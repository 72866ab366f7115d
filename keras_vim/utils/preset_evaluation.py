"""Measures of the shipped trained presets.

Shared by `examples/evaluate_*.py` and the quality tests. Needs scikit-learn
and scikit-image (`pip install keras-vim[examples]`).
"""

import numpy as np

from keras_vim.utils.image_utils import psnr
from keras_vim.utils.sample_data import digits


def digits_probe_accuracies(vim, tokenizer, epochs=100):
    """Held-out `LinearProbe` accuracy of every block of `vim` on digits.

    Args:
        vim: a `VIMTransformer` over the tokens of `tokenizer`.
        tokenizer: the `ViTVQGAN` of the 32x32 digits
            (`vit_vqgan_digits_32`).
        epochs: int. Epochs of each probe.

    Returns:
        A list of accuracies, one per block.
    """
    from keras_vim.models.linear_probe.linear_probe import LinearProbe

    train_x, train_y = digits(32, "train")
    test_x, test_y = digits(32, "test")
    return LinearProbe.accuracy_per_block(
        vim.backbone,
        tokenizer.encode(train_x),
        train_y,
        tokenizer.encode(test_x),
        test_y,
        num_classes=10,
        epochs=epochs,
    )


def digits_training_token_ids(tokenizer, step=4):
    """The token grids of every image `vim_digits_class` trains on.

    The 1,437 train-split digits at 32x32 and their `shifted_copies` (each
    digit moved by `step` pixels, one original pixel, along either axis or
    both): 9 images a digit.

    Args:
        tokenizer: the `ViTVQGAN` of the 32x32 digits
            (`vit_vqgan_digits_32`).
        step: int. The shift of the copies in 32x32 pixels.

    Returns:
        `(token_ids (9 * 1437, tokens) int32, labels (9 * 1437,))`.
    """
    from keras_vim.utils.sample_data import shifted_copies

    images, labels = digits(32, "train")
    shifted = shifted_copies(images, step)
    token_ids = np.asarray(tokenizer.encode(shifted, verbose=0), "int32")
    return token_ids.reshape(len(shifted), -1), np.tile(labels, 9)


def digits_sample_quality(
    vim,
    classifiers,
    training_token_ids,
    per_class=20,
    guidance_scales=(1.0, 2.0, 3.0),
    seed=0,
):
    """Copies and recognition of a class-conditional digit VIM's samples.

    For each guidance scale, `per_class` images of every digit are sampled
    at temperature 1.0 and read by each judge in `classifiers`; a sample is
    a copy when its token grid equals one of `training_token_ids`.

    Args:
        vim: a class-conditional `VIMTransformer` over digit tokens
            (`vim_digits_class`).
        classifiers: dict of name to a function mapping images to labels
            (`digit_judge.shift_tolerant_digit_classifier()`).
        training_token_ids: `(n, tokens)` ids of every training image
            (`digits_training_token_ids`).
        per_class: int. Samples per digit and scale.
        guidance_scales: the `guidance_scale`s to sample at.
        seed: int.

    Returns:
        `{scale: {"copies": int, "copied_fraction": float,
        "recognised": {name: fraction}, "images": the samples, digit by
        digit}}`.
    """
    grids = np.asarray(training_token_ids).astype("int32")
    training = {grid.tobytes() for grid in grids.reshape(len(grids), -1)}
    class_ids = np.repeat(np.arange(10), per_class)
    results = {}
    for scale in guidance_scales:
        out = vim.generate(
            class_ids=class_ids,
            temperature=1.0,
            guidance_scale=scale,
            seed=seed,
            verbose=0,
        )
        samples = np.asarray(out["token_ids"], "int32").reshape(
            len(class_ids), -1
        )
        copies = sum(grid.tobytes() in training for grid in samples)
        results[scale] = {
            "copies": int(copies),
            "copied_fraction": copies / len(class_ids),
            "recognised": {
                name: float(np.mean(classify(out["images"]) == class_ids))
                for name, classify in classifiers.items()
            },
            "images": out["images"],
        }
    return results


def babeldraw_digits_match_rates(
    model,
    num_prompts=100,
    guidance_scales=(1.0, 3.0),
    training_token_ids=None,
    seed=0,
    batch_size=None,
    num_candidates=1,
):
    """How often Babeldraw's samples show what their digit prompts say.

    Prompts are drawn from the caption grammar of
    `keras_vim.utils.digit_canvases`: "seen" ones use only combinations the
    training captions had, "unseen" ones at least one held-out (colour,
    digit, quadrant) combination. One image per prompt is sampled at each
    guidance scale and judged by `CanvasJudge`, which was trained on real
    digits only: a sample matches when every quadrant is right.

    Args:
        model: a `keras_vim.Babeldraw` on 64x64 digit canvases.
        num_prompts: int. Prompts per kind.
        guidance_scales: guidance scales to sample at.
        training_token_ids: `None`, or the training images' token ids, to
            count samples whose token grid copies a training image exactly.
        seed: int.
        batch_size: int or `None`, images per compiled sampling call.
        num_candidates: int. Above 1, each scale is also measured with the
            model's reranker keeping the best of that many candidates.

    Returns:
        A dict: for each `"seen"` / `"unseen"` and scale, the match rate,
        the per-prompt results and the copied fraction.
    """
    from keras_vim.utils.canvas_judge import CanvasJudge
    from keras_vim.utils.digit_canvases import make_canvases

    judge = CanvasJudge()
    training = None
    if training_token_ids is not None:
        grids = np.asarray(training_token_ids).reshape(
            len(training_token_ids), -1
        )
        training = {grid.tobytes() for grid in grids.astype("int32")}
    results = {}
    for kind in ("seen", "unseen"):
        _, captions, layouts = make_canvases(
            num_prompts, "test", kind, seed=seed + 1000
        )
        runs = [
            (scale, k) for scale in guidance_scales for k in {1, num_candidates}
        ]
        for scale, k in sorted(runs):
            out = model.generate(
                captions,
                num_candidates=k,
                guidance_scale=scale,
                seed=seed,
                batch_size=batch_size,
                verbose=0,
            )
            matches = judge.matches(out["images"], layouts)
            entry = {
                "match_rate": float(np.mean(matches)),
                "prompts": [
                    {"caption": c, "match": bool(m)}
                    for c, m in zip(captions, matches)
                ],
            }
            if training is not None:
                grids = out["token_ids"].reshape(len(captions), -1)
                entry["copied_fraction"] = float(
                    np.mean([g.tobytes() in training for g in grids])
                )
            name = f"{kind}, guidance {scale:g}"
            results[name + (f", best of {k}" if k > 1 else "")] = entry
    return results


def retrieval_accuracy(reranker, captions, images):
    """How often each caption's own image is the one it scores highest.

    Args:
        reranker: a `keras_vim.BabeldrawReranker`.
        captions: a list of strings, one per image.
        images: images or image token ids, in the order of `captions`.

    Returns:
        float: the fraction of captions whose best image is their own
        (chance is `1 / len(captions)`). Captions repeated in the list count
        any image of the same caption as right.
    """
    similarity = reranker.similarity_matrix(captions, images)
    best = similarity.argmax(axis=1)
    return float(np.mean([captions[j] == c for j, c in zip(best, captions)]))


def bicubic_resize(images, size):
    """PIL bicubic resize of uint8 `(batch, h, w, 3)` images to `size`."""
    from PIL import Image

    return np.stack(
        [
            np.asarray(
                Image.fromarray(image).resize((size, size), Image.BICUBIC)
            )
            for image in images
        ]
    )


def super_resolution_psnr(model, photo_names, num_crops=200, size=64, seed=0):
    """PSNR of an upsampler against PIL bicubic, photograph by photograph.

    Random `size x size` crops of each photograph (at full and half
    scale) are shrunk by the model's scale with PIL bicubic, then enlarged
    back by the model and by PIL bicubic.

    Args:
        model: a `keras_vim.SuperResolution`.
        photo_names: scikit-image photograph names
            (`keras_vim.utils.sample_data.load_photo`).
        num_crops: int. Crops per photograph.
        size: int. Side of the high-resolution crops.
        seed: int.

    Returns:
        `{name: {"model": dB, "bicubic": dB}}`.
    """
    from keras_vim.utils.sample_data import photo_pyramid
    from keras_vim.utils.sample_data import random_crops

    small = size // model.backbone.scale
    results = {}
    for name in photo_names:
        high = random_crops(photo_pyramid([name]), num_crops, size, seed, False)
        low = bicubic_resize(high, small)
        results[name] = {
            "model": psnr(high, model.upscale(low, verbose=0)),
            "bicubic": psnr(high, bicubic_resize(low, size)),
        }
    return results
