"""The seed paper's optimizer recipe, as ready-to-compile optimizers."""

import numbers

from keras_vim.optimizers.int8_momentum_adafactor import Int8MomentumAdafactor
from keras_vim.optimizers.warmup_exponential_decay import WarmupExponentialDecay

# LayerNormalization scales and offsets and all biases: decaying them toward
# zero only fights the normalisation, as in the usual AdamW practice.
WEIGHT_DECAY_EXCLUSIONS = ("gamma", "beta", "bias")


def _check_non_negative(name, value):
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not is_number or not value >= 0:
        raise ValueError(
            f"`{name}` must be a non-negative number. Received: {name}={value}"
        )


def _check_positive(name, value):
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not is_number or not value > 0:
        raise ValueError(
            f"`{name}` must be a positive number. Received: {name}={value}"
        )


def babeldraw_optimizer(
    learning_rate=4.5e-5,
    warmup_steps=5000,
    decay_start_step=85000,
    decay_end_step=450000,
    final_ratio=0.025,
    weight_decay=4.5e-2,
    global_clipnorm=4.0,
):
    """Returns the seed paper's memory-lean optimizer for Babeldraw.

    The recipe: Adafactor with `beta_1=0.9`, `beta_2=0.96`, the first moment
    quantized to int8 (`Int8MomentumAdafactor`), decoupled weight decay
    4.5e-2, a learning rate of 4.5e-5 with 5,000 linear warm-up steps and
    an exponential decay from step 85,000 to step 450,000 down to 0.025 of
    the peak (`WarmupExponentialDecay`), and gradient clipping at a global
    norm of 4.0. Variables whose name contains `"gamma"`, `"beta"` or
    `"bias"` (normalisation parameters and biases) get no weight decay.

    Args:
        learning_rate: float. Peak learning rate.
        warmup_steps: int. Steps of linear warm-up.
        decay_start_step: int. First step of the exponential decay.
        decay_end_step: int. Step at which the rate reaches its floor.
        final_ratio: float in (0, 1]. Floor as a fraction of the peak.
        weight_decay: float. Decoupled weight-decay coefficient, applied as
            `variable -= variable * weight_decay * learning_rate`.
        global_clipnorm: float. Gradients are rescaled so that their global
            norm is at most this value.

    Returns:
        A `keras_vim.optimizers.Int8MomentumAdafactor`.

    Example:
    ```python
    optimizer = keras_vim.optimizers.babeldraw_optimizer()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer=optimizer, loss="mse")
    ```
    """
    _check_non_negative("weight_decay", weight_decay)
    _check_positive("global_clipnorm", global_clipnorm)
    schedule = WarmupExponentialDecay(
        learning_rate=learning_rate,
        warmup_steps=warmup_steps,
        decay_start_step=decay_start_step,
        decay_end_step=decay_end_step,
        final_ratio=final_ratio,
    )
    return Int8MomentumAdafactor(
        learning_rate=schedule,
        beta_1=0.9,
        beta_2=0.96,
        weight_decay=weight_decay,
        global_clipnorm=global_clipnorm,
        weight_decay_exclusions=list(WEIGHT_DECAY_EXCLUSIONS),
    )


def vim_optimizer(**kwargs):
    """Returns the optimizer for VIM (stage-2) training: Babeldraw's recipe.

    The seed paper gives this optimizer recipe for Babeldraw; VIM reuses it
    (`Int8MomentumAdafactor` with `beta_1=0.9`, `beta_2=0.96`, decoupled
    weight decay and global-norm clipping). The VIM paper's own
    learning-rate schedule is not in our specification, so the defaults
    are Babeldraw's.

    Args:
        **kwargs: the arguments of `babeldraw_optimizer`, to change them.

    Returns:
        A `keras_vim.optimizers.Int8MomentumAdafactor`.

    Example:
    ```python
    optimizer = keras_vim.optimizers.vim_optimizer(warmup_steps=100)
    ```
    """
    return babeldraw_optimizer(**kwargs)
