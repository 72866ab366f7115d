"""Babeldraw preset configurations.

Each preset is a folder in the repo's `presets/` (installed as the
`keras_vim_presets` package); its `config.json` is the one source of its
architecture. `tests/presets/presets_test.py` checks that every description
and parameter count below agrees with it.
"""

from keras_vim.utils.preset_utils import shipped_preset


def _paper_size(name, encoder, decoder, width, params):
    return {
        "metadata": {
            "description": (
                f"Babeldraw {name} (Parti's size): {encoder} encoder and "
                f"{decoder} decoder blocks, {width} wide, 16000 text pieces, "
                "128 text tokens, 32x32 tokens, 8192 codes. "
                "Architecture only: no trained weights."
            ),
            "params": params,
            "path": "babeldraw",
            "architecture_only": True,
        },
        "kaggle_handle": shipped_preset(f"babeldraw_{name.lower()}"),
    }


# Architecture only (Parti, Yu et al. 2022; the seed's sizes): the weights
# were never published.
backbone_presets = {
    "babeldraw_digits": {
        "metadata": {
            "description": (
                "Babeldraw trained on captioned canvases of scikit-learn "
                "digits ('a red 3 in the top left'): 2 encoder and 4 decoder "
                "blocks, 128 wide, 80 text pieces, 8x8 tokens, 256 codes of "
                "its own canvas ViT-VQGAN, by "
                "examples/train_babeldraw_digits.py."
            ),
            "params": 1504768,
            "path": "babeldraw",
        },
        "kaggle_handle": shipped_preset("babeldraw_digits"),
    },
    "babeldraw_350m": _paper_size("350M", 12, 12, 1024, 377690112),
    "babeldraw_750m": _paper_size("750M", 12, 36, 1024, 780810240),
    "babeldraw_3b": _paper_size("3B", 12, 36, 2048, 3071569920),
    "babeldraw_20b": _paper_size("20B", 16, 64, 4096, 20506828800),
}
