import keras
from keras import ops
from keras_hub.models import Backbone

from keras_vim.layers.vector_quantizer import VectorQuantizer
from keras_vim.models.vit_vqgan.vit_vqgan_decoder import ViTVQGANDecoder
from keras_vim.models.vit_vqgan.vit_vqgan_encoder import ViTVQGANEncoder
from keras_vim.utils.layout_maps import new_layout_map
from keras_vim.utils.layout_maps import shard_transformer_blocks
from keras_vim.utils.preset_utils import load_preset


@keras.saving.register_keras_serializable(package="keras_vim")
class ViTVQGANBackbone(Backbone):
    """ViT-VQGAN image tokenizer: ViT encoder, quantizer, ViT decoder.

    Stage 1 of "Vector-quantized Image Modeling with Improved VQGAN" (Yu et
    al., 2021). The encoder maps each `patch_size` patch of the image to a
    vector, the `VectorQuantizer` replaces it by the nearest of
    `codebook_size` factorized, l2-normalized codes, and the decoder maps the
    codes back to pixels. Encoder and decoder sizes are independent
    ("Small-Large" is a Small encoder with a Large decoder).

    The functional model takes images (float, `[0, 1]`,
    `(batch, image_size, image_size, num_channels)`) and returns a dict:
    `"reconstruction"`, `"location"` and `"log_scale"` (the decoder's
    logit-Laplace statistics, all image-shaped float32), `"token_ids"`
    (`(batch, num_patches)` int32) and `"quantizer_loss"` (`(batch,)`).

    Args:
        image_size: int. Height and width of the square input.
        patch_size: int. Patch height and width; one token per patch.
        encoder_num_layers, encoder_num_heads, encoder_hidden_dim,
        encoder_intermediate_dim: ints. Size of the encoder.
        decoder_num_layers, decoder_num_heads, decoder_hidden_dim,
        decoder_intermediate_dim: ints. Size of the decoder.
        codebook_size: int. Number of codes.
        lookup_dim: int. Dimension of the factorized lookup space.
        beta: float. Commitment loss weight.
        num_channels: int. Image channels.
        output_activation: `"sigmoid"` (mean of the logit-Laplace) or `"raw"`
            (values clipped to `[0, 1]`).
        overlapping_patches: bool. The decoder paints overlapping windows of
            twice the patch size (see `ViTVQGANDecoder`); `False` is the
            paper's one patch per token.
        deblocking_strength: float in `[0, 0.5)`. The decoder's deblocking
            filter across token boundaries (see `ViTVQGANDecoder`); `0`,
            the paper, is off.
        track_dead_codes: bool. Keep the statistics needed to restart dead
            codes during training (`keras_vim.callbacks.CodebookRestart`).
        remat_blocks: bool. In training, keep only each Transformer block's
            input and recompute the block in the backward pass. For
            `vit_vqgan_small` in float32: 7.4x less activation memory for
            12% more FLOPs per step (`benchmarks/vit_vqgan_memory.py`). On
            in the 256x256 presets; needs `dropout=0`.
        dtype: string or `keras.mixed_precision.DTypePolicy`. Quantizer
            distances, LayerNorms and pixel statistics stay float32.

    Example:
    ```python
    backbone = keras_vim.ViTVQGANBackbone(
        image_size=32, patch_size=8,
        encoder_num_layers=2, encoder_num_heads=2,
        encoder_hidden_dim=32, encoder_intermediate_dim=64,
        decoder_num_layers=2, decoder_num_heads=2,
        decoder_hidden_dim=32, decoder_intermediate_dim=64,
        codebook_size=64, lookup_dim=8,
    )
    outputs = backbone(np.random.uniform(size=(2, 32, 32, 3)))
    outputs["token_ids"].shape  # (2, 16)
    ```
    """

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        """keras-hub's `from_preset`, with `load_preset`'s checks."""
        return load_preset(super().from_preset, preset, load_weights, **kwargs)

    def __init__(
        self,
        image_size,
        patch_size,
        encoder_num_layers,
        encoder_num_heads,
        encoder_hidden_dim,
        encoder_intermediate_dim,
        decoder_num_layers,
        decoder_num_heads,
        decoder_hidden_dim,
        decoder_intermediate_dim,
        codebook_size=8192,
        lookup_dim=32,
        beta=0.25,
        num_channels=3,
        output_activation="sigmoid",
        overlapping_patches=False,
        deblocking_strength=0.0,
        track_dead_codes=False,
        remat_blocks=False,
        dtype=None,
        **kwargs,
    ):
        if image_size % patch_size:
            raise ValueError(
                "`image_size` must be divisible by `patch_size`. Received: "
                f"image_size={image_size}, patch_size={patch_size}"
            )
        # === Layers ===
        self.encoder = ViTVQGANEncoder(
            image_size,
            patch_size,
            encoder_num_layers,
            encoder_num_heads,
            encoder_hidden_dim,
            encoder_intermediate_dim,
            num_channels=num_channels,
            remat_blocks=remat_blocks,
            dtype=dtype,
            name="encoder",
        )
        self.quantizer = VectorQuantizer(
            codebook_size,
            decoder_hidden_dim,
            lookup_dim=lookup_dim,
            beta=beta,
            track_dead_codes=track_dead_codes,
            dtype=dtype,
            name="quantizer",
        )
        self.decoder = ViTVQGANDecoder(
            image_size,
            patch_size,
            decoder_num_layers,
            decoder_num_heads,
            decoder_hidden_dim,
            decoder_intermediate_dim,
            num_channels=num_channels,
            output_activation=output_activation,
            overlapping_patches=overlapping_patches,
            deblocking_strength=deblocking_strength,
            remat_blocks=remat_blocks,
            dtype=dtype,
            name="decoder",
        )

        # === Functional model ===
        images = keras.Input(
            shape=(image_size, image_size, num_channels), name="images"
        )
        encoded = self.encoder(images)
        quantized, token_ids, quantizer_loss = self.quantizer(encoded)
        reconstruction, location, log_scale = self.decoder(quantized)
        super().__init__(
            inputs=images,
            outputs={
                "reconstruction": reconstruction,
                "location": location,
                "log_scale": log_scale,
                "token_ids": token_ids,
                "quantizer_loss": quantizer_loss,
            },
            dtype=dtype,
            **kwargs,
        )

        # === Config ===
        self.image_size = image_size
        self.patch_size = patch_size
        self.encoder_num_layers = encoder_num_layers
        self.encoder_num_heads = encoder_num_heads
        self.encoder_hidden_dim = encoder_hidden_dim
        self.encoder_intermediate_dim = encoder_intermediate_dim
        self.decoder_num_layers = decoder_num_layers
        self.decoder_num_heads = decoder_num_heads
        self.decoder_hidden_dim = decoder_hidden_dim
        self.decoder_intermediate_dim = decoder_intermediate_dim
        self.codebook_size = codebook_size
        self.lookup_dim = lookup_dim
        self.beta = beta
        self.num_channels = num_channels
        self.output_activation = output_activation
        self.overlapping_patches = overlapping_patches
        self.deblocking_strength = deblocking_strength
        self.track_dead_codes = track_dead_codes
        self.remat_blocks = remat_blocks

    @property
    def grid_size(self):
        """Tokens per image side."""
        return self.image_size // self.patch_size

    def encode_to_ids(self, images):
        """`(batch, H, W, C)` float images -> `(batch, H/p * W/p)` int32."""
        encoded = self.encoder(images)
        return self.quantizer.nearest_code_ids(
            self.quantizer.project_down(encoded)
        )

    def decode_from_ids(self, token_ids):
        """`(batch, H/p * W/p)` ids -> `(batch, H, W, C)` images in [0, 1]."""
        reconstruction, _, _ = self.decoder(
            self.quantizer.lookup_codes(token_ids)
        )
        return ops.clip(reconstruction, 0.0, 1.0)

    @staticmethod
    def get_layout_map(
        device_mesh,
        model_parallel_dim_name="model",
        data_parallel_dim_name="batch",
    ):
        """A `keras.distribution.LayoutMap` for model-parallel training.

        Encoder and decoder blocks as `VIMBackbone.get_layout_map` (attention
        on heads, MLPs on their hidden axis), the two token-wise MLP heads on
        their hidden axis; the patch embedding, quantizer and pixel
        projection are small and stay replicated. Inside VIM and Babeldraw
        the frozen tokenizer is not in their maps: it runs data-parallel, as
        in the seed.

        Args:
            device_mesh: a `keras.distribution.DeviceMesh`.
            model_parallel_dim_name: mesh axis the weights are split on.
            data_parallel_dim_name: mesh axis the batch is split on.

        Example:
        ```python
        mesh = keras.distribution.DeviceMesh(
            (2, 4), ("batch", "model"), keras.distribution.list_devices()
        )
        layout_map = keras_vim.ViTVQGANBackbone.get_layout_map(mesh)
        distribution = keras.distribution.ModelParallel(
            layout_map=layout_map, batch_dim_name="batch"
        )
        with distribution.scope():
            tokenizer = keras_vim.ViTVQGAN.from_preset("vit_vqgan_base")
        ```
        """
        model, data = model_parallel_dim_name, data_parallel_dim_name
        layout_map = new_layout_map(device_mesh, model, data)
        shard_transformer_blocks(
            layout_map,
            r"(encoder/encoder|decoder/decoder)_block_\d+/",
            "self_attention_layer",
            model,
            data,
        )
        layout_map["(encoder|decoder)/head_hidden/kernel"] = (data, model)
        layout_map["(encoder|decoder)/head_output/kernel"] = (model, data)
        return layout_map

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_size": self.image_size,
                "patch_size": self.patch_size,
                "encoder_num_layers": self.encoder_num_layers,
                "encoder_num_heads": self.encoder_num_heads,
                "encoder_hidden_dim": self.encoder_hidden_dim,
                "encoder_intermediate_dim": self.encoder_intermediate_dim,
                "decoder_num_layers": self.decoder_num_layers,
                "decoder_num_heads": self.decoder_num_heads,
                "decoder_hidden_dim": self.decoder_hidden_dim,
                "decoder_intermediate_dim": self.decoder_intermediate_dim,
                "codebook_size": self.codebook_size,
                "lookup_dim": self.lookup_dim,
                "beta": self.beta,
                "num_channels": self.num_channels,
                "output_activation": self.output_activation,
                "overlapping_patches": self.overlapping_patches,
                "deblocking_strength": self.deblocking_strength,
                "track_dead_codes": self.track_dead_codes,
                "remat_blocks": self.remat_blocks,
            }
        )
        return config
