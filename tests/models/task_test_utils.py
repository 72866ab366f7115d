"""Adapters that let keras-hub's `run_task_test` run on keras_vim tasks.

The helper assumes two things that some of our tasks do not do:

- It streams a `tf.data` dataset through the task's preprocessor, which
  `tf.data` traces into a graph. keras_vim's image-token preprocessors are
  eager by design: they validate ids with numpy and run the frozen ViT-VQGAN
  (a Keras model on the active backend). `eager_dataset_maps` runs mapped
  functions through `tf.py_function`, as a user streaming `tf.data` into
  these tasks would wrap them.
- It calls `task.preprocessor`, which is `None` for tasks that take
  model-ready arrays (`SuperResolution`, `LinearProbe`).
  `with_pass_through_preprocessor` gives such a task the preprocessor that
  does nothing, and changes nothing else.
"""

import contextlib

import keras
import numpy as np
import tensorflow as tf
from keras_hub.models import Preprocessor


@contextlib.contextmanager
def eager_dataset_maps():
    """Within it, `tf.data.Dataset.map` runs its function eagerly.

    The function gets numpy arrays (strings as lists of `str`, as keras-hub's
    grain path gives them) and its outputs go back into the dataset.
    """
    original_map = tf.data.Dataset.map

    def eager_map(dataset, map_func, *args, **kwargs):
        spec = dataset.element_spec

        def run(*flat_inputs):
            element = tf.nest.pack_sequence_as(
                spec, [_to_python(t) for t in flat_inputs]
            )
            outputs = (
                map_func(*element)
                if isinstance(element, tuple)
                else map_func(element)
            )
            return [
                np.asarray(keras.ops.convert_to_numpy(t))
                for t in tf.nest.flatten(outputs)
            ]

        # The output structure, dtypes and shapes, from the first element.
        first = tf.nest.flatten(next(iter(dataset)))
        example = tf.nest.pack_sequence_as(spec, [_to_python(t) for t in first])
        example = (
            map_func(*example)
            if isinstance(example, tuple)
            else map_func(example)
        )
        flat_example = [
            np.asarray(keras.ops.convert_to_numpy(t))
            for t in tf.nest.flatten(example)
        ]

        def traced(*components):
            element = components if isinstance(spec, tuple) else components[0]
            flat_outputs = tf.py_function(
                run,
                tf.nest.flatten(element),
                Tout=[tf.as_dtype(v.dtype) for v in flat_example],
            )
            for tensor, value in zip(flat_outputs, flat_example):
                tensor.set_shape((None,) + value.shape[1:])
            return tf.nest.pack_sequence_as(example, flat_outputs)

        return original_map(dataset, traced, *args, **kwargs)

    tf.data.Dataset.map = eager_map
    try:
        yield
    finally:
        tf.data.Dataset.map = original_map


def _to_python(tensor):
    value = tensor.numpy()
    if value.dtype.kind in ("S", "O"):
        return [v.decode("utf-8") for v in value.tolist()]
    return value


@keras.saving.register_keras_serializable(package="keras_vim_tests")
class PassThroughPreprocessor(Preprocessor):
    """The preprocessor of a task that takes model-ready inputs."""

    def call(self, x, y=None, sample_weight=None):
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)


def with_pass_through_preprocessor(cls):
    """A subclass of the task `cls` whose preprocessor passes data through.

    Call it once per class, at import (it registers the subclass, so that
    `run_task_test` can serialise it).
    """

    def __init__(self, *args, **kwargs):
        # A revived config holds the pass-through one: not the task's kind.
        kwargs.pop("preprocessor", None)
        cls.__init__(self, *args, **kwargs)
        self.preprocessor = PassThroughPreprocessor(
            name="pass_through_preprocessor"
        )

    name = f"{cls.__name__}WithPassThroughPreprocessor"
    subclass = type(name, (cls,), {"__init__": __init__})
    return keras.saving.register_keras_serializable(
        package="keras_vim_tests", name=name
    )(subclass)
