import keras
import numpy as np
from keras import ops
from keras_hub.src.tests.test_case import TestCase

import keras_vim
from keras_vim.models.linear_probe.block_features import BlockFeatures
from tests.models.vim.vim_backbone_test import TINY
from tests.models.vim.vim_backbone_test import random_tokens


class BlockFeaturesTest(TestCase):
    def setUp(self):
        keras.utils.set_random_seed(0)
        self.backbone = keras_vim.VIMBackbone(**{**TINY, "num_classes": 0})
        self.init_kwargs = {"backbone": self.backbone, "block_indices": [1, 0]}
        self.token_ids = random_tokens(2)

    def test_layer_basics(self):
        self.run_layer_test(
            cls=BlockFeatures,
            init_kwargs=self.init_kwargs,
            input_data=self.token_ids,
            expected_output_shape=[(2, 16), (2, 16)],
            # The backbone's weights, which the layer holds.
            expected_num_trainable_weights=len(self.backbone.weights),
            # The seed generators of the backbone's dropout layers.
            expected_num_non_trainable_variables=len(
                self.backbone.non_trainable_variables
            ),
            # Features stay float32 under every policy (they feed the
            # probe's float32 standardisation and head); the helper expects
            # the compute dtype.
            run_precision_checks=False,
        )

    def test_features_are_sequence_means_of_block_outputs(self):
        features = BlockFeatures(**self.init_kwargs)(self.token_ids)
        inputs = {
            "token_ids": self.token_ids,
            "class_ids": np.full((2,), self.backbone.no_class_id, "int32"),
        }
        for block, feature in zip([1, 0], features):
            hidden = keras.Model(
                self.backbone.input,
                self.backbone.transformer_layers[block].output,
            )(inputs)
            self.assertAllClose(feature, ops.mean(hidden, axis=1), atol=1e-5)
