"""Optimizers and learning-rate schedules from the seed's training recipe."""

from keras_vim.optimizers.int8_momentum_adafactor import Int8MomentumAdafactor
from keras_vim.optimizers.training_recipe import babeldraw_optimizer
from keras_vim.optimizers.training_recipe import vim_optimizer
from keras_vim.optimizers.warmup_exponential_decay import WarmupExponentialDecay
