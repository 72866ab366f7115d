"""Resolves preset names to the presets shipped with keras_vim."""

import importlib.util
import json
import os
import pathlib
import warnings

from keras_hub.src.utils.preset_utils import CONFIG_FILE
from keras_hub.src.utils.preset_utils import MODEL_WEIGHTS_FILE

REMOTE_SCHEMES = ("kaggle://", "hf://", "gs://", "modelscope://")


def shipped_presets_dir():
    """The folder holding the presets that ship with the package.

    Installed, it is the `keras_vim_presets` package (the repo's `presets/`
    folder); from a source checkout, `presets/` next to `keras_vim/`.
    """
    spec = importlib.util.find_spec("keras_vim_presets")
    if spec is not None and spec.submodule_search_locations:
        return pathlib.Path(list(spec.submodule_search_locations)[0])
    return pathlib.Path(__file__).resolve().parents[2] / "presets"


def shipped_preset_names():
    root = shipped_presets_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / CONFIG_FILE).is_file())


def resolve_preset(preset, load_weights=True):
    """Maps `preset` to a local folder and checks it can be loaded.

    Args:
        preset: a shipped preset name (`"vit_vqgan_small"`), a local preset
            folder, or a remote handle (`kaggle://...`, `hf://...`).
        load_weights: bool. Whether the caller wants trained weights.

    Returns:
        `(preset, load_weights)`: the path or handle to hand to keras-hub, and
        `False` for `load_weights` when the preset is architecture-only.
    """
    if not isinstance(preset, (str, os.PathLike)):
        raise ValueError(
            "`preset` must be a preset name or a folder path. "
            f"Received: preset={preset!r}"
        )
    preset = os.fspath(preset)
    if preset.startswith(REMOTE_SCHEMES):
        return preset, load_weights
    shipped = shipped_presets_dir() / preset
    if os.sep not in preset and (shipped / CONFIG_FILE).is_file():
        path = shipped
    elif os.path.isdir(preset):
        path = pathlib.Path(preset)
    else:
        raise ValueError(
            f"Unknown preset: preset={preset!r} is neither a folder nor one of "
            f"the shipped presets {shipped_preset_names()}."
        )
    config_path = path / CONFIG_FILE
    if not config_path.is_file():
        raise ValueError(
            f"preset={preset!r}: the folder {path} has no {CONFIG_FILE}; "
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
    if load_weights and not (path / MODEL_WEIGHTS_FILE).is_file():
        warnings.warn(
            f"Preset {preset!r} is architecture-only: it ships no trained "
            "weights, so the model is randomly initialised.",
            stacklevel=3,
        )
        load_weights = False
    return str(path), load_weights


class LocalPresetMixin:
    """`from_preset` that knows the shipped presets and explains failures.

    Put it first among the bases of a keras-hub Backbone, Task, Preprocessor
    or ImageConverter subclass.
    """

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        path, load_weights = resolve_preset(preset, load_weights)
        try:
            if "load_weights" in _from_preset_parameters(cls):
                return super().from_preset(
                    path, load_weights=load_weights, **kwargs
                )
            return super().from_preset(path, **kwargs)
        except OSError as e:
            # h5py raises OSError on a truncated or corrupt weights file.
            raise ValueError(
                f"preset={preset!r}: could not read the files in {path} "
                f"({e}). Re-save the preset or pass `load_weights=False`."
            ) from e


def _from_preset_parameters(cls):
    import inspect

    parent = super(LocalPresetMixin, cls).from_preset
    return inspect.signature(parent).parameters
