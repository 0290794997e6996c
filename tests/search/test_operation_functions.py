"""An operation's compiled functions: one trace per (operation, stride, dtype, width), open batch and size."""

import numpy as np
import pytest
import tensorflow as tf

from keras_parsec.search import operation_functions as functions
from keras_parsec.search import weights as weights_lib

WIDTH = 4


def _row(operation, stride, seed=0):
    size = weights_lib.row_size(operation, WIDTH, stride)
    return tf.constant(np.random.default_rng(seed).normal(size=size).astype("float32"))


def test_a_concrete_function_is_traced_once_and_runs_at_any_batch_and_image_size():
    first = functions.concrete("forward", "sep_conv_3x3", 1, tf.float32, WIDTH)
    assert functions.concrete("forward", "sep_conv_3x3", 1, tf.float32, WIDTH) is first
    row = _row("sep_conv_3x3", 1)
    for shape in [(1, 5, 5, WIDTH), (3, 8, 8, WIDTH)]:
        assert first(tf.zeros(shape), row).shape == shape


def test_unpack_reads_each_weight_from_its_slice_of_the_row():
    row = _row("dil_conv_3x3", 2)
    weights = functions.unpack(row, "dil_conv_3x3", WIDTH, 2)
    layout = weights_lib.weight_layout("dil_conv_3x3", WIDTH, 2)
    assert [tuple(w.shape) for w in weights] == [tuple(shape) for shape, _, _ in layout]
    np.testing.assert_array_equal(np.concatenate([np.ravel(w) for w in weights]), row.numpy())


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("operation", ["sep_conv_3x3", "dil_conv_5x5", "avg_pool_3x3"])
def test_the_saved_gradient_computes_what_the_recomputing_gradient_does(operation, stride):
    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(size=(2, 8, 8, WIDTH)).astype("float32"))
    row = _row(operation, stride, seed=2)
    y, *saved = functions.concrete("saving", operation, stride, tf.float32, WIDTH)(x, row)
    np.testing.assert_allclose(y.numpy(), functions.concrete("forward", operation, stride, tf.float32, WIDTH)(x, row))
    dy = tf.constant(rng.normal(size=y.shape).astype("float32"))
    dx, drow = functions.concrete("gradient", operation, stride, tf.float32, WIDTH)(x, row, dy)
    saved_gradient = functions.concrete("saved_gradient", operation, stride, tf.float32, WIDTH)
    saved_dx, saved_drow = saved_gradient(row, x, dy, *saved)
    np.testing.assert_allclose(saved_dx.numpy(), dx.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(saved_drow.numpy(), drow.numpy(), rtol=1e-4, atol=1e-4)
    assert drow.shape == row.shape
