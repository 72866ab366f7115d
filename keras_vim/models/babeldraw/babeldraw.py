import keras
from keras import ops
from keras_hub.models import Seq2SeqLM

from keras_vim.generation import CompiledSampling
from keras_vim.generation import check_sampling_arguments
from keras_vim.generation import guided_sample
from keras_vim.generation import recompute_step
from keras_vim.generation.direct_call import autocast
from keras_vim.generation.direct_call import direct_call
from keras_vim.models.babeldraw.babeldraw_backbone import BabeldrawBackbone
from keras_vim.models.babeldraw.babeldraw_preprocessor import (
    BabeldrawPreprocessor,
)
from keras_vim.models.babeldraw.babeldraw_prompt_dropout import (
    BabeldrawPromptDropout,
)
from keras_vim.models.babeldraw.babeldraw_prompt_dropout import (
    null_padding_mask,
)
from keras_vim.models.babeldraw.babeldraw_tokenizer import PAD_TOKEN_ID
from keras_vim.utils.compile_config import compile_from_saved_config
from keras_vim.utils.compile_config import with_sampler
from keras_vim.utils.preset_utils import load_preset
from keras_vim.utils.shuffled_fit import shuffled_fit_inputs
from keras_vim.utils.validation import check_positive_int
from keras_vim.utils.validation import is_array_like


