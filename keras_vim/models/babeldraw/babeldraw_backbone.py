import keras
from keras import ops
from keras.layers import ReversibleEmbedding
from keras_hub.layers import PositionEmbedding
from keras_hub.layers import TransformerEncoder
from keras_hub.models import Backbone

from keras_vim.generation.direct_call import direct_call
from keras_vim.layers.position_embedding_2d import PositionEmbedding2D
from keras_vim.models.vim.vim_decoder_block import VIMDecoderBlock
from keras_vim.utils.layout_maps import new_layout_map
from keras_vim.utils.layout_maps import shard_transformer_blocks
from keras_vim.utils.preset_utils import load_preset


def _normal():
    return keras.initializers.RandomNormal(stddev=0.02)


@keras.saving.register_keras_serializable(package="keras_vim")
class BabeldrawBackbone(Backbone):
    """Babeldraw: a text encoder and an image-token decoder (Parti).

    Stage 2c of the seed (published as Parti, Yu et al., 2022): a
    Transformer encoder over SentencePiece text tokens, and an
    autoregressive decoder over the raster-order codes of a ViT-VQGAN that
    cross-attends to the text. Both stacks are pre-LN with an extra
    LayerNorm at their output and dropout 0.1. The decoder sequence is a
    learned start token followed by the image tokens, with an additive
    learned 2D position embedding; output `i` predicts image token `i`.
    The image token table is tied with the output softmax.

    Inputs: `"encoder_token_ids"` `(batch, text_length)`,
    `"encoder_padding_mask"` `(batch, text_length)` bool, and
    `"decoder_token_ids"` `(batch, length)`, `length <= grid_size**2`.
    Output: decoder hidden states `(batch, length + 1, hidden_dim)`.

    Args:
        text_vocabulary_size: int. SentencePiece vocabulary size.
        image_vocabulary_size: int. Image codes (the tokenizer's codebook).
        grid_size: int. Image tokens per side (32 for 1024 tokens).
        num_encoder_layers: int.
        num_decoder_layers: int.
        num_heads: int.
        hidden_dim: int.
        intermediate_dim: int. MLP hidden size.
        max_text_length: int. Text positions (128 in the seed).
        dropout: float.
        layer_norm_epsilon: float.
        attention_window: int or `None`. `None` (the default): full causal
            self-attention in the decoder. An int `w`: the seed's
            conv-shaped sparse attention, where each image token sees the
            start token, the earlier tokens of its row and of the row
            above, and those within `w` columns of it in the `w` rows above
            that (`keras_vim.models.vim.vim_decoder_block.conv_attention_mask`).
            A masked pattern: it saves no compute here, it only restricts
            what the decoder may look at.
        dtype: string or `keras.mixed_precision.DTypePolicy`.

    Example:
    ```python
    backbone = keras_vim.BabeldrawBackbone(
        text_vocabulary_size=100, image_vocabulary_size=64, grid_size=4,
        num_encoder_layers=2, num_decoder_layers=2, num_heads=2,
        hidden_dim=32, intermediate_dim=64, max_text_length=16,
    )
    hidden = backbone({
        "encoder_token_ids": np.ones((1, 16), "int32"),
        "encoder_padding_mask": np.ones((1, 16), bool),
        "decoder_token_ids": np.zeros((1, 16), "int32"),
    })  # (1, 17, 32)
    ```
    """

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        return load_preset(super().from_preset, preset, load_weights, **kwargs)

    def __init__(
        self,
        text_vocabulary_size,
        image_vocabulary_size,
        grid_size,
        num_encoder_layers,
        num_decoder_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        max_text_length=128,
        dropout=0.1,
        layer_norm_epsilon=1e-6,
        attention_window=None,
        dtype=None,
        **kwargs,
    ):
        kwargs.setdefault("name", "babeldraw_backbone")
        # === Layers ===
        self.text_embedding = keras.layers.Embedding(
            text_vocabulary_size,
            hidden_dim,
            embeddings_initializer=_normal(),
            dtype=dtype,
            name="text_embedding",
        )
        self.text_position_embedding = PositionEmbedding(
            max_text_length,
            initializer=_normal(),
            dtype=dtype,
            name="text_position_embedding",
        )
        self.encoder_embeddings_dropout = keras.layers.Dropout(
            dropout, dtype=dtype, name="encoder_embeddings_dropout"
        )
        self.encoder_layers = [
            TransformerEncoder(
                intermediate_dim=intermediate_dim,
                num_heads=num_heads,
                dropout=dropout,
                activation="gelu",
                layer_norm_epsilon=layer_norm_epsilon,
                normalize_first=True,
                dtype=dtype,
                name=f"encoder_layer_{i}",
            )
            for i in range(num_encoder_layers)
        ]
        self.encoder_layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=dtype, name="encoder_layer_norm"
        )
        self.token_embedding = ReversibleEmbedding(
            image_vocabulary_size,
            hidden_dim,
            tie_weights=True,
            embeddings_initializer=_normal(),
            # The output softmax's logits stay float32 under mixed precision.
            reverse_dtype="float32",
            dtype=dtype,
            name="token_embedding",
        )
        self.start_embedding = keras.layers.Embedding(
            1,
            hidden_dim,
            embeddings_initializer=_normal(),
            dtype=dtype,
            name="start_embedding",
        )
        self.position_embedding = PositionEmbedding2D(
            grid_size, hidden_dim, 1, dtype=dtype, name="position_embedding"
        )
        self.decoder_embeddings_dropout = keras.layers.Dropout(
            dropout, dtype=dtype, name="decoder_embeddings_dropout"
        )
        self.decoder_layers = [
            VIMDecoderBlock(
                num_heads=num_heads,
                intermediate_dim=intermediate_dim,
                dropout=dropout,
                layer_norm_epsilon=layer_norm_epsilon,
                cross_attention=True,
                attention_window=attention_window,
                grid_size=grid_size,
                dtype=dtype,
                name=f"decoder_layer_{i}",
            )
            for i in range(num_decoder_layers)
        ]
        self.decoder_layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=dtype, name="decoder_layer_norm"
        )

        # === Functional model ===
        text_ids = keras.Input((None,), dtype="int32", name="encoder_token_ids")
        padding_mask = keras.Input(
            (None,), dtype="bool", name="encoder_padding_mask"
        )
        image_ids = keras.Input(
            (None,), dtype="int32", name="decoder_token_ids"
        )
        encoded = self.encode(text_ids, padding_mask)
        x = self.decoder_embeddings_dropout(self.embed(image_ids))
        for layer in self.decoder_layers:
            x = layer(
                x, encoder_sequence=encoded, encoder_padding_mask=padding_mask
            )
        outputs = self.decoder_layer_norm(x)
        super().__init__(
            inputs={
                "encoder_token_ids": text_ids,
                "encoder_padding_mask": padding_mask,
                "decoder_token_ids": image_ids,
            },
            outputs=outputs,
            dtype=dtype,
            **kwargs,
        )

        # === Config ===
        self.text_vocabulary_size = text_vocabulary_size
        self.image_vocabulary_size = image_vocabulary_size
        self.grid_size = grid_size
        self.num_encoder_layers = num_encoder_layers
        self.num_decoder_layers = num_decoder_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.max_text_length = max_text_length
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.attention_window = attention_window

    @property
    def sequence_length(self):
        """Image tokens per image."""
        return self.grid_size**2

    def encode(self, text_ids, padding_mask, training=None):
        """Text encoder output `(batch, text_length, hidden_dim)`."""
        x = self.text_embedding(text_ids)
        x = x + self.text_position_embedding(x)
        x = self.encoder_embeddings_dropout(x, training=training)
        for layer in self.encoder_layers:
            x = layer(x, padding_mask=padding_mask, training=training)
        return self.encoder_layer_norm(x)

    def load_text_encoder(self, source):
        """Warm-starts the text encoder from another Babeldraw's.

        Copies the text embeddings, text positions, encoder blocks and
        encoder LayerNorm of `source`; the image decoder is left as it is.
        Every shape is checked before anything is copied.

        Args:
            source: a `BabeldrawBackbone`, or a preset name or folder of one.

        Example:
        ```python
        backbone.load_text_encoder("my_babeldraw_preset")
        ```
        """
        if isinstance(source, str):
            source = BabeldrawBackbone.from_preset(source)
        if not isinstance(source, BabeldrawBackbone):
            raise ValueError(
                "`source` must be a `keras_vim.BabeldrawBackbone` or a preset "
                f"of one. Received: source={type(source).__name__}"
            )
        ours = self._text_encoder_weights()
        theirs = source._text_encoder_weights()
        mismatched = [
            f"{a.path} {tuple(a.shape)} vs {tuple(b.shape)}"
            for a, b in zip(ours, theirs)
            if tuple(a.shape) != tuple(b.shape)
        ]
        if len(ours) != len(theirs) or mismatched:
            raise ValueError(
                "The source's text encoder does not fit this one "
                f"({len(theirs)} vs {len(ours)} weights"
                + (f"; {', '.join(mismatched[:3])}" if mismatched else "")
                + "): it needs the same text vocabulary, width, blocks and "
                "maximum text length."
            )
        for a, b in zip(ours, theirs):
            a.assign(b)

    def _text_encoder_weights(self):
        layers = [
            self.text_embedding,
            self.text_position_embedding,
            *self.encoder_layers,
            self.encoder_layer_norm,
        ]
        return [w for layer in layers for w in layer.weights]

    def embed(self, image_ids):
        """Start token, then image tokens, plus 2D positions: `length + 1`."""
        start = self.start_embedding(ops.zeros_like(image_ids[:, :1]))
        x = ops.concatenate([start, self.token_embedding(image_ids)], axis=1)
        return x + self.position_embedding(x)

    def embed_step(self, token_ids, position):
        """Embeds `(batch, 1)` ids at decoder `position` (cached decoding).

        Position 0 is the start token whatever the id; the position may be
        a traced scalar, so both lookups run and one is kept.
        """
        start = direct_call(self.start_embedding, ops.zeros_like(token_ids))
        tokens = direct_call(
            self.token_embedding,
            ops.clip(token_ids, 0, self.image_vocabulary_size - 1),
        )
        x = ops.where(ops.equal(position, 0), start, tokens)
        return x + direct_call(self.position_embedding, x, start_index=position)

    @staticmethod
    def get_layout_map(
        device_mesh,
        model_parallel_dim_name="model",
        data_parallel_dim_name="batch",
    ):
        """A `keras.distribution.LayoutMap` for model-parallel training.

        As `VIMBackbone.get_layout_map`: attention on heads, MLPs on their
        hidden axis, the text and image tables on the model axis.

        Args:
            device_mesh: a `keras.distribution.DeviceMesh`.
            model_parallel_dim_name: mesh axis the weights are split on.
            data_parallel_dim_name: mesh axis the batch is split on.
        """
        model, data = model_parallel_dim_name, data_parallel_dim_name
        layout_map = new_layout_map(device_mesh, model, data)
        # The image softmax is tied to `token_embedding`.
        layout_map["(text|token)_embedding/embeddings"] = (model, data)
        shard_transformer_blocks(
            layout_map,
            r"encoder_layer_\d+/",
            "self_attention_layer",
            model,
            data,
        )
        shard_transformer_blocks(
            layout_map,
            r"decoder_layer_\d+/",
            "(self|cross)_attention",
            model,
            data,
        )
        return layout_map

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "text_vocabulary_size": self.text_vocabulary_size,
                "image_vocabulary_size": self.image_vocabulary_size,
                "grid_size": self.grid_size,
                "num_encoder_layers": self.num_encoder_layers,
                "num_decoder_layers": self.num_decoder_layers,
                "num_heads": self.num_heads,
                "hidden_dim": self.hidden_dim,
                "intermediate_dim": self.intermediate_dim,
                "max_text_length": self.max_text_length,
                "dropout": self.dropout,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "attention_window": self.attention_window,
            }
        )
        return config
