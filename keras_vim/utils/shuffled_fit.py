"""Array inputs to `fit`, reshuffled every epoch, for keras-hub tasks.

keras-hub 0.32's `Task.fit` turns array inputs into a grain dataset in their
given order and ignores `shuffle=True` (with only a warning), so every
epoch sees the same batches in the same order. Data stored sorted (by class,
by augmentation) then trains badly without any error. A task's `fit` passes
its arguments through `shuffled_fit_inputs` instead:

```python
def fit(self, x=None, y=None, **kwargs):
    return super().fit(**shuffled_fit_inputs(x, y, **kwargs))
```
"""

import math
import warnings

import keras
import numpy as np
from keras import tree

from keras_vim.utils.validation import check_positive_int


def shuffled_fit_inputs(
    x=None,
    y=None,
    sample_weight=None,
    batch_size=None,
    epochs=1,
    shuffle=True,
    steps_per_epoch=None,
    callbacks=None,
    validation_split=None,
    validation_data=None,
    **kwargs,
):
    """The keyword arguments for keras-hub's `fit`, with arrays shuffled.

    Array inputs (numpy arrays or backend tensors, nested in tuples or dicts
    as `fit` takes them) become one grain dataset of batches in which epoch
    `e` is a permutation that depends only on `(seed, e)`. The seed is drawn
    once per call from numpy's global generator, so
    `keras.utils.set_random_seed` makes training reproducible, and a fit
    resumed by `keras.callbacks.BackupAndRestore` (or with `initial_epoch`)
    sees the epochs, and draws the dropout masks, that the uninterrupted fit
    would have (random layers restart from `(seed, e)`). Each epoch has
    `len(x) // batch_size` full batches (all samples when there are fewer
    than `batch_size`); the samples left over differ from epoch to epoch.

    Other inputs (datasets, generators), `shuffle=False`, and `y=None` with
    a `sample_weight` are passed on unchanged.

    Args:
        x, y, sample_weight, batch_size, epochs, shuffle, steps_per_epoch,
            callbacks, validation_split, validation_data: as in
            `keras.Model.fit`. `validation_split` takes the last samples,
            before shuffling, as Keras does.
        **kwargs: other arguments of `fit`, passed on.

    Returns:
        A dict of keyword arguments for `fit`.

    Raises:
        ValueError: if `x`, `y` and `sample_weight` are arrays of different
            lengths, or `batch_size` is not `None` or an int >= 1.
    """
    batch_size = check_positive_int("batch_size", batch_size, allow_none=True)
    arrays = _arrays(x, y, sample_weight)
    if arrays is not None:
        num_samples = _num_samples(x, y, sample_weight)
        if validation_split and validation_data is None:
            arrays, validation_data = _split(
                arrays, num_samples, validation_split
            )
            num_samples = len(tree.flatten(arrays)[0])
            validation_split = None
            if not shuffle:
                x, y, sample_weight = (*arrays, None, None)[:3]
    fit_kwargs = dict(
        x=x,
        y=y,
        sample_weight=sample_weight,
        batch_size=batch_size,
        epochs=epochs,
        shuffle=shuffle,
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
        validation_split=validation_split,
        validation_data=validation_data,
        **kwargs,
    )
    if arrays is None or not shuffle:
        return fit_kwargs
    # Imported here so that keras_vim imports where grain is not installed
    # (an accelerator image with only JAX and torch).
    import grain

    batch_size = batch_size or 32
    first_epoch = _FirstEpoch()
    seed = int(np.random.randint(2**31 - 1))
    batches = _EpochBatches(
        arrays,
        num_samples,
        batch_size,
        epochs,
        steps_per_epoch,
        seed=seed,
        first_epoch=first_epoch,
    )
    fit_kwargs.update(
        x=grain.MapDataset.source(batches),
        y=None,
        sample_weight=None,
        batch_size=None,
        # The order is ours; keras-hub would only warn about `shuffle`.
        shuffle=False,
        steps_per_epoch=batches.steps_per_epoch,
        callbacks=list(callbacks or []) + [_EpochSeeds(seed), first_epoch],
    )
    if validation_data is not None:
        # keras-hub batches validation arrays by `batch_size`, now `None`.
        validation_arrays = _arrays(
            *keras.utils.unpack_x_y_sample_weight(validation_data)
        )
        if validation_arrays is not None:
            fit_kwargs["validation_data"] = grain.MapDataset.source(
                _Batches(validation_arrays, batch_size)
            )
    return fit_kwargs


def _arrays(x, y, sample_weight):
    """`(x, y[, sample_weight])` as numpy, or `None` if not all arrays."""
    if x is None or (y is None and sample_weight is not None):
        # `(x, sample_weight)` would read as `(x, y)`.
        return None
    arrays = tuple(v for v in (x, y, sample_weight) if v is not None)
    leaves = tree.flatten(arrays)
    if not all(_is_batched_array(leaf) for leaf in leaves):
        return None
    return tree.map_structure(keras.ops.convert_to_numpy, arrays)


def _is_batched_array(value):
    shape = getattr(value, "shape", None)
    return shape is not None and len(shape) >= 1


