"""Trains the shipped `vit_vqgan_photos_64` preset.

A small ViT-VQGAN (64x64 images, 8x8 patches -> 8x8 tokens, 256 codes) on
random crops of the colour photographs bundled with scikit-image (the
photographs listed in `keras_vim.utils.sample_data.TRAIN_PHOTOS`, at two
scales, with random flips). `chelsea` and `coffee` are held out for the
quality check (`examples/evaluate_vit_vqgan_photos.py`).

The GAN and perceptual terms are off: the quality bar is PSNR, VGG16 weights
cannot be downloaded here, and a GAN needs far more steps than this
CPU-sized run. The shipped preset is three runs: 512 codes; then the 256
codes the first model uses most, on fresh crops (a smaller codebook is used
more evenly on unseen photographs); then the decoder alone, which keeps
every token as it is:

    export KERAS_BACKEND=jax
    python examples/train_vit_vqgan_photos.py --steps 2400 --num-crops 16384 \
        --output photos_stage1
    python examples/train_vit_vqgan_photos.py --steps 2400 --num-crops 16384 \
        --seed 1 --learning-rate 5e-4 --codebook-size 256 \
        --init-from photos_stage1 --output photos_stage2
    python examples/train_vit_vqgan_photos.py --steps 1024 --num-crops 16384 \
        --seed 2 --learning-rate 2e-4 --codebook-size 256 --decoder-only \
        --init-from photos_stage2 --output presets/vit_vqgan_photos_64

The runs took 57, 85 (on a shared CPU) and 15 minutes on 2 cores; the
`training_log.json` in the preset records each one.
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


def build_model(config, init_from=None, crops=None):
    backbone = keras_vim.ViTVQGANBackbone(**config)
    if init_from:
        init_weights(backbone, keras_vim.ViTVQGAN.from_preset(init_from), crops)
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
    parser.add_argument("--codebook-size", type=int, default=512)
    parser.add_argument("--init-from", default=None, help="preset to continue")
    parser.add_argument(
        "--decoder-only",
        action="store_true",
        help="freeze encoder and codebook: the tokens stay, the decoder "
        "improves",
    )
    parser.add_argument("--output", default="presets/vit_vqgan_photos_64")
    args = parser.parse_args()

    keras.utils.set_random_seed(args.seed)
    crops = photo_crops("train", args.num_crops, size=64, seed=args.seed)
    config = dict(CONFIG, codebook_size=args.codebook_size)
    model = build_model(config, args.init_from, crops[:4096])
    if args.decoder_only:
        model.backbone.encoder.trainable = False
        model.backbone.quantizer.trainable = False
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
        callbacks=[] if args.decoder_only else [restart],
    )
    seconds = time.time() - start

    # The usage statistics only matter during training.
    model.backbone.quantizer.track_dead_codes = False
    trained = build_model_without_tracking(model)
    os.makedirs(args.output, exist_ok=True)
    trained.save_to_preset(args.output)
    log_path = os.path.join(args.output, "training_log.json")
    runs = []
    if args.init_from and os.path.exists(
        os.path.join(args.init_from, "training_log.json")
    ):
        with open(os.path.join(args.init_from, "training_log.json")) as f:
            previous = json.load(f)
        runs = previous.get("runs", [previous])
    with open(log_path, "w") as f:
        json.dump(
            {
                "runs": runs
                + [
                    {
                        "backend": keras.config.backend(),
                        "steps": epochs * steps_per_epoch,
                        "seconds": round(seconds, 1),
                        "args": vars(args),
                        "final_logs": {
                            k: float(v[-1]) for k, v in history.history.items()
                        },
                        "restarted_codes": int(sum(restart.restarted)),
                    }
                ]
            },
            f,
            indent=2,
        )
    print(f"saved {args.output} after {seconds:.0f}s")


def init_weights(backbone, trained, crops):
    """Copies `trained`'s weights; a smaller codebook keeps its most used codes.

    Shrinking keeps the codes the trained model uses most on `crops`, so the
    continued run starts from a working tokenizer at a lower rate.
    """
    source = {w.path: w for w in trained.backbone.weights}
    for weight in backbone.weights:
        if weight.path not in source:
            continue
        # A numpy copy: JAX's fit donates (deletes) buffers it trains.
        value = keras.ops.convert_to_numpy(source[weight.path])
        if (
            weight is backbone.quantizer.codebook
            and value.shape != weight.shape
        ):
            counts = np.bincount(
                trained.encode(crops).ravel(), minlength=value.shape[0]
            )
            keep = np.argsort(-counts, kind="stable")[: weight.shape[0]]
            value = value[keep]
        weight.assign(value)


def build_model_without_tracking(model):
    """A copy of the model without the dead-code statistics buffers."""
    config = dict(model.backbone.get_config(), track_dead_codes=False)
    backbone = keras_vim.ViTVQGANBackbone.from_config(config)
    source = {w.path: w for w in model.backbone.weights}
    for weight in backbone.weights:
        weight.assign(source[weight.path])
    return keras_vim.ViTVQGAN(
        backbone, model.preprocessor, discriminator_base_filters=0
    )


if __name__ == "__main__":
    main()
