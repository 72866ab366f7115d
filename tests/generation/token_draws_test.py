import keras
import numpy as np
from keras import ops
from keras_hub.samplers import GreedySampler
from keras_hub.samplers import RandomSampler
from keras_hub.samplers import TopKSampler
from keras_hub.samplers import TopPSampler
from keras_hub.src.tests.test_case import TestCase

from keras_vim.generation import token_draws
from tests.models.vim import vim_transformer_test

P = np.array([0.5, 0.2, 0.15, 0.1, 0.05], "float32")
EXPECTED = {
    RandomSampler(seed=1): P,
    TopKSampler(k=2, seed=1): [5 / 7, 2 / 7, 0, 0, 0],
    # Up to and including the first token past p = 0.6.
    TopPSampler(p=0.6, seed=1): [5 / 7, 2 / 7, 0, 0, 0],
    TopPSampler(p=0.75, seed=1): [0.5 / 0.85, 0.2 / 0.85, 0.15 / 0.85, 0, 0],
    GreedySampler(): [1, 0, 0, 0, 0],
}


class InverseCdfDrawTest(TestCase):
    def test_draws_follow_the_samplers_distributions(self):
        probabilities = np.tile(P, (40000, 1))
        for sampler, frequencies in EXPECTED.items():
            drawing = token_draws.with_inverse_cdf_draws(sampler)
            tokens = ops.convert_to_numpy(drawing.get_next_token(probabilities))
            counts = np.bincount(tokens, minlength=5)
            self.assertAllClose(counts / len(tokens), frequencies, atol=0.01)

    def test_zero_weights_are_never_drawn(self):
        weights = np.zeros((1000, 6), "float32")
        weights[:, 0] = 0.0
        weights[:, 3] = 1.0
        weights[:, 5] = 1e-6
        choose = token_draws.inverse_cdf_choice(keras.random.SeedGenerator(0))
        tokens = ops.convert_to_numpy(choose(weights))
        self.assertTrue(set(np.unique(tokens)) <= {3, 5})
        self.assertIn(3, tokens)

    def test_copy_shares_the_seed_stream(self):
        sampler = RandomSampler(seed=3)
        drawing = token_draws.with_inverse_cdf_draws(sampler)
        self.assertIs(drawing.seed_generator, sampler.seed_generator)
        self.assertIs(
            token_draws.with_inverse_cdf_draws(GreedySampler()).__class__,
            GreedySampler,
        )

    def test_generate_same_seed_same_tokens_and_seeds_differ(self):
        model = vim_transformer_test.build()
        model.compile(sampler="random")
        kwargs = dict(class_ids=[0, 1, 2, 0], guidance_scale=2.0, verbose=0)
        first = model.generate(seed=5, **kwargs)["token_ids"]
        again = model.generate(seed=5, **kwargs)["token_ids"]
        other = model.generate(seed=6, **kwargs)["token_ids"]
        self.assertAllEqual(first, again)
        self.assertGreater(np.mean(first != other), 0.2)
