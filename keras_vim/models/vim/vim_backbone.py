import keras
from keras import ops
from keras.layers import ReversibleEmbedding
from keras_hub.models import Backbone

from keras_vim.generation.direct_call import direct_call
from keras_vim.layers.position_embedding_2d import PositionEmbedding2D
from keras_vim.models.vim.vim_decoder_block import VIMDecoderBlock
from keras_vim.utils.layout_maps import new_layout_map
from keras_vim.utils.layout_maps import shard_transformer_blocks
from keras_vim.utils.preset_utils import load_preset


@keras.saving.register_keras_serializable(package="keras_vim")
class VIMBackbone(Backbone):
    """VIM: decoder-only Transformer over raster-order image tokens.

    Stage 2 of Yu et al., "Vector-quantized Image Modeling with Improved
    VQGAN" (2021). The sequence is one class token (its own embedding table;
    the id `num_classes` means "no class" and is also the start token of
    unconditional models) followed by the image's code ids. Token embedding
    plus an additive learned 2D position embedding, pre-LN causal
    Transformer blocks with dropout, and a final LayerNorm. Output `i` of the
    sequence predicts image token `i`.

    Inputs: `"token_ids"`, `(batch, length)` int, `length <= grid_size**2`;
    `"class_ids"`, `(batch,)` int in `[0, num_classes]`. Output: hidden
    states `(batch, length + 1, hidden_dim)`.

    Args:
        vocabulary_size: int. Number of image codes (the tokenizer's codebook).
        grid_size: int. Image tokens per side (32 for 256x256 / 8x8 patches).
        num_layers: int. Transformer blocks.
        num_heads: int. Attention heads.
        hidden_dim: int. Model dimension.
        intermediate_dim: int. MLP hidden size.
        num_classes: int. Classes for class-conditional models; `0` for
            unconditional.
        dropout: float. Dropout on attention probabilities, attention output
            and MLP output (0.1 in the paper).
        layer_norm_epsilon: float.
        dtype: string or `keras.mixed_precision.DTypePolicy`.

    Example:
    ```python
    backbone = keras_vim.VIMBackbone(
        vocabulary_size=512, grid_size=8, num_layers=2, num_heads=2,
        hidden_dim=32, intermediate_dim=64, num_classes=10,
    )
    hidden = backbone({"token_ids": np.zeros((2, 64), "int32"),
                       "class_ids": np.array([3, 10])})  # (2, 65, 32)
    ```
    """

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        return load_preset(super().from_preset, preset, load_weights, **kwargs)

    def __init__(
        self,
        vocabulary_size,
        grid_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        num_classes=0,
        dropout=0.1,
        layer_norm_epsilon=1e-6,
        dtype=None,
        **kwargs,
    ):
        kwargs.setdefault("name", "vim_backbone")
        # === Layers ===
        self.token_embedding = ReversibleEmbedding(
            vocabulary_size,
            hidden_dim,
            tie_weights=False,
            embeddings_initializer=keras.initializers.RandomNormal(stddev=0.02),
            # The output softmax's logits stay float32 under mixed precision.
            reverse_dtype="float32",
            dtype=dtype,
            name="token_embedding",
        )
        self.class_embedding = keras.layers.Embedding(
            num_classes + 1,
            hidden_dim,
            embeddings_initializer=keras.initializers.RandomNormal(stddev=0.02),
            dtype=dtype,
            name="class_embedding",
        )
        self.position_embedding = PositionEmbedding2D(
            grid_size, hidden_dim, 1, dtype=dtype, name="position_embedding"
        )
        self.embeddings_dropout = keras.layers.Dropout(
            dropout, dtype=dtype, name="embeddings_dropout"
        )
        self.transformer_layers = [
            VIMDecoderBlock(
                num_heads=num_heads,
                intermediate_dim=intermediate_dim,
                dropout=dropout,
                layer_norm_epsilon=layer_norm_epsilon,
                dtype=dtype,
                name=f"transformer_layer_{i}",
            )
            for i in range(num_layers)
        ]
        self.layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=dtype, name="layer_norm"
        )

        # === Functional model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        class_ids = keras.Input(shape=(), dtype="int32", name="class_ids")
        x = self.embed(token_ids, class_ids)
        x = self.embeddings_dropout(x)
        for layer in self.transformer_layers:
            x = layer(x)
        outputs = self.layer_norm(x)
        super().__init__(
            inputs={"token_ids": token_ids, "class_ids": class_ids},
            outputs=outputs,
            dtype=dtype,
            **kwargs,
        )

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.grid_size = grid_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.num_classes = num_classes
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon

    @property
    def sequence_length(self):
        """Image tokens per image."""
        return self.grid_size**2

    @property
    def no_class_id(self):
        """The id meaning "no class" (the start of unconditional models)."""
        return self.num_classes

    def embed(self, token_ids, class_ids):
        """Class token, then image tokens, plus 2D positions: `length + 1`."""
        classes = self.class_embedding(ops.expand_dims(class_ids, -1))
        x = ops.concatenate([classes, self.token_embedding(token_ids)], axis=1)
        return x + self.position_embedding(x)

    def embed_step(self, token_ids, position):
        """Embeds `(batch, 1)` ids at sequence `position` (cached decoding).

        Position 0 holds a class id, later positions image token ids; the
        position may be a traced scalar, so both lookups run and one is kept.
        Layers run through `direct_call`: this runs once per sampled token.
        """
        classes = direct_call(
            self.class_embedding, ops.clip(token_ids, 0, self.num_classes)
        )
        tokens = direct_call(
            self.token_embedding,
            ops.clip(token_ids, 0, self.vocabulary_size - 1),
        )
        x = ops.where(ops.equal(position, 0), classes, tokens)
        return x + direct_call(self.position_embedding, x, start_index=position)

    @staticmethod
    def get_layout_map(
        device_mesh,
        model_parallel_dim_name="model",
        data_parallel_dim_name="batch",
    ):
        """A `keras.distribution.LayoutMap` for model-parallel training.

        Attention projections are split on the heads axis, the MLP on its
        hidden axis, the token table (input and output softmax) on the
        vocabulary axis; everything else is replicated.

        Args:
            device_mesh: a `keras.distribution.DeviceMesh`.
            model_parallel_dim_name: mesh axis the weights are split on.
            data_parallel_dim_name: mesh axis the batch is split on.

        Example:
        ```python
        mesh = keras.distribution.DeviceMesh(
            (1, 8), ("batch", "model"), keras.distribution.list_devices()
        )
        layout_map = keras_vim.VIMBackbone.get_layout_map(mesh)
        distribution = keras.distribution.ModelParallel(
            layout_map=layout_map, batch_dim_name="batch"
        )
        with distribution.scope():
            vim = keras_vim.VIMTransformer.from_preset("vim_base")
        ```
        """
        model, data = model_parallel_dim_name, data_parallel_dim_name
        layout_map = new_layout_map(device_mesh, model, data)
        layout_map["token_embedding/embeddings"] = (model, data)
        layout_map["token_embedding/reverse_embeddings"] = (data, model)
        shard_transformer_blocks(
            layout_map, r"transformer_layer_\d+/", "self_attention", model, data
        )
        return layout_map

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "grid_size": self.grid_size,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "hidden_dim": self.hidden_dim,
                "intermediate_dim": self.intermediate_dim,
                "num_classes": self.num_classes,
                "dropout": self.dropout,
                "layer_norm_epsilon": self.layer_norm_epsilon,
            }
        )
        return config
