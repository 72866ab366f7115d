import keras
import numpy as np
from keras_hub.models import Task

from keras_vim.models.linear_probe.block_features import BlockFeatures
from keras_vim.models.vim.vim_backbone import VIMBackbone
from keras_vim.models.vim.vim_transformer import image_token_ids
from keras_vim.utils.shuffled_fit import ShuffledFitMixin
from keras_vim.utils.untracked import Untracked
from keras_vim.utils.validation import to_numpy


@keras.saving.register_keras_serializable(package="keras_vim")
class LinearProbe(ShuffledFitMixin, Task):
    """Linear-probe classifier on a frozen VIM (Yu et al., 2021, section 4).

    All image tokens go through the frozen `VIMBackbone` (unconditional:
    the "no class" start token first); the output of block `block_index` is
    averaged over the sequence and a trainable softmax `Dense` layer
    classifies it. The best block is usually near the middle of the network:
    `LinearProbe.accuracy_per_block` measures every one.

    Args:
        backbone: a trained `keras_vim.VIMBackbone`. It is frozen.
        block_index: int in `[0, num_layers)`.
        num_classes: int.
        image_tokenizer: `None` or a `keras_vim.ViTVQGAN` to `fit` on images.

    Example:
    ```python
    vim = keras_vim.VIMTransformer.from_preset("vim_digits")
    probe = keras_vim.LinearProbe(vim.backbone, block_index=2, num_classes=10)
    probe.fit(token_ids, labels, epochs=50)
    ```
    """

    backbone_cls = VIMBackbone

    def __init__(
        self, backbone, block_index, num_classes, image_tokenizer=None, **kwargs
    ):
        if not (isinstance(block_index, int) and 0 <= block_index < backbone.num_layers):
            raise ValueError(
                f"`block_index` must be an int in [0, {backbone.num_layers}) for "
                f"this backbone. Received: block_index={block_index!r}"
            )
        if not (isinstance(num_classes, int) and num_classes > 1):
            raise ValueError(
                f"`num_classes` must be an int > 1. Received: {num_classes!r}"
            )
        kwargs.setdefault("name", "linear_probe")
        # === Layers ===
        backbone.trainable = False
        self.backbone = backbone
        self.preprocessor = None
        self.head = keras.layers.Dense(
            num_classes, activation="softmax", dtype="float32", name="probe_head"
        )

        # === Functional model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        features = BlockFeatures(backbone, [block_index])(token_ids)[0]
        outputs = self.head(features)
        super().__init__(inputs=token_ids, outputs=outputs, **kwargs)

        # === Config ===
        self.block_index = block_index
        self.num_classes = num_classes
        self._image_tokenizer = Untracked(image_tokenizer)

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs):
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(1e-3)
        if loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy()
        if metrics == "auto":
            metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def _tokens(self, x):
        return image_token_ids(x, self.backbone, self._image_tokenizer.value)

    def fit(self, x=None, y=None, **kwargs):
        """`fit` on token ids (or images, with a tokenizer) and class labels."""
        return super().fit(self._tokens(x), _labels(y, self.num_classes), **kwargs)

    def evaluate(self, x=None, y=None, **kwargs):
        return super().evaluate(self._tokens(x), _labels(y, self.num_classes), **kwargs)

    def predict(self, x, **kwargs):
        return super().predict(self._tokens(x), **kwargs)

    @staticmethod
    def accuracy_per_block(
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
        """Test accuracy of a linear probe on every block of `backbone`.

        Features of all blocks come from one frozen forward pass; a softmax
        `Dense` head (the same head `LinearProbe` trains) is then fitted per
        block.

        Returns:
            A list of accuracies, one per block.
        """
        train_labels = _labels(train_labels, num_classes)
        test_labels = _labels(test_labels, num_classes)
        blocks = list(range(backbone.num_layers))
        token_ids = keras.Input(shape=(None,), dtype="int32")
        extractor = keras.Model(
            token_ids, BlockFeatures(backbone, blocks)(token_ids)
        )
        train = extractor.predict(image_token_ids(train_token_ids, backbone), verbose=0, batch_size=batch_size)
        test = extractor.predict(image_token_ids(test_token_ids, backbone), verbose=0, batch_size=batch_size)
        accuracies = []
        progress = keras.utils.Progbar(len(blocks), unit_name="block") if verbose else None
        for block in blocks:
            mean = train[block].mean(0)
            std = train[block].std(0) + 1e-6
            head = keras.Sequential(
                [keras.Input((train[block].shape[-1],)),
                 keras.layers.Dense(num_classes, activation="softmax")]
            )
            head.compile(
                optimizer=keras.optimizers.Adam(learning_rate),
                loss="sparse_categorical_crossentropy",
                metrics=["accuracy"],
            )
            head.fit((train[block] - mean) / std, train_labels, epochs=epochs,
                     batch_size=batch_size, verbose=0)
            _, accuracy = head.evaluate((test[block] - mean) / std, test_labels, verbose=0)
            accuracies.append(float(accuracy))
            if progress:
                progress.add(1)
        return accuracies

    def get_config(self):
        return {
            "backbone": keras.layers.serialize(self.backbone),
            "block_index": self.block_index,
            "num_classes": self.num_classes,
            "name": self.name,
        }


def _labels(y, num_classes):
    y = to_numpy(y).reshape(-1)
    if not np.issubdtype(y.dtype, np.integer) or (
        y.size and (y.min() < 0 or y.max() >= num_classes)
    ):
        raise ValueError(
            f"Labels `y` must be integers in [0, {num_classes}). "
            f"Received values in [{y.min()}, {y.max()}] of dtype {y.dtype}"
        )
    return y.astype("int32")
