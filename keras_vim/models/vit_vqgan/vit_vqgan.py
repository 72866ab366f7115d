import math
import re

import keras
from keras import ops
from keras_hub.models import Task

from keras_vim.layers.vector_quantizer import codebook_usage_and_perplexity
from keras_vim.models.vit_vqgan import vit_vqgan_inference_model as inference
from keras_vim.models.vit_vqgan import vit_vqgan_losses as losses
from keras_vim.models.vit_vqgan.vit_vqgan_backbone import ViTVQGANBackbone
from keras_vim.models.vit_vqgan.vit_vqgan_discriminator import (
    ViTVQGANDiscriminator,
)
from keras_vim.models.vit_vqgan.vit_vqgan_preprocessor import (
    ViTVQGANPreprocessor,
)
from keras_vim.utils.preset_utils import load_preset
from keras_vim.utils.shuffled_fit import shuffled_fit_inputs
from keras_vim.utils.untracked import Untracked
from keras_vim.utils.validation import check_positive_int
from keras_vim.utils.validation import warn_if_cropped

# Each logged loss term and the `compile` weight it is summed with (the
# discriminator's own loss always counts once).
LOSS_TERMS = {
    "quantizer_loss": "quantizer_weight",
    "logit_laplace_loss": "logit_laplace_weight",
    "l2_loss": "l2_weight",
    "gradient_l2_loss": "gradient_l2_weight",
    "perceptual_loss": "perceptual_weight",
    "generator_adversarial_loss": "adversarial_weight",
    "discriminator_loss": None,
}


