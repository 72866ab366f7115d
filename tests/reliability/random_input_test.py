"""Property-style checks: random inputs either work or fail clearly.

Each entry point is fed inputs drawn at random (shapes of every rank,
empty ones included, many dtypes, NaN, inf, out-of-range values). Every
call must either return a result of the right shape and range, or raise a
`ValueError` / `TypeError` that names the argument; and afterwards the
model must give exactly the outputs it gave before (nothing wiped, nothing
changed by a rejected call).
"""

import numpy as np
from keras_hub.src.tests.test_case import TestCase

from tests.models.babeldraw.babeldraw_test import build as build_babeldraw
from tests.models.vit_vqgan.vit_vqgan_test import build_task
from tests.models.vit_vqgan.vit_vqgan_test import images

DTYPES = ("uint8", "int32", "int64", "float16", "float32", "float64", "bool")


def random_array(rng, shapes):
    shape = shapes[rng.integers(len(shapes))]
    dtype = DTYPES[rng.integers(len(DTYPES))]
    if dtype == "bool":
        return rng.integers(0, 2, shape).astype(bool)
    kind = rng.integers(4)
    if kind == 0:
        values = rng.uniform(0, 1, shape)
    elif kind == 1:
        values = rng.integers(-300, 300, shape)
    elif kind == 2:
        values = rng.normal(0, 1e3, shape)
    else:
        values = rng.uniform(0, 1, shape)
        if values.size:
            values.flat[rng.integers(values.size)] = rng.choice(
                [np.nan, np.inf, -np.inf]
            )
    with np.errstate(invalid="ignore", over="ignore"):
        return np.asarray(values).astype(dtype)


class RandomInputTest(TestCase):
    def assertFailsClearly(self, error, name):
        self.assertIsInstance(error, (ValueError, TypeError))
        self.assertIn(name, str(error))

    def test_vit_vqgan_encode_and_decode(self):
        model = build_task(compile=False)
        reference = images(2)
        g = model.backbone.grid_size
        codes = model.backbone.codebook_size
        ids = np.asarray(model.encode(reference))
        decoded = np.asarray(model.decode(ids))
        rng = np.random.default_rng(0)
        shapes = [
            (16, 16, 3),
            (2, 16, 16, 3),
            (0, 16, 16, 3),
            (2, 16, 16),
            (2, 16, 16, 4),
            (2, 12, 16, 3),
            (2, 3, 16, 16),
            (1, 1, 16, 16, 3),
            (),
            (0,),
        ]
        accepted = 0
        for _ in range(40):
            x = random_array(rng, shapes)
            try:
                out = np.asarray(model.encode(x))
            except Exception as e:
                self.assertFailsClearly(e, "images")
                continue
            accepted += 1
            batch = 1 if x.ndim == 3 else x.shape[0]
            self.assertEqual(out.shape, (batch, g, g))
            self.assertTrue(np.all((out >= 0) & (out < codes)))
        self.assertGreater(accepted, 0)
        id_shapes = [(2, g, g), (2, g * g), (0, g, g), (2, g + 1, g), (g,), ()]
        for _ in range(30):
            t = random_array(rng, id_shapes)
            try:
                out = np.asarray(model.decode(t))
            except Exception as e:
                self.assertFailsClearly(e, "token_ids")
                continue
            self.assertEqual(out.shape, (len(t), 16, 16, 3))
            self.assertTrue(np.all((out >= 0) & (out <= 1)))
        # Silently misread before: booleans (almost black), ragged lists.
        for bad in (
            reference > 127,
            [reference[0], reference[0, :8]],
        ):
            with self.assertRaises(ValueError) as caught:
                model.encode(bad)
            self.assertFailsClearly(caught.exception, "images")
        for batch_size in (0, -1, 1.5, True, "2"):
            with self.assertRaises(ValueError) as caught:
                model.encode(reference, batch_size=batch_size)
            self.assertFailsClearly(caught.exception, "batch_size")
        self.assertAllEqual(model.encode(reference), ids)
        self.assertAllEqual(model.decode(ids), decoded)

    def test_babeldraw_generate_arguments(self):
        model = build_babeldraw()
        prompt = ["a red 3 in the top left"]
        before = model.generate(prompt, seed=0, verbose=0)["token_ids"]
        rng = np.random.default_rng(1)
        candidates = {
            "num_images": [0, -1, 1.5, True, np.int64(2), 2, None],
            "guidance_scale": [-1.0, np.nan, np.inf, np.float32(2.0), 0.0],
            "temperature": [0.0, -1.0, np.nan, np.inf, 1e-40, np.float64(0.7)],
            "top_k": [0, -3, 2.5, np.int32(5), 5],
            "top_p": [0.0, 1.5, np.nan, 0.9],
            "seed": [-1, 2**40, "abc", 1.5, np.int64(3), 3],
        }
        for _ in range(12):
            name = list(candidates)[rng.integers(len(candidates))]
            values = candidates[name]
            value = values[rng.integers(len(values))]
            try:
                out = model.generate(prompt, verbose=0, **{name: value})
            except Exception as e:
                self.assertFailsClearly(e, name)
                continue
            tokens = np.asarray(out["token_ids"])
            self.assertEqual(tokens.shape[1:], (4, 4))
            self.assertTrue(np.all((tokens >= 0) & (tokens < 32)))
        for prompts in ([], [""], [3], "", None):
            with self.assertRaises((ValueError, TypeError)) as caught:
                model.generate(prompts, verbose=0)
            self.assertFailsClearly(caught.exception, "prompt")
        again = model.generate(prompt, seed=0, verbose=0)["token_ids"]
        self.assertAllEqual(again, before)
