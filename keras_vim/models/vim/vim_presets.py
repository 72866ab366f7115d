"""VIM preset configurations.

Each preset is a folder in the repo's `presets/` (installed as the
`keras_vim_presets` package); its `config.json` is the one source of its
architecture. `tests/presets/presets_test.py` checks that every description
and parameter count below agrees with it.
"""

from keras_vim.utils.preset_utils import shipped_preset

backbone_presets = {
    "vim_digits_class": {
        "metadata": {
            "description": (
                "Class-conditional VIM (4 blocks, 128 wide) over the 4x4 "
                "tokens, 128 codes, of vit_vqgan_digits_32, trained on "
                "scikit-learn's digits by examples/train_digits_presets.py."
            ),
            "params": 828672,
            "path": "vim",
        },
        "kaggle_handle": shipped_preset("vim_digits_class"),
    },
    "vim_digits": {
        "metadata": {
            "description": (
                "Unconditional VIM (4 blocks, 128 wide) over the 4x4 tokens, "
                "128 codes, of vit_vqgan_digits_32 (for the linear probe), "
                "trained by examples/train_digits_presets.py."
            ),
            "params": 827392,
            "path": "vim",
        },
        "kaggle_handle": shipped_preset("vim_digits"),
    },
    # Architecture only (Yu et al. 2021, Table 2): the paper's weights were
    # never published.
    "vim_base": {
        "metadata": {
            "description": (
                "VIM-Base (paper Table 2): 24 blocks, 1536 wide, 32x32 "
                "tokens, 8192 codes, unconditional. Architecture only: no "
                "trained weights."
            ),
            "params": 705226752,
            "path": "vim",
            "architecture_only": True,
        },
        "kaggle_handle": shipped_preset("vim_base"),
    },
    "vim_large": {
        "metadata": {
            "description": (
                "VIM-Large (paper Table 2): 36 blocks, 2048 wide, 32x32 "
                "tokens, 8192 codes, unconditional. Architecture only: no "
                "trained weights."
            ),
            "params": 1846591488,
            "path": "vim",
            "architecture_only": True,
        },
        "kaggle_handle": shipped_preset("vim_large"),
    },
}
