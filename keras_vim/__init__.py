"""keras_vim: vector-quantized image modeling (ViT-VQGAN, VIM, Babeldraw)."""

from keras_vim import callbacks
from keras_vim import generation
from keras_vim import layers
from keras_vim import optimizers
from keras_vim import utils
from keras_vim.layers.position_embedding_2d import PositionEmbedding2D
from keras_vim.layers.vector_quantizer import VectorQuantizer
from keras_vim.models.babeldraw.babeldraw import Babeldraw
from keras_vim.models.babeldraw.babeldraw_backbone import BabeldrawBackbone
from keras_vim.models.babeldraw.babeldraw_preprocessor import (
    BabeldrawPreprocessor,
)
from keras_vim.models.babeldraw.babeldraw_tokenizer import BabeldrawTokenizer
from keras_vim.models.babeldraw.babeldraw_tokenizer import (
    BabeldrawTokenizer as Tokenizer,
)
from keras_vim.models.babeldraw_reranker.babeldraw_reranker import (
    BabeldrawReranker,
)
from keras_vim.models.babeldraw_reranker.babeldraw_reranker_backbone import (
    BabeldrawRerankerBackbone,
)
from keras_vim.models.babeldraw_reranker.symmetric_contrastive_loss import (
    SymmetricContrastiveLoss,
)
from keras_vim.models.linear_probe.linear_probe import LinearProbe
from keras_vim.models.super_resolution.super_resolution import SuperResolution
from keras_vim.models.super_resolution.super_resolution_backbone import (
    SuperResolutionBackbone,
)
from keras_vim.models.vim.vim_attention import VIMAttention
from keras_vim.models.vim.vim_backbone import VIMBackbone
from keras_vim.models.vim.vim_causal_lm_preprocessor import (
    VIMCausalLMPreprocessor,
)
from keras_vim.models.vim.vim_decoder_block import VIMDecoderBlock
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
from keras_vim.utils.preset_utils import shipped_preset_names

__version__ = "0.1.0"
