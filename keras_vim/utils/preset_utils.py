"""Loading of keras_vim presets: shipped folders, checks, architecture-only.

The presets that ship in the repo's `presets/` folder are registered with
keras-hub (`keras_vim/models/<model>/__init__.py`), so keras-hub resolves
their names. What keras-hub does not do is done by `load_preset`, which
every keras_vim class that loads presets calls from its `from_preset`:

- a preset whose `metadata.json` says `"architecture_only": true` ships a
  config but no weights: it loads with random weights and a warning;
- unknown names, folders without a preset, corrupt `config.json` or
  `task.json`, unreadable weight files and weight files that hold more or
  fewer weights than the config builds raise a `ValueError` that says what
  was wrong;
- a keyword argument that a model (backbone or task) does not take raises a
  `ValueError`: Keras' functional models would silently ignore it.
"""

import importlib.util
import inspect
import json
import os
import pathlib
import warnings

import keras
from keras_hub.src.utils.preset_utils import BUILTIN_PRESETS
from keras_hub.src.utils.preset_utils import CONFIG_FILE
from keras_hub.src.utils.preset_utils import METADATA_FILE
from keras_hub.src.utils.preset_utils import MODEL_WEIGHTS_FILE
from keras_hub.src.utils.preset_utils import SHARDED_MODEL_WEIGHTS_CONFIG_FILE
from keras_hub.src.utils.preset_utils import check_file_exists
from keras_hub.src.utils.preset_utils import load_json

ARCHITECTURE_ONLY = "architecture_only"


def shipped_presets_dir():
    """The folder holding the presets that ship with the package.

    Installed, it is the `keras_vim_presets` package (the repo's `presets/`
    folder); from a source checkout, `presets/` next to `keras_vim/`.
    """
    spec = importlib.util.find_spec("keras_vim_presets")
    if spec is not None and spec.submodule_search_locations:
        return pathlib.Path(list(spec.submodule_search_locations)[0])
    return pathlib.Path(__file__).resolve().parents[2] / "presets"


def shipped_preset(name):
    """The `kaggle_handle` of the shipped preset folder `presets/<name>`."""
    return str(shipped_presets_dir() / name)


def shipped_preset_names():
    """Names of the preset folders in `shipped_presets_dir()`, sorted."""
    root = shipped_presets_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / CONFIG_FILE).is_file())


def is_architecture_only(preset):
    """Whether `preset`'s `metadata.json` marks it as shipping no weights.

    Args:
        preset: a registered preset name, a preset folder or a remote handle.
    """
    if not check_file_exists(preset, METADATA_FILE):
        return False
    try:
        metadata = load_json(preset, METADATA_FILE)
        return bool(metadata.get(ARCHITECTURE_ONLY, False))
    except (ValueError, AttributeError) as e:
        raise ValueError(
            f"preset={preset!r}: its {METADATA_FILE} is corrupt ({e})."
        ) from e


def architecture_only_configs(cls):
    """`{name: backbone config}` of the architecture-only presets of `cls`.

    The configs are read from the presets' `config.json`, the one place
    that holds them.

    Args:
        cls: a backbone or task class, e.g. `keras_vim.ViTVQGANBackbone`.
    """
    return {
        name: load_json(name, CONFIG_FILE)["config"]
        for name in sorted(cls.presets)
        if is_architecture_only(name)
    }


def load_preset(from_preset, preset, load_weights=None, **kwargs):
    """Calls keras-hub's `from_preset` after keras_vim's preset checks.

    A class that loads presets calls it from its own `from_preset`:

    ```python
    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        return load_preset(super().from_preset, preset, load_weights, **kwargs)
    ```

    and a class without weights (preprocessor, image converter) leaves out
    `load_weights`.

    Args:
        from_preset: the keras-hub `from_preset` to call, bound to the class
            (`super().from_preset`).
        preset: a registered preset name (`"vit_vqgan_small"`), a local
            preset folder, or a remote handle (`kaggle://...`, `hf://...`).
        load_weights: bool, or `None` for classes without weights. An
            architecture-only preset is loaded with `load_weights=False` and
            a warning.
        **kwargs: passed on to `from_preset`.
    """
    if not isinstance(preset, (str, os.PathLike)):
        raise ValueError(
            "`preset` must be a preset name or a folder path. "
            f"Received: preset={preset!r}"
        )
    preset = os.fspath(preset)
    folder = _local_folder(preset, from_preset.__self__)
    _check_model_arguments(from_preset.__self__, kwargs)
    if load_weights is not None:
        if load_weights and is_architecture_only(preset):
            warnings.warn(
                f"Preset {preset!r} is architecture-only: it ships no "
                "trained weights, so the model is randomly initialised. "
                "Pass `load_weights=False` to say that this is intended.",
                stacklevel=3,
            )
            load_weights = False
        if load_weights and folder is not None:
            _check_weights_exist(preset, folder)
        kwargs["load_weights"] = load_weights
    try:
        model = from_preset(preset, **kwargs)
    except (OSError, json.JSONDecodeError) as e:
        # h5py raises OSError on a truncated or corrupt weights file.
        raise ValueError(
            f"preset={preset!r}: could not read the files in "
            f"{folder or preset} ({type(e).__name__}: {e}). Re-save the "
            "preset or pass `load_weights=False`."
        ) from e
    if load_weights and folder is not None:
        _check_all_weights_loaded(preset, folder, model)
    return model


