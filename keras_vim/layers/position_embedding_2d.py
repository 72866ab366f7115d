import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_vim")
class PositionEmbedding2D(keras.layers.Layer):
    """Learned additive 2D position embedding for raster-order image tokens.

    Image token `k` of a `grid_size x grid_size` grid sits at row
    `k // grid_size` and column `k % grid_size`; its embedding is
    `row_table[row] + column_table[column]`, so the embedding is 2D by
    construction (VIM, Yu et al. 2021, section 4). Positions before the image
    (a class token) get their own learned vectors (`num_prefix_positions`).

    Args:
        grid_size: int. Tokens per image side.
        hidden_dim: int. Embedding size.
        num_prefix_positions: int. Learned positions before the image tokens.
        initializer: initializer of the tables.

    Call with a `(batch, length, hidden_dim)` sequence and the sequence
    position of its first element (`start_index`, may be a traced scalar);
    returns the position embeddings, shaped like the sequence. Position 0 is
    the first prefix position, `num_prefix_positions` the first image token.

    Example:
    ```python
    embedding = keras_vim.layers.PositionEmbedding2D(32, 64, 1)
    embedding(np.zeros((2, 1025, 64)))  # (2, 1025, 64)
    ```
    """

    def __init__(
        self,
        grid_size,
        hidden_dim,
        num_prefix_positions=1,
        initializer=keras.initializers.RandomNormal(stddev=0.02),
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.grid_size = int(grid_size)
        self.hidden_dim = int(hidden_dim)
        self.num_prefix_positions = int(num_prefix_positions)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape=None):
        shape = lambda n: (n, self.hidden_dim)  # noqa: E731
        self.row_embeddings = self.add_weight(
            shape=shape(self.grid_size),
            initializer=self.initializer,
            name="rows",
        )
        self.column_embeddings = self.add_weight(
            shape=shape(self.grid_size),
            initializer=self.initializer,
            name="columns",
        )
        self.prefix_embeddings = self.add_weight(
            shape=shape(max(self.num_prefix_positions, 1)),
            initializer=self.initializer,
            name="prefix",
        )

    def call(self, inputs, start_index=0):
        length = ops.shape(inputs)[1]
        positions = ops.arange(length, dtype="int32") + ops.cast(
            start_index, "int32"
        )
        image_index = ops.maximum(positions - self.num_prefix_positions, 0)
        rows = ops.take(
            self.row_embeddings, image_index // self.grid_size, axis=0
        )
        columns = ops.take(
            self.column_embeddings, image_index % self.grid_size, axis=0
        )
        prefix = ops.take(
            self.prefix_embeddings,
            ops.clip(positions, 0, max(self.num_prefix_positions - 1, 0)),
            axis=0,
        )
        is_prefix = ops.expand_dims(positions < self.num_prefix_positions, -1)
        embeddings = ops.where(is_prefix, prefix, rows + columns)
        return ops.broadcast_to(
            ops.cast(embeddings, self.compute_dtype), ops.shape(inputs)
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_output_spec(self, inputs, start_index=0):
        # Defined on the spec, not the shape: Keras only derives shapes from
        # backend tensors, so `compute_output_shape` would see `None` for a
        # numpy `inputs` (keras-hub's precision test passes numpy).
        return keras.KerasTensor(inputs.shape, self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "grid_size": self.grid_size,
                "hidden_dim": self.hidden_dim,
                "num_prefix_positions": self.num_prefix_positions,
                "initializer": keras.initializers.serialize(self.initializer),
            }
        )
        return config
