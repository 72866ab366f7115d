import keras
import numpy as np
import pytest
from keras import ops
from keras_hub.src.tests.test_case import TestCase

import keras_vim
from keras_vim.models.vit_vqgan.vit_vqgan_encoder import ViTVQGANEncoder
from tests.models.vit_vqgan.vit_vqgan_test import build_task
from tests.models.vit_vqgan.vit_vqgan_test import images

# 64 tokens of width 32: the blocks' activations outweigh the pixels'.
WIDE = dict(
    image_size=32,
    patch_size=4,
    encoder_num_layers=2,
    encoder_num_heads=2,
    encoder_hidden_dim=32,
    encoder_intermediate_dim=64,
    decoder_num_layers=2,
    decoder_num_heads=2,
    decoder_hidden_dim=32,
    decoder_intermediate_dim=64,
    codebook_size=16,
    lookup_dim=4,
)


def saved_activation_bytes(backbone, x):
    """Bytes the backward pass of `sum(reconstruction)` keeps from the
    forward pass, or `None` where the backend has no way to list them."""
    backend = keras.config.backend()
    if backend == "jax":
        import jax

        trainable = [v.value for v in backbone.trainable_variables]
        non_trainable = [v.value for v in backbone.non_trainable_variables]

        def loss(trainable):
            outputs, _ = backbone.stateless_call(
                trainable, non_trainable, x, training=True
            )
            return ops.sum(outputs["reconstruction"])

        residuals = jax.eval_shape(lambda t: jax.vjp(loss, t)[1], trainable)
        return sum(
            leaf.size * leaf.dtype.itemsize
            for leaf in jax.tree_util.tree_leaves(residuals)
        )
    if backend == "torch":
        import torch

        storages = {}

        def pack(tensor):
            storage = tensor.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            backbone(torch.as_tensor(x), training=True)
        return sum(storages.values())
    return None


class RematBlocksTest(TestCase):
    def test_training_is_unchanged(self):
        # Same weights, same batches: remat must give the same updates,
        # through each backend's own `fit` (jax.checkpoint,
        # tf.recompute_grad, torch.utils.checkpoint).
        tasks = [build_task(remat_blocks=flag) for flag in (False, True)]
        tasks[1].set_weights(tasks[0].get_weights())
        before = [ops.convert_to_numpy(w) for w in tasks[0].weights]
        data = images(4)
        trained = []
        for task in tasks:
            task.compile(
                optimizer=keras.optimizers.SGD(0.1), perceptual_weight=0.0
            )
            task.fit(data, batch_size=2, epochs=2, shuffle=False, verbose=0)
            trained.append([ops.convert_to_numpy(w) for w in task.weights])
        moved = max(
            np.abs(after - start).max()
            for after, start in zip(trained[0], before)
        )
        self.assertGreater(moved, 1e-3)
        for plain, remat in zip(*trained):
            self.assertAllClose(plain, remat, rtol=1e-4, atol=1e-5)

    def test_backward_keeps_less(self):
        x = np.random.default_rng(0).random((8, 32, 32, 3), "float32")
        saved = []
        for flag in (False, True):
            backbone = keras_vim.ViTVQGANBackbone(**WIDE, remat_blocks=flag)
            saved.append(saved_activation_bytes(backbone, x))
        if saved[0] is None:
            pytest.skip("TensorFlow has no public list of saved tensors.")
        self.assertLess(saved[1], 0.6 * saved[0])

    def test_config_round_trip(self):
        backbone = keras_vim.ViTVQGANBackbone(**WIDE, remat_blocks=True)
        restored = keras_vim.ViTVQGANBackbone.from_config(backbone.get_config())
        self.assertTrue(restored.remat_blocks)
        self.assertTrue(restored.encoder.remat_blocks)
        self.assertTrue(restored.decoder.remat_blocks)

    def test_paper_presets_turn_it_on(self):
        backbone = keras_vim.ViTVQGANBackbone.from_preset(
            "vit_vqgan_small", load_weights=False
        )
        self.assertTrue(backbone.encoder.remat_blocks)
        self.assertTrue(backbone.decoder.remat_blocks)

    def test_dropout_is_refused(self):
        with self.assertRaisesRegex(ValueError, "remat_blocks.*dropout=0.1"):
            ViTVQGANEncoder(32, 4, 1, 2, 8, 16, dropout=0.1, remat_blocks=True)
