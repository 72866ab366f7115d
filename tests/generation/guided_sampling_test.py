import numpy as np
from keras import ops
from keras_hub.samplers import GreedySampler
from keras_hub.src.tests.test_case import TestCase

from keras_vim.generation import guided_sample
from keras_vim.generation import recompute_step

VOCABULARY = 7
TABLE = np.random.default_rng(0).normal(size=(VOCABULARY + 3, VOCABULARY))


def table_step(token_ids, cache, index):
    """A toy model: logits from the current token plus the position."""
    logits = ops.take(
        ops.convert_to_tensor(TABLE, "float32"), token_ids[:, 0], axis=0
    )
    return logits + ops.cast(index, "float32") * 0.1, cache


def full_logits(buffer, position):
    token = ops.take(buffer, position, axis=1)
    return table_step(token[:, None], None, position)[0]


class GuidedSampleTest(TestCase):
    def setUp(self):
        # Conditioning tokens (>= VOCABULARY) at position 0, then 5 to sample.
        self.prompt = np.array(
            [[7, 0, 0, 0, 0, 0], [8, 0, 0, 0, 0, 0]], "int32"
        )
        self.null = np.full_like(self.prompt, 9)

    def reference(self, scale):
        """The same loop written out with numpy."""
        out = self.prompt.copy()
        for index in range(1, 6):
            cond = TABLE[out[:, index - 1]] + 0.1 * (index - 1)
            previous = self.null[:, 0] if index == 1 else out[:, index - 1]
            null = TABLE[previous] + 0.1 * (index - 1)
            logits = cond if scale is None else null + scale * (cond - null)
            out[:, index] = logits.argmax(-1)
        return out

    def sample(self, scale, step=table_step, cache=()):
        guided = scale is not None
        return ops.convert_to_numpy(
            guided_sample(
                GreedySampler(),
                step,
                ops.convert_to_tensor(self.prompt),
                cache,
                start_index=1,
                guidance_scale=None
                if not guided
                else ops.convert_to_tensor(scale),
                null_prompt=ops.convert_to_tensor(self.null)
                if guided
                else None,
            )
        )

    def test_matches_reference(self):
        for scale in (None, 1.0, 0.0, 3.0):
            self.assertAllEqual(self.sample(scale), self.reference(scale))
        # Scale 1 is the conditional pass; a strong scale changes tokens.
        self.assertAllEqual(self.reference(1.0), self.reference(None))
        self.assertFalse(
            np.array_equal(self.reference(3.0), self.reference(None))
        )

    def test_recompute_step_agrees(self):
        buffer = ops.convert_to_tensor(np.concatenate([self.prompt, self.null]))
        recomputed = self.sample(3.0, recompute_step(full_logits), buffer)
        self.assertAllEqual(recomputed, self.reference(3.0))

    def test_progress_called_once_per_token(self):
        seen = []
        guided_sample(
            GreedySampler(),
            table_step,
            ops.convert_to_tensor(self.prompt),
            (),
            start_index=1,
            on_step=lambda index: seen.append(index),
        )
        # Eager loops call back every step; traced ones once per trace.
        self.assertIn(len(seen), (1, 5))
