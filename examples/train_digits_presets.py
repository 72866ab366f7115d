"""Trains the three shipped digit presets on scikit-learn's handwritten digits.

1. `vit_vqgan_digits_32`: a small ViT-VQGAN for 32x32 digits (4x4 tokens,
   128 codes), trained on the 1,437-image train split.
2. `vim_digits_class`: a class-conditional VIM over those 16 tokens (class
   dropout 0.1 so classifier-free guidance works).
3. `vim_digits`: an unconditional VIM, for the linear probe.

Both VIMs see each training digit at 9 positions (shifted by up to one
original pixel, `sample_data.shifted_copies`), 12,933 images, for 20
epochs. Trained 150 epochs on the 1,437 digits as they are, a VIM memorises
them: the unconditional one reached NLL 0.5 train, 3.9 test and its features
probed under 80%; the class-conditional one NLL 0.39 train, 3.68 test, and
41% of its samples repeated a training digit's 16 tokens exactly. The log
(`digits_training_log.json` in `--output`) records each preset's training
seconds and each VIM's next-token NLL on its shifted training images and on
the plain train and test digits.

The 360-image test split is never used for training or for choosing the
recipe. Evaluate with `examples/evaluate_digits_presets.py`.

    KERAS_BACKEND=jax python examples/train_digits_presets.py

`--presets vim_digits_class` retrains only the named presets (a VIM then
reads the tokenizer already in `--output`).
"""

import argparse
import json
import os
import time

import keras
import numpy as np

import keras_vim
from keras_vim.utils.preset_evaluation import digits_training_token_ids
from keras_vim.utils.sample_data import digits

TOKENIZER_CONFIG = dict(
    image_size=32,
    patch_size=8,
    encoder_num_layers=2,
    encoder_num_heads=4,
    encoder_hidden_dim=64,
    encoder_intermediate_dim=256,
    decoder_num_layers=2,
    decoder_num_heads=4,
    decoder_hidden_dim=64,
    decoder_intermediate_dim=256,
    codebook_size=128,
    lookup_dim=32,
)
VIM_CONFIG = dict(
    vocabulary_size=128,
    grid_size=4,
    num_layers=4,
    num_heads=4,
    hidden_dim=128,
    intermediate_dim=512,
    dropout=0.1,
)


PRESETS = ("vit_vqgan_digits_32", "vim_digits_class", "vim_digits")


def train_tokenizer(images, steps, seed):
    backbone = keras_vim.ViTVQGANBackbone(
        **TOKENIZER_CONFIG, track_dead_codes=True
    )
    converter = keras_vim.ViTVQGANImageConverter(image_size=(32, 32))
    model = keras_vim.ViTVQGAN(
        backbone,
        keras_vim.ViTVQGANPreprocessor(converter),
        discriminator_base_filters=0,
    )
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, steps, warmup_target=1e-3, warmup_steps=steps // 20, alpha=0.02
    )
    model.compile(
        optimizer=keras.optimizers.Adam(schedule, beta_2=0.99),
        perceptual_weight=0.0,
        adversarial_weight=0.0,
    )
    batch_size = 64
    steps_per_epoch = len(images) // batch_size
    restart = keras_vim.callbacks.CodebookRestart(
        backbone.quantizer, every_n_steps=50, stop_after_step=int(steps * 0.8)
    )
    model.fit(
        images,
        batch_size=batch_size,
        epochs=max(1, steps // steps_per_epoch),
        callbacks=[restart],
        verbose=2,
    )
    # Ship without the training-only usage statistics.
    shipped = keras_vim.ViTVQGANBackbone(**TOKENIZER_CONFIG)
    source = {w.path: w for w in backbone.weights}
    for weight in shipped.weights:
        weight.assign(source[weight.path])
    return keras_vim.ViTVQGAN(
        shipped, model.preprocessor, discriminator_base_filters=0
    )


def train_vim(token_ids, labels, num_classes, epochs, tokenizer, seed):
    keras.utils.set_random_seed(seed)
    backbone = keras_vim.VIMBackbone(**VIM_CONFIG, num_classes=num_classes)
    model = keras_vim.VIMTransformer(backbone, image_tokenizer=tokenizer)
    steps = epochs * (len(token_ids) // 64 + 1)
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, steps, warmup_target=1e-3, warmup_steps=steps // 20, alpha=0.05
    )
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=0.01))
    model.fit(token_ids, labels, batch_size=64, epochs=epochs, verbose=2)
    return model


def next_token_nll(vim, token_ids, labels):
    """Mean next-token negative log-likelihood (nats) of `token_ids`."""
    return float(
        vim.evaluate(token_ids, labels, verbose=0, return_dict=True)["loss"]
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokenizer-steps", type=int, default=1500)
    parser.add_argument("--vim-epochs", type=int, default=20)
    parser.add_argument("--probe-vim-epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="presets")
    parser.add_argument(
        "--presets", nargs="+", default=list(PRESETS), choices=list(PRESETS)
    )
    args = parser.parse_args()

    keras.utils.set_random_seed(args.seed)
    images, labels = digits(32, "train")
    log_path = os.path.join(args.output, "digits_training_log.json")
    log = {}
    if os.path.exists(log_path):
        with open(log_path) as f:
            log = json.load(f)
    log.update(backend=keras.config.backend(), args=vars(args))

    tokenizer_path = os.path.join(args.output, "vit_vqgan_digits_32")
    if "vit_vqgan_digits_32" in args.presets:
        start = time.time()
        tokenizer = train_tokenizer(images, args.tokenizer_steps, args.seed)
        tokenizer.save_to_preset(tokenizer_path)
        log["vit_vqgan_digits_32_seconds"] = round(time.time() - start, 1)
    else:
        tokenizer = keras_vim.ViTVQGAN.from_preset(tokenizer_path)

    token_ids = tokenizer.encode(images).reshape(len(images), -1)
    log["train_codebook_usage"] = len(np.unique(token_ids)) / 128

    shifted_ids, shifted_labels = digits_training_token_ids(tokenizer)
    test_images, test_labels = digits(32, "test")
    test_ids = tokenizer.encode(test_images).reshape(len(test_images), -1)
    runs = (
        ("vim_digits_class", 10, shifted_labels, args.vim_epochs),
        ("vim_digits", 0, None, args.probe_vim_epochs),
    )
    for name, num_classes, y, epochs in runs:
        if name not in args.presets:
            continue
        start = time.time()
        vim = train_vim(
            shifted_ids, y, num_classes, epochs, tokenizer, args.seed
        )
        vim.save_to_preset(os.path.join(args.output, name))
        log[f"{name}_seconds"] = round(time.time() - start, 1)
        log[f"{name}_nll"] = {
            split: round(next_token_nll(vim, ids, split_labels), 4)
            for split, ids, split_labels in (
                ("train_shifted", shifted_ids, y),
                ("train", token_ids, labels if num_classes else None),
                ("test", test_ids, test_labels if num_classes else None),
            )
        }

    with open(log_path, "w") as f:
        json.dump(log, f, indent=2)
    print(json.dumps(log, indent=2))


if __name__ == "__main__":
    main()
