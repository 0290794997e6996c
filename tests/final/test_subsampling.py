"""Even pixels and the one-pixel shift of the final layers: the strided slices' values and gradients, without them."""

import numpy as np
import pytest
import tensorflow as tf

from keras_parsec.final import subsampling


@pytest.mark.parametrize("size", [(6, 6), (7, 5)])
@pytest.mark.parametrize("static", [True, False])
def test_subsample_and_shift_equal_the_strided_slices_without_a_strided_slice_gradient(size, static):
    x = tf.constant(np.random.default_rng(0).normal(size=(2, *size, 3)).astype("float32"))
    cases = [
        (lambda t: subsampling.subsample(t, 2), lambda t: t[:, ::2, ::2, :]),
        (lambda t: subsampling.subsample(t, 3), lambda t: t[:, ::3, ::3, :]),
        (subsampling.shift, lambda t: tf.pad(t[:, 1:, 1:, :], [[0, 0], [0, 1], [0, 1], [0, 0]])),
    ]
    spec = tf.TensorSpec(x.shape if static else [None, None, None, 3])
    for mine, strided in cases:

        @tf.function(input_signature=[spec])
        def both(t, mine=mine, strided=strided):
            with tf.GradientTape(persistent=True) as tape:
                tape.watch(t)
                a, b = mine(t), strided(t)
            dy = tf.reshape(tf.range(tf.size(b), dtype=tf.float32), tf.shape(b))
            return a, b, tape.gradient(a, t, output_gradients=dy), tape.gradient(b, t, output_gradients=dy)

        a, b, da, db = both(x)
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        np.testing.assert_array_equal(da.numpy(), db.numpy())
        graph = tf.function(lambda t, mine=mine: tf.gradients(mine(t), t)).get_concrete_function(spec).graph
        assert "StridedSliceGrad" not in {op.type for op in graph.get_operations()}
