import keras
import numpy as np
from keras import ops

from keras_vim.layers.vit_trunk import ViTTrunkMixin

# DALL-E's logit-Laplace squashes pixels into (eps, 1 - eps) so that their
# logit stays finite.
LOGIT_LAPLACE_EPSILON = 0.1


def map_pixels(x, epsilon=LOGIT_LAPLACE_EPSILON):
    """[0, 1] -> [eps, 1 - eps], the support of the logit-Laplace density."""
    return epsilon + (1.0 - 2.0 * epsilon) * x


def unmap_pixels(x, epsilon=LOGIT_LAPLACE_EPSILON):
    """Inverse of `map_pixels`."""
    return (x - epsilon) / (1.0 - 2.0 * epsilon)


@keras.saving.register_keras_serializable(package="keras_vim")
class ViTVQGANDecoder(ViTTrunkMixin, keras.layers.Layer):
    """ViT decoder of ViT-VQGAN: one vector per patch -> image statistics.

    The mirror of `ViTVQGANEncoder`: learned position embedding, pre-LN
    Transformer blocks, LayerNorm, a tanh feed-forward head, then a linear
    map of each token to `patch_size x patch_size x 2 * num_channels` values
    regrouped into the image: per pixel a location and a log-scale, the
    parameters of the logit-Laplace likelihood.

    With `overlapping_patches=True` each token's linear map paints a window
    of twice the patch size centred on its patch instead, and neighbouring
    windows are blended with tent weights that sum to one (lapped windows,
    as block codecs use against blocking): no pixel is drawn by one token
    alone, so the token grid has no hard edges.

    With `deblocking_strength > 0` the two pixels on either side of every
    token boundary then move that fraction of their difference towards each
    other (the deblocking filter of block codecs, fixed, with no weights).
    An L2-trained decoder guesses each token's border pixels from that token
    mostly, so their errors are independent across a boundary and the steps
    there come out larger than inside tokens; the filter evens them out at
    no measurable cost in PSNR.

    With `output_activation="sigmoid"` the location lives in logit space and
    the reconstruction is the density's mean, `unmap(sigmoid(location))`.
    With `"raw"` the first channels are the reconstruction itself (clipped to
    [0, 1] on decode), which the paper uses to remove saturated-pixel
    artifacts; the location is then derived from it.

    Args:
        image_size: int. Height and width of the output image.
        patch_size: int. Height and width of a patch.
        num_layers: int. Number of Transformer blocks.
        num_heads: int. Attention heads per block.
        hidden_dim: int. Model dimension.
        intermediate_dim: int. Hidden size of the MLPs and the tanh head.
        num_channels: int. Image channels.
        output_activation: `"sigmoid"` or `"raw"`.
        overlapping_patches: bool. Paint `2 * patch_size` windows blended
            with their neighbours' (not in the paper; `False` is its linear
            map to each patch). Needs an even `patch_size`.
        deblocking_strength: float in `[0, 0.5)`. How far pixels across a
            token boundary move towards each other; `0` (the paper) is off.
        dropout: float. Dropout inside the blocks.
        layer_norm_epsilon: float.
        remat_blocks: bool. Recompute each block in the backward pass
            instead of keeping its activations (needs `dropout=0`).

    Call returns `(reconstruction, location, log_scale)`, each
    `(batch, image_size, image_size, num_channels)` float32.

    Example:
    ```python
    decoder = ViTVQGANDecoder(32, 8, num_layers=2, num_heads=2,
                              hidden_dim=16, intermediate_dim=32)
    images, location, log_scale = decoder(np.zeros((1, 16, 16)))
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
        output_activation="sigmoid",
        overlapping_patches=False,
        deblocking_strength=0.0,
        dropout=0.0,
        layer_norm_epsilon=1e-6,
        remat_blocks=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if output_activation not in ("sigmoid", "raw"):
            raise ValueError(
                "`output_activation` must be 'sigmoid' or 'raw'. "
                f"Received: output_activation={output_activation!r}"
            )
        if overlapping_patches and patch_size % 2:
            raise ValueError(
                "`overlapping_patches=True` needs an even `patch_size`. "
                f"Received: patch_size={patch_size}"
            )
        if not 0.0 <= deblocking_strength < 0.5:
            raise ValueError(
                "`deblocking_strength` must be in [0, 0.5). "
                f"Received: deblocking_strength={deblocking_strength!r}"
            )
        self.image_size = int(image_size)
        self.patch_size = int(patch_size)
        self.num_layers = int(num_layers)
        self.num_heads = int(num_heads)
        self.hidden_dim = int(hidden_dim)
        self.intermediate_dim = int(intermediate_dim)
        self.num_channels = int(num_channels)
        self.output_activation = output_activation
        self.overlapping_patches = bool(overlapping_patches)
        self.deblocking_strength = float(deblocking_strength)
        self.dropout = float(dropout)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self._check_remat_blocks(remat_blocks)
        self.grid_size = self.image_size // self.patch_size
        self.num_patches = self.grid_size**2
        self._create_trunk("decoder_block")
        # Pixel statistics stay float32: they feed the likelihood. A policy
        # map (how a quantized model's config stores its dtypes) still
        # decides per layer, or a quantized decoder could not be reloaded.
        pixel_dtype = "float32"
        if isinstance(self.dtype_policy, keras.dtype_policies.DTypePolicyMap):
            pixel_dtype = self.dtype_policy
        window = self.patch_size * (2 if self.overlapping_patches else 1)
        self.pixel_projection = keras.layers.Dense(
            window**2 * self.num_channels * 2,
            dtype=pixel_dtype,
            name="pixel_projection",
        )

    def build(self, input_shape):
        self._build_trunk()
        token_shape = (None, self.num_patches, self.hidden_dim)
        self.pixel_projection.build(token_shape)

    def call(self, tokens, training=False):
        x = self._call_trunk(tokens, training=training)
        stats = self.pixel_projection(ops.cast(x, "float32"))
        stats = self._patches_to_image(ops.cast(stats, "float32"))
        if self.deblocking_strength:
            stats = self._deblock(stats)
        values, log_scale = ops.split(stats, 2, axis=-1)
        if self.output_activation == "sigmoid":
            location = values
            reconstruction = unmap_pixels(ops.sigmoid(location))
        else:
            reconstruction = values
            location = logit(map_pixels(ops.clip(reconstruction, 0.0, 1.0)))
        return reconstruction, location, log_scale

    def _patches_to_image(self, patches):
        if self.overlapping_patches:
            return self._windows_to_image(patches)
        p, g = self.patch_size, self.grid_size
        channels = 2 * self.num_channels
        x = ops.reshape(patches, (-1, g, g, p, p, channels))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, g * p, g * p, channels))

    def _windows_to_image(self, windows):
        """Blends `2p x 2p` windows centred on their `p x p` patches.

        Each window is weighted by a tent that is highest at its centre and
        fades towards its edges; tents of neighbouring tokens sum to one
        (they are renormalised at the image border). Where neighbours paint
        the same colour the blend is that colour, with no seam: the lapped
        windows of block codecs, not a grid of patches.
        """
        p, g = self.patch_size, self.grid_size
        ramp = np.arange(2 * p) + 0.5
        tent = np.minimum(ramp, 2 * p - ramp) / p
        tent = (tent[:, None] * tent[None, :])[..., None].astype("float32")
        x = ops.reshape(
            windows, (-1, g, g, 2 * p, 2 * p, 2 * self.num_channels)
        )
        weights = ops.convert_to_tensor(
            np.broadcast_to(tent, (1, g, g) + tent.shape)
        )
        tent = ops.convert_to_tensor(tent)
        return self._overlap_add(x * tent) / self._overlap_add(weights)

    def _overlap_add(self, windows):
        """Sums `(batch, g, g, 2p, 2p, c)` windows at stride `p`, cropping
        `p / 2` on each side.

        Quadrant `(a, b)` of token `(i, j)`'s window lands on cell
        `(i + a, j + b)` of a grid one cell larger than the token grid.
        """
        p, g = self.patch_size, self.grid_size
        channels = windows.shape[-1]
        x = ops.reshape(windows, (-1, g, g, 2, p, 2, p, channels))
        total = 0.0
        for a in (0, 1):
            for b in (0, 1):
                quadrant = x[:, :, :, a, :, b]
                pad = [[0, 0], [a, 1 - a], [b, 1 - b], [0, 0], [0, 0], [0, 0]]
                total = total + ops.pad(quadrant, pad)
        total = ops.transpose(total, (0, 1, 3, 2, 4, 5))
        canvas = ops.reshape(total, (-1, (g + 1) * p, (g + 1) * p, channels))
        h = p // 2
        return canvas[:, h : h + g * p, h : h + g * p]

    def _deblock(self, image):
        """Moves pixels across token boundaries towards each other, rows
        first, then columns."""
        p, n = self.patch_size, self.image_size
        # 1 where a difference spans a token boundary (pixels kp-1 and kp).
        at_boundary = (np.arange(1, n) % p == 0).astype("float32")
        for axis in (1, 2):
            shape = [1, 1, 1, 1]
            shape[axis] = n - 1
            mask = ops.convert_to_tensor(at_boundary.reshape(shape))
            step = ops.diff(image, axis=axis) * mask
            after, before = [[0, 0]] * 4, [[0, 0]] * 4
            after[axis], before[axis] = [0, 1], [1, 0]
            pull, push = ops.pad(step, after), ops.pad(step, before)
            image = image + self.deblocking_strength * (pull - push)
        return image

    def compute_output_spec(self, tokens, training=False):
        shape = (
            tokens.shape[0],
            self.image_size,
            self.image_size,
            self.num_channels,
        )
        return tuple(keras.KerasTensor(shape, "float32") for _ in range(3))

    def get_config(self):
        config = super().get_config()
        config.update(self._trunk_config())
        config["output_activation"] = self.output_activation
        config["overlapping_patches"] = self.overlapping_patches
        config["deblocking_strength"] = self.deblocking_strength
        return config


def logit(x):
    return ops.log(x) - ops.log1p(-x)
