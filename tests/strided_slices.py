"""A check shared by the search's and the final layers' `subsample` and `shift` (tests/search, tests/final)."""

import numpy as np
import tensorflow as tf


def assert_equal_to_strided_slices(subsample, shift, size, static):
    """`subsample(x, s)` and `shift(x)` equal `x[:, ::s, ::s]` and the padded `x[:, 1:, 1:]`, gradients included.

    And their gradients hold no strided-slice gradient, the reason they exist.
    `static`: the shapes are known when traced, else only the channels.
    """
    x = tf.constant(np.random.default_rng(0).normal(size=(2, *size, 3)).astype("float32"))
    cases = [
        (lambda t: subsample(t, 2), lambda t: t[:, ::2, ::2, :]),
        (lambda t: subsample(t, 3), lambda t: t[:, ::3, ::3, :]),
        (shift, lambda t: tf.pad(t[:, 1:, 1:, :], [[0, 0], [0, 1], [0, 1], [0, 0]])),
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
        assert a.shape[-1] == 3
        graph = tf.function(lambda t, mine=mine: tf.gradients(mine(t), t)).get_concrete_function(spec).graph
        assert "StridedSliceGrad" not in {op.type for op in graph.get_operations()}
