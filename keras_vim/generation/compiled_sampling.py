"""Compiling, seeding and showing progress of a model's sampling loop."""

import functools
import itertools

import keras
import numpy as np
from keras import ops
from keras import tree
from keras_hub.samplers import RandomSampler

from keras_vim.generation.generate_arguments import sampler_for
from keras_vim.generation.generate_arguments import sampler_key


class CompiledSampling:
    """The compiled sampling loops of one model, per backend.

    A task builds a `generate_step(inputs) -> token_ids` (usually around
    `guided_sample`) and hands it to `run` with a key naming everything the
    step closes over (sampler, guidance on/off, cache on/off). The step is
    compiled once per key: `jax.jit` with the model's variables passed as
    state (so a sharded model stays sharded), `tf.function` with XLA (without
    it TensorFlow copies the key/value cache at every step), and on torch a
    Python loop under `torch.no_grad` whose per-token steps are
    `torch.compile`d where `compiles_steps` says so. Seeds are set on the
    sampler before each run, so the same seed gives the same tokens.

    Args:
        model: the `keras.Model` whose variables the steps read.
    """

    def __init__(self, model):
        self.model = model
        self._compiled = {}
        self._progress = None

    def run(self, key, build_step, inputs, seed=None, progress_length=None):
        """Runs the step compiled for `key`, building it on first use.

        Args:
            key: hashable; equal keys must mean equal steps.
            build_step: `build_step() -> (generate_step, sampler)`.
            inputs: nested structure of arrays, the step's input.
            seed: int, or `None` to continue the sampler's random stream
                from the previous run.
            progress_length: int or `None`. Shows a per-token progress bar
                of that length, updated from inside the loop (JAX and torch;
                TensorFlow's XLA loop cannot call back).

        Returns:
            The step's output as numpy.
        """
        if key not in self._compiled:
            step, sampler = build_step()
            self._compiled[key] = (self._compile(step, sampler), sampler)
        function, sampler = self._compiled[key]
        if seed is not None:
            for variable in sampler.variables:
                variable.assign(ops.cast([seed, 0], variable.dtype))
        if progress_length and self.reports_progress:
            self._progress = keras.utils.Progbar(
                progress_length, unit_name="token"
            )
        try:
            inputs = tree.map_structure(ops.convert_to_tensor, inputs)
            return ops.convert_to_numpy(function(inputs))
        finally:
            self._progress = None

    def generate(
        self,
        generate_step,
        default_sampler,
        arguments,
        inputs,
        use_cache=True,
        batch_size=None,
        sequence_length=None,
        verbose="auto",
    ):
        """Samples with a task's `generate_step` under checked arguments.

        Args:
            generate_step: `generate_step(inputs, sampler, guided,
                use_cache) -> token_ids`.
            default_sampler: the sampler from `compile`, or `None`.
            arguments: the dict from `check_sampling_arguments`; guidance
                is on when its `guidance_scale` is not 1.
            inputs: dict of arrays, split into batches of `batch_size`.
            use_cache, batch_size, sequence_length, verbose: as in
                `run_in_batches`; `use_cache=False` recomputes the prefix.

        Returns:
            The sampled token ids, numpy.
        """
        if not isinstance(use_cache, bool):
            raise ValueError(
                f"`use_cache` must be a bool. Received: use_cache={use_cache!r}"
            )
        guided = arguments["guidance_scale"] != 1.0
        sampler = sampler_for(
            default_sampler or RandomSampler(),
            arguments["temperature"],
            arguments["top_k"],
            arguments["top_p"],
        )

        def build_step():
            step = functools.partial(
                generate_step,
                sampler=sampler,
                guided=guided,
                use_cache=use_cache,
            )
            return step, sampler

        inputs = dict(inputs)
        inputs["guidance_scale"] = np.float32(arguments["guidance_scale"])
        return self.run_in_batches(
            (sampler_key(sampler), guided, use_cache),
            build_step,
            inputs,
            batch_size=batch_size,
            seed=arguments["seed"],
            sequence_length=sequence_length,
            verbose=verbose,
        )

    def run_in_batches(
        self,
        key,
        build_step,
        inputs,
        batch_size=None,
        seed=None,
        sequence_length=None,
        verbose="auto",
    ):
        """`run` over batches of `inputs`, with progress bars.

        Args:
            key, build_step: as in `run`.
            inputs: dict of arrays; those with a batch axis are split into
                batches of `batch_size`, scalars go to every batch.
            batch_size: int or `None` (one batch).
            seed: int or `None` (a random one). The first batch is seeded;
                later batches continue its random stream, so they differ.
            sequence_length: int. Tokens sampled per image.
            verbose: `"auto"`, 0 or 1. `"auto"` shows progress for 256
                tokens or more, or several batches: per token where the
                loop can report it (JAX, torch), else per batch.

        Returns:
            The batches' outputs, concatenated.
        """
        total = max(len(v) for v in inputs.values() if np.ndim(v) > 0)
        batch_size = batch_size or total
        num_batches = -(-total // batch_size)
        show = verbose == 1 or (
            verbose == "auto"
            and (num_batches > 1 or (sequence_length or 0) >= 256)
        )
        per_token = show and self.reports_progress
        progress = None
        if show and (num_batches > 1 or not per_token):
            progress = keras.utils.Progbar(total, unit_name="image")
        if seed is None:
            seed = int(np.random.randint(0, 2**31 - 1))
        outputs = []
        for start in range(0, total, batch_size):
            batch = {
                name: value[start : start + batch_size]
                if np.ndim(value) > 0
                else value
                for name, value in inputs.items()
            }
            outputs.append(
                self.run(
                    key,
                    build_step,
                    batch,
                    seed=seed if start == 0 else None,
                    progress_length=sequence_length if per_token else None,
                )
            )
            if progress is not None:
                progress.add(len(outputs[-1]))
        return np.concatenate(outputs)

    @property
    def compiles_steps(self):
        """Torch: whether each token's step runs `torch.compile`d.

        Set by the task's `compile(jit_compile=...)`: `True` compiles,
        `False` or `run_eagerly=True` runs eagerly, `"auto"` compiles when
        the model's weights are on a GPU, where eager steps cost 10x more
        in the host than on the device. Compiling costs seconds to a minute
        once per (model, batch, length, sampler).
        """
        if keras.config.backend() != "torch" or self.model.run_eagerly:
            return False
        jit_compile = getattr(self.model, "_decoding_jit_compile", "auto")
        if jit_compile == "auto":
            weight = self.model.weights[0].value
            return weight.device.type == "cuda"
        return bool(jit_compile)

    @property
    def reports_progress(self):
        """Whether the loop can update a progress bar per token."""
        return keras.config.backend() in ("jax", "torch")

    def report_progress(self, index):
        """Call from inside the loop, once per sampled token."""
        backend = keras.config.backend()
        if backend == "jax":
            import jax

            jax.debug.callback(self._update_progress, index)
        elif backend == "torch":
            self._update_progress(index)

    def _update_progress(self, index):
        if self._progress is not None:
            self._progress.update(int(index))

    def _compile(self, step, sampler):
        backend = keras.config.backend()
        if backend == "jax" and not self.model.run_eagerly:
            return self._compile_jax(step, sampler)
        if backend == "tensorflow" and not self.model.run_eagerly:
            import tensorflow as tf

            return tf.function(step, jit_compile=True)
        if backend == "torch":
            import torch

            def no_grad_step(inputs):
                with torch.no_grad():
                    return step(inputs)

            return no_grad_step
        return step

    def _compile_jax(self, step, sampler):
        import jax

        model = self.model

        @jax.jit
        def stateless_step(inputs, state):
            sampler_values, trainable, non_trainable = state
            mapping = itertools.chain(
                zip(sampler.variables, sampler_values),
                zip(model.trainable_variables, trainable),
                zip(model.non_trainable_variables, non_trainable),
            )
            with keras.StatelessScope(state_mapping=mapping) as scope:
                outputs = step(inputs)
            sampler_values = [
                scope.get_current_value(v) for v in sampler.variables
            ]
            return outputs, sampler_values

        def compiled(inputs):
            state = (
                [v.value for v in sampler.variables],
                # `.value` keeps a distributed variable's sharding.
                [v.value for v in model.trainable_variables],
                [v.value for v in model.non_trainable_variables],
            )
            outputs, sampler_values = stateless_step(inputs, state)
            for variable, value in zip(sampler.variables, sampler_values):
                if value is not None:
                    variable.assign(value)
            return outputs

        return compiled
