"""Memory of one ViT-VQGAN training step, from XLA's compiled program.

JAX only. For the `vit_vqgan_small` architecture (Small-Small, 256x256,
1024 tokens, random weights) in float32 with the shipped preset's recipe
(discriminator on, adversarial weight 0.1, logit-Laplace + L2, perceptual
off), the Keras train step is compiled at batch 1 and 2 and XLA's
`memory_analysis()` gives its temporary buffers; the difference is the
memory one more image costs, which predicts the step at `--batch`. The same
with the adversarial weight 0 (`no discriminator`: its three passes and
their activations go) says how much of it is the discriminator's.

    python benchmarks/vit_vqgan_memory.py                 # about 10 minutes

This is the CPU compiler's buffer assignment; a GPU's fusion differs. On a
GPU, Keras' attention (dropout 0) calls `ops.dot_product_attention`, whose
flash kernels take bfloat16 or float16, not float32.
"""

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

GIB = 2**30


def step_temp_bytes(variant, batch):
    import jax
    import keras
    import numpy as np

    import keras_vim

    keras.utils.set_random_seed(0)
    backbone = keras_vim.ViTVQGANBackbone.from_preset(
        "vit_vqgan_small", load_weights=False
    )
    preprocessor = keras_vim.ViTVQGANPreprocessor.from_preset("vit_vqgan_small")
    model = keras_vim.ViTVQGAN(backbone, preprocessor)
    model.compile(
        perceptual_weight=0.0,
        adversarial_weight=0.0 if variant == "no discriminator" else 0.1,
    )
    images = np.random.default_rng(0).random((batch, 256, 256, 3), "float32")
    # Builds the optimizers and metrics (one real step at this batch).
    model.train_on_batch(images)
    state = (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in model.optimizer.variables],
        [v.value for v in model.metrics_variables],
    )
    compiled = jax.jit(model.train_step).lower(state, (images,)).compile()
    analysis = compiled.memory_analysis()
    return analysis.temp_size_in_bytes, analysis.argument_size_in_bytes


def main():
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["recipe", "no discriminator"],
    )
    args = parser.parse_args()
    print(
        "vit_vqgan_small train step, float32, XLA CPU memory analysis: "
        f"temporaries per image and predicted at batch {args.batch}"
    )
    print(
        f"{'variant':20s}{'per image':>12s}{'batch ' + str(args.batch):>12s}"
        f"{'weights+state':>15s}"
    )
    for variant in args.variants:
        one, state = step_temp_bytes(variant, 1)
        two, _ = step_temp_bytes(variant, 2)
        per_image = two - one
        predicted = one + (args.batch - 1) * per_image
        print(
            f"{variant:20s}{per_image / GIB:9.2f} GiB{predicted / GIB:9.1f} GiB"
            f"{state / GIB:12.2f} GiB",
            flush=True,
        )


if __name__ == "__main__":
    main()
