"""A shift-tolerant judge of which digit an image shows.

Independent of every model trained here: it reads the samples of
`vim_digits_class`. Needs scikit-learn.
"""

import numpy as np

from keras_vim.utils.sample_data import digit_pixels
from keras_vim.utils.sample_data import digits
from keras_vim.utils.sample_data import shifted_copies


def shift_tolerant_digit_classifier(shift=1, C=10.0):
    """An RBF SVM of the real 8x8 train-split digits and their shifts.

    The logistic regression of `sample_data.digit_classifier` reads pixels
    at fixed places, so a well-drawn digit one original pixel off centre
    fools it. This judge is a support vector machine (scikit-learn's `SVC`,
    RBF kernel) fitted on the 1,437 training-split digits at 8x8, each also
    moved by `shift` pixels along either axis or both (zero fill: the 9
    `shifted_copies`). It never sees a test digit or a generated image.
    Images are read as `digit_classifier` reads them: averaged over
    channels, then average-pooled down to 8x8.

    Args:
        shift: int >= 0. The shift, in 8x8 pixels, of the copies of the
            training digits; 0 trains on the digits as they are.
        C: float. The SVM's regularisation (larger fits the training
            digits more closely).

    Returns:
        A function mapping `(n, H, H, channels)` images (uint8, or float in
        [0, 1]; `H` a multiple of 8) to `(n,)` predicted labels.

    Example:
    ```python
    classify = shift_tolerant_digit_classifier()
    images, labels = digits(32, "test")
    np.mean(classify(images) == labels)  # about 0.99
    ```
    """
    from sklearn.svm import SVC

    if not isinstance(shift, int) or shift < 0:
        raise ValueError(
            f"`shift` must be an int >= 0. Received: shift={shift!r}"
        )
    images, labels = digits(8, "train")
    images = images[..., 0].astype("float64") / 255.0
    if shift:
        images = shifted_copies(images, shift)
        labels = np.tile(labels, 9)
    classifier = SVC(kernel="rbf", C=C, gamma="scale")
    classifier.fit(images.reshape(-1, 64), labels)

    def predict(x):
        return classifier.predict(digit_pixels(x))

    return predict
