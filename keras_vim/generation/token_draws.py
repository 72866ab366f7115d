"""keras-hub's samplers' token draws, with the random draw made cheap.

keras-hub's `RandomSampler`, `TopKSampler` and `TopPSampler` draw with
`keras.random.categorical`, which costs a random number per candidate token.
Two backends pay too much for that inside a compiled sampling loop: torch,
whose `categorical` seeds a `torch.Generator` from a host int at every call
(`torch_compiled_loop`), and TensorFlow, whose stateless random numbers
under XLA on CPU cost ~3 ms for 8192 of them, so a token step took 24 ms
instead of 0.3. `draw_token` keeps each sampler's rule (which candidates,
with which probabilities) and takes a `choose(weights) -> index` for the
random part.
"""

import copy

import keras
from keras import ops
from keras_hub.samplers import GreedySampler
from keras_hub.samplers import RandomSampler
from keras_hub.samplers import TopKSampler
from keras_hub.samplers import TopPSampler


def with_inverse_cdf_draws(sampler):
    """`sampler`, drawing from one uniform number per row (TensorFlow).

    keras-hub's loop calls `sampler.get_next_token`; a shallow copy with
    that method replaced keeps the loop, the sampler's settings and its
    seed stream (the same `SeedGenerator`). Other sampler classes are
    returned as they are.
    """
    if type(sampler) not in (RandomSampler, TopKSampler, TopPSampler):
        return sampler
    choose = inverse_cdf_choice(sampler.seed_generator)
    drawing = copy.copy(sampler)
    drawing.get_next_token = lambda p: draw_token(sampler, p, choose)
    return drawing


def draw_token(sampler, probabilities, choose):
    """`sampler.get_next_token(probabilities)`, drawn with `choose`.

    Args:
        sampler: a keras-hub sampler; other classes than the greedy,
            random, top-k and top-p ones draw with their own
            `get_next_token`.
        probabilities: `(batch, vocabulary)` float32.
        choose: `choose(weights) -> (batch,)` indices, each drawn with
            probability proportional to its row of `weights` (>= 0).
    """
    kind = type(sampler)
    if kind is GreedySampler:
        return ops.argmax(probabilities, axis=-1)
    if kind is RandomSampler:
        return choose(probabilities)
    if kind is TopKSampler:
        values, indices = ops.top_k(probabilities, k=sampler.k, sorted=False)
        return _take(indices, choose(values))
    if kind is TopPSampler:
        # keras-hub's rule: the most likely tokens up to and including the
        # first whose cumulative probability exceeds `p`.
        cutoff = sampler.k or ops.shape(probabilities)[1]
        values, indices = ops.top_k(probabilities, k=cutoff, sorted=True)
        before = ops.cumsum(values, axis=-1) - values
        values = ops.where(before <= sampler.p, values, 0.0)
        return _take(indices, choose(values))
    return sampler.get_next_token(probabilities)


def inverse_cdf_choice(seed_generator):
    """A `choose` that draws one uniform number per row, not per token."""

    def choose(weights):
        cumulative = ops.cumsum(weights, axis=-1)
        uniform = keras.random.uniform(
            (ops.shape(weights)[0], 1), seed=seed_generator
        )
        threshold = uniform * cumulative[:, -1:]
        # The first index whose cumulative weight passes the threshold: a
        # zero weight never is (its cumulative equals its predecessor's).
        below = ops.sum(ops.cast(cumulative <= threshold, "int32"), axis=-1)
        # None passes only if rounding made the threshold the total.
        passed = below < ops.shape(weights)[1]
        return ops.where(passed, below, ops.argmax(weights, axis=-1))

    return choose


def _take(indices, choice):
    return ops.squeeze(ops.take_along_axis(indices, choice[:, None], -1), -1)
