import keras
import numpy as np
from keras import ops
from keras_hub.models import CausalLM
from keras_hub.samplers import RandomSampler
from keras_hub.samplers import TopKSampler
from keras_hub.samplers import TopPSampler

from keras_vim.models.vim.vim_backbone import VIMBackbone
from keras_vim.models.vim.vim_class_dropout import VIMClassDropout
from keras_vim.utils.direct_call import autocast
from keras_vim.utils.direct_call import direct_call
from keras_vim.utils.preset_utils import LocalPresetMixin
from keras_vim.utils.shuffled_fit import ShuffledFitMixin
from keras_vim.utils.untracked import Untracked
from keras_vim.utils.validation import is_array_like
from keras_vim.utils.validation import to_numpy
from keras_vim.utils.validation import validate_token_ids


@keras.saving.register_keras_serializable(package="keras_vim")
class VIMTransformer(LocalPresetMixin, ShuffledFitMixin, CausalLM):
    """VIM image-token Transformer: next-token training and guided `generate`.

    Wraps a `keras_vim.VIMBackbone` with the output softmax over image codes
    (Yu et al., 2021, section 4). `fit` takes image token ids (or images,
    when a ViT-VQGAN `image_tokenizer` is attached) and optional class ids as
    `y`; classes are dropped to "no class" with probability
    `class_dropout_rate` so classifier-free guidance works.

    `generate` samples the `grid_size**2` tokens with a key/value cache in a
    compiled loop (keras-hub's samplers and cached attention). With
    `guidance_scale != 1`, conditional and unconditional passes run as one
    batch and the logits are `uncond + scale * (cond - uncond)`.

    Args:
        backbone: a `keras_vim.VIMBackbone`.
        image_tokenizer: `None`, a `keras_vim.ViTVQGAN`, or the name of a
            ViT-VQGAN preset. Frozen; encodes images for `fit` and decodes
            generated tokens.
        class_dropout_rate: float. Probability of training a class-conditional
            example as unconditional.

    Example:
    ```python
    vim = keras_vim.VIMTransformer.from_preset("vim_digits_class")
    out = vim.generate(class_ids=[0, 1, 2], temperature=1.0,
                       guidance_scale=2.0, seed=0)
    out["token_ids"].shape, out["images"].shape
    ```
    """

    backbone_cls = VIMBackbone
    preprocessor_cls = None

    def __init__(
        self, backbone, image_tokenizer=None, class_dropout_rate=0.1, **kwargs
    ):
        kwargs.setdefault("name", "vim_transformer")
        kwargs.pop("preprocessor", None)
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = None
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
        logits = keras.layers.Activation("linear", dtype="float32", name="logits")(
            logits
        )
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

        # === Config ===
        self.class_dropout_rate = class_dropout_rate
        self.image_tokenizer_preset = (
            image_tokenizer if isinstance(image_tokenizer, str) else None
        )
        self._image_tokenizer = Untracked(image_tokenizer)
        self._generate_functions = Untracked({})
        self._token_progress = Untracked(None)

    @property
    def image_tokenizer(self):
        """The frozen ViT-VQGAN, loaded on first use if given as a preset name."""
        tokenizer = self._image_tokenizer.value
        if isinstance(tokenizer, str):
            from keras_vim.models.vit_vqgan.vit_vqgan import ViTVQGAN

            tokenizer = ViTVQGAN.from_preset(tokenizer)
            tokenizer.trainable = False
            self._image_tokenizer.value = tokenizer
        return tokenizer

    def compile(
        self,
        optimizer="auto",
        loss="auto",
        *,
        weighted_metrics="auto",
        sampler="random",
        **kwargs,
    ):
        if optimizer == "auto":
            optimizer = keras.optimizers.AdamW(3e-4, weight_decay=0.01)
        super().compile(
            optimizer=optimizer,
            loss=loss,
            weighted_metrics=weighted_metrics,
            sampler=sampler,
            **kwargs,
        )

    # === Data ===

    def prepare_inputs(self, x, y=None):
        """Images or token ids (+ class ids) -> `(inputs dict, target ids)`.

        Args:
            x: image token ids `(batch, grid, grid)` or `(batch, grid**2)`, or
                images `(batch, H, W, 3)` when an image tokenizer is attached.
            y: class ids `(batch,)` for class-conditional models, else `None`.
        """
        x = to_numpy(x)
        tokenizer = self.image_tokenizer if x.ndim == 4 else None
        token_ids = image_token_ids(x, self.backbone, tokenizer)
        class_ids = self._validate_class_ids(y, len(token_ids))
        return {"token_ids": token_ids, "class_ids": class_ids}, token_ids

    def _validate_class_ids(self, class_ids, num_images):
        b = self.backbone
        if class_ids is None:
            return np.full((num_images,), b.no_class_id, "int32")
        if not b.num_classes:
            raise ValueError(
                "This VIM is unconditional (num_classes=0); `class_ids` must "
                f"be None. Received: class_ids={_preview(class_ids)}"
            )
        class_ids = to_numpy(class_ids).reshape(-1)
        if not np.issubdtype(class_ids.dtype, np.integer) or (
            class_ids.size
            and (class_ids.min() < 0 or class_ids.max() >= b.num_classes)
        ):
            raise ValueError(
                f"`class_ids` must be integers in [0, {b.num_classes}). "
                f"Received: class_ids={_preview(class_ids)}"
            )
        if len(class_ids) != num_images:
            raise ValueError(
                f"`class_ids` has {len(class_ids)} entries for {num_images} images."
            )
        return class_ids.astype("int32")

    def fit(self, x=None, y=None, validation_data=None, **kwargs):
        """`fit` on token ids or images, with class ids as `y`.

        `validation_data` takes the same forms: `ids`, `(ids,)` or
        `(ids, class_ids)`.
        """
        if x is not None and not isinstance(x, dict) and is_array_like(x):
            x, y = self.prepare_inputs(x, y)
        if validation_data is not None:
            parts = validation_data
            if not isinstance(parts, (tuple, list)):
                parts = (parts,)
            if parts and is_array_like(parts[0]):
                validation_data = self.prepare_inputs(*parts[:2])
        return super().fit(x, y, validation_data=validation_data, **kwargs)

    def evaluate(self, x=None, y=None, **kwargs):
        if x is not None and not isinstance(x, dict) and is_array_like(x):
            x, y = self.prepare_inputs(x, y)
        return super().evaluate(x, y, **kwargs)

    # === Generation ===

    def call_with_cache(self, token_ids, cache, cache_update_index):
        """One decoding step at sequence position `cache_update_index`.

        Args:
            token_ids: `(batch, 1)` ids at that position (a class id at 0).
            cache: tuple of one `(2, batch, num_heads, length, head_dim)`
                key/value tensor per block (see `init_cache`); one tensor per
                block, as restacking them every step would copy the cache.
                On torch the tensors are updated in place.
            cache_update_index: int or scalar tensor.

        Returns:
            `(logits, hidden, cache)`; `logits` `(batch, 1, vocabulary)`.
        """
        b = self.backbone
        x = b.embed_step(token_ids, cache_update_index)
        caches = []
        with autocast(b):
            for layer, layer_cache in zip(b.transformer_layers, cache):
                x, layer_cache = _decoder_step(layer, x, layer_cache, cache_update_index)
                caches.append(layer_cache)
        hidden = b.layer_norm(x)
        logits = b.token_embedding(hidden, reverse=True)
        return ops.cast(logits, "float32"), hidden, tuple(caches)

    def init_cache(self, batch_size):
        """An empty key/value cache for `call_with_cache`."""
        b = self.backbone
        shape = (2, batch_size, b.num_heads, b.sequence_length + 1, b.hidden_dim // b.num_heads)
        return tuple(ops.zeros(shape, self.compute_dtype) for _ in range(b.num_layers))

    def _full_logits(self, prompt, position=None):
        """Logits recomputing the whole sequence: every position, or one."""
        hidden = self.backbone(
            {"token_ids": prompt[:, 1:], "class_ids": prompt[:, 0]}
        )
        if position is not None:
            hidden = ops.take(hidden, position, axis=1)
        return ops.cast(self.backbone.token_embedding(hidden, reverse=True), "float32")

    def make_generate_function(self):
        if (
            keras.config.backend() == "tensorflow"
            and self.generate_function is None
            and not self.run_eagerly
        ):
            import tensorflow as tf

            # keras-hub follows `self.jit_compile`, which is False here unless
            # set; without XLA the cache is copied at every decoding step.
            self.generate_function = tf.function(self.generate_step, jit_compile=True)
            return self.generate_function
        return super().make_generate_function()

    def generate_step(self, inputs, stop_token_ids=None):
        """Samples all image tokens after the class token in `inputs`."""
        b = self.backbone
        prompt = inputs["token_ids"]
        guided, use_cache = self._generate_mode
        batch_size = ops.shape(prompt)[0]
        model_batch = batch_size * 2 if guided else batch_size
        cache = self.init_cache(model_batch) if use_cache else ()
        no_class = ops.full((batch_size, 1), b.no_class_id, dtype=prompt.dtype)

        def next(prompt, cache, index):
            self._report_progress(index)
            position = index - 1
            if use_cache:
                tokens = ops.slice(prompt, [0, position], [batch_size, 1])
                if guided:
                    unconditional = ops.where(
                        ops.equal(position, 0), no_class, tokens
                    )
                    tokens = ops.concatenate([tokens, unconditional], axis=0)
                logits, _, cache = self.call_with_cache(tokens, cache, position)
                logits = logits[:, 0, :]
            else:
                full = prompt
                if guided:
                    unconditional = ops.concatenate([no_class, prompt[:, 1:]], 1)
                    full = ops.concatenate([prompt, unconditional], axis=0)
                logits = self._full_logits(full, position)
            if guided:
                conditional, unconditional = ops.split(logits, 2, axis=0)
                scale = ops.cast(inputs["guidance_scale"], "float32")
                logits = unconditional + scale * (conditional - unconditional)
            return logits, None, cache

        mask = ops.concatenate(
            [
                ops.ones((batch_size, 1), "bool"),
                ops.zeros((batch_size, b.sequence_length), "bool"),
            ],
            axis=1,
        )
        return self.sampler(
            next=next, prompt=prompt, cache=cache, index=1, mask=mask, model=self
        )

    def generate(
        self,
        class_ids=None,
        num_images=None,
        temperature=1.0,
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
            class_ids: list/array of class ids (one image each) for a
                class-conditional model, or `None`.
            num_images: int. Images to sample when `class_ids` is `None`
                (defaults to 1).
            temperature: float > 0. Softmax temperature (1.0: plain sampling,
                as in the paper).
            top_k: int or `None`. Sample among the `k` most likely codes.
            top_p: float in (0, 1] or `None`. Nucleus sampling.
            guidance_scale: float. Classifier-free guidance; 1.0 is plain
                conditional sampling. Needs a class-conditional model.
            seed: int or `None`. Same seed, same images.
            use_cache: bool. Key/value cache (`False` recomputes the whole
                prefix each step; for benchmarks).
            batch_size: int or `None`. Images sampled per compiled call.
            verbose: `"auto"`, 0 or 1. Progress bar: per token on JAX and
                torch (from inside the compiled loop on JAX), per batch on
                TensorFlow, whose XLA loop cannot call back. `"auto"`
                shows it for 256 tokens or more, or several batches.

        Returns:
            A dict with `"token_ids"` (`(n, grid, grid)` int32) and, when an
            image tokenizer is attached, `"images"` (`(n, H, W, 3)` float32
            in [0, 1]).
        """
        b = self.backbone
        guided = self._validate_generate_arguments(
            class_ids, num_images, temperature, top_k, top_p, guidance_scale
        )
        if class_ids is not None:
            class_ids = self._validate_class_ids(class_ids, len(to_numpy(class_ids).reshape(-1)))
        else:
            class_ids = np.full((num_images or 1,), b.no_class_id, "int32")
        total = len(class_ids)
        batch_size = batch_size or total
        self._prepare_generate_function(temperature, top_k, top_p, guided, use_cache, seed)
        progress = None
        num_batches = -(-total // batch_size)
        show = verbose == 1 or (
            verbose == "auto" and (num_batches > 1 or b.sequence_length >= 256)
        )
        per_token = show and keras.config.backend() in ("jax", "torch")
        if show and (num_batches > 1 or not per_token):
            progress = keras.utils.Progbar(total, unit_name="image")
        results = []
        for start in range(0, total, batch_size):
            batch_classes = class_ids[start : start + batch_size]
            prompt = np.zeros((len(batch_classes), b.sequence_length + 1), "int32")
            prompt[:, 0] = batch_classes
            inputs = {
                "token_ids": ops.convert_to_tensor(prompt),
                "guidance_scale": ops.convert_to_tensor(guidance_scale, "float32"),
            }
            if per_token:
                self._token_progress.value = keras.utils.Progbar(
                    b.sequence_length, unit_name="token"
                )
            tokens = ops.convert_to_numpy(self.generate_function(inputs))
            self._token_progress.value = None
            results.append(tokens[:, 1:])
            if progress is not None:
                progress.add(len(batch_classes))
        token_ids = np.concatenate(results).astype("int32")
        token_ids = token_ids.reshape(total, b.grid_size, b.grid_size)
        outputs = {"token_ids": token_ids}
        if self.image_tokenizer is not None:
            outputs["images"] = self.image_tokenizer.decode(token_ids, verbose=0)
        return outputs

    def _report_progress(self, index):
        """Advances the token progress bar from inside the sampling loop."""
        backend = keras.config.backend()
        if backend == "jax":
            import jax

            jax.debug.callback(self._update_progress, index)
        elif backend == "torch":
            self._update_progress(index)

    def _update_progress(self, index):
        progress = self._token_progress.value
        if progress is not None:
            progress.update(int(index))

    def _validate_generate_arguments(
        self, class_ids, num_images, temperature, top_k, top_p, guidance_scale
    ):
        b = self.backbone
        if not isinstance(temperature, (int, float)) or not temperature > 0:
            raise ValueError(
                f"`temperature` must be a number > 0. Received: temperature={temperature!r}"
            )
        if top_k is not None and not (
            isinstance(top_k, int) and 0 < top_k <= b.vocabulary_size
        ):
            raise ValueError(
                f"`top_k` must be an int in [1, {b.vocabulary_size}] or None. "
                f"Received: top_k={top_k!r}"
            )
        if top_p is not None and not (
            isinstance(top_p, (int, float)) and 0 < top_p <= 1
        ):
            raise ValueError(
                f"`top_p` must be in (0, 1] or None. Received: top_p={top_p!r}"
            )
        if class_ids is not None and num_images is not None:
            if len(to_numpy(class_ids).reshape(-1)) != num_images:
                raise ValueError(
                    "`num_images` must match the number of `class_ids` "
                    f"(or be None). Received: num_images={num_images}, "
                    f"{len(to_numpy(class_ids).reshape(-1))} class ids"
                )
        if num_images is not None and not (
            isinstance(num_images, int) and num_images > 0
        ):
            raise ValueError(
                f"`num_images` must be an int > 0. Received: num_images={num_images!r}"
            )
        if not isinstance(guidance_scale, (int, float)):
            raise ValueError(
                f"`guidance_scale` must be a number. Received: {guidance_scale!r}"
            )
        guided = guidance_scale != 1.0
        if guided and (not b.num_classes or class_ids is None):
            raise ValueError(
                "Classifier-free guidance (`guidance_scale != 1`) needs a "
                "class-conditional model and `class_ids`. Received: "
                f"guidance_scale={guidance_scale}, num_classes={b.num_classes}, "
                f"class_ids={_preview(class_ids)}"
            )
        return guided

    def _prepare_generate_function(
        self, temperature, top_k, top_p, guided, use_cache, seed
    ):
        key = (float(temperature), top_k, top_p, guided, use_cache)
        functions = self._generate_functions.value
        if key not in functions:
            if top_p is not None:
                sampler = TopPSampler(p=top_p, k=top_k, temperature=temperature)
            elif top_k is not None:
                sampler = TopKSampler(k=top_k, temperature=temperature)
            else:
                sampler = RandomSampler(temperature=temperature)
            self.sampler = sampler
            self._generate_mode = (guided, use_cache)
            self.generate_function = None
            functions[key] = (sampler, self.make_generate_function())
        self.sampler, self.generate_function = functions[key]
        self._generate_mode = (guided, use_cache)
        # Same seed, same samples: reset the sampler's random state.
        seed = np.random.randint(0, 2**31 - 1) if seed is None else int(seed)
        state = self.sampler.seed_generator.state
        state.assign(ops.cast(ops.convert_to_tensor([seed, 0]), state.dtype))

    def get_config(self):
        config = super().get_config()
        config.pop("preprocessor", None)
        config.update(
            {
                "image_tokenizer": self.image_tokenizer_preset,
                "class_dropout_rate": self.class_dropout_rate,
            }
        )
        return config


def _decoder_step(layer, x, cache, index):
    """One cached inference step of a pre-LN keras-hub `TransformerDecoder`.

    The block's own sublayers, wired as its `call` wires them (no dropout at
    inference), through `direct_call`: eager torch spent about half of each
    decoding step in `Layer.__call__` overhead. Skipping the decoder's
    `__call__` also skips its causal mask, which `StackedCacheAttention`
    builds itself. Checked against the full forward pass in the tests.
    """
    normed = direct_call(layer._self_attention_layer_norm, x)
    attention, cache = direct_call(
        layer._self_attention_layer, normed, normed, cache=cache, cache_update_index=index
    )
    x = x + attention
    y = direct_call(layer._feedforward_layer_norm, x)
    y = direct_call(layer._feedforward_intermediate_dense, y)
    return x + direct_call(layer._feedforward_output_dense, y), cache


def _preview(values):
    if values is None:
        return None
    array = to_numpy(values).reshape(-1)
    return array[:8].tolist() + (["..."] if array.size > 8 else [])


def image_token_ids(x, backbone, image_tokenizer=None):
    """Token ids `(batch, length)` from ids or (with a tokenizer) images."""
    x = to_numpy(x)
    if x.ndim == 4:
        if image_tokenizer is None:
            raise ValueError(
                "`x` looks like images (rank 4) but no `image_tokenizer` is "
                f"attached. Received: x.shape={x.shape}"
            )
        x = image_tokenizer.encode(x)
    token_ids = validate_token_ids(x, backbone.vocabulary_size)
    token_ids = token_ids.reshape(len(token_ids), -1)
    if token_ids.shape[1] > backbone.sequence_length:
        raise ValueError(
            f"`token_ids` has {token_ids.shape[1]} tokens per image, more than "
            f"the position table holds ({backbone.sequence_length})."
        )
    return token_ids
