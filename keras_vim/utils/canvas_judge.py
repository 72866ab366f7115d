"""`CanvasJudge`: reads digit canvases with classifiers of real digits.

Independent of every model trained here: it judges Babeldraw's samples of
`keras_vim.utils.digit_canvases` prompts. Needs scikit-learn.
"""

import numpy as np

from keras_vim.utils.digit_canvases import COLOUR_INK
from keras_vim.utils.digit_canvases import COLOURS
from keras_vim.utils.digit_canvases import EMPTY_INK
from keras_vim.utils.digit_canvases import IMAGE_SIZE
from keras_vim.utils.digit_canvases import QUADRANT_SIZE
from keras_vim.utils.digit_canvases import QUADRANTS
from keras_vim.utils.digit_canvases import _checked_layout
from keras_vim.utils.digit_canvases import _digit_split
from keras_vim.utils.digit_canvases import _quadrant_corner


class CanvasJudge:
    """Says whether canvases show their layouts, using real digits only.

    An evaluator independent of any model trained on the canvases: per
    quadrant it reads the ink (the brightest channel), calls the quadrant
    empty when its mean ink is below `empty_ink`, names its colour as the
    nearest of `COLOURS` to the mean colour of its inked pixels, and reads
    its digit with an RBF support vector machine trained on the real 8x8
    training-split digits and their one-pixel shifts (so that the small
    shifts and blur of generated digits do not fool it), after averaging
    the quadrant down to 8x8.

    Args:
        empty_ink: float. Mean ink in [0, 1] below which a quadrant is
            empty. Defaults to `0.06`, a third of the faintest real digit.
        colour_ink: float. Ink above which a pixel counts towards the
            quadrant's colour. Defaults to `0.25`.

    Example:
    ```python
    judge = CanvasJudge()
    images, captions, layouts = make_canvases(16, "test", seed=1)
    judge.matches(images, layouts).mean()  # close to 1.0
    judge.matches(images, [parse_caption("a red 3 in the top left")] * 16)
    ```
    """

    def __init__(self, empty_ink=EMPTY_INK, colour_ink=COLOUR_INK):
        from sklearn.svm import SVC

        self.empty_ink = float(empty_ink)
        self.colour_ink = float(colour_ink)
        digit_images, labels = _digit_split("train")
        shifted = [digit_images / 16.0]
        for axis in (1, 2):
            for step in (-1, 1):
                shifted.append(_shift(digit_images / 16.0, step, axis))
        features = np.concatenate(shifted).reshape(-1, 64)
        targets = np.tile(labels, len(shifted))
        self.classifier = SVC(kernel="rbf", C=10.0, gamma="scale")
        self.classifier.fit(features, targets)
        self._colour_table = np.array(list(COLOURS.values()), "float64") / 255

    def read(self, images):
        """The layout each canvas shows, as the judge sees it.

        Args:
            images: `(batch, 64, 64, 3)` (or one `(64, 64, 3)`) uint8 in
                [0, 255] or float in [0, 1].

        Returns:
            A list of layout tuples.
        """
        ink, colour_names, digits = self._read_quadrants(images)
        empty = ink.mean(axis=(2, 3)) < self.empty_ink
        return [
            tuple(
                None if empty[i, q] else (int(digits[i, q]), colour_names[i][q])
                for q in range(len(QUADRANTS))
            )
            for i in range(len(ink))
        ]

    def quadrant_matches(self, images, layouts):
        """Per quadrant, whether the canvas shows what the layout asks.

        An empty quadrant must be read as empty; a `(digit, colour)` one as
        that digit in that colour.

        Args:
            images: `(batch, 64, 64, 3)` uint8 or float in [0, 1].
            layouts: one layout tuple per image.

        Returns:
            A bool array `(batch, 4)`, quadrants in the order of
            `QUADRANTS`.
        """
        images = _checked_images(images)
        if not isinstance(layouts, (list, tuple)) or len(layouts) != len(
            images
        ):
            raise ValueError(
                "`layouts` must be a list with one layout per image "
                f"({len(images)}). Received: layouts={layouts!r}"
            )
        layouts = [
            _checked_layout(lay, f"layouts[{i}]")
            for i, lay in enumerate(layouts)
        ]
        seen = self.read(images)
        return np.array(
            [
                [a == b for a, b in zip(lay, read)]
                for lay, read in zip(layouts, seen)
            ],
            bool,
        ).reshape(len(images), len(QUADRANTS))

    def matches(self, images, layouts):
        """Whether each canvas shows its layout in every quadrant.

        Args:
            images: `(batch, 64, 64, 3)` uint8 or float in [0, 1].
            layouts: one layout tuple per image (`parse_caption` turns
                captions into layouts).

        Returns:
            A bool array `(batch,)`.

        Example:
        ```python
        judge.matches(images, [parse_caption(c) for c in captions])
        ```
        """
        return self.quadrant_matches(images, layouts).all(axis=1)

    def _read_quadrants(self, images):
        images = _checked_images(images)
        n = len(images)
        quadrants = np.stack(
            [
                images[
                    :, top : top + QUADRANT_SIZE, left : left + QUADRANT_SIZE
                ]
                for top, left in map(_quadrant_corner, range(len(QUADRANTS)))
            ],
            axis=1,
        )  # (n, 4, 32, 32, 3)
        ink = quadrants.max(axis=-1)
        factor = QUADRANT_SIZE // 8
        pooled = ink.reshape(n, 4, 8, factor, 8, factor).mean(axis=(3, 5))
        # Empty quadrants are not classified: it halves the judge's time.
        inked = ink.mean(axis=(2, 3)) >= self.empty_ink
        digits = np.full((n, 4), -1, "int64")
        if inked.any():
            digits[inked] = self.classifier.predict(
                pooled[inked].reshape(-1, 64)
            )
        weights = np.where(ink > self.colour_ink, ink, 0.0)[..., None]
        mean = (quadrants * weights).sum(axis=(2, 3)) / np.maximum(
            weights.sum(axis=(2, 3)), 1e-8
        )
        mean = mean / np.maximum(mean.max(axis=-1, keepdims=True), 1e-8)
        distances = np.linalg.norm(
            mean[:, :, None, :] - self._colour_table[None, None], axis=-1
        )
        names = list(COLOURS)
        colour_names = [
            [names[k] for k in row] for row in distances.argmin(axis=-1)
        ]
        return ink, colour_names, digits