def _num_samples(x, y, sample_weight):
    """The common length of the inputs; a `ValueError` naming them if not.

    Left to grain, unequal lengths fail mid-epoch with a bare `IndexError`.
    """
    lengths = {}
    for name, value in (("x", x), ("y", y), ("sample_weight", sample_weight)):
        if value is not None:
            lengths[name] = sorted(
                set(int(leaf.shape[0]) for leaf in tree.flatten(value))
            )
    if len(set(n for sizes in lengths.values() for n in sizes)) > 1:
        received = ", ".join(
            f"{name} with {sizes[0] if len(sizes) == 1 else sizes} samples"
            for name, sizes in lengths.items()
        )
        raise ValueError(
            "`x`, `y` and `sample_weight` must have one entry per sample, "
            f"the same number in each. Received: {received}."
        )
    return lengths["x"][0]


def _split(arrays, num_samples, validation_split):
    """`(train, validation)`: the last samples for validation, as Keras."""
    split_at = int(math.floor(num_samples * (1.0 - validation_split)))
    if split_at in (0, num_samples):
        raise ValueError(
            f"`validation_split={validation_split}` leaves no training or no "
            f"validation samples out of {num_samples}."
        )
    train = tree.map_structure(lambda a: a[:split_at], arrays)
    validation = tree.map_structure(lambda a: a[split_at:], arrays)
    return train, validation


class _FirstEpoch(keras.callbacks.Callback):
    """Records the epoch a fit starts at (`initial_epoch`, or restored).

    Keras calls `on_epoch_begin` before it makes the data iterator, and
    then keeps one iterator across epochs, so batch 0 of the dataset is the
    first batch of this epoch.
    """

    def __init__(self):
        super().__init__()
        self.epoch = 0
        self._started = False

    def on_train_begin(self, logs=None):
        self._started = False

    def on_epoch_begin(self, epoch, logs=None):
        if not self._started:
            self.epoch = epoch
            self._started = True


class _EpochBatches:
    """Batch `i` of consecutive epochs, each a permutation of the samples.

    Epoch `e`'s order is `default_rng((seed, e)).permutation(num_samples)`:
    a function of `(seed, e)` alone. Batch 0 belongs to epoch
    `first_epoch.epoch`.
    """

    def __init__(
        self,
        arrays,
        num_samples,
        batch_size,
        epochs,
        steps_per_epoch,
        seed,
        first_epoch,
    ):
        self.arrays = arrays
        self.num_samples = num_samples
        self.batch_size = min(batch_size, num_samples)
        full_batches = num_samples // self.batch_size
        if steps_per_epoch is not None and steps_per_epoch > full_batches:
            warnings.warn(
                f"`steps_per_epoch={steps_per_epoch}` is more than the "
                f"{full_batches} batches of {self.batch_size} that "
                f"{num_samples} samples make; each epoch runs "
                f"{full_batches}.",
                stacklevel=3,
            )
        self.steps_per_epoch = min(
            steps_per_epoch or full_batches, full_batches
        )
        self.epochs = epochs
        self.seed = seed
        self.first_epoch = first_epoch
        self._orders = {}

    def __len__(self):
        return self.epochs * self.steps_per_epoch

    def order(self, epoch):
        """The permutation of the samples in epoch `epoch`."""
        if epoch not in self._orders:
            rng = np.random.default_rng((self.seed, epoch))
            self._orders[epoch] = rng.permutation(self.num_samples)
            for old in [e for e in list(self._orders) if e < epoch - 1]:
                self._orders.pop(old, None)
        return self._orders[epoch]

    def __getitem__(self, index):
        epoch, step = divmod(int(index), self.steps_per_epoch)
        start = step * self.batch_size
        indices = self.order(self.first_epoch.epoch + epoch)[
            start : start + self.batch_size
        ]
        return tree.map_structure(lambda a: a[indices], self.arrays)


class _Batches:
    """Batch `i` of `arrays` in their order; the last one may be short."""

    def __init__(self, arrays, batch_size):
        self.arrays = arrays
        self.batch_size = batch_size
        self.num_samples = len(tree.flatten(arrays)[0])

    def __len__(self):
        return math.ceil(self.num_samples / self.batch_size)

    def __getitem__(self, index):
        start = int(index) * self.batch_size
        return tree.map_structure(
            lambda a: a[start : start + self.batch_size], self.arrays
        )


class _EpochSeeds(keras.callbacks.Callback):
    """Restarts every random layer's stream from `(seed, epoch)`.

    `BackupAndRestore` saves weights and optimizer, not the states of the
    layers' `SeedGenerator`s (dropout, prompt dropout): without this, a
    resumed epoch would draw other dropout masks than the uninterrupted
    run did. On torch, Keras's unseeded dropout draws from torch's global
    generator instead, so that one is reseeded too. This happens at the
    epoch's first batch, after the data iterator exists (torch's draws
    a seed from the global generator when it starts).
    """

    def __init__(self, seed):
        super().__init__()
        self.seed = seed
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:
            self._reseed(self.epoch)

    def _reseed(self, epoch):
        states = [
            v for v in self.model.variables if v.name == "seed_generator_state"
        ]
        for index, state in enumerate(states):
            entropy = np.random.SeedSequence([self.seed, epoch, index])
            start = entropy.generate_state(1)[0] % 2**31
            state.assign(np.array([start, 0], dtype=state.dtype))
        if keras.config.backend() == "torch":
            import torch

            entropy = np.random.SeedSequence([self.seed, epoch])
            torch.manual_seed(int(entropy.generate_state(1)[0]))
