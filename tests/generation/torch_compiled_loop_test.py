"""The compiled decoding step (`compile(jit_compile=True)`).

On torch it is `keras_vim.generation.torch_compiled_loop`; on JAX and
TensorFlow `jit_compile=True` is the compiled loop they always run, so the
same checks (compiled tokens == eager tokens) hold on every backend.
"""

import contextlib
from unittest import mock

import keras
import numpy as np
import pytest
from keras import ops
from keras_hub.samplers import GreedySampler
from keras_hub.samplers import RandomSampler
from keras_hub.samplers import TopKSampler
from keras_hub.samplers import TopPSampler
from keras_hub.src.tests.test_case import TestCase

from keras_vim.generation import guided_sample
from keras_vim.generation import token_draws
from keras_vim.generation import torch_compiled_loop
from tests.generation import guided_sampling_test
from tests.models.babeldraw import babeldraw_test
from tests.models.vim import vim_transformer_test


def stepwise_run():
    """A model, its generate arguments and the compiled loop's tokens."""
    model = vim_transformer_test.build()
    kwargs = dict(class_ids=[0, 1, 2], guidance_scale=3.0)
    return model, kwargs, greedy_tokens(model, True, **kwargs)


def graph_loop(capture):
    """Routes torch's compiled loop through its CUDA graph path on the CPU,
    with `capture` standing in for `torch_compiled_loop._capture`."""
    stack = contextlib.ExitStack()
    for name, value in (
        ("_capture", capture),
        ("_use_graphs", lambda prompt: True),
        ("_cuda_graphs_failed", False),
    ):
        stack.enter_context(mock.patch.object(torch_compiled_loop, name, value))
    return stack


torch_only = pytest.mark.skipif(
    keras.config.backend() != "torch",
    reason="torch's compiled loop only (its device draw, its fallback)",
)


def greedy_tokens(model, jit_compile, **kwargs):
    model.compile(sampler=GreedySampler(), jit_compile=jit_compile)
    model.run_eagerly = not jit_compile
    return model.generate(seed=0, verbose=0, **kwargs)["token_ids"]


