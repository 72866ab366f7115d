import keras


@keras.saving.register_keras_serializable(package="keras_vim")
class SplitOptimizer(keras.optimizers.Optimizer):
    """Two optimizers behind one: each updates its own group of variables.

    Keras' `fit` drives a single optimizer on every backend (on JAX its state
    is threaded through the compiled step). A GAN needs a second one for the
    discriminator, so this wrapper owns both: variables whose path starts
    with one of `second_prefixes` go to `second_optimizer`, all others to
    `optimizer`. Both optimizers' state lives in `variables`, so JAX,
    TensorFlow and torch all update and checkpoint it.

    Args:
        optimizer: the optimizer of most variables (the generator).
        second_optimizer: the optimizer of the prefixed variables.
        second_prefixes: tuple of variable path prefixes, e.g.
            `("discriminator/",)`.

    Example:
    ```python
    optimizer = keras_vim.optimizers.SplitOptimizer(
        keras.optimizers.Adam(1e-4),
        keras.optimizers.Adam(4e-4),
        second_prefixes=("discriminator/",),
    )
    ```
    """

    def __init__(self, optimizer, second_optimizer, second_prefixes, name=None, **kwargs):
        super().__init__(learning_rate=0.0, name=name or "split_optimizer", **kwargs)
        self.optimizer = keras.optimizers.get(optimizer)
        self.second_optimizer = keras.optimizers.get(second_optimizer)
        self.second_prefixes = tuple(second_prefixes)

    def build(self, var_list):
        self._in_second = [v.path.startswith(self.second_prefixes) for v in var_list]
        self.optimizer.build(self._group(var_list, False))
        self.second_optimizer.build(self._group(var_list, True))
        super().build(var_list)

    def _group(self, values, second):
        return [x for x, s in zip(values, self._in_second) if s == second]

    @property
    def variables(self):
        return self.optimizer.variables + self.second_optimizer.variables

    @property
    def iterations(self):
        return self.optimizer.iterations

    @property
    def learning_rate(self):
        return self.optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        # Set by the base constructor before the inner optimizers exist.
        if hasattr(self, "optimizer"):
            self.optimizer.learning_rate = value

    def apply(self, grads, trainable_variables=None):
        grads = list(grads)
        variables = list(trainable_variables or self._trainable_variables)
        if not self.built:
            # TensorFlow's fit builds the optimizer lazily, on first apply.
            self.build(variables)
        for second, optimizer in ((False, self.optimizer), (True, self.second_optimizer)):
            group_vars = self._group(variables, second)
            if group_vars:
                optimizer.apply(self._group(grads, second), group_vars)

    def stateless_apply(self, optimizer_variables, grads, trainable_variables):
        num_first = len(self.optimizer.variables)
        states = (optimizer_variables[:num_first], optimizer_variables[num_first:])
        new_values, new_states = list(trainable_variables), []
        for second, optimizer, state in zip(
            (False, True), (self.optimizer, self.second_optimizer), states
        ):
            indices = [i for i, s in enumerate(self._in_second) if s == second]
            if not indices:
                new_states.append(list(state))
                continue
            updated, state = optimizer.stateless_apply(
                state,
                [grads[i] for i in indices],
                [trainable_variables[i] for i in indices],
            )
            for i, value in zip(indices, updated):
                new_values[i] = value
            new_states.append(list(state))
        return new_values, new_states[0] + new_states[1]

    def scale_loss(self, loss):
        return self.optimizer.scale_loss(loss)

    def finalize_variable_values(self, var_list):
        self.optimizer.finalize_variable_values(self._group(var_list, False))
        self.second_optimizer.finalize_variable_values(self._group(var_list, True))

    def get_config(self):
        return {
            "name": self.name,
            "optimizer": keras.optimizers.serialize(self.optimizer),
            "second_optimizer": keras.optimizers.serialize(self.second_optimizer),
            "second_prefixes": list(self.second_prefixes),
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("optimizer", "second_optimizer"):
            config[key] = keras.optimizers.deserialize(
                config[key], custom_objects=custom_objects
            )
        return cls(**config)
