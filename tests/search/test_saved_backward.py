"""Hand-written backwards from saved activations against TensorFlow's gradients of `ops`."""

import numpy as np
import pytest
import tensorflow as tf

from keras_parsec.search import ops, saved_backward
from keras_parsec.space import OPERATIONS


def _case(operation, stride, dtype=tf.float32):
    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(size=(3, 9, 9, 4)), dtype)
    shapes = ops.operation_weight_shapes(operation, 4, stride)
    weights = [tf.constant(rng.normal(size=s), dtype) for s in shapes]
    return x, weights


def _close(a, b, tolerance):
    np.testing.assert_allclose(np.asarray(a, np.float32), np.asarray(b, np.float32), rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("operation", OPERATIONS)
def test_forward_and_backward_match_the_operation(operation, stride):
    if saved_backward.chain(operation, stride) is None:
        assert saved_backward.saved_count(operation, stride) == 0
        return
    x, weights = _case(operation, stride)
    dy = tf.constant(np.random.default_rng(2).normal(size=ops.apply_operation(operation, x, weights, stride).shape),
                     tf.float32)  # fmt: skip

    # Open widths, as the executor traces them: the channel count is unknown to the trace.
    open_specs = [tf.TensorSpec([None, None, None, None])] + [tf.TensorSpec([None] * len(w.shape)) for w in weights]

    @tf.function(input_signature=open_specs, autograph=False)
    def run(x, *weights):
        y, saved, context = saved_backward.forward(operation, stride, x, weights)
        assert len(saved) == saved_backward.saved_count(operation, stride)
        assert len(context) == saved_backward.context_count(operation, stride)
        return (y, *saved_backward.backward(operation, stride, x, saved, context, weights, dy))

    y, dx, d_weights = run(x, *weights)
    with tf.GradientTape() as tape:
        tape.watch([x, *weights])
        reference = ops.apply_operation(operation, x, weights, stride)
    expected = tape.gradient(reference, [x, *weights], output_gradients=dy)
    _close(y, reference, 1e-5)
    _close(dx, expected[0], 1e-4)
    assert len(d_weights) == len(weights)
    for got, want in zip(d_weights, expected[1:]):
        _close(got, want, 1e-4)


def test_half_precision_runs_in_half_precision():
    x, weights = _case("sep_conv_3x3", 1, tf.float16)
    y, saved, context = saved_backward.forward("sep_conv_3x3", 1, x, weights)
    assert y.dtype == tf.float16
    assert {a.dtype for a in saved} == {tf.float16}
    assert {a.dtype for a in context} == {tf.float32}  # a batch norm's statistics stay in float32
    dx, _ = saved_backward.backward("sep_conv_3x3", 1, x, saved, context, weights, tf.ones_like(y))
    assert dx.dtype == tf.float16 and np.isfinite(dx.numpy()).all()


@pytest.mark.parametrize(
    "operation, expected",
    [("sep_conv_3x3", 4), ("dil_conv_5x5", 2), ("avg_pool_3x3", 1), ("max_pool_3x3", 0), ("skip_connect", 0)],
)
def test_only_the_outputs_of_convolutions_and_pooling_are_saved(operation, expected):
    """ReLUs and batch norms rerun in the backward: a sep_conv keeps its four convolutions' outputs, not eight."""
    assert saved_backward.saved_count(operation, 1) == expected
    if expected:
        x, weights = _case(operation, 1)
        assert len(saved_backward.forward(operation, 1, x, weights)[1]) == expected


@pytest.mark.parametrize("operation, reruns", [("sep_conv_3x3", 1), ("dil_conv_3x3", 0), ("avg_pool_3x3", 0)])
def test_the_last_batch_norm_is_not_rerun_its_statistics_are_kept(operation, reruns):
    """The backward reruns a batch norm only where a later step needs its output (a sep_conv's middle one)."""
    x, weights = _case(operation, 1)
    y, saved, context = saved_backward.forward(operation, 1, x, weights)
    assert len(context) == saved_backward.context_count(operation, 1) == 3

    @tf.function(autograph=False)
    def run(x, saved, context, weights):
        return saved_backward.backward(operation, 1, x, saved, context, weights, tf.ones_like(y))

    graph = run.get_concrete_function(x, saved, context, weights).graph
    assert [op.type for op in graph.get_operations()].count("FusedBatchNormV3") == reruns
