import keras
import numpy as np
from keras import ops
from keras_hub.models import Task

from keras_vim.models.babeldraw.babeldraw_preprocessor import (
    BabeldrawPreprocessor,
)
from keras_vim.models.babeldraw_reranker.babeldraw_reranker_backbone import (
    BabeldrawRerankerBackbone,
)
from keras_vim.models.babeldraw_reranker.symmetric_contrastive_loss import (
    SymmetricContrastiveLoss,
)
from keras_vim.utils.compile_config import compile_from_saved_config
from keras_vim.utils.preset_utils import load_preset
from keras_vim.utils.shuffled_fit import shuffled_fit_inputs
from keras_vim.utils.validation import check_positive_int
from keras_vim.utils.validation import is_array_like


@keras.saving.register_keras_serializable(package="keras_vim")
class BabeldrawReranker(Task):
    """Contrastive image-text scorer that reranks Babeldraw's samples.

    The seed's last-but-one text-to-image stage: sample many candidates per
    prompt, keep the ones a contrastive model scores highest against the
    prompt. `fit` on the (caption, image) pairs Babeldraw trains on, with a
    symmetric InfoNCE loss over the batch and the backbone's learned
    temperature; the preprocessor is a `BabeldrawPreprocessor`, so
    prompts and images (or image token ids) go in exactly as for Babeldraw.
    Pass the trained model as `Babeldraw(..., reranker=...)` to rerank in
    `generate(..., num_candidates=K)`.

    Args:
        backbone: a `keras_vim.BabeldrawRerankerBackbone`.
        preprocessor: a `keras_vim.BabeldrawPreprocessor` or `None`.

    Example:
    ```python
    reranker = keras_vim.BabeldrawReranker(backbone, babeldraw.preprocessor)
    reranker.fit(captions, images_or_token_ids, batch_size=128, epochs=5)
    reranker.score(["a red 3 in the top left"], images[:1])  # cosine
    ```
    """

    backbone_cls = BabeldrawRerankerBackbone
    preprocessor_cls = BabeldrawPreprocessor

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        return load_preset(super().from_preset, preset, load_weights, **kwargs)

    def __init__(self, backbone, preprocessor=None, **kwargs):
        kwargs.setdefault("name", "babeldraw_reranker")
        if preprocessor is not None:
            check_reranker_fits(backbone, preprocessor)
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor

        # === Functional model ===
        # The inputs `BabeldrawPreprocessor` makes for Babeldraw.
        inputs = {
            "encoder_token_ids": keras.Input(
                (None,), dtype="int32", name="encoder_token_ids"
            ),
            "encoder_padding_mask": keras.Input(
                (None,), dtype="bool", name="encoder_padding_mask"
            ),
            "decoder_token_ids": keras.Input(
                (None,), dtype="int32", name="decoder_token_ids"
            ),
        }
        outputs = backbone(
            {
                "text_token_ids": inputs["encoder_token_ids"],
                "text_padding_mask": inputs["encoder_padding_mask"],
                "image_token_ids": inputs["decoder_token_ids"],
            }
        )
        super().__init__(inputs=inputs, outputs=outputs["logits"], **kwargs)

    def compile(self, optimizer="auto", loss="auto", **kwargs):
        """`optimizer`: `"auto"` is AdamW (lr 1e-3, weight decay 0.01);
        `loss`: `"auto"` is `SymmetricContrastiveLoss`."""
        if optimizer == "auto":
            optimizer = keras.optimizers.AdamW(1e-3, weight_decay=0.01)
        if loss == "auto":
            loss = SymmetricContrastiveLoss()
        super().compile(optimizer=optimizer, loss=loss, **kwargs)

    def compile_from_config(self, config):
        compile_from_saved_config(self, config)

    def preprocess_samples(self, x, y=None, sample_weight=None):
        # Arrays are preprocessed once in `fit`; batches pass through.
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    def _preprocess_arrays(self, x, y):
        if x is None or isinstance(x, dict):
            return x, y
        if not isinstance(x, (list, tuple)) and not is_array_like(x):
            return x, y
        return self._require_preprocessor()(x, y)

    def fit(self, x=None, y=None, **kwargs):
        """`fit` on `(prompts, images or image token ids)` pairs.

        Each batch is its own set of negatives: use a large `batch_size`.
        """
        x, y = self._preprocess_arrays(x, y)
        return super().fit(**shuffled_fit_inputs(x, y, **kwargs))

    def evaluate(self, x=None, y=None, **kwargs):
        x, y = self._preprocess_arrays(x, y)
        return super().evaluate(x, y, **kwargs)

    def similarity_matrix(self, prompts, images, batch_size=256):
        """Cosine similarity of every prompt against every image.

        Args:
            prompts: a string or a list of strings.
            images: images or image token ids (as `BabeldrawPreprocessor`
                takes them).
            batch_size: int. Rows per embedding call.

        Returns:
            float32 `(len(prompts), len(images))`.
        """
        text, image = self._embeddings(prompts, images, batch_size)
        return text @ image.T

    def score(self, prompts, images, batch_size=256):
        """Cosine similarity of each prompt with its own image, `(n,)`."""
        text, image = self._embeddings(prompts, images, batch_size)
        if len(text) != len(image):
            raise ValueError(
                f"`prompts` has {len(text)} entries but `images` has "
                f"{len(image)}: `score` pairs them one to one (see "
                "`similarity_matrix` for all pairs)."
            )
        return np.sum(text * image, axis=-1)

    def _embeddings(self, prompts, images, batch_size):
        preprocessor = self._require_preprocessor()
        token_ids, padding_mask = preprocessor.tokenize_prompts(prompts)
        image_ids = preprocessor.token_ids(images, name="images")
        return embed(
            self.backbone, token_ids, padding_mask, image_ids, batch_size
        )

    def _require_preprocessor(self):
        if self.preprocessor is None:
            raise ValueError(
                "This reranker has no preprocessor: prompts need a "
                "`keras_vim.BabeldrawPreprocessor`."
            )
        return self.preprocessor

    def has_task_weights(self):
        # Every weight, the temperature included, is in the backbone; the
        # image tokenizer's are saved by the preprocessor.
        return False


