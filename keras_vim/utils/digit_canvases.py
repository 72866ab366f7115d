"""Captioned canvases of coloured digits.

The data of the `babeldraw_digits` preset and of its evaluation: 64x64 RGB
images on black with a scikit-learn handwritten digit in one or two of
their four 32x32 quadrants, each digit inked in one of seven colours, and
a caption from one small grammar:

    "a red 3 in the top left"
    "a blue 7 in the bottom right and a white 0 in the top left"

A fixed tenth of the (colour, digit, quadrant) combinations never appears
in training canvases, so generalisation to unseen combinations can be
measured; `keras_vim.utils.canvas_judge.CanvasJudge`, built from real
digits only, says whether an image shows what a caption asks for.
Offline and deterministic given a seed. Needs scikit-learn
(`pip install keras-vim[examples]`).

A layout is a tuple with one entry per quadrant, in the order of
`QUADRANTS`: `None` for an empty quadrant, or `(digit, colour)`, e.g.
`((3, "red"), None, None, None)` for "a red 3 in the top left".
"""

import functools
import re

import numpy as np

IMAGE_SIZE = 64
QUADRANT_SIZE = IMAGE_SIZE // 2
QUADRANTS = ("top left", "top right", "bottom left", "bottom right")
COLOURS = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "cyan": (0, 255, 255),
    "magenta": (255, 0, 255),
    "white": (255, 255, 255),
}
DIGITS = tuple(range(10))
SPLITS = ("train", "test")
COMBINATIONS = ("seen", "unseen", "any")

# Ink is the brightest channel, in [0, 1]. The faintest real digit covers
# its quadrant with a mean ink of 0.18; a third of that is "empty".
EMPTY_INK = 0.06
# Pixels brighter than this decide a quadrant's colour.
COLOUR_INK = 0.25

_OBJECT = (
    r"a (?P<colour{i}>" + "|".join(COLOURS) + r") (?P<digit{i}>[0-9]) "
    r"in the (?P<quadrant{i}>" + "|".join(QUADRANTS) + r")"
)
_CAPTION = re.compile(
    "^" + _OBJECT.format(i=0) + "(?: and " + _OBJECT.format(i=1) + ")?$"
)


def held_out_combinations():
    """The (colour, digit, quadrant) combinations no training caption has.

    The rule: `(colour_index + digit + quadrant_index) % 10 == 0`, with
    colours indexed in the order of `COLOURS` (red 0 ... white 6) and
    quadrants in the order of `QUADRANTS` (top left 0 ... bottom right 3).
    Each (colour, quadrant) pair loses exactly one digit, so 28 of the 280
    combinations (10%) are held out, while every colour, digit and quadrant
    still appears in training, each pair of them too.

    Returns:
        A sorted list of `(colour, digit, quadrant)` tuples of strings and
        ints, e.g. `("red", 0, "top left")`.

    Example:
    ```python
    held_out = held_out_combinations()
    len(held_out)  # 28
    ("red", 0, "top left") in held_out  # True
    ```
    """
    return sorted(_held_out_set())


@functools.lru_cache(maxsize=None)
def _held_out_set():
    return frozenset(
        (colour, digit, quadrant)
        for c, colour in enumerate(COLOURS)
        for q, quadrant in enumerate(QUADRANTS)
        for digit in DIGITS
        if (c + digit + q) % 10 == 0
    )


def is_held_out(layout):
    """Whether any quadrant of `layout` shows a held-out combination.

    Args:
        layout: a layout tuple (see the module docstring).
    """
    layout = _checked_layout(layout, "layout")
    held_out = _held_out_set()
    return any(
        entry is not None and (entry[1], entry[0], quadrant) in held_out
        for quadrant, entry in zip(QUADRANTS, layout)
    )


