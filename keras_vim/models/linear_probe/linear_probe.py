import keras
import numpy as np
from keras_hub.models import Task

from keras_vim.models.linear_probe.block_features import BlockFeatures
from keras_vim.models.vim.vim_backbone import VIMBackbone
from keras_vim.models.vim.vim_causal_lm_preprocessor import (
    VIMCausalLMPreprocessor,
)
from keras_vim.utils.compile_config import compile_from_saved_config
from keras_vim.utils.frozen_copy import frozen_copy
from keras_vim.utils.shuffled_fit import shuffled_fit_inputs
from keras_vim.utils.validation import is_array_like
from keras_vim.utils.validation import to_numpy


@keras.saving.register_keras_serializable(package="keras_vim")
class LinearProbe(Task):
    """Linear-probe classifier on a frozen VIM (Yu et al., 2021, section 4).

    All image tokens go through a frozen copy of the `VIMBackbone`
    (unconditional: the "no class" start token first; inference mode, no
    dropout); the output of block `block_index` is averaged over the
    sequence, standardised with statistics of the training features
    (adapted on the first `fit`), and a softmax `Dense` layer classifies
    it. The caller's backbone is copied, never changed. The best block is
    usually near the middle of the network: `accuracy_per_block` trains
    this same probe on every block.

    Args:
        backbone: a trained `keras_vim.VIMBackbone` (a `VIMTransformer`'s
            `.backbone`).
        block_index: int in `[0, num_layers)`.
        num_classes: int > 1.
        image_tokenizer: `None` or a `keras_vim.ViTVQGAN`, to `fit` and
            `predict` on images. Held frozen and saved with the probe
            (`.keras` files and presets).

    Example:
    ```python
    vim = keras_vim.VIMTransformer.from_preset("vim_digits")
    probe = keras_vim.LinearProbe(vim.backbone, block_index=2, num_classes=10)
    probe.fit(token_ids, labels, epochs=50)
    ```
    """

    backbone_cls = VIMBackbone

    def __init__(
        self,
        backbone,
        block_index,
        num_classes,
        image_tokenizer=None,
        **kwargs,
    ):
        if not isinstance(backbone, VIMBackbone):
            raise ValueError(
                "`backbone` must be a `keras_vim.VIMBackbone` (for a "
                "`VIMTransformer`, pass its `.backbone`). Received: "
                f"backbone={type(backbone).__name__}"
            )
        if not (
            isinstance(block_index, int)
            and not isinstance(block_index, bool)
            and 0 <= block_index < backbone.num_layers
        ):
            raise ValueError(
                f"`block_index` must be an int in [0, {backbone.num_layers}) "
                f"for this backbone. Received: block_index={block_index!r}"
            )
        if not (
            isinstance(num_classes, int)
            and not isinstance(num_classes, bool)
            and num_classes > 1
        ):
            raise ValueError(
                "`num_classes` must be an int > 1. Received: "
                f"num_classes={num_classes!r}"
            )
        kwargs.setdefault("name", "linear_probe")
        kwargs.pop("preprocessor", None)
        # === Layers ===
        self.backbone = frozen_copy(backbone)
        self.preprocessor = None
        self.normalization = keras.layers.Normalization(
            dtype="float32", name="probe_normalization"
        )
        self.head = keras.layers.Dense(
            num_classes,
            activation="softmax",
            dtype="float32",
            name="probe_head",
        )

        # === Functional model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        features = BlockFeatures(self.backbone, [block_index])(token_ids)[0]
        outputs = self.head(self.normalization(features))
        super().__init__(inputs=token_ids, outputs=outputs, **kwargs)

        # === Config ===
        self.block_index = block_index
        self.num_classes = num_classes
        self.token_preprocessor = VIMCausalLMPreprocessor(
            image_tokenizer,
            grid_size=backbone.grid_size,
            vocabulary_size=backbone.vocabulary_size,
        )

    @property
    def image_tokenizer(self):
        """The frozen ViT-VQGAN that encodes images, or `None`."""
        return self.token_preprocessor.image_tokenizer

    def compile(
        self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs
    ):
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(1e-2)
        if loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy()
        if metrics == "auto":
            metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        super().compile(
            optimizer=optimizer, loss=loss, metrics=metrics, **kwargs
        )

    def compile_from_config(self, config):
        compile_from_saved_config(self, config)

    def _tokens(self, x):
        # A dataset's batches are model-ready token ids.
        if _is_dataset(x):
            return x
        return self.token_preprocessor.token_ids(x)

    def features(self, x, batch_size=128):
        """Mean block features `(batch, hidden_dim)` of ids or images (or
        a dataset of token-id batches)."""
        token_ids = self._tokens(x)
        extractor = keras.Model(self.input, self.normalization.input)
        if _is_dataset(token_ids):
            batch_size = None
        return np.asarray(
            extractor.predict(token_ids, batch_size=batch_size, verbose=0)
        )

    def fit(self, x=None, y=None, batch_size=None, **kwargs):
        """`fit` on token ids (or images, with a tokenizer) and labels, or
        on a dataset of `(token_ids, labels)` batches.

        The first call adapts the feature standardisation to `x`.
        """
        if _is_dataset(x):
            if not self._standardisation_adapted():
                self.normalization.adapt(self.features(x))
            return super().fit(x, y, batch_size=batch_size, **kwargs)
        tokens = self._tokens(x)
        labels = _labels(y, self.num_classes, len(tokens))
        # Arguments are checked before the standardisation changes.
        fit_kwargs = shuffled_fit_inputs(
            tokens, labels, batch_size=batch_size, **kwargs
        )
        if not self._standardisation_adapted():
            self.normalization.adapt(self.features(tokens))
        return super().fit(**fit_kwargs)

    def _standardisation_adapted(self):
        # Unadapted statistics are exactly mean 0, variance 1; adapted ones
        # (trained, or loaded with the weights) are not.
        n = self.normalization
        mean = keras.ops.convert_to_numpy(n.adapt_mean)
        variance = keras.ops.convert_to_numpy(n.adapt_variance)
        return bool(np.any(mean != 0) or np.any(variance != 1))

    def evaluate(self, x=None, y=None, **kwargs):
        if _is_dataset(x):
            return super().evaluate(x, y, **kwargs)
        tokens = self._tokens(x)
        labels = _labels(y, self.num_classes, len(tokens))
        return super().evaluate(tokens, labels, **kwargs)

    def predict(self, x, **kwargs):
        return super().predict(self._tokens(x), **kwargs)

    @classmethod
    def accuracy_per_block(
        cls,
        backbone,
        train_token_ids,
        train_labels,
        test_token_ids,
        test_labels,
        num_classes,
        epochs=100,
        batch_size=128,
        learning_rate=1e-2,
        verbose=0,
    ):
        """Test accuracy of a `LinearProbe` on every block of `backbone`.

        Each block gets its own probe, compiled with Adam(`learning_rate`)
        and fitted for `epochs`.

        Returns:
            A list of accuracies, one per block.
        """
        progress = None
        if verbose:
            progress = keras.utils.Progbar(
                backbone.num_layers, unit_name="block"
            )
        accuracies = []
        for block in range(backbone.num_layers):
            probe = cls(backbone, block, num_classes)
            probe.compile(optimizer=keras.optimizers.Adam(learning_rate))
            probe.fit(
                train_token_ids,
                train_labels,
                epochs=epochs,
                batch_size=batch_size,
                verbose=0,
            )
            _, accuracy = probe.evaluate(
                test_token_ids, test_labels, batch_size=batch_size, verbose=0
            )
            accuracies.append(float(accuracy))
            if progress:
                progress.add(1)
        return accuracies

    def get_config(self):
        return {
            "backbone": keras.layers.serialize(self.backbone),
            "block_index": self.block_index,
            "num_classes": self.num_classes,
            # The frozen tokenizer's config, as its preprocessor writes it
            # (without compile state); its weights are the task's.
            "image_tokenizer": self.token_preprocessor.get_config()[
                "image_tokenizer"
            ],
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("image_tokenizer"), dict):
            config["image_tokenizer"] = keras.layers.deserialize(
                config["image_tokenizer"]
            )
        return super().from_config(config)


def _is_dataset(x):
    """A `tf.data` or grain dataset (or generator), not arrays."""
    return x is not None and not (
        is_array_like(x) or isinstance(x, (tuple, dict))
    )


def _labels(y, num_classes, num_examples):
    y = to_numpy(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            "Labels `y` must be a 1-D array of integer class ids (not "
            f"one-hot). Received: shape {y.shape}, dtype {y.dtype}"
        )
    if len(y) != num_examples:
        raise ValueError(
            f"Labels `y` has {len(y)} entries for {num_examples} inputs."
        )
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(
            f"Labels `y` must be integers in [0, {num_classes}). "
            f"Received values in [{y.min()}, {y.max()}]"
        )
    return y.astype("int32")