def _shift(images, step, axis):
    """`images` moved by `step` pixels along `axis`, zeros filling in."""
    shifted = np.roll(images, step, axis=axis)
    edge = [slice(None)] * images.ndim
    edge[axis] = slice(0, step) if step > 0 else slice(step, None)
    shifted[tuple(edge)] = 0.0
    return shifted


def _checked_images(images):
    """Float64 `(batch, 64, 64, 3)` in [0, 1], or a `ValueError`."""
    array = np.asarray(images)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE, 3):
        raise ValueError(
            f"`images` must have shape (batch, {IMAGE_SIZE}, {IMAGE_SIZE}, 3) "
            f"or ({IMAGE_SIZE}, {IMAGE_SIZE}, 3). Received: images.shape="
            f"{np.shape(images)}"
        )
    if array.dtype == np.uint8:
        return array.astype("float64") / 255.0
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(
            "`images` must be uint8 in [0, 255] or float in [0, 1]. "
            f"Received: images.dtype={array.dtype}"
        )
    array = array.astype("float64")
    if not np.all(np.isfinite(array)) or array.min() < 0 or array.max() > 1:
        raise ValueError(
            "Float `images` must be finite and in [0, 1]. Received values in "
            f"[{np.nanmin(array):.4g}, {np.nanmax(array):.4g}]"
        )
    return array
