"""ViT-VQGAN preset configurations.

Each preset is a folder in the repo's `presets/` (installed as the
`keras_vim_presets` package); its `config.json` is the one source of its
architecture. `tests/presets/presets_test.py` checks that every description
and parameter count below agrees with it.
"""

from keras_vim.utils.preset_utils import shipped_preset

backbone_presets = {
    "vit_vqgan_photos_64": {
        "metadata": {
            "description": (
                "Small ViT-VQGAN (64x64, 8x8 tokens, 256 codes, overlapping "
                "decoder windows, deblocking) trained on augmented crops of "
                "scikit-image's photographs by "
                "examples/train_vit_vqgan_photos.py."
            ),
            "params": 2105888,
            "path": "vit_vqgan",
        },
        "kaggle_handle": shipped_preset("vit_vqgan_photos_64"),
    },
    "vit_vqgan_digits_32": {
        "metadata": {
            "description": (
                "Small ViT-VQGAN (32x32, 4x4 tokens, 128 codes) trained on "
                "scikit-learn's handwritten digits by "
                "examples/train_digits_presets.py."
            ),
            "params": 314016,
            "path": "vit_vqgan",
        },
        "kaggle_handle": shipped_preset("vit_vqgan_digits_32"),
    },
    # Architecture only (Yu et al. 2021, Table 2): the paper's weights were
    # never published. Their configs set `remat_blocks`: at 1024 tokens the
    # blocks' float32 activations alone fill an 80 GB card at batch 32.
    "vit_vqgan_small": {
        "metadata": {
            "description": (
                "ViT-VQGAN Small-Small (paper Table 2): 256x256, 32x32 "
                "tokens, 8192 codes. Architecture only: no trained weights."
            ),
            "params": 56279456,
            "path": "vit_vqgan",
            "architecture_only": True,
        },
        "kaggle_handle": shipped_preset("vit_vqgan_small"),
    },
    "vit_vqgan_base": {
        "metadata": {
            "description": (
                "ViT-VQGAN Base-Base (paper Table 2): 256x256, 32x32 "
                "tokens, 8192 codes. Architecture only: no trained weights."
            ),
            "params": 181885344,
            "path": "vit_vqgan",
            "architecture_only": True,
        },
        "kaggle_handle": shipped_preset("vit_vqgan_base"),
    },
    "vit_vqgan_large": {
        "metadata": {
            "description": (
                "ViT-VQGAN Large-Large (paper Table 2): 256x256, 32x32 "
                "tokens, 8192 codes. Architecture only: no trained weights."
            ),
            "params": 1289294240,
            "path": "vit_vqgan",
            "architecture_only": True,
        },
        "kaggle_handle": shipped_preset("vit_vqgan_large"),
    },
    "vit_vqgan_small_large": {
        "metadata": {
            "description": (
                "ViT-VQGAN with a Small encoder and a Large decoder (paper "
                "Table 1): 256x256, 32x32 tokens, 8192 codes. Architecture "
                "only: no trained weights."
            ),
            "params": 672860576,
            "path": "vit_vqgan",
            "architecture_only": True,
        },
        "kaggle_handle": shipped_preset("vit_vqgan_small_large"),
    },
}
