import numpy as np
from keras_hub.src.tests.test_case import TestCase

from keras_vim.utils.digit_judge import shift_tolerant_digit_classifier
from keras_vim.utils.sample_data import digit_classifier
from keras_vim.utils.sample_data import digits
from keras_vim.utils.sample_data import shifted_copies


class ShiftTolerantDigitClassifierTest(TestCase):
    def test_reads_shifted_test_digits_that_fool_the_plain_classifier(self):
        classify = shift_tolerant_digit_classifier()
        images, labels = digits(32, "test")
        images, labels = images[:120], labels[:120]
        # One original pixel (4 at 32x32) in each of the 8 directions.
        shifted = np.delete(
            shifted_copies(images, 4).reshape(9, *images.shape), 4, axis=0
        ).reshape(-1, *images.shape[1:])
        targets = np.tile(labels, 8)
        self.assertGreaterEqual(np.mean(classify(images) == labels), 0.97)
        accuracy = np.mean(classify(shifted) == targets)
        plain = np.mean(digit_classifier()(shifted) == targets)
        self.assertGreaterEqual(accuracy, 0.9)
        self.assertLess(plain, 0.6)
        # Floats in [0, 1] are read like uint8.
        self.assertAllEqual(
            classify(images[:20] / 255.0), classify(images[:20])
        )

    def test_validates_inputs(self):
        with self.assertRaisesRegex(ValueError, "shift"):
            shift_tolerant_digit_classifier(shift=-1)
        classify = shift_tolerant_digit_classifier(shift=0)
        with self.assertRaisesRegex(ValueError, "multiple of 8"):
            classify(np.zeros((2, 30, 30, 3), "uint8"))
