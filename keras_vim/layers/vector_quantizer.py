import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_vim")
class VectorQuantizer(keras.layers.Layer):
    """Factorized, l2-normalized vector quantizer of ViT-VQGAN.

    The "improved codebook" of Yu et al., "Vector-quantized Image Modeling
    with Improved VQGAN" (2021). Each token is linearly projected from the
    model dimension down to a small lookup space (`lookup_dim`, 32 by
    default), l2-normalized, and matched to the nearest l2-normalized
    codebook entry (on the unit sphere Euclidean distance ranks like cosine
    similarity). The matched code is projected back up to the model
    dimension. Gradients pass to the encoder with the straight-through
    estimator and the layer returns the per-example loss
    `||sg[z_e] - e||^2 + beta * ||z_e - sg[e]||^2`.

    Distances and normalisation always run in float32, even under a
    mixed-precision policy: low-precision nearest-neighbour search is a known
    source of NaNs and of codes that never win.

    When `track_dead_codes=True` the layer keeps, in non-trainable state, a
    moving average of how often each code is picked and a ring buffer of
    recent (normalized) encoder outputs; `restart_dead_codes()` then moves
    codes whose usage fell under a threshold onto those outputs. Call it from
    `keras_vim.callbacks.CodebookRestart` during `fit`.

    Args:
        codebook_size: int. Number of codes.
        hidden_dim: int. Model dimension of the tokens going in and out.
        lookup_dim: int. Dimension of the factorized lookup space.
        beta: float. Weight of the commitment term.
        track_dead_codes: bool. Keep the usage statistics and the buffer of
            recent encoder outputs needed by `restart_dead_codes()`.
        usage_decay: float. Decay of the per-code usage moving average.
        buffer_size: int. Number of recent encoder outputs kept.

    Example:
    ```python
    quantizer = keras_vim.layers.VectorQuantizer(
        codebook_size=512, hidden_dim=64, lookup_dim=8
    )
    tokens = np.random.normal(size=(2, 16, 64)).astype("float32")
    quantized, token_ids, loss = quantizer(tokens)
    ```
    """

    def __init__(
        self,
        codebook_size,
        hidden_dim,
        lookup_dim=32,
        beta=0.25,
        track_dead_codes=False,
        usage_decay=0.99,
        buffer_size=4096,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.codebook_size = int(codebook_size)
        self.hidden_dim = int(hidden_dim)
        self.lookup_dim = int(lookup_dim)
        self.beta = float(beta)
        self.track_dead_codes = bool(track_dead_codes)
        self.usage_decay = float(usage_decay)
        self.buffer_size = int(buffer_size)
        self.down_projection = keras.layers.Dense(
            self.lookup_dim, dtype=self.dtype_policy, name="down_projection"
        )
        self.up_projection = keras.layers.Dense(
            self.hidden_dim, dtype=self.dtype_policy, name="up_projection"
        )

    def build(self, input_shape):
        self.down_projection.build(input_shape)
        self.up_projection.build((None, self.lookup_dim))
        self.codebook = self.add_weight(
            shape=(self.codebook_size, self.lookup_dim),
            initializer=keras.initializers.RandomNormal(stddev=1.0),
            dtype="float32",
            # Read at full precision inside `call` too: a mixed policy would
            # otherwise round the codebook to bfloat16 before the distances.
            autocast=False,
            name="codebook",
        )
        if self.track_dead_codes:
            self.code_usage = self.add_weight(
                shape=(self.codebook_size,),
                # A code that has never been picked counts as dead.
                initializer="zeros",
                dtype="float32",
                trainable=False,
                autocast=False,
                name="code_usage",
            )
            self.recent_inputs = self.add_weight(
                shape=(self.buffer_size, self.lookup_dim),
                initializer="zeros",
                dtype="float32",
                trainable=False,
                autocast=False,
                name="recent_inputs",
            )
            self.buffer_position = self.add_weight(
                shape=(),
                initializer="zeros",
                dtype="int32",
                trainable=False,
                name="buffer_position",
            )

    def normalized_codebook(self):
        """The l2-normalized codebook, float32 `(codebook_size, lookup_dim)`."""
        return l2_normalize(ops.convert_to_tensor(self.codebook, "float32"))

    def project_down(self, inputs):
        """Projects tokens to the l2-normalized float32 lookup space."""
        return l2_normalize(ops.cast(self.down_projection(inputs), "float32"))

    def nearest_code_ids(self, lookup):
        """Index of the nearest code of each normalized lookup vector."""
        # For unit vectors ||z - e||^2 = 2 - 2 z.e, so argmax of the dot
        # product is argmin of the distance, without the (N, K, D) tensor.
        similarity = ops.matmul(
            lookup, ops.transpose(self.normalized_codebook())
        )
        return ops.cast(ops.argmax(similarity, axis=-1), "int32")

    def lookup_codes(self, token_ids):
        """Token ids -> model-dimension embeddings (what the decoder sees)."""
        codes = ops.take(self.normalized_codebook(), token_ids, axis=0)
        return self.up_projection(ops.cast(codes, self.compute_dtype))

    def call(self, inputs, training=False):
        lookup = self.project_down(inputs)
        token_ids = ops.stop_gradient(self.nearest_code_ids(lookup))
        codes = ops.take(self.normalized_codebook(), token_ids, axis=0)
        reduce_axes = tuple(range(1, len(lookup.shape)))
        codebook_loss = ops.mean(
            ops.square(ops.stop_gradient(lookup) - codes), axis=reduce_axes
        )
        commitment_loss = ops.mean(
            ops.square(lookup - ops.stop_gradient(codes)), axis=reduce_axes
        )
        loss = codebook_loss + self.beta * commitment_loss
        # Straight-through: forward uses the code, backward the encoder output.
        straight_through = lookup + ops.stop_gradient(codes - lookup)
        quantized = self.up_projection(
            ops.cast(straight_through, self.compute_dtype)
        )
        if training and self.track_dead_codes:
            self._update_usage_statistics(lookup, token_ids)
        return quantized, token_ids, loss

    def _update_usage_statistics(self, lookup, token_ids):
        flat_ids = ops.reshape(token_ids, (-1,))
        counts = code_counts(flat_ids, self.codebook_size)
        frequency = counts / ops.cast(ops.shape(flat_ids)[0], "float32")
        self.code_usage.assign(
            self.usage_decay * self.code_usage
            + (1.0 - self.usage_decay) * frequency
        )
        flat_lookup = ops.stop_gradient(
            ops.reshape(lookup, (-1, self.lookup_dim))
        )
        num_new = flat_lookup.shape[0]
        if num_new is None:
            # TensorFlow traces `fit` with an unknown batch size.
            num_new = ops.minimum(ops.shape(flat_lookup)[0], self.buffer_size)
        else:
            num_new = min(num_new, self.buffer_size)
            if num_new == 0:
                return
        positions = (
            ops.arange(num_new, dtype="int32") + self.buffer_position
        ) % self.buffer_size
        self.recent_inputs.assign(
            ops.scatter_update(
                self.recent_inputs,
                ops.expand_dims(positions, -1),
                flat_lookup[:num_new],
            )
        )
        self.buffer_position.assign(
            (self.buffer_position + ops.cast(num_new, "int32"))
            % self.buffer_size
        )

    def restart_dead_codes(self, threshold=None, seed=None):
        """Moves rarely used codes onto recent encoder outputs.

        Runs eagerly (outside the compiled training step) on the layer's
        variables.

        Args:
            threshold: float. A code whose usage moving average is below this
                is dead. Defaults to `0.1 / codebook_size`, a tenth of
                uniform usage.
            seed: int. Seed for picking the replacement outputs.

        Returns:
            The number of codes that were restarted.
        """
        if not self.track_dead_codes:
            raise ValueError(
                "`restart_dead_codes()` needs `track_dead_codes=True`; this "
                f"quantizer ({self.name}) was built without it."
            )
        import numpy as np

        if threshold is None:
            threshold = 0.1 / self.codebook_size
        usage = ops.convert_to_numpy(self.code_usage)
        dead = np.flatnonzero(usage < threshold)
        buffer = ops.convert_to_numpy(self.recent_inputs)
        filled = np.flatnonzero(np.abs(buffer).sum(axis=-1) > 0)
        if len(dead) == 0 or len(filled) == 0:
            return 0
        rng = np.random.default_rng(seed)
        picks = rng.choice(
            filled, size=len(dead), replace=len(filled) < len(dead)
        )
        codebook = ops.convert_to_numpy(self.codebook).copy()
        codebook[dead] = buffer[picks]
        self.codebook.assign(codebook)
        usage[dead] = 1.0 / self.codebook_size
        self.code_usage.assign(usage)
        return int(len(dead))

    def compute_output_spec(self, inputs, training=False):
        shape = tuple(inputs.shape)
        return (
            keras.KerasTensor(
                shape[:-1] + (self.hidden_dim,), self.compute_dtype
            ),
            keras.KerasTensor(shape[:-1], "int32"),
            keras.KerasTensor(shape[:1], "float32"),
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "codebook_size": self.codebook_size,
                "hidden_dim": self.hidden_dim,
                "lookup_dim": self.lookup_dim,
                "beta": self.beta,
                "track_dead_codes": self.track_dead_codes,
                "usage_decay": self.usage_decay,
                "buffer_size": self.buffer_size,
            }
        )
        return config


