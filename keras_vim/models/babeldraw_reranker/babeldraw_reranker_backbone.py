import keras
from keras import ops
from keras_hub.layers import PositionEmbedding
from keras_hub.layers import TransformerEncoder
from keras_hub.models import Backbone

from keras_vim.layers.contrastive_logits import ContrastiveLogits
from keras_vim.utils.layout_maps import new_layout_map
from keras_vim.utils.layout_maps import shard_transformer_blocks
from keras_vim.utils.preset_utils import load_preset


def _normal():
    return keras.initializers.RandomNormal(stddev=0.02)


@keras.saving.register_keras_serializable(package="keras_vim")
class BabeldrawRerankerBackbone(Backbone):
    """A dual encoder that scores how well an image token grid fits a prompt.

    The seed reranks Babeldraw's sampled candidates with an image-text
    contrastive model (CoCa in Parti). Here both towers are pre-LN
    Transformer encoders: one over the Babeldraw `Tokenizer`'s text ids
    (with its padding mask), one over the ViT-VQGAN's image token ids in
    raster order. Each is mean-pooled (text over its unpadded tokens),
    projected to `embedding_dim` and L2-normalised, so the dot product of
    the two outputs is their cosine similarity. The learned temperature of
    the contrastive loss lives here too (`ContrastiveLogits`, as keras-hub's
    CLIP keeps its logit scale in the backbone).

    Inputs: `"text_token_ids"` `(batch, text_length)`, `"text_padding_mask"`
    `(batch, text_length)` bool and `"image_token_ids"`
    `(batch, grid_size**2)`. Outputs: `"text_embedding"` and
    `"image_embedding"`, each `(batch, embedding_dim)`, unit norm,
    and `"logits"` `(batch, batch)`: every prompt against every image,
    scaled by the learned inverse temperature.

    Args:
        text_vocabulary_size: int. The text tokenizer's vocabulary.
        image_vocabulary_size: int. Image codes (the tokenizer's codebook).
        grid_size: int. Image tokens per side.
        num_layers: int. Transformer blocks in each tower.
        num_heads: int. Attention heads.
        hidden_dim: int. Width of both towers.
        intermediate_dim: int. Feed-forward width.
        embedding_dim: int. Width of the shared embedding space.
        max_text_length: int. Longest prompt, in tokens.
        dropout: float.
        layer_norm_epsilon: float.
        dtype: dtype policy of the layers.

    Example:
    ```python
    backbone = keras_vim.BabeldrawRerankerBackbone(
        text_vocabulary_size=80, image_vocabulary_size=256, grid_size=8,
        num_layers=2, num_heads=4, hidden_dim=128, intermediate_dim=256,
        embedding_dim=64, max_text_length=32,
    )
    out = backbone({
        "text_token_ids": np.ones((2, 32), "int32"),
        "text_padding_mask": np.ones((2, 32), bool),
        "image_token_ids": np.zeros((2, 64), "int32"),
    })
    out["text_embedding"].shape  # (2, 64)
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
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        embedding_dim,
        max_text_length=128,
        dropout=0.0,
        layer_norm_epsilon=1e-6,
        dtype=None,
        **kwargs,
    ):
        kwargs.setdefault("name", "babeldraw_reranker_backbone")

        def tower(prefix, vocabulary_size, length):
            return {
                "embedding": keras.layers.Embedding(
                    vocabulary_size,
                    hidden_dim,
                    embeddings_initializer=_normal(),
                    dtype=dtype,
                    name=f"{prefix}_embedding",
                ),
                "position": PositionEmbedding(
                    length,
                    initializer=_normal(),
                    dtype=dtype,
                    name=f"{prefix}_position_embedding",
                ),
                "blocks": [
                    TransformerEncoder(
                        intermediate_dim=intermediate_dim,
                        num_heads=num_heads,
                        dropout=dropout,
                        activation="gelu",
                        layer_norm_epsilon=layer_norm_epsilon,
                        normalize_first=True,
                        dtype=dtype,
                        name=f"{prefix}_layer_{i}",
                    )
                    for i in range(num_layers)
                ],
                "layer_norm": keras.layers.LayerNormalization(
                    epsilon=layer_norm_epsilon,
                    dtype=dtype,
                    name=f"{prefix}_layer_norm",
                ),
                "projection": keras.layers.Dense(
                    embedding_dim,
                    use_bias=False,
                    kernel_initializer=_normal(),
                    dtype=dtype,
                    name=f"{prefix}_projection",
                ),
            }

        # === Layers ===
        self.text_tower = tower("text", text_vocabulary_size, max_text_length)
        self.image_tower = tower("image", image_vocabulary_size, grid_size**2)
        self.contrastive_logits = ContrastiveLogits(
            dtype=dtype, name="contrastive_logits"
        )

        # === Functional model ===
        text_ids = keras.Input((None,), dtype="int32", name="text_token_ids")
        padding_mask = keras.Input(
            (None,), dtype="bool", name="text_padding_mask"
        )
        image_ids = keras.Input((None,), dtype="int32", name="image_token_ids")
        text = _embed(self.text_tower, text_ids, padding_mask)
        image = _embed(self.image_tower, image_ids, None)
        super().__init__(
            inputs={
                "text_token_ids": text_ids,
                "text_padding_mask": padding_mask,
                "image_token_ids": image_ids,
            },
            outputs={
                "text_embedding": text,
                "image_embedding": image,
                "logits": self.contrastive_logits([text, image]),
            },
            dtype=dtype,
            **kwargs,
        )

        # === Config ===
        self.text_vocabulary_size = text_vocabulary_size
        self.image_vocabulary_size = image_vocabulary_size
        self.grid_size = grid_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.embedding_dim = embedding_dim
        self.max_text_length = max_text_length
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon

    def text_embeddings(self, token_ids, padding_mask):
        """Unit-norm prompt embeddings `(batch, embedding_dim)`."""
        return _embed(self.text_tower, token_ids, padding_mask)

    def image_embeddings(self, image_ids):
        """Unit-norm image embeddings `(batch, embedding_dim)`."""
        return _embed(self.image_tower, image_ids, None)

    @staticmethod
    def get_layout_map(
        device_mesh,
        model_parallel_dim_name="model",
        data_parallel_dim_name="batch",
    ):
        """A `keras.distribution.LayoutMap` for model-parallel training.

        Attention projections split on their heads axis, feed-forward
        weights on their hidden axis, the token tables and the output
        projections on the model axis.

        Args:
            device_mesh: a `keras.distribution.DeviceMesh`.
            model_parallel_dim_name: mesh axis the weights are split on.
            data_parallel_dim_name: mesh axis the batch is split on.
        """
        model, data = model_parallel_dim_name, data_parallel_dim_name
        layout_map = new_layout_map(device_mesh, model, data)
        layout_map[r"(text|image)_embedding/embeddings"] = (model, data)
        layout_map[r"(text|image)_projection/kernel"] = (model, data)
        shard_transformer_blocks(
            layout_map,
            r"(text|image)_layer_\d+/",
            "self_attention_layer",
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
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "hidden_dim": self.hidden_dim,
                "intermediate_dim": self.intermediate_dim,
                "embedding_dim": self.embedding_dim,
                "max_text_length": self.max_text_length,
                "dropout": self.dropout,
                "layer_norm_epsilon": self.layer_norm_epsilon,
            }
        )
        return config


def _embed(tower, token_ids, padding_mask):
    """One tower: unit-norm pooled embedding of `token_ids`."""
    x = tower["embedding"](token_ids)
    x = x + tower["position"](x)
    for block in tower["blocks"]:
        x = block(x, padding_mask=padding_mask)
    x = tower["layer_norm"](x)
    if padding_mask is None:
        pooled = ops.mean(x, axis=1)
    else:
        weights = ops.cast(padding_mask, x.dtype)[:, :, None]
        pooled = ops.sum(x * weights, axis=1) / ops.maximum(
            ops.sum(weights, axis=1), 1.0
        )
    x = tower["projection"](pooled)
    # By hand: `ops.normalize`'s symbolic output is float32 whatever the
    # policy.
    return x * ops.rsqrt(
        ops.maximum(ops.sum(ops.square(x), axis=-1, keepdims=True), 1e-6)
    )
