"""Activation memory and FLOPs of one ViT-VQGAN training step.

For the `vit_vqgan_small` architecture (Small-Small, 256x256, 1024 tokens,
random weights) in float32 with the photo preset's recipe (discriminator on,
adversarial weight 0.1, logit-Laplace + L2, perceptual off), measures what
the backward pass keeps from the forward pass, per image (batch 2 minus
batch 1), with `remat_blocks` off and on:

- JAX: the residuals of `jax.vjp` of the training loss (`jax.eval_shape`,
  nothing runs), grouped by shape: attention matrices, MLP hidden
  activations, block-width activations, image-sized discriminator maps.
- torch: the tensors autograd saves during a real forward pass
  (`torch.autograd.graph.saved_tensors_hooks`), counted once per storage.

Saved activations are what grows with the batch and what ran out of memory
on an H100 in float32 at batch 32; the predicted peak adds the working set
of the one block being recomputed and differentiated at a time (one
block's share of the activations without remat) and, once per step,
weights, gradients and Adam's two moments. JAX also prints XLA's FLOP
count of the whole training step per image, the part of it that does not
grow with the batch, the discriminator's share, and what 100 images/s
would be as a fraction of an H100's dense bfloat16 peak.

    python benchmarks/vit_vqgan_memory.py        # jax and torch, ~4 minutes
"""

import json

from backends import run_per_backend
from backends import worker_parser

MIB = 2**20
H100_BF16_DENSE_FLOPS = 989e12


def build_task(remat_blocks, discriminator=True):
    import keras

    import keras_vim

    keras.utils.set_random_seed(0)
    backbone = keras_vim.ViTVQGANBackbone.from_preset(
        "vit_vqgan_small", load_weights=False, remat_blocks=remat_blocks
    )
    preprocessor = keras_vim.ViTVQGANPreprocessor.from_preset("vit_vqgan_small")
    model = keras_vim.ViTVQGAN(
        backbone,
        preprocessor,
        discriminator_base_filters=64 if discriminator else 0,
    )
    model.compile(
        perceptual_weight=0.0, adversarial_weight=0.1 if discriminator else 0
    )
    return model


def images(batch):
    import numpy as np

    return np.random.default_rng(0).random((batch, 256, 256, 3), "float32")


def shape_group(shape):
    if len(shape) == 5:  # (batch, 1, heads, queries, keys)
        return "attention"
    if len(shape) == 3 and shape[-1] > 512:
        return "mlp_hidden"
    if len(shape) == 3:
        return "block_width"
    if len(shape) == 4:
        return "image_maps"
    return "other"


def jax_state(model):
    """The variable values of Keras' JAX `train_step`, in its order."""
    return tuple(
        [v.value for v in variables]
        for variables in (
            model.trainable_variables,
            model.non_trainable_variables,
            model.optimizer.variables,
            model.metrics_variables,
        )
    )


def jax_saved(model, batch):
    import jax
    import numpy as np

    trainable, non_trainable, optimizer, metrics = jax_state(model)

    def loss(trainable, x):
        return model.compute_loss_and_updates(
            trainable,
            non_trainable,
            metrics,
            x,
            None,
            None,
            training=True,
            optimizer_variables=optimizer,
        )[0]

    residuals = jax.eval_shape(
        lambda t, x: jax.vjp(lambda t: loss(t, x), t)[1],
        trainable,
        images(batch),
    )
    groups = {}
    for leaf in jax.tree_util.tree_leaves(residuals):
        # Weights fall in the same groups at both batch sizes and cancel.
        group = shape_group(leaf.shape)
        size = int(np.prod(leaf.shape)) * leaf.dtype.itemsize
        groups[group] = groups.get(group, 0) + size
    return groups


def jax_step_flops(model, batch):
    import jax

    lowered = jax.jit(model.train_step).lower(
        jax_state(model), (images(batch),)
    )
    return lowered.cost_analysis()["flops"]


def jax_gflops(model):
    """XLA's count of the step: GFLOP per image, and the part that does not
    grow with the batch (batch 1 minus that)."""
    one, two = jax_step_flops(model, 1) / 1e9, jax_step_flops(model, 2) / 1e9
    return two - one, 2 * one - two


