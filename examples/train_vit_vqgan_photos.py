"""Trains the shipped `vit_vqgan_photos_64` preset.

A small ViT-VQGAN (64x64 images, 8x8 patches -> 8x8 tokens, 512 codes) on
random crops of the colour photographs bundled with scikit-image (the
photographs listed in `keras_vim.utils.sample_data.TRAIN_PHOTOS`, at two
scales, with random flips). `chelsea` and `coffee` are held out for the
quality check (`examples/evaluate_vit_vqgan_photos.py`).

The GAN and perceptual terms are off: the quality bar is PSNR, VGG16 weights
cannot be downloaded here, and a GAN needs far more steps than this
CPU-sized run. Usage:

    KERAS_BACKEND=jax python examples/train_vit_vqgan_photos.py \
        --steps 6000 --output presets/vit_vqgan_photos_64
"""

import argparse
import json
import os
import time

import keras
import numpy as np

import keras_vim
from keras_vim.utils.sample_data import photo_crops

CONFIG = dict(
    image_size=64,
    patch_size=8,
    encoder_num_layers=4,
    encoder_num_heads=4,
    encoder_hidden_dim=128,
    encoder_intermediate_dim=512,
    decoder_num_layers=4,
    decoder_num_heads=4,
    decoder_hidden_dim=128,
    decoder_intermediate_dim=512,
    codebook_size=512,
    lookup_dim=32,
    track_dead_codes=True,
)


def build_model():
    backbone = keras_vim.ViTVQGANBackbone(**CONFIG)
    converter = keras_vim.ViTVQGANImageConverter(image_size=(64, 64))
    preprocessor = keras_vim.ViTVQGANPreprocessor(converter)
    return keras_vim.ViTVQGAN(
        backbone, preprocessor, discriminator_base_filters=0
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--num-crops", type=int, default=32768)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="presets/vit_vqgan_photos_64")
    args = parser.parse_args()

    keras.utils.set_random_seed(args.seed)
    crops = photo_crops("train", args.num_crops, size=64, seed=args.seed)
    model = build_model()
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0,
        args.steps,
        warmup_target=args.learning_rate,
        warmup_steps=args.steps // 20,
        alpha=0.02,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(schedule, beta_1=0.9, beta_2=0.99),
        perceptual_weight=0.0,
        adversarial_weight=0.0,
    )
    steps_per_epoch = args.num_crops // args.batch_size
    epochs = max(1, args.steps // steps_per_epoch)
    restart = keras_vim.callbacks.CodebookRestart(
        model.backbone.quantizer,
        every_n_steps=100,
        stop_after_step=int(args.steps * 0.8),
        verbose=True,
    )
    start = time.time()
    history = model.fit(
        crops,
        batch_size=args.batch_size,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=[restart],
    )
    seconds = time.time() - start

    # The usage statistics only matter during training.
    model.backbone.quantizer.track_dead_codes = False
    trained = build_model_without_tracking(model)
    os.makedirs(args.output, exist_ok=True)
    trained.save_to_preset(args.output)
    with open(os.path.join(args.output, "training_log.json"), "w") as f:
        json.dump(
            {
                "backend": keras.config.backend(),
                "steps": epochs * steps_per_epoch,
                "seconds": round(seconds, 1),
                "args": vars(args),
                "final_logs": {
                    k: float(v[-1]) for k, v in history.history.items()
                },
                "restarted_codes": int(sum(restart.restarted)),
            },
            f,
            indent=2,
        )
    print(f"saved {args.output} after {seconds:.0f}s")


def build_model_without_tracking(model):
    """A copy of the model without the dead-code statistics buffers."""
    config = dict(CONFIG, track_dead_codes=False)
    backbone = keras_vim.ViTVQGANBackbone(**config)
    for target, source in zip(
        backbone.weights,
        [w for w in model.backbone.weights if w.trainable or "code_usage" not in w.path
         and "recent_inputs" not in w.path and "buffer_position" not in w.path],
    ):
        target.assign(source)
    return keras_vim.ViTVQGAN(
        backbone, model.preprocessor, discriminator_base_filters=0
    )


if __name__ == "__main__":
    main()
