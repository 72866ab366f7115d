"""Linear warm-up, a plateau, then exponential decay to a floor."""

import numbers

import keras
from keras import ops


def _check_positive(name, value):
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not is_number or not value > 0:
        raise ValueError(
            f"`{name}` must be a positive number. Received: {name}={value}"
        )


def _check_step(name, value):
    is_int = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not is_int or value < 0:
        raise ValueError(
            f"`{name}` must be a non-negative int. Received: {name}={value}"
        )


@keras.saving.register_keras_serializable(package="keras_vim")
class WarmupExponentialDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up, constant plateau, exponential decay, constant floor.

    The learning-rate schedule of the seed paper's Babeldraw recipe: the
    rate rises linearly from 0 at step 0 to `learning_rate` at
    `warmup_steps`, stays there until `decay_start_step`, then decays
    geometrically so that it reaches `learning_rate * final_ratio` at
    `decay_end_step`, and stays at that floor afterwards:

    ```
    lr(t) = learning_rate * t / warmup_steps             t < warmup_steps
    lr(t) = learning_rate * final_ratio ** clip(
        (t - decay_start_step) / (decay_end_step - decay_start_step), 0, 1)
                                                         otherwise
    ```

    Args:
        learning_rate: float. The peak learning rate.
        warmup_steps: int. Steps of linear warm-up; 0 starts at the peak.
        decay_start_step: int. First step of the decay; at least
            `warmup_steps`.
        decay_end_step: int. Step at which the rate reaches its floor;
            greater than `decay_start_step`.
        final_ratio: float in (0, 1]. Floor as a fraction of the peak.
        name: string. Name of the schedule.

    Example:
    ```python
    schedule = keras_vim.optimizers.WarmupExponentialDecay(
        learning_rate=4.5e-5,
        warmup_steps=5000,
        decay_start_step=85000,
        decay_end_step=450000,
        final_ratio=0.025,
    )
    schedule(450000)  # 4.5e-5 * 0.025
    ```
    """

    def __init__(
        self,
        learning_rate,
        warmup_steps,
        decay_start_step,
        decay_end_step,
        final_ratio,
        name="warmup_exponential_decay",
    ):
        super().__init__()
        _check_positive("learning_rate", learning_rate)
        _check_step("warmup_steps", warmup_steps)
        _check_step("decay_start_step", decay_start_step)
        _check_step("decay_end_step", decay_end_step)
        if decay_start_step < warmup_steps:
            raise ValueError(
                "`decay_start_step` must be at least `warmup_steps`. "
                f"Received: decay_start_step={decay_start_step}, "
                f"warmup_steps={warmup_steps}"
            )
        if decay_end_step <= decay_start_step:
            raise ValueError(
                "`decay_end_step` must be greater than `decay_start_step`. "
                f"Received: decay_end_step={decay_end_step}, "
                f"decay_start_step={decay_start_step}"
            )
        _check_positive("final_ratio", final_ratio)
        if not final_ratio <= 1:
            raise ValueError(
                "`final_ratio` must be in (0, 1]. Received: "
                f"final_ratio={final_ratio}"
            )
        self.learning_rate = float(learning_rate)
        self.warmup_steps = int(warmup_steps)
        self.decay_start_step = int(decay_start_step)
        self.decay_end_step = int(decay_end_step)
        self.final_ratio = float(final_ratio)
        self.name = name

    def __call__(self, step):
        step = ops.cast(step, "float32")
        peak = ops.cast(self.learning_rate, "float32")
        warmup = peak * step / float(max(self.warmup_steps, 1))
        progress = ops.clip(
            (step - float(self.decay_start_step))
            / float(self.decay_end_step - self.decay_start_step),
            0.0,
            1.0,
        )
        decayed = peak * ops.power(
            ops.cast(self.final_ratio, "float32"), progress
        )
        return ops.where(step < float(self.warmup_steps), warmup, decayed)

    def get_config(self):
        return {
            "learning_rate": self.learning_rate,
            "warmup_steps": self.warmup_steps,
            "decay_start_step": self.decay_start_step,
            "decay_end_step": self.decay_end_step,
            "final_ratio": self.final_ratio,
            "name": self.name,
        }
