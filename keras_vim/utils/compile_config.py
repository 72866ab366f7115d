import keras
import keras_hub


def compile_from_saved_config(model, config, **extra):
    """Keras' `compile_from_config`, for tasks that override `compile`.

    Keras skips compiling a reloaded model whose class overrides `compile`
    (with a warning), so a `.keras` file would lose the optimizer and its
    state. Compiling here and building the optimizer lets Keras restore its
    variables (iterations, moments) after this returns.

    Args:
        model: the task being loaded.
        config: the dict its `get_compile_config` returned; a `"sampler"`
            entry (see `with_sampler`) goes back to `compile(sampler=...)`.
        **extra: `compile` arguments kept outside Keras' config.
    """
    config = dict(config)
    if "sampler" in config:
        extra["sampler"] = keras_hub.samplers.deserialize(config.pop("sampler"))
    config = keras.saving.deserialize_keras_object(config)
    model.compile(**config, **extra)
    if model.built:
        model.optimizer.build(model.trainable_variables)


def with_sampler(config, sampler):
    """A generating task's compile config, with its keras-hub sampler.

    Keras records only what reaches `Model.compile`; the sampler of
    `CausalLM.compile` would otherwise be lost in a `.keras` file.
    """
    if config:
        config["sampler"] = keras_hub.samplers.serialize(sampler)
    return config
