"""Judges `babeldraw_digits`: do its images show what the prompts say?

Prompts from the canvas grammar, "seen" (only combinations of the training
captions) and "unseen" (at least one held-out colour/digit/quadrant
combination), one image each, with and without guidance. Independent
classifiers trained on real digits only (`CanvasJudge`) read every
quadrant; a sample matches when all four are right. Also prints the
fraction of samples whose token grid copies a training image exactly,
every prompt's result with `--per-prompt`, with `--num-candidates K` the
match rate of the reranker's best of K candidates, the reranker's caption
-> image retrieval among 100 held-out pairs (when the preset has one), and
how well the preset's image
tokenizer keeps test canvases (PSNR against per-patch k-means with the same
grid and codebook, and how often the judge still reads the layout).

    KERAS_BACKEND=jax python examples/evaluate_babeldraw_digits.py
"""

import argparse
import json

import numpy as np

import keras_vim
from keras_vim.utils.canvas_judge import CanvasJudge
from keras_vim.utils.digit_canvases import make_canvases
from keras_vim.utils.image_utils import psnr
from keras_vim.utils.preset_evaluation import babeldraw_digits_match_rates
from keras_vim.utils.preset_evaluation import retrieval_accuracy
from keras_vim.utils.tokenizer_evaluation import kmeans_psnr


def tokenizer_quality(tokenizer, training_images, seed):
    """The image tokenizer on test-split canvases it never saw."""
    images, _, layouts = make_canvases(500, "test", "any", seed=seed + 2000)
    reconstructed = tokenizer.decode(tokenizer.encode(images))
    judge = CanvasJudge()
    codes = tokenizer.backbone.codebook_size
    return {
        "psnr": psnr(images, reconstructed),
        "kmeans_psnr": kmeans_psnr(
            training_images[:4000], images, codes, tokenizer.backbone.patch_size
        ),
        "judge_on_reconstructions": float(
            np.mean(judge.matches(reconstructed, layouts))
        ),
        "judge_on_originals": float(np.mean(judge.matches(images, layouts))),
        "codebook_usage": len(np.unique(tokenizer.encode(images))) / codes,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="babeldraw_digits")
    parser.add_argument("--num-prompts", type=int, default=200)
    parser.add_argument(
        "--guidance-scales", type=float, nargs="+", default=[1.0, 3.0]
    )
    parser.add_argument("--training-images", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-prompt", action="store_true")
    parser.add_argument(
        "--num-candidates",
        type=int,
        default=1,
        help="also measure the reranker's best of this many candidates",
    )
    args = parser.parse_args()

    model = keras_vim.Babeldraw.from_preset(args.preset)
    # The training canvases of examples/train_babeldraw_digits.py (seed 1).
    images, _, _ = make_canvases(args.training_images, "train", "seen", seed=1)
    tokenizer = model.preprocessor.image_tokenizer
    training_ids = tokenizer.encode(images)
    print(
        "image tokenizer:",
        json.dumps(tokenizer_quality(tokenizer, images, args.seed)),
    )
    if model.reranker is not None:
        reranker = keras_vim.BabeldrawReranker(
            model.reranker, model.preprocessor
        )
        test_images, captions, _ = make_canvases(
            100, "test", "any", seed=args.seed + 3000
        )
        print(
            "reranker retrieval among 100 (chance 1%):",
            retrieval_accuracy(reranker, captions, test_images),
        )
    results = babeldraw_digits_match_rates(
        model,
        args.num_prompts,
        args.guidance_scales,
        training_token_ids=training_ids,
        seed=args.seed,
        batch_size=100,
        num_candidates=args.num_candidates,
    )
    for name, entry in results.items():
        print(
            f"{name:>22s}: match {entry['match_rate']:.1%}, "
            f"copies {entry['copied_fraction']:.1%}"
        )
        if args.per_prompt:
            for item in entry["prompts"]:
                print(
                    f"    {'ok ' if item['match'] else 'no '} {item['caption']}"
                )
    summary = {
        name: {k: v for k, v in entry.items() if k != "prompts"}
        for name, entry in results.items()
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
