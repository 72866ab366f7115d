"""Babeldraw reranker preset configurations.

The folder's `config.json` is the one source of the architecture;
`tests/presets/presets_test.py` checks the description and parameter count.
"""

from keras_vim.utils.preset_utils import shipped_preset

backbone_presets = {
    "babeldraw_digits_reranker": {
        "metadata": {
            "description": (
                "Contrastive reranker for babeldraw_digits: text and image "
                "towers of 2 blocks, 128 wide, over its 80 text pieces and "
                "8x8 tokens of 256 codes, by "
                "examples/train_babeldraw_reranker.py. Also shipped inside "
                "the babeldraw_digits preset."
            ),
            "params": 602113,
            "path": "babeldraw_reranker",
        },
        "kaggle_handle": shipped_preset("babeldraw_digits_reranker"),
    },
}
