"""Writes the metadata of the architecture-only presets in `presets/`.

An architecture-only preset is a `presets/<name>/config.json` written by
hand (the paper's sizes; no weights were ever published) and an entry with
`"architecture_only": True` in `keras_vim/models/<model>/<model>_presets.py`.
This script builds each such model once, with random weights, and writes
next to its config:

- `metadata.json` in keras-hub's format (parameter count, compatible tasks)
  plus `"architecture_only": true`, which `from_preset` honours;
- `image_converter.json` for image tokenizers.

It prints the parameter count to put in the preset's `"params"`.

    KERAS_BACKEND=jax python examples/make_architecture_presets.py [names]
"""

import argparse
import datetime
import json
import os

import keras
from keras_hub.models import Task
from keras_hub.src.utils.preset_utils import BUILTIN_PRESETS
from keras_hub.src.utils.preset_utils import list_subclasses
from keras_hub.src.version import __version__ as keras_hub_version

import keras_vim
from keras_vim.utils.parameter_count import count_params_from_shapes
from keras_vim.utils.preset_utils import ARCHITECTURE_ONLY


def write_json(path, value):
    with open(path, "w") as f:
        f.write(json.dumps(value, indent=4))


def compatible_tasks(backbone_cls):
    """Task names listed in metadata.json, computed as keras-hub does."""
    tasks = list_subclasses(Task)
    tasks = [t for t in tasks if t.backbone_cls is backbone_cls]
    return sorted(set(t.__base__.__name__ for t in tasks))


def write_metadata(name):
    folder = BUILTIN_PRESETS[name]["kaggle_handle"]
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    backbone_cls = keras.saving.get_registered_object(config["registered_name"])
    # From shapes: the largest presets would not fit in memory.
    count = count_params_from_shapes(
        lambda: backbone_cls.from_preset(name, load_weights=False)
    )
    write_json(
        os.path.join(folder, "metadata.json"),
        {
            "keras_version": keras.version(),
            "keras_hub_version": keras_hub_version,
            "parameter_count": count,
            "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
            "tasks": compatible_tasks(backbone_cls),
            ARCHITECTURE_ONLY: True,
        },
    )
    if backbone_cls is keras_vim.ViTVQGANBackbone:
        size = config["config"]["image_size"]
        converter = keras_vim.ViTVQGANImageConverter(image_size=(size, size))
        write_json(
            os.path.join(folder, "image_converter.json"),
            keras.saving.serialize_keras_object(converter),
        )
    print(f"{name}: params {count}, wrote {folder}")


def main():
    names = sorted(
        name
        for name, preset in BUILTIN_PRESETS.items()
        if preset["metadata"].get(ARCHITECTURE_ONLY)
    )
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", default=names, choices=names)
    for name in parser.parse_args().names:
        write_metadata(name)


if __name__ == "__main__":
    main()
