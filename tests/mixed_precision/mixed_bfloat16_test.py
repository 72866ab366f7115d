"""Every model trains and generates under `mixed_bfloat16`.

Weights stay float32, the Transformer and convolution blocks compute in
bfloat16, and the numbers that decide a softmax or a code (output logits,
the contrastive loss, the quantizer's distances) are float32. Each test fits
a tiny model for two steps and checks the losses stay finite.
"""

import keras
import numpy as np
from keras import ops
from keras_hub.src.tests.test_case import TestCase

import keras_vim
from keras_vim.layers.vector_quantizer import VectorQuantizer
from keras_vim.models.babeldraw.babeldraw_preprocessor import (
    BabeldrawPreprocessor,
)
from keras_vim.models.babeldraw_reranker.symmetric_contrastive_loss import (
    SymmetricContrastiveLoss,
)
from tests.models.babeldraw.babeldraw_test import CAPTIONS
from tests.models.babeldraw.babeldraw_test import random_ids
from tests.models.babeldraw.babeldraw_test import text_tokenizer
from tests.models.babeldraw.babeldraw_test import tiny_config
from tests.models.babeldraw_reranker.babeldraw_reranker_test import CONFIG
from tests.models.super_resolution.super_resolution_test import blocky_pairs
from tests.models.vim.vim_backbone_test import TINY as VIM_CONFIG
from tests.models.vim.vim_backbone_test import random_tokens
from tests.models.vit_vqgan.vit_vqgan_backbone_test import TINY as VQGAN_TINY
from tests.models.vit_vqgan.vit_vqgan_test import images

MIXED = "mixed_bfloat16"
# One block each: compiling the training steps is most of the time here.
VIM_TINY = {**VIM_CONFIG, "num_layers": 1}
SR_TINY = dict(scale=2, num_blocks=1, filters=8)


def image_tokenizer(**kwargs):
    """A tiny mixed-precision ViT-VQGAN: 16x16 images, 4x4 grid, 32 codes."""
    config = {**VQGAN_TINY, "encoder_num_layers": 1}
    backbone = keras_vim.ViTVQGANBackbone(**config, dtype=MIXED)
    converter = keras_vim.ViTVQGANImageConverter(image_size=(16, 16))
    return keras_vim.ViTVQGAN(
        backbone, keras_vim.ViTVQGANPreprocessor(converter), **kwargs
    )


def babeldraw_preprocessor(tokenizer=None):
    return BabeldrawPreprocessor(
        text_tokenizer(), tokenizer, grid_size=4, vocabulary_size=32
    )


def numpy(x):
    return ops.convert_to_numpy(ops.cast(x, "float32"))


