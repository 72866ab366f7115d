import math

import keras
import numpy as np
from keras_hub.src.tests.test_case import TestCase

from keras_vim.layers.contrastive_logits import ContrastiveLogits


@keras.saving.register_keras_serializable(package="keras_vim_tests")
class KeywordContrastiveLogits(ContrastiveLogits):
    """`ContrastiveLogits` called as `layer(text=..., image=...)`.

    `run_layer_test` passes several inputs only as keyword arguments (a dict
    of tensors), while the layer takes one `[text, image]` list, as Keras'
    merging layers do: this spells the same call with keywords.
    """

    def build(self, text_shape, image_shape):
        super().build([text_shape, image_shape])

    def call(self, text, image):
        return super().call([text, image])

    def compute_output_spec(self, text, image):
        return super().compute_output_spec([text, image])


class ContrastiveLogitsTest(TestCase):
    def setUp(self):
        rng = np.random.default_rng(0)
        self.text = rng.normal(size=(3, 4)).astype("float32")
        self.image = rng.normal(size=(3, 4)).astype("float32")

    def test_layer_basics(self):
        self.run_layer_test(
            cls=KeywordContrastiveLogits,
            init_kwargs={"initial_temperature": 0.5, "max_scale": 100.0},
            input_data={"text": self.text, "image": self.image},
            expected_output_shape=(3, 3),
            # logits[i, j] = text[i] . image[j] / temperature.
            expected_output_data=self.text @ self.image.T / 0.5,
            # The log of the inverse temperature.
            expected_num_trainable_weights=1,
        )

    def test_list_input_and_capped_scale(self):
        layer = ContrastiveLogits(initial_temperature=1e-3, max_scale=20.0)
        logits = layer([self.text, self.image])
        self.assertAllClose(layer.log_scale, math.log(1e3))
        self.assertAllClose(logits, 20.0 * self.text @ self.image.T)
        self.assertEqual(layer.compute_output_shape([(3, 4), (5, 4)]), (3, 5))