def _argument_names(cls):
    parameters = inspect.signature(cls.__init__).parameters.values()
    return {p.name for p in parameters if p.kind is not p.VAR_KEYWORD}


def _check_model_arguments(cls, kwargs):
    """Refuses keyword arguments `cls` would drop without a word.

    Keras layers refuse unknown keyword arguments themselves; functional
    models (every backbone and task) ignore them, so `remat_blocks=False`
    given to a task instead of its backbone would silently do nothing.
    """
    if not issubclass(cls, keras.Model):
        return
    backbone_cls = getattr(cls, "backbone_cls", None)
    known = _argument_names(cls) | {"name", "dtype", "trainable"}
    if backbone_cls is not None:
        known.add("compile")  # keras-hub's Task takes it.
    for key, value in kwargs.items():
        if key in known:
            continue
        if backbone_cls is not None and key in _argument_names(backbone_cls):
            raise ValueError(
                f"`{key}` is a setting of `{backbone_cls.__name__}`, not of "
                f"`{cls.__name__}`: load the backbone with it and pass it "
                f"in, `{cls.__name__}.from_preset(preset, backbone="
                f"{backbone_cls.__name__}.from_preset(preset, {key}=...))`. "
                f"Received: {key}={value!r}"
            )
        raise ValueError(
            f"`{cls.__name__}.from_preset()` got an unknown argument "
            f"`{key}`. Expected one of {sorted(known - {'self'})}. "
            f"Received: {key}={value!r}"
        )


def _local_folder(preset, cls):
    """The folder `preset` names, after checking it holds a Keras preset.

    `None` for remote handles and for presets registered by other libraries,
    which keras-hub fetches and checks itself.
    """
    if preset in BUILTIN_PRESETS:
        folder = BUILTIN_PRESETS[preset]["kaggle_handle"]
        if "://" in folder:
            return None
    elif "://" in preset:
        return None
    elif os.path.isdir(preset):
        folder = preset
    else:
        known = sorted(getattr(cls, "presets", None) or shipped_preset_names())
        raise ValueError(
            f"Unknown preset: preset={preset!r} is neither a folder nor one "
            f"of the presets of {cls.__name__}: {known}."
        )
    config_path = os.path.join(folder, CONFIG_FILE)
    if not os.path.isfile(config_path):
        raise ValueError(
            f"preset={preset!r}: the folder {folder} has no {CONFIG_FILE}; "
            "expected a preset saved by `save_to_preset()`."
        )
    try:
        with open(config_path, encoding="utf-8") as f:
            config = json.load(f)
        config["registered_name"]
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(
            f"preset={preset!r}: {config_path} is corrupt or not a Keras "
            f"preset config ({e})."
        ) from e
    return folder


def _check_all_weights_loaded(preset, folder, model):
    """Raises if the weights file and the built backbone disagree.

    Keras loads what matches and only warns about the rest, so a config
    with fewer blocks than its weights would load "successfully".
    """
    import h5py

    backbone = getattr(model, "backbone", model)
    path = os.path.join(folder, MODEL_WEIGHTS_FILE)
    if not hasattr(backbone, "weights") or not os.path.isfile(path):
        return
    arrays = []
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda name, item: (
                arrays.append(name) if isinstance(item, h5py.Dataset) else None
            )
        )
    if len(arrays) != len(backbone.weights):
        raise ValueError(
            f"preset={preset!r}: {path} holds {len(arrays)} weight arrays "
            f"but the model its config builds has {len(backbone.weights)}; "
            f"{CONFIG_FILE} and the weights do not belong together. Re-save "
            "the preset or pass `load_weights=False`."
        )


def _check_weights_exist(preset, folder):
    weights = (MODEL_WEIGHTS_FILE, SHARDED_MODEL_WEIGHTS_CONFIG_FILE)
    if not any(os.path.isfile(os.path.join(folder, w)) for w in weights):
        raise ValueError(
            f"preset={preset!r}: the folder {folder} has no "
            f"{MODEL_WEIGHTS_FILE} and its {METADATA_FILE} does not mark it "
            f'`"{ARCHITECTURE_ONLY}": true`. Pass `load_weights=False` to '
            "build the model with random weights."
        )
