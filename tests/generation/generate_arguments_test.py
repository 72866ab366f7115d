import numpy as np
import pytest
from keras_hub.samplers import GreedySampler
from keras_hub.samplers import RandomSampler
from keras_hub.samplers import TopKSampler
from keras_hub.samplers import TopPSampler
from keras_hub.src.tests.test_case import TestCase

from keras_vim.generation import check_sampling_arguments
from keras_vim.generation import sampler_for


class SamplerForTest(TestCase):
    def test_compiled_sampler_without_overrides(self):
        compiled = TopKSampler(k=5, temperature=0.7)
        self.assertIs(sampler_for(compiled), compiled)

    def test_overrides(self):
        compiled = TopKSampler(k=5, temperature=0.7)
        hot = sampler_for(compiled, temperature=2.0)
        self.assertIsInstance(hot, TopKSampler)
        self.assertEqual((hot.k, hot.temperature), (5, 2.0))
        top_p = sampler_for(compiled, top_p=0.9, top_k=3)
        self.assertIsInstance(top_p, TopPSampler)
        self.assertEqual((top_p.p, top_p.k, top_p.temperature), (0.9, 3, 0.7))
        top_k = sampler_for(RandomSampler(), top_k=2)
        self.assertIsInstance(top_k, TopKSampler)
        self.assertEqual(top_k.k, 2)
        self.assertIsInstance(
            sampler_for(GreedySampler(), temperature=1.0), RandomSampler
        )
        self.assertIsInstance(
            sampler_for(RandomSampler(), temperature=1e-30), GreedySampler
        )
        self.assertIsInstance(
            sampler_for(RandomSampler(temperature=1e-9)), GreedySampler
        )


class CheckSamplingArgumentsTest(TestCase):
    def test_numpy_scalars_are_numbers(self):
        args = check_sampling_arguments(
            np.float32(0.5),
            np.int64(3),
            np.float64(0.9),
            np.float32(2.0),
            np.int32(4),
            10,
        )
        self.assertEqual(
            args,
            {
                "temperature": 0.5,
                "top_k": 3,
                "top_p": 0.9,
                "guidance_scale": 2.0,
                "seed": 4,
            },
        )
        self.assertIsInstance(args["top_k"], int)

    def test_bad_values_name_the_argument(self):
        cases = [
            (dict(temperature=float("nan")), "temperature.*nan"),
            (dict(temperature=True), "temperature.*True"),
            (dict(top_k=11, vocabulary_size=10), r"top_k.*\[1, 10\].*11"),
            (dict(top_k=2.0), "top_k.*2.0"),
            (dict(top_p=-0.1), "top_p.*-0.1"),
            (dict(guidance_scale=float("inf")), "guidance_scale.*inf"),
            (dict(guidance_scale="3"), "guidance_scale.*'3'"),
            (dict(seed=-1), "seed.*-1"),
            (dict(seed=1.5), "seed.*1.5"),
        ]
        for kwargs, message in cases:
            with pytest.raises(ValueError, match=message):
                check_sampling_arguments(**kwargs)