class CompiledDecodingTest(TestCase):
    def test_toy_model_matches_numpy_reference(self):
        # The numpy reference and toy model of the eager loop's test.
        reference = guided_sampling_test.GuidedSampleTest()
        reference.setUp()
        prompt = ops.convert_to_tensor(reference.prompt)
        for scale in (None, 3.0):
            out = guided_sample(
                GreedySampler(),
                guided_sampling_test.table_step,
                prompt,
                (),
                start_index=1,
                guidance_scale=None if scale is None else np.float32(scale),
                null_prompt=ops.convert_to_tensor(reference.null),
                compile_steps=True,
            )
            self.assertAllEqual(
                ops.convert_to_numpy(out), reference.reference(scale)
            )

    def test_vim_compiled_equals_eager_and_recompute(self):
        model = vim_transformer_test.build()
        for guidance in (1.0, 3.0):
            kwargs = dict(class_ids=[0, 1, 2], guidance_scale=guidance)
            compiled = greedy_tokens(model, True, **kwargs)
            self.assertAllEqual(compiled, greedy_tokens(model, False, **kwargs))
            recomputed = greedy_tokens(model, True, use_cache=False, **kwargs)
            self.assertAllEqual(compiled, recomputed)
        # Sampling: a seed gives the same tokens, another seed others.
        model.compile(jit_compile=True)
        model.run_eagerly = False
        first = model.generate(class_ids=[0, 1, 2], seed=3, verbose=0)
        again = model.generate(class_ids=[0, 1, 2], seed=3, verbose=0)
        other = model.generate(class_ids=[0, 1, 2], seed=4, verbose=0)
        self.assertAllEqual(first["token_ids"], again["token_ids"])
        self.assertNotAllClose(first["token_ids"], other["token_ids"])

    def test_babeldraw_compiled_equals_eager(self):
        model = babeldraw_test.build()
        kwargs = dict(
            prompts=["a red 3 in the top left", "a blue 5 in the bottom right"],
            guidance_scale=3.0,
        )
        self.assertAllEqual(
            greedy_tokens(model, True, **kwargs),
            greedy_tokens(model, False, **kwargs),
        )

    @torch_only
    def test_draws_follow_the_samplers_distributions(self):
        import torch

        p = np.array([0.5, 0.2, 0.15, 0.1, 0.05], "float32")
        probabilities = torch.tensor(np.tile(p, (40000, 1)))
        expected = {
            RandomSampler(): p,
            TopKSampler(k=2): [5 / 7, 2 / 7, 0, 0, 0],
            # Up to and including the first token past p = 0.6.
            TopPSampler(p=0.6): [5 / 7, 2 / 7, 0, 0, 0],
            TopPSampler(p=0.75): [0.5 / 0.85, 0.2 / 0.85, 0.15 / 0.85, 0, 0],
            GreedySampler(): [1, 0, 0, 0, 0],
        }
        torch.manual_seed(0)
        for sampler, frequencies in expected.items():
            tokens = token_draws.draw_token(
                sampler, probabilities, torch_compiled_loop._gumbel_choice
            )
            counts = np.bincount(ops.convert_to_numpy(tokens), minlength=5)
            self.assertAllClose(counts / len(tokens), frequencies, atol=0.01)

    @torch_only
    def test_compile_failure_warns_and_samples_eagerly(self):
        model = vim_transformer_test.build()
        kwargs = dict(class_ids=[0, 1, 2], guidance_scale=3.0)
        eager = greedy_tokens(model, False, **kwargs)

        def failing_compile(model=None):
            def step(*args):
                raise RuntimeError("no C++ compiler")

            return step

        with (
            mock.patch.object(
                torch_compiled_loop, "_compiled", failing_compile
            ),
            mock.patch.object(torch_compiled_loop, "_compile_failed", False),
        ):
            with self.assertWarnsRegex(UserWarning, "no C\\+\\+ compiler"):
                fallback = greedy_tokens(model, True, **kwargs)
            self.assertTrue(torch_compiled_loop._compile_failed)
        self.assertAllEqual(fallback, eager)

    @torch_only
    def test_graph_replay_loop_matches_stepwise_loop(self):
        # The CUDA graph loop's fixed buffers and replays, run on the CPU:
        # "capture" calls the step once (the warm-up), "replay" calls it.
        def cpu_capture(function, device):
            function()
            return function

        model, kwargs, stepwise = stepwise_run()
        with graph_loop(cpu_capture):
            graphed = greedy_tokens(model, True, **kwargs)
            recomputed = greedy_tokens(model, True, use_cache=False, **kwargs)
            model.compile(jit_compile=True)
            model.run_eagerly = False
            first = model.generate(class_ids=[0, 1, 2], seed=3, verbose=0)
            again = model.generate(class_ids=[0, 1, 2], seed=3, verbose=0)
        self.assertAllEqual(graphed, stepwise)
        self.assertAllEqual(recomputed, stepwise)
        self.assertAllEqual(first["token_ids"], again["token_ids"])

    @torch_only
    def test_capture_failure_warns_and_steps_without_graph(self):
        def failing_capture(function, device):
            raise RuntimeError("operation not permitted when capturing")

        model, kwargs, stepwise = stepwise_run()
        with graph_loop(failing_capture):
            with self.assertWarnsRegex(UserWarning, "not permitted"):
                fallback = greedy_tokens(model, True, **kwargs)
            self.assertTrue(torch_compiled_loop._cuda_graphs_failed)
        self.assertAllEqual(fallback, stepwise)

    def test_models_with_other_constants_get_their_own_graphs(self):
        # Same shapes and weights, another layer norm epsilon: on torch,
        # whose compiled step skips dynamo's checks of the modules, the
        # second model must not run the first one's graph.
        first = vim_transformer_test.build()
        second = vim_transformer_test.build(layer_norm_epsilon=10.0)
        second.set_weights(first.get_weights())
        kwargs = dict(class_ids=[0, 1, 2], guidance_scale=3.0)
        for model in (first, second):
            self.assertAllEqual(
                greedy_tokens(model, True, **kwargs),
                greedy_tokens(model, False, **kwargs),
            )

    @torch_only
    def test_new_batch_sizes_compile_past_dynamos_recompile_limit(self):
        import torch._dynamo
        from torch._dynamo.utils import counters

        model = vim_transformer_test.build()
        model.compile(sampler=GreedySampler(), jit_compile=True)
        # At a limit of 1, every batch size after the first would run the
        # step eagerly if the loop did not raise the limit for its calls.
        graphs = []
        with torch._dynamo.config.patch(recompile_limit=1):
            for batch in (5, 7):
                model.generate(class_ids=[0] * batch, seed=0, verbose=0)
                graphs.append(counters["stats"]["unique_graphs"])
        self.assertEqual(graphs[1], graphs[0] + 1)
