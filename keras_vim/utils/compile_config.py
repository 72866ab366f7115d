import keras


def compile_from_saved_config(model, config, **extra):
    """Keras' `compile_from_config`, for tasks that override `compile`.

    Keras skips compiling a reloaded model whose class overrides `compile`
    (with a warning), so a `.keras` file would lose the optimizer and its
    state. Compiling here and building the optimizer lets Keras restore its
    variables (iterations, moments) after this returns.

    Args:
        model: the task being loaded.
        config: the dict its `get_compile_config` returned.
        **extra: `compile` arguments kept outside Keras' config.
    """
    config = keras.saving.deserialize_keras_object(config)
    model.compile(**config, **extra)
    if model.built:
        model.optimizer.build(model.trainable_variables)
