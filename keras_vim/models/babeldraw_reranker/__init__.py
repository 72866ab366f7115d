from keras_hub.src.utils.preset_utils import register_presets

from keras_vim.models.babeldraw_reranker.babeldraw_reranker_backbone import (
    BabeldrawRerankerBackbone,
)
from keras_vim.models.babeldraw_reranker.babeldraw_reranker_presets import (
    backbone_presets,
)

register_presets(backbone_presets, BabeldrawRerankerBackbone)
