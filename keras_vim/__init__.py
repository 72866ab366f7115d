"""keras_vim: vector-quantized image modeling (ViT-VQGAN, VIM, Babeldraw)."""

from keras_vim import callbacks
from keras_vim import layers
from keras_vim import optimizers
from keras_vim.layers.position_embedding_2d import PositionEmbedding2D
from keras_vim.layers.vector_quantizer import VectorQuantizer
from keras_vim.models.linear_probe.linear_probe import LinearProbe
from keras_vim.models.vim.vim_backbone import VIMBackbone
from keras_vim.models.vim.vim_transformer import VIMTransformer
from keras_vim.models.vit_vqgan.vit_vqgan import ViTVQGAN
from keras_vim.models.vit_vqgan.vit_vqgan_backbone import ViTVQGANBackbone
from keras_vim.models.vit_vqgan.vit_vqgan_discriminator import (
    ViTVQGANDiscriminator,
)
from keras_vim.models.vit_vqgan.vit_vqgan_image_converter import (
    ViTVQGANImageConverter,
)
from keras_vim.models.vit_vqgan.vit_vqgan_preprocessor import (
    ViTVQGANPreprocessor,
)
from keras_vim.models.vim import vim_presets  # noqa: F401 (registers presets)
from keras_vim.models.vit_vqgan import vit_vqgan_presets  # noqa: F401
from keras_vim.utils.preset_utils import shipped_preset_names

__version__ = "0.1.0"