@keras.saving.register_keras_serializable(package="keras_vim")
class Babeldraw(Seq2SeqLM):
    """Babeldraw text-to-image model: `fit` on captions, `generate` images.

    Stage 2c of the seed (published as Parti, Yu et al., 2022): a
    `keras_vim.BabeldrawBackbone` (text encoder, image-token decoder with
    cross-attention) and the output softmax over image codes. `fit(prompts,
    images)` trains next-token cross-entropy, replacing prompts by padding
    with probability `prompt_dropout_rate` so that classifier-free guidance
    works. `generate(prompts)` runs the encoder once per prompt and samples
    the image tokens through the shared engine (`keras_vim.generation`):
    self- and cross-attention caches, the conditional and padding-
    conditioned passes in one batch, compiled loop, progress bar.

    Args:
        backbone: a `keras_vim.BabeldrawBackbone`.
        preprocessor: a `keras_vim.BabeldrawPreprocessor` (needed for text
            prompts and images) or `None`.
        prompt_dropout_rate: float. Probability of training an example
            without its prompt.

    Example:
    ```python
    babeldraw = keras_vim.Babeldraw(backbone, preprocessor)
    babeldraw.fit(captions, images, epochs=10)
    out = babeldraw.generate(["a red 3 in the top left"], num_images=4,
                             guidance_scale=3.0, seed=0)
    out["images"].shape  # (4, H, W, 3)
    babeldraw.save_to_preset("my_babeldraw")
    ```
    """

    backbone_cls = BabeldrawBackbone
    preprocessor_cls = BabeldrawPreprocessor

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        return load_preset(super().from_preset, preset, load_weights, **kwargs)

    def __init__(
        self, backbone, preprocessor=None, prompt_dropout_rate=0.1, **kwargs
    ):
        kwargs.setdefault("name", "babeldraw")
        if preprocessor is not None:
            preprocessor.check_backbone(backbone)
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        prompt_dropout = BabeldrawPromptDropout(
            prompt_dropout_rate, PAD_TOKEN_ID, name="prompt_dropout"
        )

        # === Functional model ===
        inputs = backbone.input
        token_ids, padding_mask = prompt_dropout(
            inputs["encoder_token_ids"], inputs["encoder_padding_mask"]
        )
        hidden = backbone(
            {
                "encoder_token_ids": token_ids,
                "encoder_padding_mask": padding_mask,
                "decoder_token_ids": inputs["decoder_token_ids"],
            }
        )
        # Output i (start token first) predicts image token i.
        logits = backbone.token_embedding(hidden[:, :-1, :], reverse=True)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

        # === Config ===
        self.prompt_dropout_rate = prompt_dropout_rate
        self._sampling = CompiledSampling(self)

    def compile(
        self,
        optimizer="auto",
        loss="auto",
        *,
        weighted_metrics="auto",
        sampler="random",
        **kwargs,
    ):
        """Configures training and the default sampler.

        Args:
            optimizer: `"auto"` (AdamW, lr 3e-4, weight decay 0.01) or a
                Keras optimizer.
            loss: `"auto"` (sparse cross-entropy from logits) or a loss.
            weighted_metrics: `"auto"` (token accuracy) or metrics.
            sampler: a keras-hub sampler or its name (default `"random"`);
                `generate`'s `temperature`, `top_k`, `top_p` override it.
        """
        if optimizer == "auto":
            optimizer = keras.optimizers.AdamW(3e-4, weight_decay=0.01)
        super().compile(
            optimizer=optimizer,
            loss=loss,
            weighted_metrics=weighted_metrics,
            sampler=sampler,
            **kwargs,
        )

    def get_compile_config(self):
        return with_sampler(super().get_compile_config(), self.sampler)

    def compile_from_config(self, config):
        compile_from_saved_config(self, config)

    # === Training ===

    def preprocess_samples(self, x, y=None, sample_weight=None):
        # `fit` preprocesses whole arrays once (images are encoded once,
        # not every epoch); model-ready batches pass through.
        if isinstance(x, dict):
            return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)
        return super().preprocess_samples(x, y, sample_weight)

    def _preprocess_arrays(self, x, y):
        if x is None or isinstance(x, dict):
            return x, y
        if not isinstance(x, (list, tuple)) and not is_array_like(x):
            return x, y
        return self._require_preprocessor()(x, y)

    def fit(self, x=None, y=None, validation_data=None, **kwargs):
        """`fit` on `(prompts, images or image token ids)`.

        `validation_data` takes the same `(prompts, images)` form.
        """
        x, y = self._preprocess_arrays(x, y)
        if (
            isinstance(validation_data, (tuple, list))
            and len(validation_data) == 2
        ):
            validation_data = self._preprocess_arrays(*validation_data)
        return super().fit(
            **shuffled_fit_inputs(
                x, y, validation_data=validation_data, **kwargs
            )
        )

    def evaluate(self, x=None, y=None, **kwargs):
        x, y = self._preprocess_arrays(x, y)
        return super().evaluate(x, y, **kwargs)

    # === Decoding steps ===

    def encode(self, token_ids, padding_mask):
        """Encoder output and the per-block cross-attention caches."""
        b = self.backbone
        encoded = b.encode(token_ids, padding_mask, training=False)
        with autocast(b):
            cross_caches = tuple(
                layer.cross_attention_layer.compute_cache(encoded)
                for layer in b.decoder_layers
            )
        return encoded, cross_caches

    def call_with_cache(
        self, token_ids, cache, cache_update_index, cross_caches, padding_mask
    ):
        """One decoding step at decoder position `cache_update_index`.

        Args:
            token_ids: `(batch, 1)` image ids at that position (ignored at
                position 0, the start token).
            cache: tuple of one `(2, batch, heads, length, head_dim)`
                self-attention cache per block (`init_cache`).
            cache_update_index: int or scalar tensor.
            cross_caches: from `encode`, computed once per prompt.
            padding_mask: `(batch, text_length)` encoder padding mask.

        Returns:
            `(logits, hidden, cache)`; `logits` `(batch, 1, vocabulary)`
            float32.
        """
        b = self.backbone
        x = b.embed_step(token_ids, cache_update_index)
        caches = []
        with autocast(b):
            for layer, layer_cache, cross_cache in zip(
                b.decoder_layers, cache, cross_caches
            ):
                x, layer_cache = layer.call_with_cache(
                    x,
                    layer_cache,
                    cache_update_index,
                    cross_cache=cross_cache,
                    encoder_padding_mask=padding_mask,
                )
                caches.append(layer_cache)
            hidden = direct_call(b.decoder_layer_norm, x)
            logits = direct_call(b.token_embedding, hidden, reverse=True)
        return logits, hidden, tuple(caches)

    def init_cache(self, batch_size):
        """An empty self-attention cache for `call_with_cache`."""
        b = self.backbone
        shape = (
            2,
            batch_size,
            b.num_heads,
            b.sequence_length + 1,
            b.hidden_dim // b.num_heads,
        )
        return tuple(
            ops.zeros(shape, self.compute_dtype)
            for _ in range(b.num_decoder_layers)
        )

    def full_logits(self, token_ids, padding_mask, prompt, position=None):
        """Float32 logits recomputing encoder and decoder.

        Args:
            token_ids, padding_mask: encoder inputs.
            prompt: `(batch, 1 + length)`: the start slot, then image ids.
            position: `None` (every position) or the one position to return.
        """
        hidden = self.backbone(
            {
                "encoder_token_ids": token_ids,
                "encoder_padding_mask": padding_mask,
                "decoder_token_ids": prompt[:, 1:],
            }
        )
        if position is not None:
            hidden = ops.take(hidden, position, axis=1)
        return self.backbone.token_embedding(hidden, reverse=True)

    # === Generation ===

    def generate_step(self, inputs, sampler, guided, use_cache):
        """Samples the image tokens after the start token of `inputs`.

        Args:
            inputs: dict with `"encoder_token_ids"`, `"encoder_padding_mask"`,
                `"decoder_token_ids"` (`(batch, 1 + length)`) and, guided, a
                scalar `"guidance_scale"`.
            sampler: a keras-hub sampler.
            guided: bool. Classifier-free guidance against the null prompt.
            use_cache: bool. Key/value caches, or full recompute.
        """
        token_ids = inputs["encoder_token_ids"]
        padding_mask = inputs["encoder_padding_mask"]
        prompt = inputs["decoder_token_ids"]
        if guided:
            # The null prompt, as prompt dropout trains it.
            token_ids = ops.concatenate(
                [token_ids, ops.full_like(token_ids, PAD_TOKEN_ID)], 0
            )
            padding_mask = ops.concatenate(
                [padding_mask, null_padding_mask(padding_mask)], 0
            )
        model_prompt = (
            ops.concatenate([prompt, prompt], 0) if guided else prompt
        )
        cache, step = self._decoding_step(
            token_ids, padding_mask, model_prompt, use_cache
        )
        return guided_sample(
            sampler,
            step,
            prompt,
            cache,
            start_index=1,
            guidance_scale=inputs["guidance_scale"] if guided else None,
            null_prompt=prompt,
            on_step=self._sampling.report_progress,
            model=self,
        )

    def _decoding_step(self, token_ids, padding_mask, model_prompt, use_cache):
        """The engine's `(initial cache, step)`: cached or recomputing."""
        if not use_cache:
            return model_prompt, recompute_step(
                lambda buffer, position: self.full_logits(
                    token_ids, padding_mask, buffer, position
                )
            )
        # The encoder runs once; its keys and values are cached per block.
        _, cross_caches = self.encode(token_ids, padding_mask)

        def step(ids, cache, index):
            logits, _, cache = self.call_with_cache(
                ids, cache, index, cross_caches, padding_mask
            )
            return logits[:, 0], cache

        return self.init_cache(ops.shape(model_prompt)[0]), step

    def generate(
        self,
        prompts,
        num_images=1,
        guidance_scale=1.0,
        temperature=None,
        top_k=None,
        top_p=None,
        seed=None,
        use_cache=True,
        batch_size=None,
        verbose="auto",
    ):
        """Samples `num_images` images for each prompt.

        Args:
            prompts: a string or a non-empty list of strings.
            num_images: int >= 1. Images per prompt.
            guidance_scale: number >= 0. Classifier-free guidance against
                the padding prompt; 1.0 is plain conditional sampling.
            temperature: `None` (the compiled sampler's) or a number > 0;
                below 1e-6 sampling is greedy.
            top_k: int or `None`.
            top_p: number in (0, 1] or `None`.
            seed: int or `None`. Same seed, same images.
            use_cache: bool. `False` recomputes everything every step.
            batch_size: int or `None`. Images per compiled call.
            verbose: `"auto"`, 0 or 1 (progress bar).

        Returns:
            A dict with `"token_ids"` `(len(prompts) * num_images, grid,
            grid)` int32 and, with an image tokenizer, `"images"` float32
            in [0, 1], prompt-major.
        """
        preprocessor = self._require_preprocessor()
        if isinstance(prompts, str):
            prompts = [prompts]
        args = check_sampling_arguments(
            temperature,
            top_k,
            top_p,
            guidance_scale,
            seed,
            self.backbone.image_vocabulary_size,
        )
        tokens = self._sampling.generate(
            self.generate_step,
            getattr(self, "sampler", None),
            args,
            preprocessor.generate_preprocess(prompts, num_images),
            use_cache=use_cache,
            batch_size=check_positive_int("batch_size", batch_size, True),
            sequence_length=self.backbone.sequence_length,
            verbose=verbose,
        )
        return preprocessor.generate_postprocess(tokens[:, 1:])

    def _require_preprocessor(self):
        if self.preprocessor is None:
            raise ValueError(
                "This Babeldraw has no preprocessor: text prompts need a "
                "`keras_vim.BabeldrawPreprocessor` (with its tokenizer)."
            )
        return self.preprocessor

    def has_task_weights(self):
        # The task adds no weights; the image tokenizer's are saved by the
        # preprocessor.
        return False

    def get_config(self):
        config = super().get_config()
        config["prompt_dropout_rate"] = self.prompt_dropout_rate
        return config
