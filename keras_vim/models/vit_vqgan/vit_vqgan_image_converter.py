import keras
from keras import ops
from keras_hub.layers import ImageConverter

from keras_vim.models.vit_vqgan.vit_vqgan_backbone import ViTVQGANBackbone
from keras_vim.utils.preset_utils import load_preset


@keras.saving.register_keras_serializable(package="keras_vim")
class ViTVQGANImageConverter(ImageConverter):
    """Image converter for ViT-VQGAN: uint8 or float images -> float [0, 1].

    Integer images are taken as [0, 255] and divided by 255; float images
    must already be in [0, 1]. Images are then resized to `image_size` (the
    backbone's input size) with keras-hub's `ImageConverter`.

    Args:
        image_size: `(height, width)` of the model input.
        interpolation: string. Resize interpolation.
        antialias: bool. Antialias when downsampling.

    Example:
    ```python
    converter = keras_vim.ViTVQGANImageConverter(image_size=(64, 64))
    converter(np.zeros((2, 128, 128, 3), "uint8")).shape  # (2, 64, 64, 3)
    ```
    """

    backbone_cls = ViTVQGANBackbone

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """keras-hub's `from_preset`, with `load_preset`'s checks."""
        return load_preset(super().from_preset, preset, **kwargs)

    def __init__(
        self,
        image_size=None,
        interpolation="bilinear",
        antialias=True,
        **kwargs,
    ):
        kwargs.pop("scale", None)
        kwargs.pop("offset", None)
        kwargs.setdefault("name", "vit_vqgan_image_converter")
        super().__init__(
            image_size=image_size,
            interpolation=interpolation,
            antialias=antialias,
            **kwargs,
        )

    def call(self, inputs):
        dtype = keras.backend.standardize_dtype(inputs.dtype)
        if "int" in dtype or dtype == "bool":
            if self._use_tf_workflow():
                import tensorflow as tf

                inputs = tf.cast(inputs, "float32") / 255.0
            else:
                inputs = ops.cast(inputs, "float32") / 255.0
        return super().call(inputs)

    def get_config(self):
        config = super().get_config()
        config.pop("scale", None)
        config.pop("offset", None)
        return config
