import json
import os
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest
from keras_hub.models import Backbone
from keras_hub.src.tests.test_case import TestCase
from keras_hub.src.utils.preset_utils import BUILTIN_PRESETS
from keras_hub.src.utils.preset_utils import BUILTIN_PRESETS_FOR_BACKBONE
from keras_hub.src.utils.preset_utils import register_presets

import keras_vim
from keras_vim.utils.preset_utils import architecture_only_configs
from keras_vim.utils.preset_utils import is_architecture_only
from keras_vim.utils.preset_utils import load_preset


@keras.saving.register_keras_serializable(package="keras_vim_test")
class DenseBackbone(Backbone):
    """A `Dense` layer, loading presets the keras_vim way."""

    def __init__(self, units=2, **kwargs):
        inputs = keras.Input((3,), name="features")
        outputs = keras.layers.Dense(units, name="dense")(inputs)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.units = units

    def get_config(self):
        return {**super().get_config(), "units": self.units}

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        return load_preset(super().from_preset, preset, load_weights, **kwargs)


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f)


class LoadPresetTest(TestCase):
    def setUp(self):
        super().setUp()
        root = self.get_temp_dir()
        self.trained = os.path.join(root, "dense_trained")
        keras.utils.set_random_seed(0)
        DenseBackbone(units=2).save_to_preset(self.trained)
        self.architecture = os.path.join(root, "dense_architecture")
        os.makedirs(self.architecture)
        config = keras.saving.serialize_keras_object(DenseBackbone(units=4))
        write_json(os.path.join(self.architecture, "config.json"), config)
        write_json(
            os.path.join(self.architecture, "metadata.json"),
            {"parameter_count": 16, "architecture_only": True},
        )
        self.presets = {
            "dense_trained": self.trained,
            "dense_architecture": self.architecture,
        }
        register_presets(
            {
                name: {"metadata": {"description": name}, "kaggle_handle": path}
                for name, path in self.presets.items()
            },
            DenseBackbone,
        )

    def tearDown(self):
        for name in self.presets:
            BUILTIN_PRESETS.pop(name)
        BUILTIN_PRESETS_FOR_BACKBONE.pop(DenseBackbone)
        super().tearDown()

    def assertNoArchitectureWarning(self, caught):
        messages = [str(w.message) for w in caught]
        self.assertFalse([m for m in messages if "architecture-only" in m])

    def test_trained_preset_loads_its_weights(self):
        saved = DenseBackbone.from_preset(self.trained)
        for preset in ("dense_trained", self.trained):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                model = DenseBackbone.from_preset(preset)
            self.assertNoArchitectureWarning(caught)
            for a, b in zip(model.get_weights(), saved.get_weights()):
                self.assertAllEqual(a, b)
        self.assertFalse(is_architecture_only("dense_trained"))

    def test_architecture_only_preset_warns_and_builds(self):
        self.assertTrue(is_architecture_only("dense_architecture"))
        with pytest.warns(UserWarning, match="architecture-only"):
            model = DenseBackbone.from_preset("dense_architecture")
        self.assertEqual(model.count_params(), 16)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            DenseBackbone.from_preset("dense_architecture", load_weights=False)
        self.assertNoArchitectureWarning(caught)
        configs = architecture_only_configs(DenseBackbone)
        self.assertEqual(list(configs), ["dense_architecture"])
        self.assertEqual(configs["dense_architecture"]["units"], 4)

    def test_unknown_name_lists_the_known_ones(self):
        with self.assertRaisesRegex(
            ValueError,
            r"preset='dense_missing'.*DenseBackbone: \['dense_architecture', "
            r"'dense_trained'\]",
        ):
            DenseBackbone.from_preset("dense_missing")
        with self.assertRaisesRegex(ValueError, "must be a preset name"):
            DenseBackbone.from_preset(3)

    def test_folder_without_config(self):
        folder = os.path.join(self.get_temp_dir(), "empty")
        os.makedirs(folder)
        with self.assertRaisesRegex(ValueError, "has no config.json"):
            DenseBackbone.from_preset(folder)

    def test_corrupt_config(self):
        with open(os.path.join(self.trained, "config.json"), "w") as f:
            f.write("{not json")
        with self.assertRaisesRegex(ValueError, "config.json is corrupt"):
            DenseBackbone.from_preset("dense_trained")

    def test_corrupt_metadata(self):
        with open(os.path.join(self.architecture, "metadata.json"), "w") as f:
            f.write("[1, 2")
        with self.assertRaisesRegex(ValueError, "metadata.json is corrupt"):
            DenseBackbone.from_preset("dense_architecture")

    def test_truncated_weights(self):
        weights = os.path.join(self.trained, "model.weights.h5")
        with open(weights, "rb") as f:
            data = f.read()
        with open(weights, "wb") as f:
            f.write(data[: len(data) // 2])
        with self.assertRaisesRegex(ValueError, "could not read"):
            DenseBackbone.from_preset(self.trained)

    def test_missing_weights_without_the_flag(self):
        os.remove(os.path.join(self.trained, "model.weights.h5"))
        with self.assertRaisesRegex(
            ValueError, "has no model.weights.h5.*architecture_only"
        ):
            DenseBackbone.from_preset("dense_trained")
        model = DenseBackbone.from_preset("dense_trained", load_weights=False)
        self.assertEqual(model.count_params(), 8)

    def test_random_bytes_as_weights(self):
        with open(os.path.join(self.trained, "model.weights.h5"), "wb") as f:
            f.write(os.urandom(2048))
        with self.assertRaisesRegex(ValueError, "could not read"):
            DenseBackbone.from_preset(self.trained)


class PresetMismatchTest(TestCase):
    def setUp(self):
        super().setUp()
        import keras_vim

        self.folder = os.path.join(self.get_temp_dir(), "tokenizer")
        keras.utils.set_random_seed(0)
        backbone = keras_vim.ViTVQGANBackbone(
            image_size=16,
            patch_size=8,
            encoder_num_layers=2,
            encoder_num_heads=2,
            encoder_hidden_dim=8,
            encoder_intermediate_dim=16,
            decoder_num_layers=2,
            decoder_num_heads=2,
            decoder_hidden_dim=8,
            decoder_intermediate_dim=16,
            codebook_size=8,
            lookup_dim=4,
        )
        keras_vim.ViTVQGAN(
            backbone,
            keras_vim.ViTVQGANPreprocessor(
                keras_vim.ViTVQGANImageConverter(image_size=(16, 16))
            ),
            discriminator_base_filters=0,
        ).save_to_preset(self.folder)

    def test_config_with_fewer_layers_than_its_weights(self):
        import keras_vim

        path = os.path.join(self.folder, "config.json")
        with open(path) as f:
            config = json.load(f)
        config["config"]["encoder_num_layers"] = 1
        write_json(path, config)
        with self.assertRaisesRegex(ValueError, "weight arrays.*belong"):
            keras_vim.ViTVQGANBackbone.from_preset(self.folder)
        # The config alone still builds, on purpose.
        keras_vim.ViTVQGANBackbone.from_preset(self.folder, load_weights=False)

    def test_corrupt_task_json(self):
        import keras_vim

        with open(os.path.join(self.folder, "task.json"), "w") as f:
            f.write('{"class_name": ')
        with self.assertRaisesRegex(ValueError, "could not read the files"):
            keras_vim.ViTVQGAN.from_preset(self.folder)


class PackageImportTest(TestCase):
    def test_utils_modules_are_attributes_after_import(self):
        # A fresh interpreter: in this one other tests import the modules.
        code = (
            "import keras_vim; "
            "keras_vim.utils.image_utils.save_image_grid; "
            "keras_vim.utils.sample_data.digits; "
            "assert 'vit_vqgan_small' in keras_vim.ViTVQGANBackbone.presets; "
            "assert 'vim_base' in keras_vim.VIMBackbone.presets"
        )
        subprocess.run([sys.executable, "-c", code], check=True)

    @pytest.mark.skipif(
        keras.config.backend() == "tensorflow",
        reason="the TensorFlow backend needs TensorFlow",
    )
    def test_imports_without_tensorflow_and_grain(self):
        # As on an accelerator image with only JAX and torch; training a
        # tokenizer vocabulary and a shuffled `fit` import them when used.
        code = (
            "import sys\n"
            # `None` in sys.modules: importing fails, find_spec gives None.
            "sys.modules['tensorflow'] = sys.modules['grain'] = None\n"
            "import keras_vim\n"
            "keras_vim.VIMBackbone.from_preset('vim_digits_class')\n"
        )
        subprocess.run([sys.executable, "-c", code], check=True)


class ModelArgumentTest(TestCase):
    """Functional models drop unknown keyword arguments; presets refuse."""

    def test_task_refuses_a_backbone_setting_and_says_where_it_goes(self):
        with self.assertRaisesRegex(
            ValueError,
            "`remat_blocks` is a setting of `ViTVQGANBackbone`.*"
            "backbone=ViTVQGANBackbone.from_preset.*remat_blocks=False",
        ):
            keras_vim.ViTVQGAN.from_preset(
                "vit_vqgan_small", load_weights=False, remat_blocks=False
            )

    def test_unknown_argument(self):
        for cls, preset in (
            (keras_vim.ViTVQGAN, "vit_vqgan_digits_32"),
            (keras_vim.ViTVQGANBackbone, "vit_vqgan_digits_32"),
            (keras_vim.VIMTransformer, "vim_digits_class"),
        ):
            with self.assertRaisesRegex(
                ValueError, "unknown argument `remat`.*Received: remat=True"
            ):
                cls.from_preset(preset, remat=True)

    def test_backbone_setting_through_the_backbone(self):
        backbone = keras_vim.ViTVQGANBackbone.from_preset(
            "vit_vqgan_digits_32", remat_blocks=True
        )
        task = keras_vim.ViTVQGAN.from_preset(
            "vit_vqgan_digits_32", backbone=backbone
        )
        self.assertTrue(task.backbone.encoder.remat_blocks)
        reference = keras_vim.ViTVQGAN.from_preset("vit_vqgan_digits_32")
        images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3))
        self.assertAllEqual(
            task.encode(images.astype("uint8"), verbose=0),
            reference.encode(images.astype("uint8"), verbose=0),
        )
