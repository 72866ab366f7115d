import numpy as np
import pytest
from keras import ops
from keras_hub.src.tests.test_case import TestCase

from keras_vim.models.vit_vqgan.vit_vqgan_backbone import ViTVQGANBackbone
from keras_vim.utils.preset_utils import architecture_only_configs

ARCHITECTURE_PRESETS = architecture_only_configs(ViTVQGANBackbone)

# The start of every output of the trained presets on `ramp_images`.
TRAINED_PRESET_OUTPUTS = {
    "vit_vqgan_digits_32": {
        "reconstruction": [0.0153, -0.0022, 0.0321, 0.0228, 0.0285],
        "location": [-2.0677, -2.2172, -1.9395, -2.009, -1.9663],
        "log_scale": [-5.3922, -5.1624, -5.2015, -5.0098, -5.0295],
        "token_ids": [107, 107, 100, 100, 107],
        "quantizer_loss": [0.0051],
    },
    "vit_vqgan_photos_64": {
        "reconstruction": [0.1494, 0.2535, 0.244, 0.1275, 0.2215],
        "location": [-1.2683, -0.8339, -0.8701, -1.3741, -0.9585],
        "log_scale": [0.2167, 0.3949, -0.3881, 0.7575, -1.4889],
        "token_ids": [90, 150, 59, 110, 114],
        "quantizer_loss": [0.0023],
    },
}


def ramp_images(size):
    """One image: red grows left to right, green top to bottom."""
    ramp = np.linspace(0, 1, size, dtype="float32")
    images = np.full((1, size, size, 3), 0.5, "float32")
    images[..., 0] = ramp[None, :]
    images[..., 1] = ramp[:, None]
    return images


def run_trained_preset_tests(test, cls):
    """`run_preset_test` on the trained ViT-VQGAN presets (backbone or task)."""
    for preset, expected in TRAINED_PRESET_OUTPUTS.items():
        size = int(preset.rsplit("_", 1)[-1])
        grid = size // 8
        test.run_preset_test(
            cls=cls,
            preset=preset,
            input_data=ramp_images(size),
            expected_output_shape={
                "reconstruction": (1, size, size, 3),
                "location": (1, size, size, 3),
                "log_scale": (1, size, size, 3),
                "token_ids": (1, grid * grid),
                "quantizer_loss": (1,),
            },
            expected_partial_output={
                k: np.array(v, "float32") for k, v in expected.items()
            },
        )


TINY = dict(
    image_size=16,
    patch_size=4,
    encoder_num_layers=2,
    encoder_num_heads=2,
    encoder_hidden_dim=16,
    encoder_intermediate_dim=32,
    decoder_num_layers=1,
    decoder_num_heads=2,
    decoder_hidden_dim=24,
    decoder_intermediate_dim=48,
    codebook_size=32,
    lookup_dim=4,
)


def transformer_params(layers, d, m, tokens):
    """Pre-LN blocks + position table + final LN + tanh head (d->m->d)."""
    block = (4 * d * d + 4 * d) + (2 * d * m + m + d) + 4 * d
    return layers * block + tokens * d + 2 * d + (2 * d * m + m + d)