def torch_saved(model, batch):
    import torch

    seen = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    x = torch.as_tensor(images(batch))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y_pred = model(x, training=True)
        model.compute_loss(x=x, y_pred=y_pred)
    return {"all": sum(seen.values())}


def worker():
    import keras

    backend = keras.config.backend()
    result = {}
    for remat_blocks in (False, True):
        model = build_task(remat_blocks)
        # Builds the optimizer and metric variables the loss reads.
        model.train_on_batch(images(1))
        saved = jax_saved if backend == "jax" else torch_saved
        one, two = saved(model, 1), saved(model, 2)
        per_image = {
            group: (two.get(group, 0) - one.get(group, 0)) / MIB
            for group in two
        }
        row = {"saved_per_image_mib": per_image}
        if backend == "jax":
            per_image, fixed = jax_gflops(model)
            row["train_step_gflops_per_image"] = per_image
            row["train_step_gflops_fixed"] = fixed
        result["remat" if remat_blocks else "no_remat"] = row
    if backend == "jax":
        # The discriminator's share: the same step without it.
        plain = build_task(remat_blocks=False, discriminator=False)
        plain.train_on_batch(images(1))
        result["no_discriminator_gflops_per_image"] = jax_gflops(plain)[0]
    backbone = model.backbone
    result["num_blocks"] = (
        backbone.encoder_num_layers + backbone.decoder_num_layers
    )
    # Weights, gradients and Adam's two moments, float32.
    result["state_gib"] = 4 * 4 * model.count_params() / 2**30
    print(json.dumps(result))


def main():
    parser = worker_parser(__doc__)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    if args.worker:
        return worker()
    # TensorFlow has no public list of the tensors its tape keeps.
    results = run_per_backend(__file__, backends=("jax", "torch"))
    print(
        "vit_vqgan_small training step, float32, 256x256, discriminator on: "
        "activations kept for the backward pass, MiB per image"
    )
    for backend, result in results.items():
        totals = {
            key: sum(result[key]["saved_per_image_mib"].values())
            for key in ("no_remat", "remat")
        }
        # One block's activations: what remat stops keeping, per block.
        block = (totals["no_remat"] - totals["remat"]) / result["num_blocks"]
        for key in ("no_remat", "remat"):
            groups = result[key]["saved_per_image_mib"]
            saved = sum(groups.values())
            # Without remat a block's working set is already in `saved`.
            peak = saved + (block if key == "remat" else 0.0)
            at_batch = args.batch * peak / 1024 + result["state_gib"]
            detail = ", ".join(
                f"{group} {mib:.0f}" for group, mib in sorted(groups.items())
            )
            print(
                f"{backend:6s} remat_blocks={key == 'remat'!s:5s} saved "
                f"{saved:6.0f} ({detail}); predicted peak {peak:5.0f} MiB "
                f"per image, {at_batch:5.1f} GiB at batch {args.batch} "
                f"(with {result['state_gib']:.1f} GiB of weights, "
                "gradients and Adam moments)"
            )
    jax_result = results["jax"]
    for key in ("no_remat", "remat"):
        flops = jax_result[key]["train_step_gflops_per_image"]
        fixed = jax_result[key]["train_step_gflops_fixed"]
        print(
            f"XLA's count of the training step, remat_blocks={key == 'remat'}:"
            f" {flops:.0f} GFLOP per image and {fixed:.1f} GFLOP a step "
            "whatever the batch; 100 images/s is "
            f"{100 * flops * 1e9 / H100_BF16_DENSE_FLOPS:.1%} of an H100's "
            "dense bfloat16 peak (989 TFLOP/s)"
        )
    plain = jax_result["no_discriminator_gflops_per_image"]
    with_it = jax_result["no_remat"]["train_step_gflops_per_image"]
    print(
        f"of which the discriminator's passes (remat_blocks=False): "
        f"{with_it - plain:.0f} GFLOP per image ({plain:.0f} without it)"
    )


if __name__ == "__main__":
    main()
