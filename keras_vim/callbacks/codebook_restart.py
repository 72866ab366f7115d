import keras


class CodebookRestart(keras.callbacks.Callback):
    """Restarts dead codes of a `VectorQuantizer` during `fit`.

    Every `every_n_steps` training batches, codes whose usage moving average
    fell below `threshold` are moved onto recent encoder outputs (kept by the
    quantizer when built with `track_dead_codes=True`). This keeps the whole
    codebook in use, which the paper's factorized l2-normalized codes help
    with but do not guarantee on small data.

    Args:
        quantizer: the `keras_vim.layers.VectorQuantizer`, e.g.
            `model.backbone.quantizer`.
        every_n_steps: int. Batches between restarts.
        threshold: float or `None`. Usage below which a code is dead; the
            quantizer's default when `None`.
        stop_after_step: int or `None`. No restarts after this many steps, so
            the last codes can settle before training ends.
        verbose: bool. Print how many codes were restarted.

    Example:
    ```python
    model.fit(images, callbacks=[
        keras_vim.callbacks.CodebookRestart(model.backbone.quantizer, 200)
    ])
    ```
    """

    def __init__(
        self,
        quantizer,
        every_n_steps=200,
        threshold=None,
        stop_after_step=None,
        verbose=False,
    ):
        super().__init__()
        self.quantizer = quantizer
        self.every_n_steps = int(every_n_steps)
        self.threshold = threshold
        self.stop_after_step = stop_after_step
        self.verbose = verbose
        self.step = 0
        self.restarted = []

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step % self.every_n_steps:
            return
        if (
            self.stop_after_step is not None
            and self.step > self.stop_after_step
        ):
            return
        # On JAX, fit keeps the live weights outside the variables; write
        # them back first so the restart edits (and survives in) the real state.
        if hasattr(self.model, "jax_state_sync"):
            self.model.jax_state_sync()
        count = self.quantizer.restart_dead_codes(
            self.threshold, seed=self.step
        )
        self.restarted.append(count)
        if self.verbose and count:
            print(f"\nstep {self.step}: restarted {count} dead codes")
