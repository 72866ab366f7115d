import numpy as np
from keras_hub.src.tests.test_case import TestCase

from keras_vim.utils import sample_data
from keras_vim.utils.tokenizer_evaluation import block_boundary_ratio
from keras_vim.utils.tokenizer_evaluation import fit_patch_kmeans
from keras_vim.utils.tokenizer_evaluation import image_patches
from keras_vim.utils.tokenizer_evaluation import images_from_patches
from keras_vim.utils.tokenizer_evaluation import jpeg_rate_distortion
from keras_vim.utils.tokenizer_evaluation import kmeans_reconstruct
from keras_vim.utils.tokenizer_evaluation import mean_step


def loop_block_ratio(image, patch_size):
    """Every neighbouring pixel pair visited one by one."""
    h, w, _ = image.shape
    boundary, inside = [], []
    for y in range(h):
        for x in range(w):
            for dy, dx in ((0, 1), (1, 0)):
                if y + dy >= h or x + dx >= w:
                    continue
                step = np.abs(image[y + dy, x + dx] - image[y, x])
                crosses = (x + dx) % patch_size == 0 if dx else False
                crosses = crosses or ((y + dy) % patch_size == 0 if dy else 0)
                (boundary if crosses else inside).extend(step)
    return np.mean(boundary) / np.mean(inside)


class BlockBoundaryRatioTest(TestCase):
    def test_matches_pixel_loop(self):
        image = np.random.default_rng(0).random((12, 12, 3))
        self.assertAllClose(
            block_boundary_ratio(image[None], 4), loop_block_ratio(image, 4)
        )

    def test_noise_is_one_and_flat_blocks_are_high(self):
        rng = np.random.default_rng(1)
        noise = rng.random((8, 32, 32, 3))
        self.assertAllClose(block_boundary_ratio(noise, 8), 1.0, atol=0.05)
        blocks = rng.random((8, 4, 4, 3)).repeat(8, 1).repeat(8, 2)
        blocky = blocks + 0.01 * rng.random(blocks.shape)
        self.assertGreater(block_boundary_ratio(blocky, 8), 10.0)


class MeanStepTest(TestCase):
    def test_matches_pixel_loop_and_uint8_scale(self):
        image = np.random.default_rng(2).integers(0, 256, (1, 6, 5, 3))
        image = image.astype("uint8")
        x = image[0].astype("float64") / 255
        steps = [
            abs(x[y, c + dx] - x[y, c] if dx else x[y + 1, c] - x[y, c])
            for y in range(6)
            for c in range(5)
            for dx in (0, 1)
            if y + (1 - dx) < 6 and c + dx < 5
        ]
        self.assertAllClose(mean_step(image), np.mean(steps))
        self.assertAllClose(mean_step(x[None]), np.mean(steps))


class KMeansTest(TestCase):
    def test_patches_round_trip(self):
        images = np.random.default_rng(2).random((3, 16, 16, 3))
        flat = image_patches(images, 8)
        self.assertEqual(flat.shape, (12, 192))
        self.assertAllClose(images_from_patches(flat, 3, 16, 8), images)

    def test_reconstruction_is_nearest_centre(self):
        rng = np.random.default_rng(3)
        train = rng.integers(0, 256, (64, 16, 16, 3)).astype("uint8")
        kmeans = fit_patch_kmeans(train, 8, patch_size=8)
        test = train[:2]
        recon = kmeans_reconstruct(kmeans, test, 8)
        patches = image_patches(test / 255.0, 8)
        centres = kmeans.cluster_centers_
        distances = ((patches[:, None] - centres[None]) ** 2).sum(-1)
        expected = centres[distances.argmin(1)]
        self.assertAllClose(image_patches(recon, 8), expected, atol=1e-5)


class JpegRateDistortionTest(TestCase):
    def test_rate_and_quality_grow_with_jpeg_quality(self):
        images = sample_data.held_out_photo_crops("rocket", 8, seed=0)
        points = jpeg_rate_distortion(images, [5, 50, 95])
        bits = [p[1] for p in points]
        psnrs = [p[2] for p in points]
        self.assertEqual(bits, sorted(bits))
        self.assertEqual(psnrs, sorted(psnrs))
        # Headers excluded: far below the ~600 header bytes of one file.
        self.assertLess(bits[0], 600 * 8 / 64**2)


class PhotoSplitTest(TestCase):
    def test_held_out_rule_and_disjoint_training(self):
        names = sample_data.COLOUR_PHOTOS
        self.assertEqual(list(names), sorted(names))
        held_out = sample_data.TOKENIZER_HELD_OUT_PHOTOS
        self.assertEqual(held_out, names[1::3])
        self.assertFalse(
            set(held_out) & set(sample_data.TOKENIZER_TRAIN_PHOTOS)
        )
        self.assertEqual(
            set(held_out) | set(sample_data.TOKENIZER_TRAIN_PHOTOS), set(names)
        )

    def test_augmented_crops(self):
        a = sample_data.augmented_photo_crops(16, size=32, seed=4)
        b = sample_data.augmented_photo_crops(16, size=32, seed=4)
        self.assertEqual(a.shape, (16, 32, 32, 3))
        self.assertEqual(a.dtype, np.uint8)
        self.assertAllEqual(a, b)
        self.assertGreater(a.std(), 20.0)
