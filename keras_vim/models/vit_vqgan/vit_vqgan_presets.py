"""ViT-VQGAN presets shipped in the repo's `presets/` folder."""

from keras_hub.src.utils.preset_utils import register_presets

from keras_vim.models.vit_vqgan.vit_vqgan_backbone import ViTVQGANBackbone
from keras_vim.utils.preset_utils import shipped_presets_dir

# Table 2 of Yu et al. (2021): (blocks, heads, model dim, MLP dim).
PAPER_SIZES = {
    "small": (8, 8, 512, 2048),
    "base": (12, 12, 768, 3072),
    "large": (32, 16, 1280, 5120),
}


def paper_config(encoder_size, decoder_size):
    """Backbone kwargs of a 256x256, 8x8-patch, 8192-code paper model."""
    config = dict(
        image_size=256, patch_size=8, codebook_size=8192, lookup_dim=32
    )
    for prefix, size in (("encoder", encoder_size), ("decoder", decoder_size)):
        layers, heads, hidden, intermediate = PAPER_SIZES[size]
        config[f"{prefix}_num_layers"] = layers
        config[f"{prefix}_num_heads"] = heads
        config[f"{prefix}_hidden_dim"] = hidden
        config[f"{prefix}_intermediate_dim"] = intermediate
    return config


# Architecture-only: the paper's weights were never published.
ARCHITECTURE_PRESETS = {
    "vit_vqgan_small": paper_config("small", "small"),
    "vit_vqgan_base": paper_config("base", "base"),
    "vit_vqgan_large": paper_config("large", "large"),
    "vit_vqgan_small_large": paper_config("small", "large"),
}

DESCRIPTIONS = {
    "vit_vqgan_small": "ViT-VQGAN Small-Small (paper Table 2), 256x256, "
    "8192 codes. Architecture only: no trained weights.",
    "vit_vqgan_base": "ViT-VQGAN Base-Base (paper Table 2), 256x256, "
    "8192 codes. Architecture only: no trained weights.",
    "vit_vqgan_large": "ViT-VQGAN Large-Large (paper Table 2), 256x256, "
    "8192 codes. Architecture only: no trained weights.",
    "vit_vqgan_small_large": "ViT-VQGAN Small encoder, Large decoder (paper "
    "Table 1), 256x256, 8192 codes. Architecture only: no trained weights.",
    "vit_vqgan_photos_64": "Small ViT-VQGAN (64x64, 8x8 tokens, 512 codes) "
    "trained on scikit-image's colour photographs by "
    "examples/train_vit_vqgan_photos.py.",
    "vit_vqgan_digits_32": "Small ViT-VQGAN (32x32, 4x4 tokens, 128 codes) "
    "trained on scikit-learn's handwritten digits by "
    "examples/train_digits_presets.py.",
}

backbone_presets = {
    name: {
        "metadata": {"description": description, "path": "vit_vqgan"},
        "kaggle_handle": str(shipped_presets_dir() / name),
    }
    for name, description in DESCRIPTIONS.items()
}

register_presets(backbone_presets, ViTVQGANBackbone)
