"""The sampling engine shared by the image-token models."""

from keras_vim.generation.compiled_sampling import CompiledSampling
from keras_vim.generation.generate_arguments import check_sampling_arguments
from keras_vim.generation.generate_arguments import sampler_for
from keras_vim.generation.guided_sampling import guided_sample
from keras_vim.generation.guided_sampling import recompute_step
