"""Measures the shipped digit presets.

- `vim_digits_class`: samples at temperature 1.0 for every digit, judged by
  an independent logistic-regression classifier trained on the real 8x8
  digits; the fraction recognised as the requested digit, without guidance
  and with `guidance_scale` 2 and 4.
- `vim_digits`: LinearProbe test accuracy (360 held-out digits) of every
  block.
- `vit_vqgan_digits_32`: the classifier's accuracy on tokenizer
  reconstructions of the test split (the ceiling for samples).

    KERAS_BACKEND=jax python examples/evaluate_digits_presets.py
"""

import argparse
import json

import numpy as np

import keras_vim
from keras_vim.utils.image_utils import save_image_grid
from keras_vim.utils.preset_evaluation import digits_probe_accuracies
from keras_vim.utils.sample_data import digit_classifier
from keras_vim.utils.sample_data import digits


def sample_accuracy(vim, classify, per_class, guidance_scale, seed=0):
    class_ids = np.repeat(np.arange(10), per_class)
    out = vim.generate(
        class_ids=class_ids,
        temperature=1.0,
        guidance_scale=guidance_scale,
        seed=seed,
    )
    return float(np.mean(classify(out["images"]) == class_ids)), out["images"]


def evaluate(per_class=20, grid_path=None):
    classify = digit_classifier()
    tokenizer = keras_vim.ViTVQGAN.from_preset("vit_vqgan_digits_32")
    test_x, test_y = digits(32, "test")
    results = {
        "reconstruction_accuracy": float(
            np.mean(classify(tokenizer.reconstruct(test_x)) == test_y)
        )
    }
    vim = keras_vim.VIMTransformer.from_preset("vim_digits_class")
    for scale in (1.0, 2.0, 4.0):
        accuracy, images = sample_accuracy(vim, classify, per_class, scale)
        results[f"sample_accuracy_guidance_{scale:g}"] = accuracy
        if grid_path and scale == 1.0:
            save_image_grid(
                images.reshape(10, per_class, 32, 32, 3)[:, :10].reshape(
                    -1, 32, 32, 3
                ),
                grid_path,
                columns=10,
            )
    probe_vim = keras_vim.VIMTransformer.from_preset("vim_digits")
    accuracies = digits_probe_accuracies(probe_vim, tokenizer)
    results["probe_accuracy_per_block"] = [round(a, 4) for a in accuracies]
    results["probe_best_block"] = int(np.argmax(accuracies))
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-class", type=int, default=20)
    parser.add_argument("--grid", default="vim_digits_samples.png")
    args = parser.parse_args()
    print(json.dumps(evaluate(args.per_class, args.grid), indent=2))
