"""Trains the shipped `super_resolution_photos_2x` preset.

A 2x `SuperResolution` (EDSR-style, residual over bilinear) on random
crops of the training photographs of `keras_vim.utils.sample_data`
(scikit-image's `TRAIN_PHOTOS`, at full and half scale, with flips): each
64x64 crop is shrunk to 32x32 with PIL bicubic and the model learns to
enlarge it back, with the L2 loss. Then, photograph by photograph, it is
compared with PIL bicubic enlargement on crops of photographs it never saw
(`HELD_OUT_PHOTOS`: `chelsea`, `coffee`) and of the training ones.

    KERAS_BACKEND=jax python examples/train_super_resolution.py
"""

import argparse
import json
import os
import time

import keras

import keras_vim
from keras_vim.utils.preset_evaluation import bicubic_resize
from keras_vim.utils.preset_evaluation import super_resolution_psnr
from keras_vim.utils.sample_data import HELD_OUT_PHOTOS
from keras_vim.utils.sample_data import TRAIN_PHOTOS
from keras_vim.utils.sample_data import photo_crops

CONFIG = dict(scale=2, num_blocks=4, filters=32)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--crops", type=int, default=4000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--logit-laplace",
        action="store_true",
        help="Also predict a per-pixel scale and add ViT-VQGAN's "
        "logit-Laplace term (weight 0.1) to the L2 loss.",
    )
    parser.add_argument(
        "--output", default="presets/super_resolution_photos_2x"
    )
    args = parser.parse_args()
    log = {"backend": keras.config.backend(), "args": vars(args)}
    keras.utils.set_random_seed(args.seed)

    high = photo_crops("train", args.crops, args.size, seed=args.seed)
    low = bicubic_resize(high, args.size // CONFIG["scale"])
    model = keras_vim.SuperResolution(
        keras_vim.SuperResolutionBackbone(
            **CONFIG, predict_scale=args.logit_laplace
        )
    )
    steps = args.epochs * (len(high) // args.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(1e-3, steps, alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(schedule))
    start = time.time()
    history = model.fit(
        low, high, batch_size=args.batch_size, epochs=args.epochs, verbose=2
    )
    log["seconds"] = round(time.time() - start, 1)
    log["loss"] = [round(v, 6) for v in history.history["loss"]]
    model.save_to_preset(args.output)
    # Other crops than training (another seed), one photograph at a time.
    log["held_out_psnr"] = super_resolution_psnr(
        model, HELD_OUT_PHOTOS, seed=args.seed + 100
    )
    log["train_photos_psnr"] = super_resolution_psnr(
        model, TRAIN_PHOTOS, seed=args.seed + 100
    )
    with open(os.path.join(args.output, "training_log.json"), "w") as f:
        json.dump(log, f, indent=2)
    print(json.dumps(log, indent=2))


if __name__ == "__main__":
    main()
