"""Counting a model's weights from their shapes, without allocating them.

The one module that touches a private Keras API (`global_state`):
variables created under `keras.StatelessScope` are initialised lazily, when
the scope closes. Dropping that pending list before it closes lets a
20B-parameter backbone be built and counted in about 1 GB of memory; Keras
has no public way to build a model from shapes alone.
"""

import keras
from keras.src.backend.common import global_state


def count_params_from_shapes(build):
    """`build().count_params()`, with no weight ever allocated.

    Args:
        build: a function returning a model (e.g. a `from_preset` call with
            `load_weights=False`). The model is discarded: its variables
            are never initialised, so it cannot be used afterwards.

    Example:
    ```python
    count_params_from_shapes(
        lambda: keras_vim.BabeldrawBackbone.from_preset(
            "babeldraw_20b", load_weights=False
        )
    )  # about 20.5e9
    ```
    """
    with keras.StatelessScope():
        count = build().count_params()
        global_state.set_global_attribute("uninitialized_variables", [])
    return count
