"""The registered presets agree with the files in `presets/`.

A preset's `config.json` is the one source of its architecture; the
registered metadata (`keras_vim/models/<model>/<model>_presets.py`) and
`metadata.json` must say the same.
"""

import json
import os
import re

import keras
import pytest
from keras_hub.models import Task
from keras_hub.src.tests.test_case import TestCase
from keras_hub.src.utils.preset_utils import BUILTIN_PRESETS
from keras_hub.src.utils.preset_utils import list_subclasses

import keras_vim
from keras_vim.utils.parameter_count import count_params_from_shapes
from keras_vim.utils.preset_utils import shipped_preset_names
from keras_vim.utils.preset_utils import shipped_presets_dir


def grid(config):
    if "grid_size" in config:
        return config["grid_size"]
    return config["image_size"] // config["patch_size"]


def codes(config):
    for key in ("codebook_size", "vocabulary_size", "image_vocabulary_size"):
        if key in config:
            return config[key]


# What a description may say, and what it must then agree with. Every fact
# of `REQUIRED` must be said.
FACTS = {
    "image size": (r"\b(\d+)x(\d+)\b(?! tokens)", lambda c: c["image_size"]),
    "token grid": (r"\b(\d+)x(\d+) tokens", grid),
    "codebook size": (r"\b(\d+) codes", codes),
    "blocks": (r"\b(\d+) blocks", lambda c: c["num_layers"]),
    "width": (r"\b(\d+) wide", lambda c: c["hidden_dim"]),
    "encoder blocks": (
        r"\b(\d+) encoder and",
        lambda c: c["num_encoder_layers"],
    ),
    "decoder blocks": (
        r"\b(\d+) decoder blocks",
        lambda c: c["num_decoder_layers"],
    ),
    "text pieces": (
        r"\b(\d+) text pieces",
        lambda c: c["text_vocabulary_size"],
    ),
    "scale": (r"\b(\d)x upsampler", lambda c: c["scale"]),
    "residual blocks": (
        r"\b(\d+) residual blocks",
        lambda c: c["num_blocks"],
    ),
    "filters": (r"\b(\d+) filters", lambda c: c["filters"]),
}
REQUIRED = {
    "vit_vqgan": ("image size", "token grid", "codebook size"),
    "vim": ("token grid", "codebook size", "blocks", "width"),
    "babeldraw": (
        "token grid",
        "codebook size",
        "encoder blocks",
        "decoder blocks",
        "width",
        "text pieces",
    ),
    "super_resolution": ("scale", "residual blocks", "filters"),
    "babeldraw_reranker": (
        "token grid",
        "codebook size",
        "blocks",
        "width",
        "text pieces",
    ),
}


def keras_vim_presets():
    root = os.path.realpath(shipped_presets_dir())
    return {
        name: preset
        for name, preset in BUILTIN_PRESETS.items()
        if os.path.realpath(preset["kaggle_handle"]).startswith(root + os.sep)
    }


def read_json(name, file):
    folder = keras_vim_presets()[name]["kaggle_handle"]
    with open(os.path.join(folder, file), encoding="utf-8") as f:
        return json.load(f)


def backbone_class(name):
    config = read_json(name, "config.json")
    return keras.saving.get_registered_object(config["registered_name"])


class PresetsTest(TestCase):
    def test_import_registers_every_shipped_preset(self):
        self.assertEqual(sorted(keras_vim_presets()), shipped_preset_names())
        vit_vqgan = set(keras_vim.ViTVQGAN.presets)
        vim = set(keras_vim.VIMTransformer.presets)
        babeldraw = set(keras_vim.Babeldraw.presets)
        reranker = set(keras_vim.BabeldrawReranker.presets)
        upsampler = set(keras_vim.SuperResolution.presets)
        self.assertEqual(
            vit_vqgan | vim | babeldraw | reranker | upsampler,
            set(shipped_preset_names()),
        )
        self.assertIn("super_resolution_photos_2x", upsampler)
        self.assertIn("babeldraw_digits_reranker", reranker)
        self.assertIn("vit_vqgan_photos_64", vit_vqgan)
        self.assertIn("vim_base", vim)
        self.assertIn("babeldraw_20b", babeldraw)
        self.assertFalse(vit_vqgan & vim or vim & babeldraw)

    def test_descriptions_agree_with_configs(self):
        for name, preset in keras_vim_presets().items():
            metadata = preset["metadata"]
            description = metadata["description"]
            config = read_json(name, "config.json")["config"]
            for fact in REQUIRED[metadata["path"]]:
                pattern, expected = FACTS[fact]
                found = re.findall(pattern, description)
                self.assertTrue(found, f"{name}: description has no {fact}")
                for values in found:
                    if isinstance(values, str):
                        values = (values,)
                    self.assertEqual(
                        {int(v) for v in values},
                        {expected(config)},
                        f"{name}: {fact} in {description!r}",
                    )
            if metadata["path"] == "vim":
                conditional = config.get("num_classes", 0) > 0
                self.assertEqual(
                    "class-conditional" in description.lower(),
                    conditional,
                    f"{name}: {description!r}",
                )
            self.assertEqual(
                "Architecture only" in description,
                bool(metadata.get("architecture_only")),
                f"{name}: {description!r}",
            )

    def test_metadata_agrees_with_metadata_json(self):
        for name, preset in keras_vim_presets().items():
            metadata = read_json(name, "metadata.json")
            self.assertEqual(
                preset["metadata"]["params"], metadata["parameter_count"], name
            )
            architecture_only = bool(metadata.get("architecture_only"))
            self.assertEqual(
                bool(preset["metadata"].get("architecture_only")),
                architecture_only,
                name,
            )
            has_weights = os.path.isfile(
                os.path.join(preset["kaggle_handle"], "model.weights.h5")
            )
            self.assertNotEqual(has_weights, architecture_only, name)

    def test_metadata_json_tasks_are_computed_as_keras_hub_does(self):
        for name in keras_vim_presets():
            backbone_cls = backbone_class(name)
            # Only the package's tasks: test modules subclass some.
            tasks = [
                task.__base__.__name__
                for task in list_subclasses(Task)
                if task.backbone_cls is backbone_cls
                and task.__module__.startswith("keras_vim.")
            ]
            self.assertEqual(
                read_json(name, "metadata.json")["tasks"],
                sorted(set(tasks)),
                name,
            )

    def test_trained_parameter_counts(self):
        for name, preset in keras_vim_presets().items():
            if preset["metadata"].get("architecture_only"):
                continue
            backbone = backbone_class(name).from_preset(
                name, load_weights=False
            )
            self.assertEqual(
                backbone.count_params(), preset["metadata"]["params"], name
            )

    @pytest.mark.large
    def test_architecture_only_parameter_counts(self):
        for name, preset in keras_vim_presets().items():
            if not preset["metadata"].get("architecture_only"):
                continue
            # From shapes: the 20B Babeldraw would not fit in memory.
            count = count_params_from_shapes(
                lambda: backbone_class(name).from_preset(
                    name, load_weights=False
                )
            )
            self.assertEqual(count, preset["metadata"]["params"], name)
