from keras_hub.src.utils.preset_utils import register_presets

from keras_vim.models.super_resolution.super_resolution_backbone import (
    SuperResolutionBackbone,
)
from keras_vim.models.super_resolution.super_resolution_presets import (
    backbone_presets,
)

register_presets(backbone_presets, SuperResolutionBackbone)
