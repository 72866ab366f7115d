import keras
from keras import ops
from keras_hub.models import CausalLM

from keras_vim.generation import CompiledSampling
from keras_vim.generation import check_sampling_arguments
from keras_vim.generation import guided_sample
from keras_vim.generation import recompute_step
from keras_vim.generation.direct_call import autocast
from keras_vim.generation.direct_call import direct_call
from keras_vim.models.vim.vim_backbone import VIMBackbone
from keras_vim.models.vim.vim_causal_lm_preprocessor import (
    VIMCausalLMPreprocessor,
)
from keras_vim.models.vim.vim_class_dropout import VIMClassDropout
from keras_vim.utils.compile_config import compile_from_saved_config
from keras_vim.utils.compile_config import with_sampler
from keras_vim.utils.preset_utils import load_preset
from keras_vim.utils.shuffled_fit import shuffled_fit_inputs
from keras_vim.utils.validation import check_positive_int
from keras_vim.utils.validation import is_array_like


@keras.saving.register_keras_serializable(package="keras_vim")
class VIMTransformer(CausalLM):
    """VIM image-token Transformer: next-token training and guided `generate`.

    Wraps a `keras_vim.VIMBackbone` with the output softmax over image codes
    (Yu et al., 2021, section 4). `fit` takes image token ids, or images
    when the preprocessor holds a ViT-VQGAN, and optional class ids as `y`;
    classes are dropped to "no class" with probability `class_dropout_rate`
    so classifier-free guidance works.

    `generate` samples the `grid_size**2` tokens through the shared engine
    (`keras_vim.generation`): key/value cache, compiled loop per backend,
    the sampler given to `compile(sampler=...)` unless `temperature` /
    `top_k` / `top_p` override it, and, with `guidance_scale != 1`,
    conditional and unconditional passes in one batch mixed as
    `uncond + scale * (cond - uncond)`.

    Args:
        backbone: a `keras_vim.VIMBackbone`.
        preprocessor: a `keras_vim.VIMCausalLMPreprocessor` or `None` (one
            without an image tokenizer is built from the backbone).
        image_tokenizer: `None` or a `keras_vim.ViTVQGAN`; shorthand for a
            preprocessor holding it (only when `preprocessor` is `None`).
        class_dropout_rate: float. Probability of training a
            class-conditional example as unconditional.

    Example:
    ```python
    vim = keras_vim.VIMTransformer.from_preset("vim_digits_class")
    out = vim.generate(class_ids=[0, 1, 2], guidance_scale=2.0, seed=0)
    out["token_ids"].shape, out["images"].shape  # (3, 4, 4), (3, 32, 32, 3)
    ```
    """

    backbone_cls = VIMBackbone
    preprocessor_cls = VIMCausalLMPreprocessor

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        return load_preset(super().from_preset, preset, load_weights, **kwargs)

    def __init__(
        self,
        backbone,
        preprocessor=None,
        image_tokenizer=None,
        class_dropout_rate=0.1,
        **kwargs,
    ):
        kwargs.setdefault("name", "vim_transformer")
        if preprocessor is None:
            preprocessor = VIMCausalLMPreprocessor(
                image_tokenizer,
                grid_size=backbone.grid_size,
                vocabulary_size=backbone.vocabulary_size,
                num_classes=backbone.num_classes,
            )
        elif image_tokenizer is not None:
            raise ValueError(
                "Pass the image tokenizer in the preprocessor or as "
                "`image_tokenizer`, not both."
            )
        _check_preprocessor_matches(preprocessor, backbone)
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        class_dropout = VIMClassDropout(
            class_dropout_rate if backbone.num_classes else 0.0,
            backbone.no_class_id,
            name="class_dropout",
        )

        # === Functional model ===
        inputs = backbone.input
        hidden = backbone(
            {
                "token_ids": inputs["token_ids"],
                "class_ids": class_dropout(inputs["class_ids"]),
            }
        )
        # Output i (class token first) predicts image token i.
        logits = backbone.token_embedding(hidden[:, :-1, :], reverse=True)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

        # === Config ===
        self.class_dropout_rate = class_dropout_rate
        self._sampling = CompiledSampling(self)

    @property
    def image_tokenizer(self):
        """The preprocessor's frozen ViT-VQGAN, or `None`."""
        return self.preprocessor.image_tokenizer

    def compile(
        self,
        optimizer="auto",
        loss="auto",
        *,
        weighted_metrics="auto",
        sampler="random",
        jit_compile="auto",
        **kwargs,
    ):
        """Configures training and the default sampler.

        Args:
            optimizer: `"auto"` (AdamW, lr 3e-4, weight decay 0.01) or a
                Keras optimizer.
            loss: `"auto"` (sparse cross-entropy from logits) or a loss.
            weighted_metrics: `"auto"` (token accuracy) or metrics.
            sampler: a keras-hub sampler or its name; `generate` uses it
                unless its `temperature`, `top_k` or `top_p` override it.
                Default `"random"`: plain sampling, as in the paper.
            jit_compile: bool or `"auto"`, as in `keras.Model.compile`. On
                torch it also decides whether `generate` compiles each
                token's step with `torch.compile`; `"auto"` does so when
                the model's weights are on a GPU.
        """
        if optimizer == "auto":
            optimizer = keras.optimizers.AdamW(3e-4, weight_decay=0.01)
        super().compile(
            optimizer=optimizer,
            loss=loss,
            weighted_metrics=weighted_metrics,
            sampler=sampler,
            jit_compile=jit_compile,
            **kwargs,
        )
        self._decoding_jit_compile = jit_compile

    def get_compile_config(self):
        return with_sampler(super().get_compile_config(), self.sampler)

    def compile_from_config(self, config):
        compile_from_saved_config(self, config)

    # === Training ===

    def preprocess_samples(self, x, y=None, sample_weight=None):
        # `fit` and `evaluate` preprocess whole arrays once (encoding images
        # once, not every epoch); model-ready batches pass through.
        if isinstance(x, dict):
            return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)
        return super().preprocess_samples(x, y, sample_weight)

    def _preprocess_arrays(self, x, y=None):
        if x is not None and not isinstance(x, dict) and is_array_like(x):
            return self.preprocessor(x, y)
        return x, y

    def fit(self, x=None, y=None, validation_data=None, **kwargs):
        """`fit` on token ids or images, with class ids as `y`.

        `validation_data` takes the same forms: `ids`, `(ids,)` or
        `(ids, class_ids)`.
        """
        x, y = self._preprocess_arrays(x, y)
        if validation_data is not None:
            parts = validation_data
            if not isinstance(parts, (tuple, list)):
                parts = (parts,)
            if parts and is_array_like(parts[0]):
                validation_data = self._preprocess_arrays(*parts[:2])
        return super().fit(
            **shuffled_fit_inputs(
                x, y, validation_data=validation_data, **kwargs
            )
        )

    def evaluate(self, x=None, y=None, **kwargs):
        x, y = self._preprocess_arrays(x, y)
        return super().evaluate(x, y, **kwargs)

    # === Decoding steps ===

    def call_with_cache(self, token_ids, cache, cache_update_index):
        """One decoding step at sequence position `cache_update_index`.

        Args:
            token_ids: `(batch, 1)` ids at that position (a class id at 0).
            cache: tuple of one `(2, batch, num_heads, length, head_dim)`
                key/value tensor per block (see `init_cache`); on torch
                they are updated in place.
            cache_update_index: int or scalar tensor.

        Returns:
            `(logits, hidden, cache)`; `logits` `(batch, 1, vocabulary)`
            float32.
        """
        b = self.backbone
        x = b.embed_step(token_ids, cache_update_index)
        caches = []
        with autocast(b):
            for block, block_cache in zip(b.transformer_layers, cache):
                x, block_cache = block.call_with_cache(
                    x, block_cache, cache_update_index
                )
                caches.append(block_cache)
            hidden = direct_call(b.layer_norm, x)
            logits = direct_call(b.token_embedding, hidden, reverse=True)
        return logits, hidden, tuple(caches)

    def init_cache(self, batch_size):
        """An empty key/value cache for `call_with_cache`."""
        b = self.backbone
        shape = (
            2,
            batch_size,
            b.num_heads,
            b.sequence_length + 1,
            b.hidden_dim // b.num_heads,
        )
        return tuple(
            ops.zeros(shape, self.compute_dtype) for _ in range(b.num_layers)
        )

    def full_logits(self, prompt, position=None):
        """Float32 logits recomputing the whole sequence.

        Args:
            prompt: `(batch, 1 + length)`: class id, then image token ids.
            position: `None` (every position) or the one position to return.
        """
        hidden = self.backbone(
            {"token_ids": prompt[:, 1:], "class_ids": prompt[:, 0]}
        )
        if position is not None:
            hidden = ops.take(hidden, position, axis=1)
        return self.backbone.token_embedding(hidden, reverse=True)

    # === Generation ===

    def generate_step(self, inputs, sampler, guided, use_cache):
        """Samples every image token after the class token of `inputs`.

        Args:
            inputs: dict with `"token_ids"` `(batch, 1 + length)` prompts
                and, guided, a scalar `"guidance_scale"`.
            sampler: a keras-hub sampler.
            guided: bool. Classifier-free guidance.
            use_cache: bool. Key/value cache, or prefix recompute.
        """
        prompt = inputs["token_ids"]
        batch_size = ops.shape(prompt)[0]
        null_prompt = None
        model_prompt = prompt
        if guided:
            no_class = ops.full(
                (batch_size, 1), self.backbone.no_class_id, prompt.dtype
            )
            null_prompt = ops.concatenate([no_class, prompt[:, 1:]], axis=1)
            model_prompt = ops.concatenate([prompt, null_prompt], axis=0)
        cache, step = self._decoding_step(model_prompt, use_cache)
        return guided_sample(
            sampler,
            step,
            prompt,
            cache,
            start_index=1,
            guidance_scale=inputs["guidance_scale"] if guided else None,
            null_prompt=null_prompt,
            on_step=self._sampling.report_progress,
            model=self,
            # The recompute path is for checks: it stays eager.
            compile_steps=self._sampling.compiles_steps and use_cache,
        )

    def _decoding_step(self, model_prompt, use_cache):
        """The engine's `(initial cache, step)`: cached or recomputing."""
        if not use_cache:
            return model_prompt, recompute_step(self.full_logits)

        def step(token_ids, cache, index):
            logits, _, cache = self.call_with_cache(token_ids, cache, index)
            return logits[:, 0], cache

        return self.init_cache(ops.shape(model_prompt)[0]), step

    def generate(
        self,
        class_ids=None,
        num_images=None,
        temperature=None,
        top_k=None,
        top_p=None,
        guidance_scale=1.0,
        seed=None,
        use_cache=True,
        batch_size=None,
        verbose="auto",
    ):
        """Samples images token by token.

        Args:
            class_ids: class ids (one image each) for a class-conditional
                model, or `None`.
            num_images: int. Images to sample when `class_ids` is `None`
                (default 1).
            temperature: `None` (the compiled sampler's, 1.0 by default) or
                a number > 0; below 1e-6 sampling is greedy.
            top_k: int or `None`. Sample among the `k` most likely codes.
            top_p: number in (0, 1] or `None`. Nucleus sampling.
            guidance_scale: number >= 0. Classifier-free guidance; 1.0 is
                plain conditional sampling. Needs `class_ids`.
            seed: int or `None`. Same seed, same images.
            use_cache: bool. Key/value cache; `False` recomputes the whole
                prefix every step (for checks and benchmarks).
            batch_size: int or `None`. Images sampled per compiled call.
            verbose: `"auto"`, 0 or 1. Progress bar: per token on JAX and
                torch, per batch on TensorFlow (its XLA loop cannot call
                back); `"auto"` shows it for 256 tokens or more, or several
                batches.

        Returns:
            A dict with `"token_ids"` (`(n, grid, grid)` int32) and, when
            the preprocessor holds an image tokenizer, `"images"`
            (`(n, H, W, 3)` float32 in [0, 1]).
        """
        b = self.backbone
        args = check_sampling_arguments(
            temperature, top_k, top_p, guidance_scale, seed, b.vocabulary_size
        )
        guided = args["guidance_scale"] != 1.0
        if guided and (not b.num_classes or class_ids is None):
            raise ValueError(
                "Classifier-free guidance (`guidance_scale != 1`) needs a "
                "class-conditional model and `class_ids`. Received: "
                f"guidance_scale={guidance_scale}, num_classes="
                f"{b.num_classes}, class_ids={class_ids!r}"
            )
        tokens = self._sampling.generate(
            self.generate_step,
            getattr(self, "sampler", None),
            args,
            {
                "token_ids": self.preprocessor.generate_preprocess(
                    class_ids, num_images
                )
            },
            use_cache=use_cache,
            batch_size=check_positive_int("batch_size", batch_size, True),
            sequence_length=b.sequence_length,
            verbose=verbose,
        )
        return self.preprocessor.generate_postprocess(tokens[:, 1:])

    def has_task_weights(self):
        # The task adds no weights to the backbone's; the image tokenizer's
        # (visible here when the preprocessor is tracked, which depends on
        # the backend) are saved by the preprocessor itself.
        return False

    def get_config(self):
        config = super().get_config()
        config["class_dropout_rate"] = self.class_dropout_rate
        return config


def _check_preprocessor_matches(preprocessor, backbone):
    for name in ("grid_size", "vocabulary_size", "num_classes"):
        ours, theirs = getattr(preprocessor, name), getattr(backbone, name)
        if ours != theirs:
            raise ValueError(
                f"The preprocessor's `{name}` ({ours}) does not match the "
                f"backbone's ({theirs})."
            )
