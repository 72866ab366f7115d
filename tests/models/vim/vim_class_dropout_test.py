import numpy as np
from keras import ops
from keras_hub.src.tests.test_case import TestCase

from keras_vim.models.vim.vim_class_dropout import VIMClassDropout


class VIMClassDropoutTest(TestCase):
    def test_layer_basics(self):
        class_ids = np.array([0, 2, 1, 2], "int32")
        self.run_layer_test(
            cls=VIMClassDropout,
            # Integer ids in and out: the helper compares the output dtype
            # with the layer's.
            init_kwargs={"rate": 0.5, "no_class_id": 3, "dtype": "int32"},
            input_data=class_ids,
            expected_output_shape=(4,),
            # Outside training every class is kept.
            expected_output_data=class_ids,
            # The seed generator's state.
            expected_num_non_trainable_variables=1,
            # No weights to train, and integer outputs have no gradient.
            run_training_check=False,
        )

    def test_drops_only_in_training(self):
        layer = VIMClassDropout(0.5, 10, seed=0)
        ids = np.arange(1000) % 10
        train = ops.convert_to_numpy(layer(ids, training=True))
        self.assertAllEqual(ops.convert_to_numpy(layer(ids)), ids)
        dropped = np.mean(train == 10)
        self.assertGreater(dropped, 0.4)
        self.assertLess(dropped, 0.6)
        kept = train != 10
        self.assertAllEqual(train[kept], ids[kept])
