"""VIM presets shipped in the repo's `presets/` folder."""

from keras_hub.src.utils.preset_utils import register_presets

from keras_vim.models.vim.vim_backbone import VIMBackbone
from keras_vim.utils.preset_utils import shipped_presets_dir

# Table 2 of Yu et al. (2021): 1024 tokens of an 8192-code tokenizer.
ARCHITECTURE_PRESETS = {
    "vim_base": dict(
        vocabulary_size=8192, grid_size=32, num_layers=24, num_heads=16,
        hidden_dim=1536, intermediate_dim=6144, dropout=0.1,
    ),
    "vim_large": dict(
        vocabulary_size=8192, grid_size=32, num_layers=36, num_heads=32,
        hidden_dim=2048, intermediate_dim=8192, dropout=0.1,
    ),
}

DESCRIPTIONS = {
    "vim_base": "VIM-Base (paper Table 2): 24 blocks, 1536 wide, 1024 tokens, "
    "8192 codes, unconditional. Architecture only: no trained weights.",
    "vim_large": "VIM-Large (paper Table 2): 36 blocks, 2048 wide, 1024 tokens, "
    "8192 codes, unconditional. Architecture only: no trained weights.",
    "vim_digits_class": "Class-conditional VIM over the 4x4 tokens of "
    "vit_vqgan_digits_32, trained on scikit-learn's digits by "
    "examples/train_digits_presets.py.",
    "vim_digits": "Unconditional VIM over the 4x4 tokens of vit_vqgan_digits_32 "
    "(for the linear probe), trained by examples/train_digits_presets.py.",
}

backbone_presets = {
    name: {
        "metadata": {"description": description, "path": "vim"},
        "kaggle_handle": str(shipped_presets_dir() / name),
    }
    for name, description in DESCRIPTIONS.items()
}

register_presets(backbone_presets, VIMBackbone)
