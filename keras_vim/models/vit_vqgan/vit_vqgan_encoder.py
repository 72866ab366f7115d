import keras
from keras import ops

from keras_vim.layers.vit_trunk import ViTTrunkMixin


@keras.saving.register_keras_serializable(package="keras_vim")
class ViTVQGANEncoder(ViTTrunkMixin, keras.layers.Layer):
    """ViT encoder of ViT-VQGAN: image -> one vector per patch.

    Splits the image into non-overlapping `patch_size` patches, embeds each
    linearly, adds a learned position embedding and runs pre-LN Transformer
    blocks (Yu et al., 2021, section 3.1). After the blocks a LayerNorm and a
    two-layer feed-forward network with tanh in the middle; no activation at
    the output.

    Args:
        image_size: int. Height and width of the (square) input image.
        patch_size: int. Height and width of a patch.
        num_layers: int. Number of Transformer blocks.
        num_heads: int. Attention heads per block.
        hidden_dim: int. Model dimension.
        intermediate_dim: int. Hidden size of the block MLPs and of the tanh
            feed-forward head.
        num_channels: int. Image channels.
        dropout: float. Dropout inside the blocks (0 in the paper's stage 1).
        layer_norm_epsilon: float.
        remat_blocks: bool. Recompute each block in the backward pass
            instead of keeping its activations (needs `dropout=0`).

    Example:
    ```python
    encoder = ViTVQGANEncoder(32, 8, num_layers=2, num_heads=2,
                              hidden_dim=16, intermediate_dim=32)
    tokens = encoder(np.zeros((1, 32, 32, 3)))  # (1, 16, 16)
    ```
    """

    def __init__(
        self,
        image_size,
        patch_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        num_channels=3,
        dropout=0.0,
        layer_norm_epsilon=1e-6,
        remat_blocks=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_size = int(image_size)
        self.patch_size = int(patch_size)
        self.num_layers = int(num_layers)
        self.num_heads = int(num_heads)
        self.hidden_dim = int(hidden_dim)
        self.intermediate_dim = int(intermediate_dim)
        self.num_channels = int(num_channels)
        self.dropout = float(dropout)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self._check_remat_blocks(remat_blocks)
        self.num_patches = (self.image_size // self.patch_size) ** 2
        self.patch_embedding = keras.layers.Conv2D(
            self.hidden_dim,
            self.patch_size,
            strides=self.patch_size,
            dtype=self.dtype_policy,
            name="patch_embedding",
        )
        self._create_trunk("encoder_block")

    def build(self, input_shape):
        self.patch_embedding.build(
            (None, self.image_size, self.image_size, self.num_channels)
        )
        self._build_trunk()

    def call(self, images, training=False):
        x = self.patch_embedding(images)
        x = ops.reshape(x, (-1, self.num_patches, self.hidden_dim))
        return self._call_trunk(x, training=training)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_patches, self.hidden_dim)

    def compute_output_spec(self, images, training=False):
        # Keras passes `compute_output_shape` no shape for numpy `images`
        # (a functional model's `compute_output_spec(numpy)` does that).
        return keras.KerasTensor(
            self.compute_output_shape(images.shape), self.compute_dtype
        )

    def get_config(self):
        config = super().get_config()
        config.update(self._trunk_config())
        return config
