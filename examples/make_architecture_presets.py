"""Writes the architecture-only ViT-VQGAN and VIM presets into `presets/`.

Only configs are written (no weights exist for the paper sizes), so no
model is built: `python examples/make_architecture_presets.py`.
"""

import datetime
import json
import os

import keras

import keras_vim
from keras_vim.models.vim import vim_presets
from keras_vim.models.vit_vqgan import vit_vqgan_presets


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=4)


def write_preset(root, name, backbone_cls, layer_name, config, description):
    folder = os.path.join(root, name)
    os.makedirs(folder, exist_ok=True)
    class_name = backbone_cls.__name__
    write_json(
        os.path.join(folder, "config.json"),
        {
            "module": backbone_cls.__module__,
            "class_name": class_name,
            "config": {"name": layer_name, **config},
            "registered_name": f"keras_vim>{class_name}",
        },
    )
    if "image_size" in config:
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
            "description": description,
            "architecture_only": True,
            "date_saved": datetime.date.today().isoformat(),
        },
    )
    print("wrote", folder)


def main(root="presets"):
    for module, backbone_cls, layer_name in (
        (vit_vqgan_presets, keras_vim.ViTVQGANBackbone, "vit_vqgan_backbone"),
        (vim_presets, keras_vim.VIMBackbone, "vim_backbone"),
    ):
        for name, config in module.ARCHITECTURE_PRESETS.items():
            description = module.DESCRIPTIONS[name]
            write_preset(root, name, backbone_cls, layer_name, config, description)


if __name__ == "__main__":
    main()
