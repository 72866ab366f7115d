import functools

import keras
from keras_hub.models import Seq2SeqLM

from keras_vim.generation import CompiledSampling
from keras_vim.generation import check_sampling_arguments
from keras_vim.models.babeldraw.babeldraw_backbone import BabeldrawBackbone
from keras_vim.models.babeldraw.babeldraw_decoding import generate_step
from keras_vim.models.babeldraw.babeldraw_preprocessor import (
    BabeldrawPreprocessor,
)
from keras_vim.models.babeldraw.babeldraw_prompt_dropout import (
    BabeldrawPromptDropout,
)
from keras_vim.models.babeldraw.babeldraw_reranking import rerank
from keras_vim.models.babeldraw.babeldraw_tokenizer import PAD_TOKEN_ID
from keras_vim.models.babeldraw_reranker.babeldraw_reranker import (
    check_reranker_fits,
)
from keras_vim.models.super_resolution.super_resolution import (
    upscale as upscale_images,
)
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
        reranker: `None`, or a `keras_vim.BabeldrawReranker` (or its
            backbone) over the same text and image tokens: `generate`
            then scores its samples and can keep the best of several
            candidates. Saved with the task.
        super_resolution: `None`, or a `keras_vim.SuperResolution` (or its
            backbone): `generate(..., upscale=True)` returns its upsampled
            images. Saved with the task.

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

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for name in ("reranker", "super_resolution"):
            if isinstance(config.get(name), dict):
                config[name] = keras.layers.deserialize(config[name])
        return super().from_config(config)

    def __init__(
        self,
        backbone,
        preprocessor=None,
        prompt_dropout_rate=0.1,
        reranker=None,
        super_resolution=None,
        **kwargs,
    ):
        kwargs.setdefault("name", "babeldraw")
        if preprocessor is not None:
            preprocessor.check_backbone(backbone)
        reranker = getattr(reranker, "backbone", reranker)
        super_resolution = getattr(
            super_resolution, "backbone", super_resolution
        )
        if reranker is not None and preprocessor is not None:
            check_reranker_fits(reranker, preprocessor)
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
        # Set after the functional init so Keras tracks them on every
        # backend.
        self.reranker = reranker
        self.super_resolution = super_resolution

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
            sampler: a keras-hub sampler or its name (default `"random"`);
                `generate`'s `temperature`, `top_k`, `top_p` override it.
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

    def generate(
        self,
        prompts,
        num_images=1,
        num_candidates=1,
        upscale=False,
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
            num_candidates: int >= 1. With a reranker: sample
                `num_candidates * num_images` images per prompt (in the
                same batches) and keep the `num_images` it scores best.
            upscale: bool. With a super-resolution component, `"images"`
                are its upsampled images.
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
            grid)` int32, with an image tokenizer `"images"` float32 in
            [0, 1], and with a reranker `"scores"` (each image's cosine
            similarity with its prompt; best first within a prompt),
            prompt-major.
        """
        preprocessor = self._require_preprocessor()
        if isinstance(prompts, str):
            prompts = [prompts]
        num_images = check_positive_int("num_images", num_images)
        num_candidates = check_positive_int("num_candidates", num_candidates)
        if num_candidates > 1 and self.reranker is None:
            raise ValueError(
                "`num_candidates` > 1 needs a reranker (`Babeldraw(..., "
                f"reranker=...)`). Received: num_candidates={num_candidates}"
            )
        if upscale and (
            self.super_resolution is None
            or preprocessor.image_tokenizer is None
        ):
            raise ValueError(
                "`upscale=True` needs a super-resolution component "
                "(`Babeldraw(..., super_resolution=...)`) and an image "
                "tokenizer in the preprocessor."
            )
        args = check_sampling_arguments(
            temperature,
            top_k,
            top_p,
            guidance_scale,
            seed,
            self.backbone.image_vocabulary_size,
        )
        tokens = self._sampling.generate(
            functools.partial(generate_step, self),
            getattr(self, "sampler", None),
            args,
            preprocessor.generate_preprocess(
                prompts, num_images * num_candidates
            ),
            use_cache=use_cache,
            batch_size=check_positive_int("batch_size", batch_size, True),
            sequence_length=self.backbone.sequence_length,
            verbose=verbose,
        )
        tokens, scores = tokens[:, 1:], None
        if self.reranker is not None:
            tokens, scores = rerank(
                self.reranker,
                *preprocessor.tokenize_prompts(prompts),
                tokens,
                num_images,
            )
        out = preprocessor.generate_postprocess(tokens)
        if scores is not None:
            out["scores"] = scores
        if upscale:
            out["images"] = upscale_images(
                self.super_resolution, out["images"], verbose=0
            )
        return out

    def _require_preprocessor(self):
        if self.preprocessor is None:
            raise ValueError(
                "This Babeldraw has no preprocessor: text prompts need a "
                "`keras_vim.BabeldrawPreprocessor` (with its tokenizer)."
            )
        return self.preprocessor

    # The task's own weights are its reranker's and upsampler's; the image
    # tokenizer's are saved by the preprocessor.
    def has_task_weights(self):
        return self.reranker is not None or self.super_resolution is not None

    def save_task_weights(self, filepath):
        keras.saving.save_weights(
            self, filepath, objects_to_skip=[self.backbone, self.preprocessor]
        )

    def load_task_weights(self, filepath):
        keras.saving.load_weights(
            self, filepath, objects_to_skip=[self.backbone, self.preprocessor]
        )

    def get_config(self):
        config = super().get_config()
        config["prompt_dropout_rate"] = self.prompt_dropout_rate
        for name in ("reranker", "super_resolution"):
            component = getattr(self, name)
            config[name] = (
                None if component is None else keras.layers.serialize(component)
            )
        return config
