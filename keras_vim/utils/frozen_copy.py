def frozen_copy(model):
    """A non-trainable copy of `model` (config and weights).

    For components another model needs frozen (a probed backbone, an image
    tokenizer): setting `trainable = False` on the caller's own object would
    silently stop it from training anywhere else.
    """
    copy = type(model).from_config(model.get_config())
    copy.set_weights(model.get_weights())
    copy.trainable = False
    return copy
