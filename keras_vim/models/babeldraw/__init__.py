from keras_hub.src.utils.preset_utils import register_presets

from keras_vim.models.babeldraw.babeldraw_backbone import BabeldrawBackbone
from keras_vim.models.babeldraw.babeldraw_presets import backbone_presets

register_presets(backbone_presets, BabeldrawBackbone)