def l2_normalize(x, epsilon=1e-6):
    """l2-normalizes the last axis in float32."""
    x = ops.cast(x, "float32")
    return x * ops.rsqrt(
        ops.sum(ops.square(x), axis=-1, keepdims=True) + epsilon
    )


def codebook_usage_and_perplexity(token_ids, codebook_size):
    """Fraction of codes used and perplexity of the code distribution.

    Args:
        token_ids: int tensor of any shape, code indices.
        codebook_size: int.

    Returns:
        `(usage, perplexity)` float32 scalars: the fraction of the codebook
        that appears in `token_ids`, and `exp(entropy)` of the empirical
        code distribution (equal to `codebook_size` when usage is uniform).
    """
    counts = code_counts(ops.reshape(token_ids, (-1,)), codebook_size)
    probabilities = counts / ops.maximum(ops.sum(counts), 1.0)
    usage = ops.mean(ops.cast(counts > 0, "float32"))
    entropy = -ops.sum(probabilities * ops.log(probabilities + 1e-10))
    return usage, ops.exp(entropy)


def code_counts(flat_ids, codebook_size):
    """How often each code appears in `flat_ids`, `(codebook_size,)` float32."""
    # segment_sum keeps a static output size, which jit on JAX needs.
    ones = ops.ones_like(flat_ids, dtype="float32")
    return ops.segment_sum(
        ones, ops.cast(flat_ids, "int32"), num_segments=codebook_size
    )
