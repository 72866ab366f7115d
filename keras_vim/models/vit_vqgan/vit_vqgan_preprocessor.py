import keras
from keras_hub.models import Preprocessor

from keras_vim.models.vit_vqgan.vit_vqgan_backbone import ViTVQGANBackbone
from keras_vim.models.vit_vqgan.vit_vqgan_image_converter import (
    ViTVQGANImageConverter,
)
from keras_vim.utils.preset_utils import load_preset


@keras.saving.register_keras_serializable(package="keras_vim")
class ViTVQGANPreprocessor(Preprocessor):
    """Preprocessor for `keras_vim.ViTVQGAN`: images in, model images out.

    Runs the image converter on `x` (uint8 [0, 255] or float [0, 1], any
    size) and passes `y` and `sample_weight` through. An autoencoder needs no
    labels: `fit(images)` is enough.

    Args:
        image_converter: a `keras_vim.ViTVQGANImageConverter`.

    Example:
    ```python
    preprocessor = keras_vim.ViTVQGANPreprocessor.from_preset(
        "vit_vqgan_photos_64"
    )
    images = preprocessor(np.zeros((1, 200, 300, 3), "uint8"))
    ```
    """

    backbone_cls = ViTVQGANBackbone
    image_converter_cls = ViTVQGANImageConverter

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """keras-hub's `from_preset`, with `load_preset`'s checks."""
        return load_preset(super().from_preset, preset, **kwargs)

    def __init__(self, image_converter=None, **kwargs):
        kwargs.setdefault("name", "vit_vqgan_preprocessor")
        super().__init__(**kwargs)
        self.image_converter = image_converter

    def call(self, x, y=None, sample_weight=None):
        if self.image_converter is not None:
            x = self.image_converter(x)
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)
