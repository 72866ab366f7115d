"""`fit` on arrays that reshuffles every epoch, for keras-hub tasks.

keras-hub 0.32's `Task.fit` turns array inputs into a grain dataset in their
given order and ignores `shuffle=True` (with only a warning), so every
epoch sees the same batches in the same order. Data stored sorted (by class,
by augmentation) then trains badly without any error.
"""

import grain
import numpy as np
from keras import tree

from keras_vim.utils.validation import is_array_like


class _ArraySource:
    """Random access to sample `i` of a nested structure of arrays."""

    def __init__(self, data):
        self.data = data
        self.length = len(tree.flatten(data)[0])

    def __len__(self):
        return self.length

    def __getitem__(self, index):
        return tree.map_structure(lambda a: a[index], self.data)


def shuffled_batches(data, batch_size, epochs, seed):
    """A grain dataset of `data` reshuffled every epoch, and its epoch length.

    Args:
        data: a nested structure (tuple, dict) of arrays of equal length.
        batch_size: int.
        epochs: int. Epochs the dataset must last.
        seed: int. Seed of the per-epoch permutations.

    Returns:
        `(dataset, steps_per_epoch)`.
    """
    source = _ArraySource(tree.map_structure(np.asarray, data))
    # `shuffle` before `repeat`: grain draws a new permutation per epoch.
    dataset = (
        grain.MapDataset.source(source)
        .shuffle(seed=seed)
        .repeat(epochs)
        .batch(batch_size)
    )
    return dataset, max(1, len(source) // batch_size)


class ShuffledFitMixin:
    """Makes `fit(x, y, shuffle=True)` on arrays reshuffle every epoch.

    The permutations are seeded from numpy's global generator, so
    `keras.utils.set_random_seed` makes training reproducible.
    """

    def fit(
        self,
        x=None,
        y=None,
        batch_size=None,
        epochs=1,
        sample_weight=None,
        shuffle=True,
        steps_per_epoch=None,
        **kwargs,
    ):
        arrays = tuple(v for v in (x, y, sample_weight) if v is not None)
        if y is None and sample_weight is not None:
            arrays = ()  # (x, sample_weight) would read as (x, y).
        if shuffle and arrays and steps_per_epoch is None and all(
            is_array_like(leaf) for leaf in tree.flatten(arrays)
        ):
            x, steps_per_epoch = shuffled_batches(
                arrays,
                batch_size or 32,
                epochs,
                seed=int(np.random.randint(2**31 - 1)),
            )
            y = sample_weight = batch_size = None
        return super().fit(
            x,
            y,
            batch_size=batch_size,
            epochs=epochs,
            sample_weight=sample_weight,
            shuffle=False,
            steps_per_epoch=steps_per_epoch,
            **kwargs,
        )