def check_reranker_fits(backbone, preprocessor):
    """Raises a `ValueError` unless `preprocessor`'s ids fit `backbone`."""
    if not isinstance(backbone, BabeldrawRerankerBackbone):
        raise ValueError(
            "`backbone` must be a `keras_vim.BabeldrawRerankerBackbone`. "
            f"Received: backbone={type(backbone).__name__}"
        )
    preprocessor.check_backbone(backbone)


def embed(backbone, token_ids, padding_mask, image_ids, batch_size=256):
    """Numpy unit-norm text and image embeddings of a reranker backbone.

    Runs the two towers eagerly, `batch_size` rows at a time; the numbers
    of prompts and of images may differ.
    """
    batch_size = check_positive_int("batch_size", batch_size)
    text, image = [], []
    for start in range(0, max(len(token_ids), len(image_ids)), batch_size):
        rows = slice(start, start + batch_size)
        if start < len(token_ids):
            text.append(
                backbone.text_embeddings(
                    ops.convert_to_tensor(token_ids[rows]),
                    ops.convert_to_tensor(padding_mask[rows]),
                )
            )
        if start < len(image_ids):
            image.append(
                backbone.image_embeddings(
                    ops.convert_to_tensor(image_ids[rows])
                )
            )
    width = backbone.embedding_dim
    return tuple(
        np.concatenate(
            [
                # torch: eager outputs track gradients until detached.
                ops.convert_to_numpy(ops.stop_gradient(ops.cast(p, "float32")))
                for p in parts
            ]
        )
        if parts
        else np.zeros((0, width), "float32")
        for parts in (text, image)
    )
