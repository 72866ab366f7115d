import json
import os

import keras
import numpy as np
from keras_hub.models import Preprocessor
from keras_hub.src.utils.preset_utils import check_file_exists
from keras_hub.src.utils.preset_utils import get_file

from keras_vim.models.vit_vqgan.vit_vqgan import ViTVQGAN
from keras_vim.utils.frozen_copy import frozen_copy
from keras_vim.utils.preset_utils import load_preset
from keras_vim.utils.validation import check_positive_int
from keras_vim.utils.validation import to_numpy
from keras_vim.utils.validation import validate_token_ids

IMAGE_TOKENIZER_WEIGHTS_FILE = "image_tokenizer.weights.h5"


class ImageTokenPreprocessor(Preprocessor):
    """Base of the preprocessors of image-token models (VIM, Babeldraw).

    Holds the frozen ViT-VQGAN `image_tokenizer` that turns images into
    raster-order code ids for training and sampled ids back into images.
    It is a serialised component: its config travels in this
    preprocessor's config and `save_to_preset` writes its weights next to
    it (`image_tokenizer.weights.h5`), so presets and `.keras` files restore
    it. Subclasses add their conditioning (classes, text).

    Args:
        image_tokenizer: `None` or a `keras_vim.ViTVQGAN`. A trainable one
            (or one with a discriminator) is copied, frozen and without its
            discriminator; the caller's model is left as it is.
        grid_size: int. Image tokens per side; taken from the tokenizer when
            one is given.
        vocabulary_size: int. Image codes; taken from the tokenizer when one
            is given.
    """

    def __init__(
        self,
        image_tokenizer=None,
        grid_size=None,
        vocabulary_size=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if image_tokenizer is not None:
            b = image_tokenizer.backbone
            for name, value, expected in (
                ("grid_size", grid_size, b.grid_size),
                ("vocabulary_size", vocabulary_size, b.codebook_size),
            ):
                if value is not None and value != expected:
                    raise ValueError(
                        f"`{name}`={value} does not match the image "
                        f"tokenizer's {expected}."
                    )
            grid_size, vocabulary_size = b.grid_size, b.codebook_size
            image_tokenizer = _frozen_tokenizer(image_tokenizer)
        self.image_tokenizer = image_tokenizer
        self.grid_size = check_positive_int("grid_size", grid_size)
        self.vocabulary_size = check_positive_int(
            "vocabulary_size", vocabulary_size
        )

    @classmethod
    def from_preset(cls, preset, **kwargs):
        return load_preset(super().from_preset, preset, **kwargs)

    @property
    def metrics(self):
        # The frozen image tokenizer's training metrics (losses, codebook
        # usage) are not the metrics of the model this preprocesses for.
        return []

    @property
    def sequence_length(self):
        """Image tokens per image."""
        return self.grid_size**2

    def token_ids(self, x, name="x"):
        """`(batch, grid**2)` int32 ids from ids or (with a tokenizer) images.

        Args:
            x: ids `(batch, grid, grid)` / `(batch, grid**2)`, or images
                `(batch, H, W, 3)`.
            name: the argument's name, for error messages.
        """
        x = to_numpy(x)
        if x.ndim == 4:
            if self.image_tokenizer is None:
                raise ValueError(
                    f"`{name}` looks like images (rank 4) but this "
                    "preprocessor has no `image_tokenizer`. Received: "
                    f"{name}.shape={x.shape}"
                )
            x = self.image_tokenizer.encode(x)
        g = self.grid_size
        if x.ndim not in (2, 3) or x.shape[1:] not in ((g, g), (g * g,)):
            raise ValueError(
                f"`{name}` must be image token ids of shape (batch, {g}, {g})"
                f" or (batch, {g * g})"
                + (
                    ", or images (batch, H, W, 3)"
                    if self.image_tokenizer
                    else ""
                )
                + f". Received: {name}.shape={x.shape}"
            )
        token_ids = validate_token_ids(x, self.vocabulary_size, name=name)
        return token_ids.reshape(len(token_ids), g * g)

    def generate_postprocess(self, token_ids):
        """Sampled ids `(n, grid**2)` -> `{"token_ids", "images"}`."""
        g = self.grid_size
        token_ids = np.asarray(token_ids, "int32").reshape(-1, g, g)
        outputs = {"token_ids": token_ids}
        if self.image_tokenizer is not None:
            outputs["images"] = self.image_tokenizer.decode(
                token_ids, verbose=0
            )
        return outputs

    def save_to_preset(self, preset_dir):
        """Writes this config and the image tokenizer's weights."""
        os.makedirs(preset_dir, exist_ok=True)
        config = keras.saving.serialize_keras_object(self)
        with open(os.path.join(preset_dir, self.config_file), "w") as f:
            json.dump(_without_compile_config(config), f, indent=4)
        if self.image_tokenizer is not None:
            self.image_tokenizer.save_weights(
                os.path.join(preset_dir, IMAGE_TOKENIZER_WEIGHTS_FILE)
            )

    def load_preset_assets(self, preset):
        if self.image_tokenizer is None:
            return
        if not check_file_exists(preset, IMAGE_TOKENIZER_WEIGHTS_FILE):
            raise ValueError(
                f"Preset {preset!r} configures an image tokenizer but has no "
                f"{IMAGE_TOKENIZER_WEIGHTS_FILE} with its weights."
            )
        self.image_tokenizer.load_weights(
            get_file(preset, IMAGE_TOKENIZER_WEIGHTS_FILE)
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                # Frozen: its compile state (optimizer) is not part of it.
                "image_tokenizer": (
                    None
                    if self.image_tokenizer is None
                    else _without_compile_config(
                        keras.layers.serialize(self.image_tokenizer)
                    )
                ),
                "grid_size": self.grid_size,
                "vocabulary_size": self.vocabulary_size,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for name in ("image_tokenizer", "tokenizer"):
            if isinstance(config.get(name), dict):
                config[name] = keras.layers.deserialize(config[name])
        return cls(**config)


def _frozen_tokenizer(tokenizer):
    if tokenizer.discriminator is None and not tokenizer.trainable:
        return tokenizer
    copy = ViTVQGAN(
        frozen_copy(tokenizer.backbone),
        preprocessor=tokenizer.preprocessor,
        discriminator_base_filters=0,
    )
    copy.trainable = False
    return copy


def _without_compile_config(config):
    """keras-hub's presets hold no compile or build configs."""
    if isinstance(config, dict):
        return {
            k: _without_compile_config(v)
            for k, v in config.items()
            if k not in ("compile_config", "build_config")
        }
    return config


def preview(values):
    """The first few of `values`, for error messages."""
    array = to_numpy(values).reshape(-1)
    return array[:8].tolist() + (["..."] if array.size > 8 else [])