def caption_of(layout, reverse=False):
    """The caption of a layout, objects in reading order of the quadrants.

    Args:
        layout: a layout tuple with one or two digits.
        reverse: bool. Mention the objects in reverse reading order (the
            training captions use both orders).

    Returns:
        A string such as `"a blue 7 in the bottom right"`.

    Example:
    ```python
    caption_of(((0, "white"), None, None, (7, "blue")), reverse=True)
    # "a blue 7 in the bottom right and a white 0 in the top left"
    ```
    """
    layout = _checked_layout(layout, "layout")
    objects = [
        f"a {entry[1]} {entry[0]} in the {quadrant}"
        for quadrant, entry in zip(QUADRANTS, layout)
        if entry is not None
    ]
    if reverse:
        objects.reverse()
    return " and ".join(objects)


def parse_caption(caption):
    """The layout a caption asks for.

    Reads the grammar of the training captions: one or two objects
    `"a <colour> <digit> in the <quadrant>"` joined by `" and "`, in two
    different quadrants. Case and repeated spaces are ignored.

    Args:
        caption: str.

    Returns:
        A layout tuple (see the module docstring).

    Example:
    ```python
    parse_caption("a blue 7 in the bottom right and a white 0 in the top left")
    # ((0, "white"), None, None, (7, "blue"))
    ```
    """
    if not isinstance(caption, str):
        raise ValueError(
            "`caption` must be a string. Received: "
            f"caption={caption!r} of type {type(caption).__name__}"
        )
    match = _CAPTION.match(" ".join(caption.lower().split()))
    if match is None:
        raise ValueError(
            "`caption` must follow the grammar 'a <colour> <digit> in the "
            "<quadrant>', optionally followed by ' and ' and a second such "
            f"object, with colours {list(COLOURS)}, digits 0-9 and quadrants "
            f"{list(QUADRANTS)}. Received: caption={caption!r}"
        )
    layout = [None] * len(QUADRANTS)
    for i in range(2):
        quadrant = match.group(f"quadrant{i}")
        if quadrant is None:
            continue
        q = QUADRANTS.index(quadrant)
        if layout[q] is not None:
            raise ValueError(
                "`caption` must put its two digits in different quadrants. "
                f"Received: caption={caption!r} (twice the {quadrant})"
            )
        layout[q] = (int(match.group(f"digit{i}")), match.group(f"colour{i}"))
    return tuple(layout)


def render(layout, digit_images):
    """Draws one canvas.

    Args:
        layout: a layout tuple.
        digit_images: one `(8, 8)` array of grey levels in [0, 16] (as in
            scikit-learn's digits) per quadrant, or `None` where the layout
            is empty.

    Returns:
        A uint8 `(64, 64, 3)` image: each digit scaled up 4x (nearest
        neighbour) to fill its quadrant, its colour times its grey level.
    """
    canvas = np.zeros((IMAGE_SIZE, IMAGE_SIZE, 3), "float64")
    factor = QUADRANT_SIZE // 8
    for q, entry in enumerate(layout):
        if entry is None:
            continue
        ink = np.kron(
            np.asarray(digit_images[q], "float64") / 16.0,
            np.ones((factor, factor)),
        )
        top, left = _quadrant_corner(q)
        canvas[top : top + QUADRANT_SIZE, left : left + QUADRANT_SIZE] = ink[
            ..., None
        ] * np.array(COLOURS[entry[1]], "float64")
    return np.round(canvas).astype("uint8")


