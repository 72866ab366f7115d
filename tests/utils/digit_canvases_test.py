import functools

import numpy as np
from keras_hub.src.tests.test_case import TestCase

from keras_vim.utils import digit_canvases
from keras_vim.utils.canvas_judge import CanvasJudge
from keras_vim.utils.digit_canvases import COLOURS
from keras_vim.utils.digit_canvases import QUADRANTS
from keras_vim.utils.digit_canvases import caption_of
from keras_vim.utils.digit_canvases import held_out_combinations
from keras_vim.utils.digit_canvases import is_held_out
from keras_vim.utils.digit_canvases import make_canvases
from keras_vim.utils.digit_canvases import parse_caption


@functools.lru_cache(maxsize=None)
def judge():
    return CanvasJudge()


@functools.lru_cache(maxsize=None)
def real_test_canvases():
    return make_canvases(200, "test", "any", seed=1)


def _quadrant(image, q):
    top, left = (q // 2) * 32, (q % 2) * 32
    return image[top : top + 32, left : left + 32]


def _altered(layout, how, rng):
    """`layout` with one object's digit, colour or quadrant changed."""
    layout = list(layout)
    filled = [q for q, entry in enumerate(layout) if entry is not None]
    q = filled[rng.integers(len(filled))]
    digit, colour = layout[q]
    if how == "digit":
        layout[q] = ((digit + 1 + rng.integers(9)) % 10, colour)
    elif how == "colour":
        others = [c for c in COLOURS if c != colour]
        layout[q] = (digit, others[rng.integers(len(others))])
    else:
        empty = [k for k, entry in enumerate(layout) if entry is None]
        layout[empty[rng.integers(len(empty))]] = layout[q]
        layout[q] = None
    return tuple(layout)


class DigitCanvasesTest(TestCase):
    def test_shapes_dtypes_and_drawing(self):
        images, captions, layouts = make_canvases(50, "train", seed=0)
        self.assertEqual(images.shape, (50, 64, 64, 3))
        self.assertEqual(images.dtype, np.uint8)
        self.assertEqual((len(captions), len(layouts)), (50, 50))
        counts = [sum(e is not None for e in layout) for layout in layouts]
        self.assertEqual(set(counts), {1, 2})
        for image, layout in zip(images, layouts):
            for q, entry in enumerate(layout):
                quadrant = _quadrant(image, q)
                if entry is None:
                    self.assertEqual(quadrant.max(), 0)
                    continue
                unlit = np.array(COLOURS[entry[1]]) == 0
                self.assertEqual(quadrant[..., unlit].max(initial=0), 0)
                self.assertGreater(quadrant.max(), 200)
        self.assertEqual(make_canvases(0)[0].shape, (0, 64, 64, 3))

    def test_captions_round_trip(self):
        _, captions, layouts = make_canvases(200, "train", "any", seed=3)
        for caption, layout in zip(captions, layouts):
            self.assertEqual(parse_caption(caption), layout)
            self.assertEqual(parse_caption(caption_of(layout)), layout)
        # Both orders of two objects appear.
        two = [c for c, lay in zip(captions, layouts) if " and " in c]
        self.assertIn(True, [c == caption_of(parse_caption(c)) for c in two])
        self.assertIn(False, [c == caption_of(parse_caption(c)) for c in two])
        self.assertEqual(
            parse_caption(
                "a blue 7 in the bottom right and a white 0 in the top left"
            ),
            ((0, "white"), None, None, (7, "blue")),
        )
        self.assertEqual(
            caption_of(((0, "white"), None, None, (7, "blue")), reverse=True),
            "a blue 7 in the bottom right and a white 0 in the top left",
        )
        self.assertEqual(
            parse_caption("  A Red 3 in the   top left "),
            ((3, "red"), None, None, None),
        )

    def test_parse_caption_rejects_other_captions(self):
        for caption in [
            "",
            "a purple 3 in the top left",
            "a red 12 in the top left",
            "a red three in the top left",
            "a red 3 in the middle",
            "a red 3 in the top left and",
            "a red 3 in the top left and a blue 4 in the top right and "
            "a green 5 in the bottom left",
        ]:
            with self.assertRaisesRegex(ValueError, "grammar.*caption="):
                parse_caption(caption)
        with self.assertRaisesRegex(ValueError, "different quadrants"):
            parse_caption(
                "a red 3 in the top left and a blue 4 in the top left"
            )
        with self.assertRaisesRegex(ValueError, "caption=3"):
            parse_caption(3)

    def test_held_out_combinations(self):
        held_out = held_out_combinations()
        self.assertEqual(len(held_out), 28)
        self.assertIn(("red", 0, "top left"), held_out)
        for colour in COLOURS:
            for quadrant in QUADRANTS:
                digits = [
                    d for c, d, q in held_out if (c, q) == (colour, quadrant)
                ]
                self.assertEqual(len(digits), 1)
        _, _, seen = make_canvases(1000, "train", "seen", seed=0)
        self.assertFalse(any(is_held_out(layout) for layout in seen))
        _, _, unseen = make_canvases(100, "test", "unseen", seed=0)
        self.assertTrue(all(is_held_out(layout) for layout in unseen))
        _, _, any_ = make_canvases(300, "train", "any", seed=0)
        flags = [is_held_out(layout) for layout in any_]
        self.assertTrue(any(flags) and not all(flags))

    def test_digits_come_from_their_split(self):
        split_digits = {
            split: {
                image.tobytes()
                for image in digit_canvases._digit_split(split)[0]
            }
            for split in ("train", "test")
        }
        self.assertEqual(
            [len(digit_canvases._digit_split(s)[0]) for s in ("train", "test")],
            [1437, 360],
        )
        for split in ("train", "test"):
            images, _, layouts = make_canvases(30, split, "any", seed=2)
            for image, layout in zip(images, layouts):
                for q, entry in enumerate(layout):
                    if entry is None:
                        continue
                    # Undo the drawing: ink back to 8x8 levels 0-16.
                    ink = _quadrant(image, q).max(axis=-1)[::4, ::4]
                    levels = np.round(ink / 255.0 * 16.0)
                    self.assertIn(levels.tobytes(), split_digits[split])

    def test_deterministic_with_a_seed(self):
        a = make_canvases(20, "train", seed=5)
        b = make_canvases(20, "train", seed=5)
        c = make_canvases(20, "train", seed=6)
        self.assertAllEqual(a[0], b[0])
        self.assertEqual(a[1:], b[1:])
        self.assertNotEqual(a[1], c[1])

    def test_bad_arguments(self):
        with self.assertRaisesRegex(ValueError, "split='valid'"):
            make_canvases(2, split="valid")
        with self.assertRaisesRegex(ValueError, "combinations='new'"):
            make_canvases(2, combinations="new")
        with self.assertRaisesRegex(ValueError, "num_images=-1"):
            make_canvases(-1)
        with self.assertRaisesRegex(ValueError, "layout="):
            caption_of(((3, "purple"), None, None, None))

    def test_judge_accepts_real_test_canvases(self):
        images, captions, layouts = real_test_canvases()
        accepted = judge().matches(images, layouts)
        self.assertEqual(accepted.shape, (200,))
        self.assertGreaterEqual(accepted.mean(), 0.9)
        # Floats in [0, 1] are read like uint8, layouts from captions too.
        self.assertAllEqual(
            judge().matches(
                images / 255.0, [parse_caption(c) for c in captions]
            ),
            accepted,
        )
        self.assertEqual(
            judge().read(np.zeros((64, 64, 3), "uint8")), [(None,) * 4]
        )

    def test_judge_rejects_altered_layouts(self):
        images, _, layouts = real_test_canvases()
        rng = np.random.default_rng(0)
        for how in ("digit", "colour", "quadrant"):
            altered = [_altered(layout, how, rng) for layout in layouts]
            rejected = ~judge().matches(images, altered)
            self.assertGreaterEqual(rejected.mean(), 0.9, how)
        details = judge().quadrant_matches(images[:1], [(None,) * 4])
        self.assertEqual(details.shape, (1, 4))
        filled = [entry is not None for entry in layouts[0]]
        self.assertAllEqual(details[0], np.logical_not(filled))

    def test_judge_checks_its_inputs(self):
        images, _, layouts = real_test_canvases()
        with self.assertRaisesRegex(
            ValueError, r"images.shape=\(2, 32, 32, 3\)"
        ):
            judge().matches(np.zeros((2, 32, 32, 3), "uint8"), layouts[:2])
        with self.assertRaisesRegex(ValueError, r"one layout per image \(2\)"):
            judge().matches(images[:2], layouts[:3])
        with self.assertRaisesRegex(ValueError, r"layouts\[0\]="):
            judge().matches(images[:1], [((3, "red"),)])
