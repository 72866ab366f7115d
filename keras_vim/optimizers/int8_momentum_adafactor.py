"""Adafactor with a factored second moment and an int8 first moment."""

import math

import keras
from keras import ops

from keras_vim.optimizers.int8_block_quantization import DEFAULT_BLOCK_SIZE
from keras_vim.optimizers.int8_block_quantization import blocked_shape
from keras_vim.optimizers.int8_block_quantization import (
    dequantize_int8_blockwise,
)
from keras_vim.optimizers.int8_block_quantization import momentum_block_size
from keras_vim.optimizers.int8_block_quantization import quantize_int8_blockwise
from keras_vim.utils.validation import check_positive_int


def _mesh_axis_size(device_mesh, axis):
    names = list(device_mesh.axis_names)
    axis = axis if isinstance(axis, (tuple, list)) else (axis,)
    return math.prod(device_mesh.shape[names.index(name)] for name in axis)


def _state_layouts(variable_layout, shape, num_blocks):
    """Returns the layouts of a variable's optimizer state.

    The state shards like the variable: the int8 momentum and an unfactored
    second moment take the variable's axes, the factored statistics drop
    the axis they average over, and the block scales keep the variable's
    axes but replicate the last one when the mesh axis does not divide the
    number of blocks.

    Args:
        variable_layout: `keras.distribution.TensorLayout` or `None`.
        shape: tuple. The model variable's shape.
        num_blocks: int. Number of quantization blocks per row.

    Returns:
        A dict with keys `"momentum"`, `"scales"`, `"row"`, `"column"` and
        `"full"`, each a `TensorLayout` or `None` (no distribution, or a
        state the variable's rank does not have).
    """
    layouts = dict.fromkeys(["momentum", "scales", "row", "column", "full"])
    if variable_layout is None:
        return layouts
    mesh = variable_layout.device_mesh
    axes = tuple(variable_layout.axes)
    if len(axes) != len(shape):
        return layouts

    def layout(state_axes):
        return keras.distribution.TensorLayout(state_axes, mesh)

    layouts["momentum"] = layout(axes)
    layouts["full"] = layout(axes)
    if axes:
        last_axis = axes[-1]
        if last_axis is not None and (
            mesh is None or num_blocks % _mesh_axis_size(mesh, last_axis)
        ):
            last_axis = None
        layouts["scales"] = layout(axes[:-1] + (last_axis,))
    else:
        layouts["scales"] = layout((None,))
    if len(shape) >= 2:
        layouts["row"] = layout(axes[:-1])
        layouts["column"] = layout(axes[:-2] + axes[-1:])
    return layouts


def _variable_layout(variable):
    distribution = keras.distribution.distribution()
    if distribution is None:
        return None
    return distribution.get_variable_layout(variable)


def _rms(x):
    return ops.sqrt(ops.mean(ops.square(x)))


