from keras_hub.src.utils.preset_utils import register_presets

from keras_vim.models.vim.vim_backbone import VIMBackbone
from keras_vim.models.vim.vim_presets import backbone_presets

register_presets(backbone_presets, VIMBackbone)