class MixedBFloat16Test(TestCase):
    def setUp(self):
        keras.utils.set_random_seed(0)

    def assertFiniteLosses(self, history, expected_keys=("loss",)):
        for key in expected_keys:
            self.assertIn(key, history.history)
        for key, values in history.history.items():
            if key.endswith("loss"):
                self.assertTrue(np.all(np.isfinite(values)), (key, values))

    def assertFloat32Variables(self, model):
        variables = model.weights + model.optimizer.variables
        floats = [v for v in variables if "float" in str(v.dtype)]
        self.assertNotEmpty(floats)
        for variable in floats:
            self.assertEqual(variable.dtype, "float32", variable.path)

    def test_vector_quantizer_distances_are_float32(self):
        quantizer = VectorQuantizer(32, 8, lookup_dim=4, dtype=MIXED)
        rng = np.random.default_rng(0)
        tokens = rng.normal(size=(1, 4096, 8)).astype("float32")
        quantized, token_ids, loss = quantizer(tokens)
        self.assertDTypeEqual(quantized, "bfloat16")
        self.assertDTypeEqual(token_ids, "int32")
        self.assertDTypeEqual(loss, "float32")
        self.assertEqual(quantizer.codebook.dtype, "float32")
        # The lookup vectors and codes the distances are taken between.
        lookup = quantizer.project_down(tokens)
        codebook = quantizer.normalized_codebook()
        self.assertDTypeEqual(lookup, "float32")
        self.assertDTypeEqual(codebook, "float32")
        lookup, codebook = numpy(lookup)[0], numpy(codebook)
        similarity = lookup.astype("float64") @ codebook.T.astype("float64")
        expected_ids = similarity.argmax(-1)
        self.assertAllEqual(ops.convert_to_numpy(token_ids)[0], expected_ids)
        # These inputs tell float32 from bfloat16 distances apart.
        bf16_ids = ops.argmax(
            ops.matmul(
                ops.cast(lookup, "bfloat16"),
                ops.transpose(ops.cast(codebook, "bfloat16")),
            ),
            axis=-1,
        )
        self.assertGreater(
            np.sum(ops.convert_to_numpy(bf16_ids) != expected_ids), 0
        )
        # The loss uses the float32 codebook, not a bfloat16 copy of it.
        squared = np.square(lookup - codebook[expected_ids]).mean()
        self.assertAllClose(loss, [1.25 * squared], rtol=1e-4)

    def test_vit_vqgan_fits_encodes_and_decodes(self):
        model = image_tokenizer(discriminator_base_filters=4, compile=False)
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3), perceptual_weight=0.0
        )
        history = model.fit(images(4), batch_size=2, epochs=1, verbose=0)
        self.assertFiniteLosses(
            history, ("loss", "quantizer_loss", "discriminator_loss")
        )
        self.assertFloat32Variables(model)
        backbone = model.backbone
        self.assertEqual(backbone.encoder.blocks[0].compute_dtype, "bfloat16")
        self.assertEqual(model.discriminator.compute_dtype, "bfloat16")
        encoded = backbone.encoder(keras.KerasTensor((None, 16, 16, 3)))
        self.assertEqual(encoded.dtype, "bfloat16")
        # Pixel statistics and the quantizer loss are float32.
        for key, spec in backbone.output.items():
            expected = "int32" if key == "token_ids" else "float32"
            self.assertEqual(spec.dtype, expected, key)

        token_ids = model.encode(images(3))
        self.assertEqual(token_ids.shape, (3, 4, 4))
        self.assertTrue(token_ids.min() >= 0 and token_ids.max() < 32)
        decoded = model.decode(token_ids)
        self.assertEqual(decoded.dtype, np.float32)
        self.assertEqual(decoded.shape, (3, 16, 16, 3))
        self.assertTrue(np.all((decoded >= 0) & (decoded <= 1)))

    def test_vim_and_linear_probe_fit_and_vim_generates(self):
        backbone = keras_vim.VIMBackbone(**VIM_TINY, dtype=MIXED)
        model = keras_vim.VIMTransformer(backbone)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        tokens, classes = random_tokens(4), np.array([0, 1, 2, 0])
        history = model.fit(tokens, classes, batch_size=2, epochs=1, verbose=0)
        self.assertFiniteLosses(history)
        self.assertFloat32Variables(model)
        block = backbone.transformer_layers[0]
        self.assertEqual(block.compute_dtype, "bfloat16")
        self.assertEqual(block.output.dtype, "bfloat16")
        # Real tensors: the symbolic spec of Keras' `ReversibleEmbedding`
        # ignores its `reverse_dtype`.
        logits = model({"token_ids": tokens, "class_ids": classes})
        self.assertDTypeEqual(logits, "float32")
        self.assertEqual(tuple(logits.shape), (4, 16, 32))
        self.assertTrue(np.all(np.isfinite(ops.convert_to_numpy(logits))))
        # So are the logits of a cached decoding step.
        step, _, _ = model.call_with_cache(
            classes[:, None], model.init_cache(4), 0
        )
        self.assertDTypeEqual(step, "float32")
        out = model.generate(class_ids=[0, 2], seed=0)["token_ids"]
        self.assertEqual(out.shape, (2, 4, 4))
        self.assertTrue(out.min() >= 0 and out.max() < 32)

        # A linear probe on the mixed-precision backbone: float32 softmax.
        probe = keras_vim.LinearProbe(backbone, block_index=0, num_classes=2)
        probe.compile(optimizer=keras.optimizers.Adam(1e-2))
        self.assertEqual(
            probe.backbone.transformer_layers[0].compute_dtype, "bfloat16"
        )
        self.assertEqual(probe.output.dtype, "float32")
        labels = np.array([0, 1, 0, 1])
        history = probe.fit(tokens, labels, batch_size=2, epochs=1, verbose=0)
        self.assertFiniteLosses(history)
        self.assertFloat32Variables(probe)

    def test_babeldraw_reranker_and_super_resolution(self):
        # Fits each model, then generates through all of them: samples,
        # reranks and upscales.
        tokenizer = image_tokenizer(discriminator_base_filters=0)
        preprocessor = babeldraw_preprocessor(tokenizer)
        captions, ids = CAPTIONS[:4], random_ids(4)

        reranker = keras_vim.BabeldrawReranker(
            keras_vim.BabeldrawRerankerBackbone(**CONFIG, dtype=MIXED),
            preprocessor,
        )
        reranker.compile(optimizer=keras.optimizers.Adam(1e-3))
        history = reranker.fit(captions, ids, batch_size=2, verbose=0)
        self.assertFiniteLosses(history)
        self.assertFloat32Variables(reranker)
        tower = reranker.backbone.text_tower
        self.assertEqual(tower["blocks"][0].compute_dtype, "bfloat16")
        # The backbone's logits follow the policy (keras-hub's precision
        # check asks so); the loss takes their softmax in float32.
        self.assertEqual(reranker.output.dtype, "bfloat16")
        logits = ops.cast(np.linspace(-14, 14, 9).reshape(3, 3), "bfloat16")
        loss = SymmetricContrastiveLoss(reduction=None)(np.zeros(3), logits)
        self.assertDTypeEqual(loss, "float32")
        z = numpy(logits).astype("float64")

        def crossentropy(rows):
            rows = rows - rows.max(-1, keepdims=True)
            return -np.diag(rows - np.log(np.exp(rows).sum(-1))[:, None])

        expected = (crossentropy(z) + crossentropy(z.T)) / 2
        self.assertAllClose(loss, expected, rtol=1e-6, atol=1e-6)
        scores = reranker.score(captions, ids)
        self.assertEqual(scores.dtype, np.float32)
        self.assertEqual(scores.shape, (4,))
        self.assertTrue(np.all(np.abs(scores) <= 1 + 1e-2))

        upscaler = keras_vim.SuperResolution(
            keras_vim.SuperResolutionBackbone(**SR_TINY, dtype=MIXED)
        )
        upscaler.compile(optimizer=keras.optimizers.Adam(3e-3))
        low, high = blocky_pairs(2, size=16)
        history = upscaler.fit(low, high, batch_size=1, verbose=0)
        self.assertFiniteLosses(history)
        self.assertFloat32Variables(upscaler)
        head = upscaler.backbone.get_layer("head")
        self.assertEqual(head.compute_dtype, "bfloat16")
        self.assertEqual(head.output.dtype, "bfloat16")
        upscaled = upscaler.upscale(low)
        self.assertEqual(upscaled.dtype, np.float32)
        self.assertEqual(upscaled.shape, (2, 32, 32, 3))
        self.assertTrue(np.all((upscaled >= 0) & (upscaled <= 1)))

        backbone = keras_vim.BabeldrawBackbone(
            **tiny_config(num_encoder_layers=1, num_decoder_layers=1),
            dtype=MIXED,
        )
        model = keras_vim.Babeldraw(
            backbone,
            preprocessor,
            reranker=reranker,
            super_resolution=upscaler,
        )
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        history = model.fit(captions, ids, batch_size=2, verbose=0)
        self.assertFiniteLosses(history)
        self.assertFloat32Variables(model)
        block = backbone.decoder_layers[0]
        self.assertEqual(block.compute_dtype, "bfloat16")
        self.assertEqual(block.output.dtype, "bfloat16")
        x, _ = preprocessor(captions[:2], ids[:2])
        logits = model(x)
        self.assertDTypeEqual(logits, "float32")
        self.assertTrue(np.all(np.isfinite(ops.convert_to_numpy(logits))))

        out = model.generate(
            captions[:2], num_candidates=2, upscale=True, seed=0
        )
        self.assertEqual(out["token_ids"].shape, (2, 4, 4))
        self.assertTrue(
            out["token_ids"].min() >= 0 and out["token_ids"].max() < 32
        )
        self.assertEqual(out["images"].dtype, np.float32)
        self.assertEqual(out["images"].shape, (2, 32, 32, 3))
        self.assertTrue(np.all((out["images"] >= 0) & (out["images"] <= 1)))
        self.assertTrue(np.all(np.abs(out["scores"]) <= 1 + 1e-2))
