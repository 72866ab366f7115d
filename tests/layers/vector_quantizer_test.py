import keras
import numpy as np
from keras import ops
from keras_hub.src.tests.test_case import TestCase

from keras_vim.layers.vector_quantizer import VectorQuantizer
from keras_vim.layers.vector_quantizer import codebook_usage_and_perplexity


def numpy_normalize(x):
    return x / np.sqrt(np.sum(x**2, axis=-1, keepdims=True) + 1e-6)


class VectorQuantizerTest(TestCase):
    def setUp(self):
        self.quantizer = VectorQuantizer(
            codebook_size=16, hidden_dim=12, lookup_dim=4, beta=0.25
        )
        rng = np.random.default_rng(0)
        self.inputs = rng.normal(size=(3, 5, 10)).astype("float32")
        self.quantizer.build(self.inputs.shape)

    def test_layer_basics(self):
        self.run_layer_test(
            cls=VectorQuantizer,
            init_kwargs={
                "codebook_size": 16,
                "hidden_dim": 12,
                "lookup_dim": 4,
            },
            input_data=self.inputs,
            expected_output_shape=((3, 5, 12), (3, 5), (3,)),
            # Down and up projections (kernel, bias) and the codebook.
            expected_num_trainable_weights=5,
            # The loss is float32 under every policy, which the helper's
            # precision check does not allow; see
            # `test_float32_under_mixed_precision`.
            run_precision_checks=False,
        )

    def numpy_reference(self):
        q = self.quantizer
        w_down, b_down = [
            ops.convert_to_numpy(v) for v in q.down_projection.weights
        ]
        w_up, b_up = [ops.convert_to_numpy(v) for v in q.up_projection.weights]
        z = numpy_normalize(self.inputs @ w_down + b_down)
        codes = numpy_normalize(ops.convert_to_numpy(q.codebook))
        distances = ((z[..., None, :] - codes) ** 2).sum(-1)
        ids = distances.argmin(-1)
        e = codes[ids]
        loss = 1.25 * ((z - e) ** 2).mean(axis=(1, 2))
        return e @ w_up + b_up, ids, loss

    def test_matches_numpy_reference(self):
        quantized, ids, loss = self.quantizer(self.inputs)
        ref_quantized, ref_ids, ref_loss = self.numpy_reference()
        self.assertEqual(tuple(ids.shape), (3, 5))
        self.assertAllEqual(ops.convert_to_numpy(ids), ref_ids)
        self.assertAllClose(quantized, ref_quantized, atol=1e-5)
        self.assertAllClose(loss, ref_loss, atol=1e-6)

    def test_lookup_codes_matches_call(self):
        quantized, ids, _ = self.quantizer(self.inputs)
        self.assertAllClose(
            self.quantizer.lookup_codes(ids), quantized, atol=1e-5
        )

    def test_straight_through_gradient_reaches_encoder(self):
        # The only path from the loss to `encoder` runs through the
        # quantizer's argmin: without straight-through it gets no gradient.
        inputs = keras.Input((5, 10))
        encoder = keras.layers.Dense(10, name="encoder")
        quantized, _, _ = VectorQuantizer(16, 12, lookup_dim=4)(encoder(inputs))
        model = keras.Model(inputs, quantized)
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        before = ops.convert_to_numpy(encoder.kernel).copy()
        target = np.ones((3, 5, 12), "float32")
        model.fit(self.inputs, target, epochs=1, batch_size=3, verbose=0)
        change = np.abs(ops.convert_to_numpy(encoder.kernel) - before).max()
        self.assertGreater(change, 1e-6)

    def test_usage_and_perplexity(self):
        ids = np.array([[0, 0, 1, 3]], "int32")
        usage, perplexity = codebook_usage_and_perplexity(ids, 8)
        p = np.array([0.5, 0.25, 0.25])
        self.assertAllClose(usage, 3 / 8)
        self.assertAllClose(
            perplexity, np.exp(-(p * np.log(p)).sum()), rtol=1e-5
        )

    def test_float32_under_mixed_precision(self):
        quantizer = VectorQuantizer(
            16, 12, lookup_dim=4, dtype="mixed_bfloat16"
        )
        quantized, ids, loss = quantizer(self.inputs * 1e4)
        self.assertEqual(keras.backend.standardize_dtype(loss.dtype), "float32")
        self.assertEqual(quantizer.codebook.dtype, "float32")
        self.assertTrue(np.all(np.isfinite(ops.convert_to_numpy(loss))))

    def test_restart_dead_codes(self):
        quantizer = VectorQuantizer(
            16,
            12,
            lookup_dim=4,
            track_dead_codes=True,
            buffer_size=64,
            usage_decay=0.0,
        )
        quantizer(self.inputs, training=True)
        used = np.unique(ops.convert_to_numpy(quantizer(self.inputs)[1]))
        restarted = quantizer.restart_dead_codes(seed=0)
        self.assertEqual(restarted, 16 - len(used))
        # Restarted codes are recent encoder outputs: now some input picks them.
        buffer = ops.convert_to_numpy(quantizer.recent_inputs)[:15]
        codebook = ops.convert_to_numpy(quantizer.codebook)
        dead = np.setdiff1d(np.arange(16), used)
        for code in codebook[dead]:
            self.assertLess(np.abs(buffer - code).sum(-1).min(), 1e-5)

    def test_usage_statistics_inside_a_compiled_fit(self):
        # TensorFlow traces fit() with an unknown batch size; the buffer of
        # recent inputs must fill there too, or no code is ever restarted.
        quantizer = VectorQuantizer(
            16, 12, lookup_dim=4, track_dead_codes=True, buffer_size=64
        )
        inputs = keras.Input((5, 10))
        model = keras.Model(inputs, quantizer(inputs)[0])
        model.compile(optimizer="sgd", loss="mse")
        x = self.inputs
        model.fit(x, np.zeros((3, 5, 12)), batch_size=2, epochs=1, verbose=0)
        buffer = ops.convert_to_numpy(quantizer.recent_inputs)
        filled = int((np.abs(buffer).sum(-1) > 0).sum())
        self.assertEqual(filled, min(64, x.shape[0] * x.shape[1]))
        self.assertGreater(quantizer.restart_dead_codes(seed=0), 0)

    def test_serialization(self):
        self.run_serialization_test(
            VectorQuantizer(16, 12, lookup_dim=4, track_dead_codes=True)
        )
