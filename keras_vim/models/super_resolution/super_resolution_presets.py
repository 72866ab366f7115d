"""Super-resolution preset configurations.

The folder's `config.json` is the one source of the architecture;
`tests/presets/presets_test.py` checks the description and parameter count.
"""

from keras_vim.utils.preset_utils import shipped_preset

backbone_presets = {
    "super_resolution_photos_2x": {
        "metadata": {
            "description": (
                "2x upsampler for photographs: 4 residual blocks of 32 "
                "filters, trained on crops of scikit-image photographs "
                "(64x64 from 32x32 bicubic-shrunk) by "
                "examples/train_super_resolution.py."
            ),
            "params": 121987,
            "path": "super_resolution",
        },
        "kaggle_handle": shipped_preset("super_resolution_photos_2x"),
    },
}
