from keras_hub.src.utils.preset_utils import register_presets

from keras_vim.models.vit_vqgan.vit_vqgan_backbone import ViTVQGANBackbone
from keras_vim.models.vit_vqgan.vit_vqgan_presets import backbone_presets

register_presets(backbone_presets, ViTVQGANBackbone)