def make_canvases(num_images, split="train", combinations="seen", seed=0):
    """Random captioned canvases of real digits.

    Each canvas has a digit in one or two distinct quadrants (even odds),
    each drawn from the digits of `split` with the label the layout asks
    for. The caption mentions the objects in reading order or in reverse
    (even odds). The digits come from scikit-learn's 1,797 handwritten
    digits, split by `train_test_split(test_size=0.2, random_state=0)`,
    stratified by label (the split of `sample_data.digits`, 1,437 train /
    360 test).

    Args:
        num_images: int.
        split: `"train"` or `"test"`: which digits are drawn.
        combinations: `"seen"`: no quadrant shows a held-out combination
            (the training data); `"unseen"`: one quadrant does (the other,
            if any, is unrestricted); `"any"`: no restriction.
        seed: int. The same arguments give the same canvases.

    Returns:
        `(images, captions, layouts)`: uint8 `(num_images, 64, 64, 3)`, a
        list of strings and a list of layout tuples.

    Example:
    ```python
    images, captions, layouts = make_canvases(8, "train", seed=0)
    images.shape  # (8, 64, 64, 3)
    captions[0]  # e.g. "a cyan 4 in the bottom left"
    ```
    """
    if (
        isinstance(num_images, bool)
        or not isinstance(num_images, (int, np.integer))
        or num_images < 0
    ):
        raise ValueError(
            "`num_images` must be a non-negative int. Received: "
            f"num_images={num_images!r}"
        )
    if split not in SPLITS:
        raise ValueError(
            f"`split` must be one of {SPLITS}. Received: split={split!r}"
        )
    if combinations not in COMBINATIONS:
        raise ValueError(
            f"`combinations` must be one of {COMBINATIONS}. Received: "
            f"combinations={combinations!r}"
        )
    digit_images, labels = _digit_split(split)
    by_label = [np.flatnonzero(labels == d) for d in DIGITS]
    rng = np.random.default_rng(seed)
    images = np.zeros((num_images, IMAGE_SIZE, IMAGE_SIZE, 3), "uint8")
    captions, layouts = [], []
    for i in range(num_images):
        num_digits = 1 + int(rng.integers(2))
        quadrants = rng.permutation(len(QUADRANTS))[:num_digits]
        layout = [None] * len(QUADRANTS)
        drawn = [None] * len(QUADRANTS)
        for k, q in enumerate(quadrants):
            if combinations == "seen":
                wanted = "seen"
            elif combinations == "unseen" and k == 0:
                wanted = "unseen"
            else:
                wanted = "any"
            choices = _pairs(int(q), wanted)
            digit, colour = choices[int(rng.integers(len(choices)))]
            layout[q] = (digit, colour)
            drawn[q] = digit_images[rng.choice(by_label[digit])]
        layout = tuple(layout)
        images[i] = render(layout, drawn)
        captions.append(caption_of(layout, reverse=bool(rng.integers(2))))
        layouts.append(layout)
    return images, captions, layouts


@functools.lru_cache(maxsize=None)
def _pairs(quadrant, wanted):
    """The `(digit, colour)` pairs allowed in `quadrant`."""
    held_out = _held_out_set()
    name = QUADRANTS[quadrant]
    return [
        (digit, colour)
        for colour in COLOURS
        for digit in DIGITS
        if wanted == "any"
        or ((colour, digit, name) in held_out) == (wanted == "unseen")
    ]


@functools.lru_cache(maxsize=None)
def _digit_split(split):
    """Read-only `(images (n, 8, 8) levels 0-16, labels)` of one split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    index = np.arange(len(data.target))
    train, test = train_test_split(
        index, test_size=0.2, random_state=0, stratify=data.target
    )
    chosen = {"train": train, "test": test}[split]
    images = data.images[chosen].astype("float64")
    labels = data.target[chosen].astype("int64")
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _quadrant_corner(q):
    return (q // 2) * QUADRANT_SIZE, (q % 2) * QUADRANT_SIZE


def _checked_layout(layout, name):
    if not isinstance(layout, (tuple, list)) or len(layout) != len(QUADRANTS):
        raise ValueError(
            f"`{name}` must be a tuple of {len(QUADRANTS)} entries, one per "
            f"quadrant {list(QUADRANTS)}. Received: {name}={layout!r}"
        )
    for entry in layout:
        if entry is None:
            continue
        if (
            not isinstance(entry, (tuple, list))
            or len(entry) != 2
            or entry[0] not in DIGITS
            or isinstance(entry[0], bool)
            or entry[1] not in COLOURS
        ):
            raise ValueError(
                f"Each entry of `{name}` must be None or (digit, colour) "
                f"with a digit 0-9 and a colour in {list(COLOURS)}. "
                f"Received: {name}={layout!r}"
            )
    return tuple(None if e is None else (int(e[0]), e[1]) for e in layout)