@keras.saving.register_keras_serializable(package="keras_vim")
class Int8MomentumAdafactor(keras.optimizers.Optimizer):
    """Adafactor with momentum stored in int8 and decoupled weight decay.

    The memory-lean optimizer of the seed paper's Babeldraw training recipe
    (Adafactor, Shazeer & Stern, 2018, with a first moment): for every
    variable of rank 2 or more, the second moment is factored over the last
    two axes into a row statistic and a column statistic, exponential moving
    averages of the squared gradient with a constant `beta_2`, and is
    bias-corrected by `1 - beta_2**t`. The normalised update
    `u = g / sqrt(v_hat)` is clipped to an RMS of at most `clip_threshold`
    and averaged into a first moment `m = beta_1 * m + (1 - beta_1) * u`,
    which is stored as int8 with one float32 absmax scale per block of
    `block_size` consecutive values along the last axis. The step uses the
    fresh float `m`; only the stored copy is quantized. The variable is
    updated by `variable -= learning_rate * m`, and decoupled weight decay
    (`variable -= variable * weight_decay * learning_rate`) comes from the
    base optimizer's `weight_decay` argument.

    Memory: for a matrix of `R x C` parameters the state is `R x C` int8
    momentum values, `R x C / block_size` float32 scales and `R + C`
    float32 second-moment statistics, so about `1 + 4 / block_size` bytes
    per parameter (1.03 with the default block of 128) against 8 for
    `keras.optimizers.AdamW` and about 4 for `keras.optimizers.Adafactor`,
    which keeps a full float second moment. Vectors (biases, norms) keep a
    full float32 second moment: about 5 bytes per parameter, but they are a
    small share of a transformer's parameters.

    Under `keras.distribution.ModelParallel` the state is laid out from the
    variable's layout, so it shards like the variable.

    Args:
        learning_rate: float or `keras.optimizers.schedules.
            LearningRateSchedule`. The step size.
        beta_1: float. Decay of the first-moment moving average.
        beta_2: float. Constant decay of the second-moment moving averages.
        epsilon_1: float. Added to the squared gradient, keeps the second
            moment positive.
        clip_threshold: float. Largest RMS of the normalised update `u`.
        block_size: int. Preferred number of momentum values per int8 scale;
            see `momentum_block_size` for rows it does not divide.
        weight_decay_exclusions: list of strings, or `None`. Variables
            whose name contains one of them get no weight decay; unlike
            `exclude_from_weight_decay(var_names=...)` alone, this survives
            `get_config()` and so a model save and load.
        **kwargs: the arguments of `keras.optimizers.Optimizer`:
            `weight_decay`, `clipnorm`, `global_clipnorm`, `name`, ...

    Example:
    ```python
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    optimizer = keras_vim.optimizers.Int8MomentumAdafactor(
        learning_rate=1e-2,
        weight_decay=4.5e-2,
        global_clipnorm=4.0,
        weight_decay_exclusions=["bias"],
    )
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(np.ones((8, 4)), np.zeros((8, 2)), epochs=2, verbose=0)
    ```
    """

    def __init__(
        self,
        learning_rate=1e-3,
        beta_1=0.9,
        beta_2=0.96,
        epsilon_1=1e-30,
        clip_threshold=1.0,
        block_size=DEFAULT_BLOCK_SIZE,
        weight_decay_exclusions=None,
        name="int8_momentum_adafactor",
        **kwargs,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        for arg_name, value in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not 0.0 <= value < 1.0:
                raise ValueError(
                    f"`{arg_name}` must be in [0, 1). Received: "
                    f"{arg_name}={value}"
                )
        if not epsilon_1 > 0.0:
            raise ValueError(
                f"`epsilon_1` must be positive. Received: epsilon_1={epsilon_1}"
            )
        if not clip_threshold > 0.0:
            raise ValueError(
                "`clip_threshold` must be positive. Received: "
                f"clip_threshold={clip_threshold}"
            )
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon_1 = epsilon_1
        self.clip_threshold = clip_threshold
        self.block_size = check_positive_int("block_size", block_size)
        self.weight_decay_exclusions = None
        if weight_decay_exclusions:
            self.exclude_from_weight_decay(var_names=weight_decay_exclusions)

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        super().exclude_from_weight_decay(
            var_list=var_list, var_names=var_names
        )
        # Names are recorded so that the exclusion survives serialisation;
        # a `var_list` holds live variables and cannot.
        self.weight_decay_exclusions = list(var_names) if var_names else None

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums = []
        self._scales = []
        self._rows = []
        self._columns = []
        self._second_moments = []
        for variable in var_list:
            if getattr(variable, "overwrite_with_gradient", False):
                for states in self._state_lists():
                    states.append(None)
                continue
            self._add_state(variable)

    def _state_lists(self):
        return (
            self._momentums,
            self._scales,
            self._rows,
            self._columns,
            self._second_moments,
        )

    def _add_state(self, variable):
        shape = tuple(variable.shape)
        prefix = variable.path.replace("/", "_")
        block = momentum_block_size(shape[-1] if shape else 1, self.block_size)
        blocked = blocked_shape(shape, block)
        layouts = _state_layouts(_variable_layout(variable), shape, blocked[-2])
        self._momentums.append(
            self.add_variable(
                shape,
                dtype="int8",
                layout=layouts["momentum"],
                name=f"{prefix}_momentum",
            )
        )
        self._scales.append(
            self.add_variable(
                blocked[:-1],
                dtype="float32",
                layout=layouts["scales"],
                name=f"{prefix}_momentum_scales",
            )
        )
        if len(shape) >= 2:
            self._rows.append(
                self.add_variable(
                    shape[:-1],
                    dtype="float32",
                    layout=layouts["row"],
                    name=f"{prefix}_row_second_moment",
                )
            )
            self._columns.append(
                self.add_variable(
                    shape[:-2] + shape[-1:],
                    dtype="float32",
                    layout=layouts["column"],
                    name=f"{prefix}_column_second_moment",
                )
            )
            self._second_moments.append(None)
        else:
            self._rows.append(None)
            self._columns.append(None)
            self._second_moments.append(
                self.add_variable(
                    shape,
                    dtype="float32",
                    layout=layouts["full"],
                    name=f"{prefix}_second_moment",
                )
            )

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        learning_rate = ops.cast(learning_rate, "float32")
        gradient = ops.cast(gradient, "float32")
        beta_1 = ops.cast(self.beta_1, "float32")
        beta_2 = ops.cast(self.beta_2, "float32")
        step = ops.cast(self.iterations + 1, "float32")

        squared = ops.square(gradient) + ops.cast(self.epsilon_1, "float32")
        if self._second_moments[index] is None:
            row = beta_2 * self._rows[index] + (1.0 - beta_2) * ops.mean(
                squared, axis=-1
            )
            column = beta_2 * self._columns[index] + (1.0 - beta_2) * (
                ops.mean(squared, axis=-2)
            )
            self.assign(self._rows[index], row)
            self.assign(self._columns[index], column)
            row_mean = ops.mean(row, axis=-1, keepdims=True)
            second_moment = ops.expand_dims(row / row_mean, -1) * (
                ops.expand_dims(column, -2)
            )
        else:
            second_moment = beta_2 * self._second_moments[index] + (
                1.0 - beta_2
            ) * (squared)
            self.assign(self._second_moments[index], second_moment)
        second_moment = second_moment / (1.0 - ops.power(beta_2, step))

        update = gradient / ops.sqrt(second_moment)
        update = update / ops.maximum(1.0, _rms(update) / self.clip_threshold)

        momentum = dequantize_int8_blockwise(
            self._momentums[index], self._scales[index]
        )
        momentum = beta_1 * momentum + (1.0 - beta_1) * update
        block = momentum_block_size(
            variable.shape[-1] if len(variable.shape) else 1, self.block_size
        )
        values, scales = quantize_int8_blockwise(momentum, block)
        self.assign(self._momentums[index], values)
        self.assign(self._scales[index], scales)
        self.assign_sub(
            variable, ops.cast(learning_rate * momentum, variable.dtype)
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon_1": self.epsilon_1,
                "clip_threshold": self.clip_threshold,
                "block_size": self.block_size,
                "weight_decay_exclusions": self.weight_decay_exclusions,
            }
        )
        return config
