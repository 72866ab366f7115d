import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_vim")
class SymmetricContrastiveLoss(keras.losses.Loss):
    """Symmetric InfoNCE over a batch of paired text and images.

    `y_pred` is the `(batch, batch)` similarity logits of every prompt
    against every image; the matching pairs are on the diagonal. The loss
    is the mean of the prompt->image and image->prompt cross-entropies
    (CLIP). `y_true` is not used: the pairing is the batch order.

    Example:
    ```python
    model.compile(optimizer="adam", loss=SymmetricContrastiveLoss())
    ```
    """

    def __init__(self, name="symmetric_contrastive_loss", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        del y_true
        logits = ops.cast(y_pred, "float32")
        labels = ops.arange(ops.shape(logits)[0])
        crossentropy = keras.losses.sparse_categorical_crossentropy
        text_to_image = crossentropy(labels, logits, from_logits=True)
        image_to_text = crossentropy(
            labels, ops.transpose(logits), from_logits=True
        )
        return (text_to_image + image_to_text) / 2
