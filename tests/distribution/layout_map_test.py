import re

import keras
import numpy as np
import pytest
from keras_hub.src.tests.test_case import TestCase

import keras_vim
from tests.distribution.distributed_checks import BABELDRAW
from tests.distribution.distributed_checks import RERANKER
from tests.distribution.distributed_checks import SHARED
from tests.distribution.distributed_checks import VIM
from tests.distribution.distributed_checks import VIT_VQGAN

# Weights a map leaves replicated on purpose: positions, class/start rows,
# the quantizer and the tokenizer's patch and pixel projections.
REPLICATED = (
    r".*position.*",
    r"(class|start)_embedding/.*",
    r"quantizer/.*",
    r"encoder/patch_embedding/.*",
    r"decoder/pixel_projection/.*",
    r"contrastive_logits/.*",
)
BACKBONES = (
    (keras_vim.VIMBackbone, dict(**VIM, **SHARED)),
    (keras_vim.BabeldrawBackbone, dict(**BABELDRAW, **SHARED)),
    (keras_vim.BabeldrawRerankerBackbone, dict(**RERANKER, **SHARED)),
    (keras_vim.ViTVQGANBackbone, VIT_VQGAN),
)


def mesh():
    # Named devices: building a map needs no real devices, on any backend.
    return keras.distribution.DeviceMesh(
        (2, 4), ("batch", "model"), [f"cpu:{i}" for i in range(8)]
    )


class LayoutMapTest(TestCase):
    def test_every_big_weight_is_sharded_as_promised(self):
        for backbone_class, config in BACKBONES:
            backbone = backbone_class(**config)
            layout_map = backbone_class.get_layout_map(mesh())
            used_keys = set()
            for variable in backbone.weights:
                layout = layout_map[variable.path]
                big = np.prod(variable.shape) >= 256
                if big and not any(
                    re.fullmatch(p, variable.path) for p in REPLICATED
                ):
                    self.assertIsNotNone(layout, variable.path)
                    self.assertIn("model", layout.axes, variable.path)
                if layout is None:
                    continue
                used_keys.update(
                    k for k in layout_map if re.fullmatch(k, variable.path)
                )
                self.assertEqual(
                    len(layout.axes), len(variable.shape), variable.path
                )
                for axis, size in zip(layout.axes, variable.shape):
                    if axis is not None:
                        split = mesh().shape[mesh().axis_names.index(axis)]
                        self.assertEqual(size % split, 0, variable.path)
            # No dead pattern: every key of the map matches a real weight.
            self.assertEqual(used_keys, set(layout_map), backbone_class)

    def test_bad_mesh_arguments(self):
        for backbone_class, _ in BACKBONES:
            with pytest.raises(ValueError, match="device_mesh"):
                backbone_class.get_layout_map("mesh")
            with pytest.raises(ValueError, match="'tensor'"):
                backbone_class.get_layout_map(
                    mesh(), model_parallel_dim_name="tensor"
                )
