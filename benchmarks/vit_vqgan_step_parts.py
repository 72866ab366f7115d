"""Time of the parts of a ViT-VQGAN Small training step, each jitted alone,
on JAX: the attention of one Transformer block (forward and backward, with
the implementation Keras picks and with XLA's), and the discriminator
(forward and backward, weights and input).

    python benchmarks/vit_vqgan_step_parts.py --policy mixed_bfloat16

A full step runs 16 attentions (encoder and decoder blocks; their forward
twice with `remat_blocks`) and 3 discriminator forwards and backwards (real
and detached fake images for its own loss, fake images for the generator's
adversarial loss). Prints which attention implementation Keras chose for
this shape and dtype, and why not cuDNN's fused one where it did not.
"""

import argparse

from backends import best_time


def best_ms(fn, *args):
    """Best of 5 calls of the jitted `fn` after a compiling one, in ms."""
    import jax

    return 1e3 * best_time(lambda: jax.block_until_ready(fn(*args)), 5)


def keras_attention_choice(query):
    """Whether Keras's JAX backend picks cuDNN flash attention for `query`
    (as key and value too), and its reason if not. Keras decides in a
    private function; this diagnostic only reads it."""
    from keras.src.backend.jax import nn

    try:
        nn._can_use_flash_attention(query, query, query, None, True)
    except Exception as error:  # The reason Keras would fall back to XLA.
        return f"XLA ({type(error).__name__}: {str(error)[:200]})"
    return "cuDNN flash attention"


def attention_ms(batch, tokens, heads, head_dim, dtype, flash_attention):
    import jax
    import numpy as np
    from keras import ops

    rng = np.random.default_rng(0)
    shape = (batch, tokens, heads, head_dim)
    q, k, v = (
        jax.numpy.asarray(rng.standard_normal(shape), dtype) for _ in "qkv"
    )

    def loss(q, k, v):
        out = ops.dot_product_attention(
            q, k, v, flash_attention=flash_attention
        )
        return ops.sum(ops.cast(out, "float32"))

    step = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))
    return best_ms(step, q, k, v)


def discriminator_ms(batch, image_size, filters):
    import jax
    import numpy as np
    from keras import ops

    from keras_vim.models.vit_vqgan.vit_vqgan_discriminator import (
        ViTVQGANDiscriminator,
    )

    layer = ViTVQGANDiscriminator(image_size, base_filters=filters)
    layer.build((None, image_size, image_size, 3))
    trainable = [v.value for v in layer.trainable_variables]
    rng = np.random.default_rng(0)
    images = jax.numpy.asarray(
        rng.random((batch, image_size, image_size, 3)), "float32"
    )

    def loss(trainable, images):
        logits, _ = layer.stateless_call(trainable, [], images)
        return ops.mean(ops.softplus(logits))

    step = jax.jit(jax.grad(loss, argnums=(0, 1)))
    return best_ms(step, trainable, images)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--policy", default="mixed_bfloat16")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=1024)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--filters", type=int, default=64)
    args = parser.parse_args()
    import keras

    keras.config.set_dtype_policy(args.policy)
    dtype = keras.config.dtype_policy().compute_dtype
    sizes = (args.batch, args.tokens, args.heads, args.head_dim)
    print(f"{args.policy}, batch {args.batch}")
    query = keras.ops.zeros(sizes, dtype)
    print(
        f"  Keras's attention for this shape: {keras_attention_choice(query)}"
    )
    parts = {
        "attention forward+backward, Keras's choice": lambda: attention_ms(
            *sizes, dtype, None
        ),
        "attention forward+backward, XLA": lambda: attention_ms(
            *sizes, dtype, False
        ),
        "discriminator forward+backward": lambda: discriminator_ms(
            args.batch, args.image_size, args.filters
        ),
    }
    for name, measure in parts.items():
        try:
            print(f"  {name}: {measure():.2f} ms", flush=True)
        except Exception as error:  # One failed part leaves the others.
            print(f"  {name}: failed: {str(error).strip()[:300]}")


if __name__ == "__main__":
    main()
