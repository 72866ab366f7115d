import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_vim")
class ViTVQGANDiscriminator(keras.layers.Layer):
    """StyleGAN2-style residual discriminator used for the ViT-VQGAN GAN loss.

    As in Karras et al., "Analyzing and Improving the Image Quality of
    StyleGAN" (2020): a 1x1 "from RGB" convolution, residual blocks that
    halve the resolution, a minibatch standard-deviation feature, a last 3x3
    convolution and two dense layers down to one logit per image. A block's
    main path is a 3x3 convolution at its input resolution, then a 3x3
    convolution of the halved maps, each followed by leaky ReLU; its skip
    path is a 1x1 convolution of the halved input; their sum is scaled by
    1/sqrt(2). As in StyleGAN2, whose second convolution is strided and
    whose skip path downsamples first, one convolution a block runs at
    full resolution. Halving is a 2x2 average pool (StyleGAN2 blurs with a
    4-tap filter, then strides). On torch the convolutions run
    channels-first (same weights, same logits).

    Args:
        image_size: int. Input height and width (a power of two >= 8).
        base_filters: int. Filters at full resolution; doubled at every
            halving up to `max_filters`.
        max_filters: int.
        num_channels: int. Image channels.

    Example:
    ```python
    discriminator = ViTVQGANDiscriminator(32, base_filters=8)
    logits = discriminator(np.zeros((2, 32, 32, 3)))  # (2,)
    ```
    """

    def __init__(
        self,
        image_size,
        base_filters=64,
        max_filters=512,
        num_channels=3,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_size = int(image_size)
        self.base_filters = int(base_filters)
        self.max_filters = int(max_filters)
        self.num_channels = int(num_channels)
        num_blocks = max(int(math.log2(self.image_size)) - 2, 1)
        filters = [
            min(self.base_filters * 2**i, self.max_filters)
            for i in range(num_blocks + 1)
        ]
        # Keras' torch convolutions and pooling transpose channels-last maps
        # to channels-first and back around each call (16% of the memory a
        # torch training step keeps); there the maps stay channels-first.
        self._channels_first = keras.config.backend() == "torch"
        conv = lambda f, k, name: keras.layers.Conv2D(  # noqa: E731
            f,
            k,
            padding="same",
            data_format=self._data_format,
            dtype=self.dtype_policy,
            name=name,
        )
        self.from_rgb = conv(filters[0], 1, "from_rgb")
        self.blocks = []
        for i in range(num_blocks):
            self.blocks.append(
                (
                    conv(filters[i], 3, f"block_{i}_conv_0"),
                    conv(filters[i + 1], 3, f"block_{i}_conv_1"),
                    conv(filters[i + 1], 1, f"block_{i}_skip"),
                )
            )
        self.final_conv = conv(filters[-1], 3, "final_conv")
        self.final_dense = keras.layers.Dense(
            filters[-1], dtype=self.dtype_policy, name="final_dense"
        )
        self.output_dense = keras.layers.Dense(
            1, dtype="float32", name="output_dense"
        )

    @property
    def _data_format(self):
        return "channels_first" if self._channels_first else "channels_last"

    def _maps_shape(self, size, channels):
        if self._channels_first:
            return (None, channels, size, size)
        return (None, size, size, channels)

    def build(self, input_shape):
        size, channels = self.image_size, self.num_channels
        shape = self._maps_shape
        self.from_rgb.build(shape(size, channels))
        channels = self.from_rgb.filters
        for conv_0, conv_1, skip in self.blocks:
            conv_0.build(shape(size, channels))
            size //= 2
            conv_1.build(shape(size, conv_0.filters))
            skip.build(shape(size, channels))
            channels = conv_1.filters
        self.final_conv.build(shape(size, channels + 1))
        self.final_dense.build((None, size * size * channels))
        self.output_dense.build((None, channels))

    def call(self, images):
        x = ops.cast(images, self.compute_dtype) * 2.0 - 1.0
        if self._channels_first:
            x = ops.transpose(x, (0, 3, 1, 2))
        downsample = lambda x: ops.average_pool(  # noqa: E731
            x, 2, strides=2, padding="valid", data_format=self._data_format
        )
        x = ops.leaky_relu(self.from_rgb(x), 0.2)
        for conv_0, conv_1, skip in self.blocks:
            # Convolving the halved maps costs a quarter of convolving and
            # then halving (half of the discriminator's FLOPs).
            shortcut = skip(downsample(x))
            x = ops.leaky_relu(conv_0(x), 0.2)
            x = ops.leaky_relu(conv_1(downsample(x)), 0.2)
            x = (x + shortcut) * (1.0 / math.sqrt(2.0))
        axis = 1 if self._channels_first else -1
        x = ops.concatenate([x, _minibatch_stddev(x, axis)], axis=axis)
        x = ops.leaky_relu(self.final_conv(x), 0.2)
        if self._channels_first:
            # `final_dense` reads the maps in channels-last order.
            x = ops.transpose(x, (0, 2, 3, 1))
        x = ops.reshape(x, (ops.shape(x)[0], -1))
        x = ops.leaky_relu(self.final_dense(x), 0.2)
        return ops.squeeze(self.output_dense(x), axis=-1)

    def frozen_call(self, images):
        """Logits whose gradient reaches only `images`, not the weights
        (the generator's adversarial term)."""
        trainable = [
            ops.stop_gradient(v.value) for v in self.trainable_variables
        ]
        non_trainable = [v.value for v in self.non_trainable_variables]
        logits, _ = self.stateless_call(trainable, non_trainable, images)
        return logits

    def compute_output_shape(self, input_shape):
        return (input_shape[0],)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_size": self.image_size,
                "base_filters": self.base_filters,
                "max_filters": self.max_filters,
                "num_channels": self.num_channels,
            }
        )
        return config


def _minibatch_stddev(x, axis):
    """One feature map on the channel `axis`: the mean over features of the
    batch std (StyleGAN)."""
    x32 = ops.cast(x, "float32")
    std = ops.sqrt(ops.var(x32, axis=0) + 1e-8)
    ones = ops.ones_like(x32[:, :1] if axis == 1 else x32[..., :1])
    return ops.cast(ones * ops.mean(std), x.dtype)
