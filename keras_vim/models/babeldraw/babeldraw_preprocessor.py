import keras
import numpy as np

from keras_vim.models.babeldraw.babeldraw_tokenizer import BabeldrawTokenizer
from keras_vim.models.image_token_preprocessor import ImageTokenPreprocessor
from keras_vim.utils.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_vim")
class BabeldrawPreprocessor(ImageTokenPreprocessor):
    """(prompt, image) pairs -> Babeldraw inputs and targets.

    The keras-hub `Seq2SeqLMPreprocessor` shape for text-to-image: prompts
    go through the SentencePiece `tokenizer` (padded or truncated to its
    `sequence_length`, with a warning when truncated), images
    through the frozen ViT-VQGAN `image_tokenizer` (see
    `ImageTokenPreprocessor`; it is saved with this preprocessor).

    Called on `(prompts, images_or_token_ids)` it returns
    `({"encoder_token_ids", "encoder_padding_mask", "decoder_token_ids"},
    token_ids)`. `generate_preprocess(prompts, num_images)` gives the
    inputs of `Babeldraw.generate`.

    Args:
        tokenizer: a `keras_vim.Tokenizer` (`BabeldrawTokenizer`).
        image_tokenizer: `None` or a `keras_vim.ViTVQGAN`.
        grid_size: int. Image tokens per side (from the image tokenizer
            when one is given).
        vocabulary_size: int. Image codes (from the image tokenizer when
            one is given).

    Example:
    ```python
    tokenizer = keras_vim.Tokenizer.train(captions, vocabulary_size=80)
    preprocessor = keras_vim.BabeldrawPreprocessor(tokenizer, vit_vqgan)
    x, y = preprocessor(["a red 3 in the top left"], images)
    ```
    """

    def __init__(
        self,
        tokenizer,
        image_tokenizer=None,
        grid_size=None,
        vocabulary_size=None,
        **kwargs,
    ):
        super().__init__(image_tokenizer, grid_size, vocabulary_size, **kwargs)
        if not isinstance(tokenizer, BabeldrawTokenizer):
            raise ValueError(
                "`tokenizer` must be a `keras_vim.Tokenizer`. Received: "
                f"tokenizer={type(tokenizer).__name__}"
            )
        self.tokenizer = tokenizer

    @property
    def encoder_sequence_length(self):
        """Prompt tokens kept: the tokenizer's `sequence_length`."""
        return self.tokenizer.sequence_length

    @property
    def pad_token_id(self):
        return self.tokenizer.pad_token_id

    def check_backbone(self, backbone):
        """Raises a `ValueError` unless this fits `backbone`.

        Any backbone over the same ids: a `BabeldrawBackbone` or a
        `BabeldrawRerankerBackbone` (both have `grid_size`,
        `image_vocabulary_size`, `text_vocabulary_size`, `max_text_length`).
        """
        problems = [
            f"{name} {ours} vs {theirs}"
            for name, ours, theirs in (
                ("grid_size", self.grid_size, backbone.grid_size),
                (
                    "image vocabulary",
                    self.vocabulary_size,
                    backbone.image_vocabulary_size,
                ),
            )
            if ours != theirs
        ]
        if self.encoder_sequence_length > backbone.max_text_length:
            problems.append(
                f"encoder_sequence_length {self.encoder_sequence_length} > "
                f"max_text_length {backbone.max_text_length}"
            )
        # A tokenizer loaded from a preset gets its vocabulary later.
        if self.tokenizer.proto is not None:
            size = self.tokenizer.vocabulary_size()
            if size != backbone.text_vocabulary_size:
                problems.append(
                    f"text vocabulary {size} vs {backbone.text_vocabulary_size}"
                )
        if problems:
            raise ValueError(
                "The preprocessor does not fit the backbone (preprocessor vs "
                f"backbone): {'; '.join(problems)}."
            )

    def tokenize_prompts(self, prompts):
        """`(token_ids, padding_mask)`, each `(batch, encoder_length)`."""
        return self.tokenizer.tokenize_prompts(prompts)

    def call(self, x, y=None, sample_weight=None):
        if y is None:
            raise ValueError(
                "Babeldraw trains on (prompts, images) pairs: pass images or "
                "image token ids as `y`."
            )
        token_ids, padding_mask = self.tokenize_prompts(x)
        image_ids = self.token_ids(y, name="y")
        if len(image_ids) != len(token_ids):
            raise ValueError(
                f"`x` has {len(token_ids)} prompts but `y` has "
                f"{len(image_ids)} images."
            )
        x = {
            "encoder_token_ids": token_ids,
            "encoder_padding_mask": padding_mask,
            "decoder_token_ids": image_ids,
        }
        return keras.utils.pack_x_y_sample_weight(x, image_ids, sample_weight)

    def generate_preprocess(self, prompts, num_images=1):
        """Inputs of `generate`: each prompt repeated `num_images` times.

        Returns:
            A dict of `"encoder_token_ids"`, `"encoder_padding_mask"` and
            `"decoder_token_ids"` (`(n, 1 + grid**2)` zeros: the start
            token, then the positions to sample), prompt-major.
        """
        num_images = check_positive_int("num_images", num_images)
        token_ids, padding_mask = self.tokenize_prompts(prompts)
        token_ids = np.repeat(token_ids, num_images, axis=0)
        return {
            "encoder_token_ids": token_ids,
            "encoder_padding_mask": np.repeat(padding_mask, num_images, axis=0),
            "decoder_token_ids": np.zeros(
                (len(token_ids), 1 + self.sequence_length), "int32"
            ),
        }

    def save_to_preset(self, preset_dir):
        super().save_to_preset(preset_dir)
        self.tokenizer.save_to_preset(preset_dir)

    def load_preset_assets(self, preset):
        super().load_preset_assets(preset)
        self.tokenizer.load_preset_assets(preset)

    def get_config(self):
        config = super().get_config()
        config["tokenizer"] = keras.layers.serialize(self.tokenizer)
        return config
