import keras
import numpy as np

from keras_vim.models.image_token_preprocessor import ImageTokenPreprocessor
from keras_vim.models.image_token_preprocessor import preview
from keras_vim.utils.validation import check_positive_int
from keras_vim.utils.validation import to_numpy


@keras.saving.register_keras_serializable(package="keras_vim")
class VIMCausalLMPreprocessor(ImageTokenPreprocessor):
    """Images or image token ids (+ class ids) -> VIM inputs and targets.

    The image side of VIM (Yu et al., 2021): a frozen ViT-VQGAN turns
    images into code ids for training and sampled ids back into images after
    `generate` (see `ImageTokenPreprocessor`: the tokenizer is serialised
    with this preprocessor, its weights in `image_tokenizer.weights.h5`).

    Called on `(x, y)` it returns `({"token_ids", "class_ids"}, token_ids)`:
    the model predicts every image token from the class token and the
    tokens before it. Classes are validated against `num_classes`; a
    class-conditional preprocessor needs `y` (without it every example
    would train as "no class"), an unconditional one takes none.

    Args:
        image_tokenizer: `None` or a `keras_vim.ViTVQGAN`. A trainable one
            (or one with a discriminator) is copied, frozen and without its
            discriminator; the caller's model is left as it is.
        grid_size: int. Image tokens per side; taken from the tokenizer when
            one is given.
        vocabulary_size: int. Image codes; taken from the tokenizer when one
            is given.
        num_classes: int. Classes of a class-conditional model, 0 if none.

    Example:
    ```python
    tokenizer = keras_vim.ViTVQGAN.from_preset("vit_vqgan_digits_32")
    preprocessor = keras_vim.VIMCausalLMPreprocessor(tokenizer, num_classes=10)
    x, y = preprocessor(images, class_ids)  # images (n, 32, 32, 3)
    x["token_ids"].shape  # (n, 16)
    ```
    """

    def __init__(
        self,
        image_tokenizer=None,
        grid_size=None,
        vocabulary_size=None,
        num_classes=0,
        **kwargs,
    ):
        super().__init__(image_tokenizer, grid_size, vocabulary_size, **kwargs)
        if not (isinstance(num_classes, int) and num_classes >= 0):
            raise ValueError(
                "`num_classes` must be an int >= 0. Received: "
                f"num_classes={num_classes!r}"
            )
        self.num_classes = num_classes

    @property
    def no_class_id(self):
        return self.num_classes

    def call(self, x, y=None, sample_weight=None):
        if y is None and self.num_classes:
            raise ValueError(
                f"This model is class-conditional (num_classes="
                f"{self.num_classes}): pass one class id per image as `y`. "
                "Received: y=None"
            )
        token_ids = self.token_ids(x)
        class_ids = self.class_ids(y, len(token_ids))
        x = {"token_ids": token_ids, "class_ids": class_ids}
        return keras.utils.pack_x_y_sample_weight(x, token_ids, sample_weight)

    def class_ids(self, class_ids, num_images, name="class_ids"):
        """`(num_images,)` int32 class ids; "no class" for `None`."""
        if class_ids is None:
            return np.full((num_images,), self.no_class_id, "int32")
        if not self.num_classes:
            raise ValueError(
                f"This model is unconditional (num_classes=0): `{name}` must "
                f"be None. Received: {name}={preview(class_ids)}"
            )
        array = to_numpy(class_ids)
        if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
            raise ValueError(
                f"`{name}` must be a 1-D array of integer class ids. "
                f"Received: {name} of shape {array.shape} and dtype "
                f"{array.dtype}"
            )
        if len(array) != num_images:
            raise ValueError(
                f"`{name}` has {len(array)} entries for {num_images} images."
            )
        if array.size and (array.min() < 0 or array.max() >= self.num_classes):
            raise ValueError(
                f"`{name}` must be in [0, {self.num_classes}). Received: "
                f"{name}={preview(array)}"
            )
        return array.astype("int32")

    def generate_preprocess(self, class_ids=None, num_images=None):
        """Prompts for `generate`: `(n, 1 + grid**2)`, the class id first.

        Args:
            class_ids: class ids (one image each) or `None`.
            num_images: int, images to sample without `class_ids`
                (default 1); with them, `None` or their count.
        """
        num_images = check_positive_int("num_images", num_images, True)
        if class_ids is not None:
            count = len(to_numpy(class_ids).reshape(-1))
            if count == 0:
                raise ValueError(
                    "`class_ids` is empty: pass one class id per image."
                )
            if num_images is not None and num_images != count:
                raise ValueError(
                    "`num_images` must match the number of `class_ids` (or "
                    f"be None). Received: num_images={num_images}, {count} "
                    "class ids"
                )
            num_images = count
        classes = self.class_ids(class_ids, num_images or 1)
        prompt = np.zeros((len(classes), 1 + self.sequence_length), "int32")
        prompt[:, 0] = classes
        return prompt

    def get_config(self):
        config = super().get_config()
        config["num_classes"] = self.num_classes
        return config
