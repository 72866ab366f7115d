"""Writes the architecture-only ViT-VQGAN presets into `presets/`.

Only configs are written (no weights exist for the paper sizes), so no
model is built: `python examples/make_architecture_presets.py`.
"""

import datetime
import json
import os

import keras

import keras_vim
from keras_vim.models.vit_vqgan.vit_vqgan_presets import ARCHITECTURE_PRESETS
from keras_vim.models.vit_vqgan.vit_vqgan_presets import DESCRIPTIONS


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=4)


def main(root="presets"):
    for name, config in ARCHITECTURE_PRESETS.items():
        folder = os.path.join(root, name)
        os.makedirs(folder, exist_ok=True)
        write_json(
            os.path.join(folder, "config.json"),
            {
                "module": keras_vim.ViTVQGANBackbone.__module__,
                "class_name": "ViTVQGANBackbone",
                "config": {"name": "vit_vqgan_backbone", **config},
                "registered_name": "keras_vim>ViTVQGANBackbone",
            },
        )
        size = config["image_size"]
        converter = keras_vim.ViTVQGANImageConverter(image_size=(size, size))
        write_json(
            os.path.join(folder, "image_converter.json"),
            keras.saving.serialize_keras_object(converter),
        )
        write_json(
            os.path.join(folder, "metadata.json"),
            {
                "keras_version": keras.__version__,
                "description": DESCRIPTIONS[name],
                "architecture_only": True,
                "date_saved": datetime.date.today().isoformat(),
            },
        )
        print("wrote", folder)


if __name__ == "__main__":
    main()
