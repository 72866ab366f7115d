"""Reconstruction and adversarial losses of ViT-VQGAN (all float32)."""

import math
import warnings

import keras
from keras import ops

from keras_vim.models.vit_vqgan.vit_vqgan_decoder import logit
from keras_vim.models.vit_vqgan.vit_vqgan_decoder import map_pixels


def loss_terms(images, y_pred, weights, discriminator, perceptual):
    """Each active loss term of a ViT-VQGAN step, batch-averaged.

    Args:
        images: `(batch, H, W, C)` float32 targets in [0, 1].
        y_pred: the backbone's output dict.
        weights: `ViTVQGAN.loss_weights_config`; a term with weight 0 is
            not computed (the quantizer's always is).
        discriminator: a `ViTVQGANDiscriminator`, used when the adversarial
            weight is not 0.
        perceptual: a `PerceptualLoss`, used when its weight is not 0.

    Returns:
        A dict from `ViTVQGAN.LOSS_TERMS` names to scalars.
    """
    w = weights
    reconstruction = fake = y_pred["reconstruction"]
    if w["adversarial_weight"] and w["adaptive_adversarial_weight"]:
        reconstruction, fake = balanced_adversarial_copies(
            reconstruction, w["adversarial_weight"]
        )
    terms = {"quantizer_loss": ops.mean(y_pred["quantizer_loss"])}
    if w["logit_laplace_weight"]:
        terms["logit_laplace_loss"] = ops.mean(
            logit_laplace_loss(images, y_pred["location"], y_pred["log_scale"])
        )
    if w["l2_weight"]:
        terms["l2_loss"] = ops.mean(l2_loss(images, reconstruction))
    if w["gradient_l2_weight"]:
        terms["gradient_l2_loss"] = ops.mean(
            gradient_l2_loss(images, reconstruction)
        )
    if w["perceptual_weight"]:
        terms["perceptual_loss"] = ops.mean(perceptual(images, reconstruction))
    if w["adversarial_weight"]:
        real_logits = discriminator(images)
        fake_logits = discriminator(ops.stop_gradient(fake))
        terms["discriminator_loss"] = ops.mean(
            discriminator_loss(real_logits, fake_logits)
        )
        terms["generator_adversarial_loss"] = ops.mean(
            generator_adversarial_loss(discriminator.frozen_call(fake))
        )
    return terms


def logit_laplace_loss(images, location, log_scale):
    """Per-example negative log-likelihood under the logit-Laplace density.

    DALL-E's formulation (Ramesh et al., 2021, appendix A.3): pixels `x` in
    [0, 1] are squashed into `(eps, 1 - eps)` and modelled by
    `p(x) = exp(-|logit(x) - mu| / b) / (2 b x (1 - x))`, so the loss is
    `|logit(x) - mu| / b + log(2 b) + log(x (1 - x))`, averaged over pixels.
    This is the full likelihood, not the plain L1 that public ports often
    substitute for it.

    Args:
        images: `(batch, H, W, C)` targets in [0, 1].
        location: `(batch, H, W, C)` `mu`, in logit space.
        log_scale: `(batch, H, W, C)` `log b`.

    Returns:
        `(batch,)` float32 mean negative log-likelihood per pixel.
    """
    x = map_pixels(ops.clip(ops.cast(images, "float32"), 0.0, 1.0))
    location = ops.cast(location, "float32")
    # Keeps b in a range where exp() and the division stay finite.
    log_scale = ops.clip(ops.cast(log_scale, "float32"), -10.0, 10.0)
    nll = (
        ops.abs(logit(x) - location) * ops.exp(-log_scale)
        + log_scale
        + math.log(2.0)
        + ops.log(x)
        + ops.log1p(-x)
    )
    return ops.mean(nll, axis=(1, 2, 3))


def l2_loss(images, reconstruction):
    """Per-example mean squared error, `(batch,)` float32."""
    diff = ops.cast(reconstruction, "float32") - ops.cast(images, "float32")
    return ops.mean(ops.square(diff), axis=(1, 2, 3))


def gradient_l2_loss(images, reconstruction):
    """Per-example mean squared error of the neighbouring-pixel differences.

    Weighs errors by frequency: a reconstruction made of flat 8x8 blocks pays
    for every step at a block edge. Its minimiser is the same as L2's (both
    are quadratic in `reconstruction - images`), so it speeds up learning
    smooth token boundaries without changing what is learned. `(batch,)`.
    """
    diff = ops.cast(reconstruction, "float32") - ops.cast(images, "float32")
    down = ops.square(diff[:, 1:] - diff[:, :-1])
    across = ops.square(diff[:, :, 1:] - diff[:, :, :-1])
    return ops.mean(down, axis=(1, 2, 3)) + ops.mean(across, axis=(1, 2, 3))