@keras.saving.register_keras_serializable(package="keras_vim")
class ViTVQGAN(Task):
    """ViT-VQGAN image tokenizer task: `encode`, `decode`, and `fit`.

    Stage 1 of Yu et al., "Vector-quantized Image Modeling with Improved
    VQGAN" (2021). `encode(images)` gives one int32 token per patch,
    `decode(token_ids)` gives float32 images in [0, 1]. `fit(images)` trains
    the tokenizer with the paper's combined objective

        L = L_VQ + w_ll * L_logit-Laplace + w_l2 * L_2
            + w_p * L_perceptual + w_adv * L_adversarial
            (+ w_g * L_2 of the pixel differences, off by default),

    where the adversarial term comes from a StyleGAN-style discriminator that
    is trained in the same step on its own loss, by its own optimizer (both
    live in one `keras.optimizers.MultiOptimizer`, which `fit` drives on
    every backend and `.keras` files save with its state). The discriminator
    only ever receives gradients of its own loss: the generator's
    adversarial term is computed through a copy of its weights behind
    `stop_gradient`, and its fake inputs are detached. Every term, codebook
    usage and perplexity show in the `fit` logs.

    Args:
        backbone: a `keras_vim.ViTVQGANBackbone`.
        preprocessor: a `keras_vim.ViTVQGANPreprocessor` or `None`.
        discriminator_base_filters: int. Width of the discriminator at full
            resolution; `0` builds no discriminator (no GAN loss).
        compile: bool. Compile with `compile()`'s defaults (the paper's
            loss weights) on construction. No VGG16 weights are fetched
            until training needs them.

    Example:
    ```python
    tokenizer = keras_vim.ViTVQGAN.from_preset("vit_vqgan_photos_64")
    token_ids = tokenizer.encode(images)        # (batch, 8, 8) int32
    reconstructions = tokenizer.decode(token_ids)  # (batch, 64, 64, 3)

    tokenizer.compile(perceptual_weight=0.0)
    tokenizer.fit(images, batch_size=32, epochs=1)
    ```
    """

    backbone_cls = ViTVQGANBackbone
    preprocessor_cls = ViTVQGANPreprocessor

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        """keras-hub's `from_preset`, with `load_preset`'s checks."""
        return load_preset(super().from_preset, preset, load_weights, **kwargs)

    def fit(self, x=None, y=None, **kwargs):
        """keras-hub's `fit`; arrays are reshuffled every epoch."""
        if self.preprocessor is not None and getattr(x, "ndim", 0) == 4:
            warn_if_cropped(x.shape, self.backbone.image_size)
        return super().fit(**shuffled_fit_inputs(x, y, **kwargs))

    def __init__(
        self,
        backbone,
        preprocessor=None,
        discriminator_base_filters=64,
        **kwargs,
    ):
        kwargs.setdefault("name", "vit_vqgan")
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        # === Functional model ===
        inputs = backbone.input
        outputs = backbone(inputs)
        # Compiled below, once the discriminator that compile maps exists.
        compile_now = kwargs.pop("compile", True)
        super().__init__(
            inputs=inputs, outputs=outputs, compile=False, **kwargs
        )

        # Set after the functional init so Keras tracks it on every backend.
        self.discriminator = None
        if discriminator_base_filters:
            self.discriminator = ViTVQGANDiscriminator(
                backbone.image_size,
                base_filters=discriminator_base_filters,
                num_channels=backbone.num_channels,
                dtype=backbone.dtype_policy,
                name="discriminator",
            )
            self.discriminator.build(
                (
                    None,
                    backbone.image_size,
                    backbone.image_size,
                    backbone.num_channels,
                )
            )

        # === Config ===
        self.discriminator_base_filters = discriminator_base_filters

        self.loss_trackers = {
            name: keras.metrics.Mean(name=name) for name in LOSS_TERMS
        }
        self.codebook_usage_tracker = keras.metrics.Mean(name="codebook_usage")
        self.perplexity_tracker = keras.metrics.Mean(name="perplexity")
        self._inference_models = Untracked({})
        # Set by `compile`; here too so that an uncompiled task has them.
        self.loss_weights_config = None
        self.perceptual_weights = None
        self._perceptual = Untracked(None)  # A `PerceptualLoss` or `None`.
        if compile_now:
            self.compile()

    def compile(
        self,
        optimizer="auto",
        discriminator_optimizer="auto",
        quantizer_weight=1.0,
        logit_laplace_weight=0.1,
        l2_weight=1.0,
        gradient_l2_weight=0.0,
        perceptual_weight=0.1,
        adversarial_weight="auto",
        adaptive_adversarial_weight=False,
        perceptual_weights="imagenet",
        **kwargs,
    ):
        """Configures training with the paper's loss weights by default.

        Args:
            optimizer: `"auto"` (Adam, lr 1e-4, beta_2 0.99) or a Keras
                optimizer, for the encoder, quantizer and decoder. A
                `keras.optimizers.MultiOptimizer` is used as given, and must
                then map the discriminator's variables itself.
            discriminator_optimizer: `"auto"` (the same Adam settings) or a
                Keras optimizer for the discriminator.
            quantizer_weight: float. Weight of the codebook + commitment loss.
            logit_laplace_weight: float. Weight of the logit-Laplace NLL.
            l2_weight: float. Weight of the pixel L2 loss.
            gradient_l2_weight: float. Weight of the L2 loss on neighbouring
                pixel differences (not in the paper; same minimiser as L2,
                learns token boundaries faster).
            perceptual_weight: float. Weight of the VGG16 perceptual loss;
                `0` disables it (the paper does so for linear-probe models,
                since VGG's labels leak into the features).
            adversarial_weight: float. Weight of the generator's GAN loss;
                `0` disables the discriminator. `"auto"`: the paper's 0.1
                when the task has a discriminator, else 0 (saved presets
                carry none: `from_preset(...,
                discriminator_base_filters=64)` builds one).
            adaptive_adversarial_weight: bool. VQGAN's adaptive weight: the
                GAN term's gradient at the decoder output is rescaled to
                `adversarial_weight` times the norm of the reconstruction
                losses' gradient there (`balanced_adversarial_copies`), so
                `adversarial_weight` becomes a ratio of gradient norms.
            perceptual_weights: `"imagenet"` (downloads VGG16 weights once),
                a weights file path, or `None` (random features, for tests).
                The network is built when `fit` or `evaluate` starts, not here.
        """
        if adversarial_weight == "auto":
            adversarial_weight = 0.1 if self.discriminator is not None else 0.0
        weights = {
            "quantizer_weight": quantizer_weight,
            "logit_laplace_weight": logit_laplace_weight,
            "l2_weight": l2_weight,
            "gradient_l2_weight": gradient_l2_weight,
            "perceptual_weight": perceptual_weight,
            "adversarial_weight": adversarial_weight,
        }
        for name, value in weights.items():
            if (
                not isinstance(value, (int, float))
                or value < 0
                or math.isnan(value)
            ):
                raise ValueError(
                    f"`{name}` must be a number >= 0. "
                    f"Received: {name}={value!r}"
                )
        if adversarial_weight and self.discriminator is None:
            raise ValueError(
                "`adversarial_weight` > 0 needs a discriminator, and this "
                "task has none (`discriminator_base_filters=0`; saved "
                "presets carry none). Build the task with one, e.g. "
                "`ViTVQGAN.from_preset(preset, discriminator_base_filters="
                f"64)`. Received: adversarial_weight={adversarial_weight!r}"
            )
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(1e-4, beta_1=0.9, beta_2=0.99)
        optimizer = keras.optimizers.get(optimizer)
        if self.discriminator is not None and not isinstance(
            optimizer, keras.optimizers.MultiOptimizer
        ):
            if discriminator_optimizer == "auto":
                discriminator_optimizer = keras.optimizers.Adam(
                    1e-4, beta_1=0.9, beta_2=0.99
                )
            # OptimizerMap matches variable paths against its keys with
            # `re.fullmatch`, so this sends every discriminator variable to
            # its own optimizer and all others to `optimizer`.
            pattern = re.escape(self.discriminator.path) + "/.*"
            optimizer = keras.optimizers.MultiOptimizer(
                keras.optimizers.OptimizerMap(
                    optimizer,
                    {pattern: keras.optimizers.get(discriminator_optimizer)},
                )
            )
        self.loss_weights_config = dict(
            weights,
            adaptive_adversarial_weight=bool(adaptive_adversarial_weight),
        )
        self.perceptual_weights = perceptual_weights
        self._perceptual = Untracked(
            losses.PerceptualLoss(perceptual_weights)
            if perceptual_weight
            else None
        )
        kwargs.pop("loss", None)
        kwargs.pop("metrics", None)
        super().compile(optimizer=optimizer, loss=None, **kwargs)

    def compile_from_config(self, config):
        config = keras.saving.deserialize_keras_object(config)
        config["perceptual_weights"] = losses.saved_perceptual_weights(
            config.get("perceptual_weights")
        )
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def get_compile_config(self):
        if not self.compiled:
            return {}
        config = super().get_compile_config() or {}
        config.update(self.loss_weights_config)
        config["perceptual_weights"] = self.perceptual_weights
        config.pop("loss", None)
        config.pop("loss_weights", None)
        return config

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        images = ops.cast(x["images"] if isinstance(x, dict) else x, "float32")
        w = self.loss_weights_config
        terms = losses.loss_terms(
            images, y_pred, w, self.discriminator, self._perceptual.value
        )
        total = sum(
            value * (w[LOSS_TERMS[name]] if LOSS_TERMS[name] else 1.0)
            for name, value in terms.items()
        )
        for name, value in terms.items():
            self.loss_trackers[name].update_state(value)
        usage, perplexity = codebook_usage_and_perplexity(
            y_pred["token_ids"], self.backbone.codebook_size
        )
        self.codebook_usage_tracker.update_state(usage)
        self.perplexity_tracker.update_state(perplexity)
        if self.losses:
            total = total + ops.sum(self.losses)
        return total

    # VGG16 is built (and downloaded) here, before the step is traced, and
    # not by `compile`, which every new task runs.
    def make_train_function(self, force=False):
        if self._perceptual.value is not None:
            self._perceptual.value.build()
        return super().make_train_function(force)

    def make_test_function(self, force=False):
        if self._perceptual.value is not None:
            self._perceptual.value.build()
        return super().make_test_function(force)

    @property
    def metrics(self):
        tracked = [self.loss_trackers[name] for name in LOSS_TERMS]
        weights = getattr(self, "loss_weights_config", None) or {}
        active = [
            t
            for t in tracked
            if t.name != "perceptual_loss" or weights.get("perceptual_weight")
        ]
        trackers = [self.codebook_usage_tracker, self.perplexity_tracker]
        return super().metrics + active + trackers

    # === Inference ===

    def _inference_model(self, kind):
        models = self._inference_models.value
        if kind not in models:
            models[kind] = inference.ViTVQGANInferenceModel(
                self.backbone, kind, name=f"vit_vqgan_{kind}"
            )
        return models[kind]

    def encode(self, images, batch_size=32, verbose="auto"):
        """Tokenizes images.

        Args:
            images: uint8 `[0, 255]` or float `[0, 1]` array,
                `(batch, H, W, C)` or `(H, W, C)`; resized to the model size
                by the preprocessor.
            batch_size: positive int. Images per `predict` batch.
            verbose: progress bar: `"auto"` shows one when there is more
                than one batch.

        Returns:
            int32 numpy array `(batch, H/p, W/p)` of code ids; `(0, H/p,
            W/p)` for no images.
        """
        batch_size = check_positive_int("batch_size", batch_size)
        images = inference.model_images(
            self.backbone, self.preprocessor, images
        )
        ids = self._inference_model("encode").predict_batches(
            images, batch_size, verbose
        )
        g = self.backbone.grid_size
        return ids.reshape(-1, g, g)

    def decode(self, token_ids, batch_size=32, verbose="auto"):
        """Maps code ids back to images.

        Args:
            token_ids: integers in `[0, codebook_size)`, shape
                `(batch, H/p, W/p)` or `(batch, H/p * W/p)`.
            batch_size: positive int. Images per `predict` batch.
            verbose: progress bar, as in `encode`.

        Returns:
            float32 numpy array `(batch, H, W, C)` in `[0, 1]`; `(0, H, W, C)`
            for no token ids.
        """
        batch_size = check_positive_int("batch_size", batch_size)
        ids = inference.flat_token_ids(self.backbone, token_ids)
        return self._inference_model("decode").predict_batches(
            ids, batch_size, verbose
        )

    def reconstruct(self, images, batch_size=32, verbose="auto"):
        """`decode(encode(images))`."""
        return self.decode(
            self.encode(images, batch_size, verbose), batch_size, verbose
        )

    def get_config(self):
        config = super().get_config()
        config["discriminator_base_filters"] = self.discriminator_base_filters
        return config
