"""Images per second of ViT-VQGAN `encode` and of one training step.

Runs every backend in its own process (the backend is fixed at import) and
prints one table, with each backend's figure also as a ratio to JAX measured
in the same run:

    python benchmarks/vit_vqgan_throughput.py            # all backends
    KERAS_BACKEND=torch python benchmarks/vit_vqgan_throughput.py --worker

Models: the shipped `vit_vqgan_photos_64` (64x64) and the architecture of
`vit_vqgan_small` (256x256, 1024 tokens, 56M parameters; random weights).
A training step is the full generator step plus the discriminator's own
step (adversarial weight 0.1; 16 base filters for the photo preset, as in
its last training run, the paper's 64 for `vit_vqgan_small`), with the
perceptual loss off. `vit_vqgan_small` recomputes its Transformer blocks in
the backward pass (`remat_blocks=True`, the preset's setting); its step is
also timed without. Each figure is the best of a few timed calls after
one compiling call.
"""

import json

from backends import best_time
from backends import run_per_backend
from backends import worker_parser

CASES = {
    # name: (preset, backbone settings, encode batch (None: not timed), train
    # batch, timed repeats after a warm-up call, discriminator base filters)
    "vit_vqgan_photos_64": ("vit_vqgan_photos_64", {}, 64, 32, 3, 16),
    # One 256x256 training step takes seconds on a 2-core CPU.
    "vit_vqgan_small": ("vit_vqgan_small", {}, 4, 1, 1, 64),
    "vit_vqgan_small, remat_blocks=False": (
        "vit_vqgan_small",
        {"remat_blocks": False},
        None,
        1,
        1,
        64,
    ),
}


def measure():
    import sys
    import warnings

    import keras
    import numpy as np

    import keras_vim

    warnings.filterwarnings("ignore")
    results = {}
    for case, settings in CASES.items():
        preset, backbone_kwargs, encode_batch, train_batch, repeats, filters = (
            settings
        )
        # Saved presets carry no discriminator; training builds one.
        model = keras_vim.ViTVQGAN(
            keras_vim.ViTVQGANBackbone.from_preset(preset, **backbone_kwargs),
            keras_vim.ViTVQGANPreprocessor.from_preset(preset),
            discriminator_base_filters=filters,
        )
        model.compile(perceptual_weight=0.0, adversarial_weight=0.1)
        size = model.backbone.image_size
        rng = np.random.default_rng(0)
        batch = max(encode_batch or 0, train_batch)
        images = rng.integers(0, 256, (batch, size, size, 3), "uint8")
        train_images = images[:train_batch].astype("float32") / 255.0

        def encode(model=model):
            model.encode(images, batch_size=encode_batch, verbose=0)

        def train(model=model):
            model.train_on_batch(train_images)

        for name, fn, batch in (
            ("encode", encode, encode_batch),
            ("train_step", train, train_batch),
        ):
            if batch is None:
                continue
            best = best_time(fn, repeats)
            results[f"{case}/{name}"] = batch / best
            print(
                f"{case}/{name}: {best:.2f} s for {batch} images",
                file=sys.stderr,
                flush=True,
            )
        del model
        keras.backend.clear_session()
    return results


def main():
    parser = worker_parser(__doc__)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure()))
        return
    table = run_per_backend(__file__)
    keys = list(table["jax"])
    print(f"{'case (images/s)':48s}" + "".join(f"{b:>18s}" for b in table))
    for key in keys:
        row = f"{key:48s}"
        for backend in table:
            value = table[backend][key]
            ratio = value / table["jax"][key]
            row += f"{value:10.3g} ({ratio:4.2f}x)"
        print(row)


if __name__ == "__main__":
    main()