def balanced_adversarial_copies(reconstruction, weight):
    """Two copies of `reconstruction` whose gradients are balanced.

    The first copy feeds the reconstruction losses, the second the
    generator's adversarial loss. Forward, both are `reconstruction`;
    backward, the second copy's gradient is rescaled so that its norm is
    `weight` times the norm of the first's before the two are summed. This
    is VQGAN's adaptive weight (Esser et al., 2021, eq. 7), taken at the
    decoder's output rather than at its last layer's kernel: whatever the
    scale of the discriminator's logits, the GAN term moves the pixels
    `weight` as far as reconstruction does, and never outweighs it.

    Args:
        reconstruction: `(batch, H, W, C)` float32 decoder output.
        weight: float. Adversarial gradient norm over reconstruction
            gradient norm.

    Returns:
        `(for_reconstruction, for_adversarial)`.
    """

    # One stacked output: torch's custom gradients take a single upstream.
    @ops.custom_gradient
    def copies(x):
        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            from_reconstruction, from_adversarial = upstream[0], upstream[1]
            scale = weight * _norm(from_reconstruction)
            scale = scale / (_norm(from_adversarial) + 1e-12)
            return from_reconstruction + scale * from_adversarial

        return ops.stack([x, x]), grad

    both = copies(ops.cast(reconstruction, "float32"))
    return both[0], both[1]


def _norm(x):
    return ops.sqrt(ops.sum(ops.square(x)))


def discriminator_loss(real_logits, fake_logits):
    """Non-saturating logistic loss of the discriminator, `(batch,)`."""
    return ops.softplus(-real_logits) + ops.softplus(fake_logits)


def generator_adversarial_loss(fake_logits):
    """Non-saturating logistic loss of the generator, `(batch,)`."""
    return ops.softplus(-fake_logits)


# Caffe-style VGG16 input: BGR, mean-subtracted, 0-255.
_VGG_MEAN_BGR = (103.939, 116.779, 123.68)
_VGG_FEATURE_LAYERS = (
    "block1_conv2",
    "block2_conv2",
    "block3_conv3",
    "block4_conv3",
    "block5_conv3",
)


class PerceptualLoss:
    """LPIPS-style distance between VGG16 feature maps.

    Features of five VGG16 layers are unit-normalized along channels and
    compared with a squared distance, averaged per layer and summed. The
    network comes from `keras.applications.VGG16`; it is frozen, and kept out
    of the task's tracked weights so that presets do not carry it.

    The network is built (and its weights fetched) by `build()` or the first
    call, not by the constructor, so that a task can be compiled with a
    perceptual loss without a download. Call `build()` before tracing a
    compiled step: a network cannot be built inside one.

    Args:
        weights: `"imagenet"`, a path to a weights file, or `None` (random
            features; for tests, which must not download).
    """

    def __init__(self, weights="imagenet"):
        self.weights = weights
        self.features = None

    def build(self):
        if self.features is not None:
            return
        vgg = keras.applications.VGG16(include_top=False, weights=self.weights)
        vgg.trainable = False
        outputs = [vgg.get_layer(name).output for name in _VGG_FEATURE_LAYERS]
        self.features = keras.Model(vgg.input, outputs, name="vgg_features")

    def __call__(self, images, reconstruction):
        self.build()
        both = ops.concatenate(
            [ops.cast(images, "float32"), ops.cast(reconstruction, "float32")]
        )
        both = ops.flip(both, axis=-1) * 255.0 - ops.convert_to_tensor(
            _VGG_MEAN_BGR, "float32"
        )
        batch = ops.shape(images)[0]
        loss = 0.0
        for features in self.features(both):
            features = ops.cast(features, "float32")
            features = features * ops.rsqrt(
                ops.sum(ops.square(features), axis=-1, keepdims=True) + 1e-10
            )
            real, fake = features[:batch], features[batch:]
            loss = loss + ops.mean(ops.square(real - fake), axis=(1, 2, 3))
        return loss


def saved_perceptual_weights(weights):
    """`perceptual_weights` as read back from a saved compile config.

    A saved file must not make a later `fit()` read a file the user never
    named: a path is dropped (random VGG16 features) with a warning;
    `"imagenet"` and `None` are kept.
    """
    if weights in (None, "imagenet"):
        return weights
    warnings.warn(
        f"The saved compile config names perceptual_weights={weights!r}, a "
        "file path; it is not read. The perceptual loss uses random VGG16 "
        "features until you call `compile(perceptual_weights=...)` again "
        "with that path.",
        stacklevel=3,
    )
    return None
