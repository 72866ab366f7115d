"""`ViTVQGAN.encode` / `decode`: edge cases of the input, and live weights."""

import os
import re
from unittest import mock

import keras
import numpy as np
from keras_hub.src.tests.test_case import TestCase

from tests.models.vit_vqgan.vit_vqgan_test import build_task
from tests.models.vit_vqgan.vit_vqgan_test import images


class ViTVQGANInferenceTest(TestCase):
    def test_empty_batches(self):
        model = build_task(discriminator_base_filters=0, compile=False)
        x = images(2)
        ids = model.encode(x)
        # On JAX, `predict` on no data leaves the model's variables empty.
        no_predict = mock.patch.object(
            keras.Model, "predict", side_effect=AssertionError("predict called")
        )
        with no_predict:
            empty_ids = model.encode(np.zeros((0, 16, 16, 3), "uint8"))
            resized_ids = model.encode(np.zeros((0, 32, 32, 3), "float32"))
            empty_images = model.decode(np.zeros((0, 4, 4), "int32"))
            flat_images = model.decode(np.zeros((0, 16), "int32"))
        for value in (empty_ids, resized_ids):
            self.assertEqual(value.shape, (0, 4, 4))
            self.assertEqual(value.dtype, np.int32)
        for value in (empty_images, flat_images):
            self.assertEqual(value.shape, (0, 16, 16, 3))
            self.assertEqual(value.dtype, np.float32)
        # The model still works.
        self.assertAllEqual(model.encode(x), ids)

    def test_bad_batch_size(self):
        model = build_task(discriminator_base_filters=0, compile=False)
        x = images(2)
        ids = model.encode(x)
        for value in (0, -1, 1.5, True, "2", None):
            message = (
                "`batch_size` must be an int >= 1. Received: "
                f"batch_size={re.escape(repr(value))}"
            )
            with self.assertRaisesRegex(ValueError, message):
                model.encode(x, batch_size=value)
            with self.assertRaisesRegex(ValueError, message):
                model.decode(ids, batch_size=value)
        # The model still works, with any positive integer.
        self.assertAllEqual(model.encode(x, batch_size=np.int64(1)), ids)
        self.assertAllClose(
            model.decode(ids, batch_size=1), model.decode(ids), atol=1e-6
        )

    def test_encode_decode_read_current_weights(self):
        model = build_task(discriminator_base_filters=0, compile=False)
        x = images(4)
        ids = model.encode(x)
        model.decode(ids)

        # A new codebook, assigned as `CodebookRestart` does.
        quantizer = model.backbone.quantizer
        codebook = np.random.default_rng(1).normal(
            size=quantizer.codebook.shape
        )
        quantizer.codebook.assign(codebook.astype("float32"))
        fresh = build_task(discriminator_base_filters=0, compile=False)
        fresh.backbone.set_weights(model.backbone.get_weights())
        new_ids = model.encode(x)
        self.assertFalse(np.array_equal(new_ids, ids))
        self.assertAllEqual(new_ids, fresh.encode(x))
        self.assertAllClose(model.decode(ids), fresh.decode(ids), atol=1e-6)

        # Other weights, loaded from a file.
        other = build_task(discriminator_base_filters=0, compile=False)
        path = os.path.join(self.get_temp_dir(), "other.weights.h5")
        other.backbone.save_weights(path)
        model.backbone.load_weights(path)
        self.assertAllEqual(model.encode(x), other.encode(x))
        self.assertAllClose(model.decode(ids), other.decode(ids), atol=1e-6)
