"""Measures the shipped digit presets.

- `vim_digits_class`: 20 samples a digit at temperature 1.0, without
  guidance and at `guidance_scale` 2 and 3. Each is judged by two
  classifiers trained only on the real 8x8 train-split digits: an RBF SVM
  that also saw their one-pixel shifts
  (`digit_judge.shift_tolerant_digit_classifier`, the judge of the quality
  bars) and the older logistic regression
  (`sample_data.digit_classifier`), which is not shift-tolerant; the
  fraction recognised as the requested digit. Copies: samples whose 16
  tokens equal those of an image the model was trained on (a train-split
  digit or one of its shifted copies).
- The judges' ceilings: their accuracy on the 360 test-split digits and on
  `vit_vqgan_digits_32` reconstructions of them.
- `vim_digits`: LinearProbe test accuracy (360 held-out digits) of every
  block.

    KERAS_BACKEND=jax python examples/evaluate_digits_presets.py
"""

import argparse
import json

import numpy as np

import keras_vim
from keras_vim.utils.digit_judge import shift_tolerant_digit_classifier
from keras_vim.utils.image_utils import save_image_grid
from keras_vim.utils.preset_evaluation import digits_probe_accuracies
from keras_vim.utils.preset_evaluation import digits_sample_quality
from keras_vim.utils.preset_evaluation import digits_training_token_ids
from keras_vim.utils.sample_data import digit_classifier
from keras_vim.utils.sample_data import digits


def evaluate(
    per_class=20, grid_path=None, probe=True, class_preset="vim_digits_class"
):
    classifiers = {
        "svm_shift_tolerant": shift_tolerant_digit_classifier(),
        "logistic_regression": digit_classifier(),
    }
    tokenizer = keras_vim.ViTVQGAN.from_preset("vit_vqgan_digits_32")
    test_x, test_y = digits(32, "test")
    reconstructions = tokenizer.reconstruct(test_x, verbose=0)
    results = {
        f"{name}_ceiling": {
            "test_digits": float(np.mean(classify(test_x) == test_y)),
            "reconstructions": float(
                np.mean(classify(reconstructions) == test_y)
            ),
        }
        for name, classify in classifiers.items()
    }
    vim = keras_vim.VIMTransformer.from_preset(class_preset)
    training_ids, _ = digits_training_token_ids(tokenizer)
    quality = digits_sample_quality(
        vim, classifiers, training_ids, per_class=per_class
    )
    for scale, entry in quality.items():
        images = entry.pop("images")
        results[f"samples_guidance_{scale:g}"] = entry
        if grid_path and scale == 1.0:
            grid = images.reshape(10, per_class, 32, 32, 3)[:, :10]
            save_image_grid(grid.reshape(-1, 32, 32, 3), grid_path, columns=10)
    if probe:
        probe_vim = keras_vim.VIMTransformer.from_preset("vim_digits")
        accuracies = digits_probe_accuracies(probe_vim, tokenizer)
        results["probe_accuracy_per_block"] = [round(a, 4) for a in accuracies]
        results["probe_best_block"] = int(np.argmax(accuracies))
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-class", type=int, default=20)
    parser.add_argument("--grid", default="vim_digits_samples.png")
    parser.add_argument(
        "--no-probe", action="store_true", help="Skip the vim_digits probe."
    )
    parser.add_argument(
        "--class-preset",
        default="vim_digits_class",
        help="The class-conditional VIM: a preset name or directory.",
    )
    args = parser.parse_args()
    results = evaluate(
        args.per_class, args.grid, not args.no_probe, args.class_preset
    )
    print(json.dumps(results, indent=2))