def expected_param_count(c, channels=3):
    """Parameter count of a ViT-VQGAN written out by hand."""
    tokens = (c["image_size"] // c["patch_size"]) ** 2
    pixels = c["patch_size"] ** 2 * channels
    e, d, k = c["encoder_hidden_dim"], c["decoder_hidden_dim"], c["lookup_dim"]
    encoder = transformer_params(
        c["encoder_num_layers"], e, c["encoder_intermediate_dim"], tokens
    ) + (pixels * e + e)
    quantizer = (e * k + k) + c["codebook_size"] * k + (k * d + d)
    decoder = transformer_params(
        c["decoder_num_layers"], d, c["decoder_intermediate_dim"], tokens
    ) + (d * 2 * pixels + 2 * pixels)
    return encoder + quantizer + decoder


class ViTVQGANBackboneTest(TestCase):
    def setUp(self):
        self.init_kwargs = dict(TINY)
        rng = np.random.default_rng(0)
        self.input_data = rng.uniform(size=(2, 16, 16, 3)).astype("float32")

    def test_backbone_basics(self):
        self.run_backbone_test(
            cls=ViTVQGANBackbone,
            init_kwargs=self.init_kwargs,
            input_data=self.input_data,
            expected_output_shape={
                "reconstruction": (2, 16, 16, 3),
                "location": (2, 16, 16, 3),
                "log_scale": (2, 16, 16, 3),
                "token_ids": (2, 16),
                "quantizer_loss": (2,),
            },
            # The pixel statistics and the quantizer loss are float32 under
            # every policy (see the class docstring); the helper expects the
            # compute dtype. `test_mixed_precision` checks what holds instead.
            run_mixed_precision_check=False,
        )

    @pytest.mark.large
    def test_all_presets(self):
        run_trained_preset_tests(self, ViTVQGANBackbone)

    def test_saved_model(self):
        self.run_model_saving_test(
            cls=ViTVQGANBackbone,
            init_kwargs=self.init_kwargs,
            input_data=self.input_data,
        )

    def test_mixed_precision(self):
        backbone = ViTVQGANBackbone(**self.init_kwargs, dtype="mixed_bfloat16")
        outputs = backbone(self.input_data)
        for key in ("reconstruction", "location", "log_scale"):
            self.assertDTypeEqual(outputs[key], "float32")
            value = ops.convert_to_numpy(outputs[key])
            self.assertTrue(np.all(np.isfinite(value)))
        self.assertDTypeEqual(outputs["quantizer_loss"], "float32")
        self.assertDTypeEqual(outputs["token_ids"], "int32")
        self.assertEqual(backbone.encoder.blocks[0].compute_dtype, "bfloat16")
        # keras-hub's precision check asks the spec for numpy inputs too.
        specs = backbone.compute_output_spec(self.input_data)
        self.assertEqual(specs["reconstruction"].dtype, "float32")
        self.assertEqual(specs["token_ids"].shape, (2, 16))
        for weight in backbone.weights:
            self.assertEqual(weight.dtype, "float32", weight.path)

    def test_quantized_decoder_reloads(self):
        # A quantized backbone's config holds a per-layer policy map; the
        # float32 pixel projection must follow it, or its int8 weights
        # cannot be loaded back.
        backbone = ViTVQGANBackbone(**self.init_kwargs)
        backbone.quantize("int8")
        restored = ViTVQGANBackbone.from_config(backbone.get_config())
        projection = restored.decoder.pixel_projection
        self.assertEqual(projection.quantization_mode, "int8")
        restored.set_weights(backbone.get_weights())
        self.assertAllClose(
            restored(self.input_data)["reconstruction"],
            backbone(self.input_data)["reconstruction"],
        )

    def test_outputs(self):
        backbone = ViTVQGANBackbone(**TINY)
        images = np.random.default_rng(0).uniform(size=(2, 16, 16, 3))
        outputs = backbone(images.astype("float32"))
        for key in ("reconstruction", "location", "log_scale"):
            self.assertEqual(tuple(outputs[key].shape), (2, 16, 16, 3))
        self.assertEqual(tuple(outputs["token_ids"].shape), (2, 16))
        self.assertEqual(tuple(outputs["quantizer_loss"].shape), (2,))
        ids = ops.convert_to_numpy(outputs["token_ids"])
        self.assertAllEqual(
            ops.convert_to_numpy(backbone.encode_to_ids(images)), ids
        )
        decoded = ops.convert_to_numpy(backbone.decode_from_ids(ids))
        self.assertAllClose(
            decoded,
            np.clip(ops.convert_to_numpy(outputs["reconstruction"]), 0, 1),
            atol=1e-5,
        )

    def test_param_count_matches_hand_count(self):
        backbone = ViTVQGANBackbone(**TINY)
        self.assertEqual(backbone.count_params(), expected_param_count(TINY))

    def test_raw_output_is_clipped_on_decode(self):
        backbone = ViTVQGANBackbone(**TINY, output_activation="raw")
        decoded = ops.convert_to_numpy(
            backbone.decode_from_ids(np.arange(16).reshape(1, 16))
        )
        self.assertTrue(decoded.min() >= 0.0 and decoded.max() <= 1.0)

    def test_small_preset_builds_with_hand_count(self):
        backbone = ViTVQGANBackbone.from_preset("vit_vqgan_small")
        self.assertEqual(
            backbone.count_params(),
            expected_param_count(ARCHITECTURE_PRESETS["vit_vqgan_small"]),
        )

    def test_paper_preset_sizes(self):
        # Table 2 of the paper counts one Transformer (encoder or decoder).
        # Base matches within 1%; see README for Small (32M) and Large (599M),
        # which the listed shapes cannot produce.
        config = ARCHITECTURE_PRESETS["vit_vqgan_base"]
        per_side = transformer_params(12, 768, 3072, 1024) + 192 * 768 + 768
        self.assertLess(abs(per_side / 91e6 - 1), 0.05)
        self.assertAlmostEqual(
            expected_param_count(config) / 1e6, 181.9, delta=0.1
        )
        totals = {
            name: expected_param_count(c) / 1e6
            for name, c in ARCHITECTURE_PRESETS.items()
        }
        self.assertAlmostEqual(totals["vit_vqgan_small"], 56.3, delta=0.1)
        self.assertAlmostEqual(totals["vit_vqgan_large"], 1289.3, delta=0.1)
        self.assertAlmostEqual(
            totals["vit_vqgan_small_large"], 672.9, delta=1.0
        )
