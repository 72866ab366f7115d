import os
import subprocess
import sys

import keras
import numpy as np
from keras_hub.src.tests.test_case import TestCase
from PIL import Image

import keras_vim
from keras_vim import cli
from tests.models.babeldraw.babeldraw_test import build


class CliTest(TestCase):
    def test_generate_writes_a_png_grid(self):
        preset = os.path.join(self.get_temp_dir(), "babeldraw")
        from tests.models.vim.vim_transformer_test import tiny_tokenizer

        build(image_tokenizer=tiny_tokenizer()).save_to_preset(preset)
        output = os.path.join(self.get_temp_dir(), "grid.png")
        status = cli.main(
            [
                "generate",
                "--preset",
                preset,
                "a red 3 in the top left",
                "a blue 5 in the bottom right",
                "--num-images",
                "3",
                "--seed",
                "0",
                "--output",
                output,
            ]
        )
        self.assertEqual(status, 0)
        grid = np.asarray(Image.open(output))
        # Two rows (prompts) of three 16x16 images, 2-pixel padding.
        self.assertEqual(grid.shape[:2], (2 * 16 + 3 * 2, 3 * 16 + 4 * 2))
        self.assertGreater(grid.std(), 0)
        status = cli.main(
            ["generate", "--preset", preset, "", "--output", output]
        )
        self.assertEqual(status, 2)  # a clear error, not a traceback

    def test_generate_reranked_and_upscaled(self):
        from tests.models.babeldraw.babeldraw_pipeline_test import upsampler
        from tests.models.babeldraw.babeldraw_pipeline_test import with_reranker
        from tests.models.vim.vim_transformer_test import tiny_tokenizer

        base = build(image_tokenizer=tiny_tokenizer())
        model = keras_vim.Babeldraw(
            base.backbone,
            base.preprocessor,
            reranker=with_reranker(base).reranker,
            super_resolution=upsampler(),
        )
        preset = os.path.join(self.get_temp_dir(), "pipeline")
        model.save_to_preset(preset)
        output = os.path.join(self.get_temp_dir(), "large.png")
        status = cli.main(
            [
                "generate",
                "--preset",
                preset,
                "a red 3 in the top left",
                "--num-images",
                "2",
                "--num-candidates",
                "3",
                "--upscale",
                "--output",
                output,
            ]
        )
        self.assertEqual(status, 0)
        grid = np.asarray(Image.open(output))
        # One row of two 32x32 (upsampled) images, 2-pixel padding.
        self.assertEqual(grid.shape[:2], (32 + 2 * 2, 2 * 32 + 3 * 2))

    def test_reconstruct_from_the_command_line(self):
        image = os.path.join(self.get_temp_dir(), "digit.png")
        pixels = np.random.default_rng(0).integers(0, 256, (40, 40, 3))
        Image.fromarray(pixels.astype("uint8")).save(image)
        output = os.path.join(self.get_temp_dir(), "out.png")
        command = [
            sys.executable,
            "-m",
            "keras_vim.cli",
            "--backend",
            keras.config.backend(),
            "reconstruct",
            "--preset",
            "vit_vqgan_digits_32",
            image,
            "--output",
            output,
        ]
        subprocess.run(command, check=True, capture_output=True)
        self.assertEqual(np.asarray(Image.open(output)).shape[:2], (36, 70))
        missing = subprocess.run(
            command[:-3] + ["missing.png", "--output", output],
            capture_output=True,
            text=True,
        )
        self.assertEqual(missing.returncode, 2)
        self.assertIn("missing.png", missing.stderr)
