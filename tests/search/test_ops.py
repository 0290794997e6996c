"""Tests for keras_parsec.search.ops."""

import itertools
import math

import numpy as np
import pytest
import tensorflow as tf
from strided_slices import assert_equal_to_strided_slices

from keras_parsec.search import ops
from keras_parsec.space import OPERATIONS

BATCH = 2
CHANNELS = 4
SIZES = (8, 7)
STRIDES = (1, 2)
CASES = tuple(itertools.product(OPERATIONS, STRIDES))
CASES_WITH_SIZE = tuple(itertools.product(OPERATIONS, STRIDES, SIZES))
DILATED = tuple(name for name in OPERATIONS if name.startswith("dil_conv"))
NORMALISED = tuple(case for case in CASES_WITH_SIZE if case[:2] != ("skip_connect", 1))


def inputs(size=8, channels=CHANNELS, batch=BATCH, seed=0):
    """A small random NHWC float32 tensor, not centred, so ReLU and BN matter."""
    rng = np.random.default_rng(seed)
    return tf.constant(rng.normal(0.3, 1.5, (batch, size, size, channels)), tf.float32)


def random_weights(shapes, seed=1):
    rng = np.random.default_rng(seed)
    return [tf.constant(rng.normal(0.0, 0.5, shape), tf.float32) for shape in shapes]


def run(operation, stride, size=8, channels=CHANNELS):
    x = inputs(size, channels)
    weights = random_weights(ops.operation_weight_shapes(operation, channels, stride))
    return x, weights, ops.apply_operation(operation, x, weights, stride)


def channel_stats(y):
    mean, variance = tf.nn.moments(y, axes=[0, 1, 2])
    return mean.numpy(), variance.numpy()


# ------------------------------------------------------------------ registry


def test_registry_holds_exactly_the_operations():
    assert set(ops.OPERATION_REGISTRY) == set(OPERATIONS)
    assert len(ops.OPERATION_REGISTRY) == len(OPERATIONS) == 7


@pytest.mark.parametrize("operation", OPERATIONS)
def test_registry_entries_are_function_and_shapes(operation):
    function, shapes = ops.OPERATION_REGISTRY[operation]
    assert callable(function) and callable(shapes)


# ------------------------------------------------------------------ weight shapes


@pytest.mark.parametrize(
    "operation, stride, expected",
    (
        ("max_pool_3x3", 1, []),
        ("max_pool_3x3", 2, []),
        ("avg_pool_3x3", 1, []),
        ("avg_pool_3x3", 2, []),
        ("skip_connect", 1, []),
        ("skip_connect", 2, [(1, 1, 4, 2), (1, 1, 4, 2)]),
        ("sep_conv_3x3", 1, [(3, 3, 4, 1), (1, 1, 4, 4), (3, 3, 4, 1), (1, 1, 4, 4)]),
        ("sep_conv_3x3", 2, [(3, 3, 4, 1), (1, 1, 4, 4), (3, 3, 4, 1), (1, 1, 4, 4)]),
        ("sep_conv_5x5", 1, [(5, 5, 4, 1), (1, 1, 4, 4), (5, 5, 4, 1), (1, 1, 4, 4)]),
        ("sep_conv_5x5", 2, [(5, 5, 4, 1), (1, 1, 4, 4), (5, 5, 4, 1), (1, 1, 4, 4)]),
        ("dil_conv_3x3", 1, [(3, 3, 4, 1), (1, 1, 4, 4)]),
        ("dil_conv_3x3", 2, [(3, 3, 4, 1), (1, 1, 4, 4)]),
        ("dil_conv_5x5", 1, [(5, 5, 4, 1), (1, 1, 4, 4)]),
        ("dil_conv_5x5", 2, [(5, 5, 4, 1), (1, 1, 4, 4)]),
    ),
)
def test_operation_weight_shapes(operation, stride, expected):
    shapes = ops.operation_weight_shapes(operation, CHANNELS, stride)
    assert shapes == expected
    assert all(isinstance(shape, tuple) for shape in shapes)


@pytest.mark.parametrize("operation, stride", CASES)
def test_weights_of_declared_shapes_are_accepted(operation, stride):
    _, weights, y = run(operation, stride)
    assert y.dtype == tf.float32
    assert len(weights) == len(ops.operation_weight_shapes(operation, CHANNELS, stride))


@pytest.mark.parametrize(
    "operation, stride",
    tuple(case for case in CASES if ops.operation_weight_shapes(case[0], CHANNELS, case[1])),
)
def test_missing_weight_is_refused(operation, stride):
    weights = random_weights(ops.operation_weight_shapes(operation, CHANNELS, stride))
    with pytest.raises(ValueError):
        ops.apply_operation(operation, inputs(), weights[:-1], stride)


@pytest.mark.parametrize(
    "operation, stride",
    tuple(case for case in CASES if ops.operation_weight_shapes(case[0], CHANNELS, case[1])),
)
def test_every_weight_is_used(operation, stride):
    """Perturbing any single weight changes the output: no declared weight is ignored."""
    x = inputs()
    weights = random_weights(ops.operation_weight_shapes(operation, CHANNELS, stride))
    base = ops.apply_operation(operation, x, weights, stride).numpy()
    for i in range(len(weights)):
        changed = list(weights)
        changed[i] = random_weights([weights[i].shape], seed=100 + i)[0]
        y = ops.apply_operation(operation, x, changed, stride).numpy()
        assert not np.allclose(y, base, atol=1e-4), f"weight {i} has no effect"


@pytest.mark.parametrize("operation, stride", CASES)
def test_weight_shapes_scale_with_channels(operation, stride):
    _, _, y = run(operation, stride, channels=6)
    assert y.shape[-1] == 6


# ------------------------------------------------------------------ outputs


@pytest.mark.parametrize("operation, stride, size", CASES_WITH_SIZE)
def test_output_shape(operation, stride, size):
    _, _, y = run(operation, stride, size)
    expected = math.ceil(size / stride)
    assert tuple(y.shape) == (BATCH, expected, expected, CHANNELS)


@pytest.mark.parametrize("operation, stride, size", CASES_WITH_SIZE)
def test_output_is_finite(operation, stride, size):
    _, _, y = run(operation, stride, size)
    assert np.all(np.isfinite(y.numpy()))


@pytest.mark.parametrize("operation, stride, size", NORMALISED)
def test_output_is_batch_normalised(operation, stride, size):
    _, _, y = run(operation, stride, size)
    mean, variance = channel_stats(y)
    np.testing.assert_allclose(mean, 0.0, atol=1e-4)
    np.testing.assert_allclose(variance, 1.0, atol=1e-2)


@pytest.mark.parametrize("size", SIZES)
def test_skip_connect_at_stride_one_is_identity(size):
    x = inputs(size)
    y = ops.apply_operation("skip_connect", x, [], 1)
    np.testing.assert_array_equal(y.numpy(), x.numpy())


@pytest.mark.parametrize("size", SIZES)
def test_skip_connect_at_stride_two_is_factorized_reduce(size):
    x = inputs(size)
    weights = random_weights(ops.operation_weight_shapes("skip_connect", CHANNELS, 2))
    y = ops.apply_operation("skip_connect", x, weights, 2)
    expected = ops.factorized_reduce(x, weights)
    np.testing.assert_allclose(y.numpy(), expected.numpy(), atol=1e-6)


@pytest.mark.parametrize("operation, stride", CASES)
def test_operations_are_deterministic(operation, stride):
    _, _, first = run(operation, stride)
    _, _, second = run(operation, stride)
    np.testing.assert_array_equal(first.numpy(), second.numpy())


@pytest.mark.parametrize(
    "operation, reduce",
    (("max_pool_3x3", np.max), ("avg_pool_3x3", np.mean)),
)
def test_pool_at_stride_one_is_bn_of_3x3_window(operation, reduce):
    """Interior pixels see the full 3x3 neighbourhood, then BN normalises."""
    x = inputs(7)
    y = ops.apply_operation(operation, x, [], 1).numpy()
    xs = x.numpy()
    pooled = np.empty((BATCH, 5, 5, CHANNELS), np.float32)
    for i, j in itertools.product(range(5), range(5)):
        pooled[:, i, j, :] = reduce(xs[:, i : i + 3, j : j + 3, :], axis=(1, 2))
    pool = tf.nn.max_pool2d if operation == "max_pool_3x3" else tf.nn.avg_pool2d
    pre_bn = pool(x, 3, 1, "SAME").numpy()
    np.testing.assert_allclose(pre_bn[:, 1:6, 1:6, :], pooled, atol=1e-5)
    np.testing.assert_allclose(y, ops.batch_norm(tf.constant(pre_bn)).numpy(), atol=1e-5)


# ------------------------------------------------------------------ dilated convolutions


@pytest.mark.parametrize("operation, size", tuple(itertools.product(DILATED, SIZES)))
def test_dilated_conv_stride_two_subsamples_stride_one(operation, size):
    """Stride 2 is the stride-1 map at even indices, then BN of what remains.

    BN is invariant under the per-channel positive affine map of the stride-1 BN,
    so `batch_norm(stride_one[:, ::2, ::2])` must equal the stride-2 output.
    """
    x = inputs(size)
    weights = random_weights(ops.operation_weight_shapes(operation, CHANNELS, 1))
    stride_one = ops.apply_operation(operation, x, weights, 1)
    stride_two = ops.apply_operation(operation, x, weights, 2)
    expected = ops.batch_norm(stride_one[:, ::2, ::2, :])
    assert stride_two.shape == expected.shape
    np.testing.assert_allclose(stride_two.numpy(), expected.numpy(), atol=1e-3)


@pytest.mark.parametrize("operation, size", tuple(itertools.product(DILATED, SIZES)))
def test_dilated_conv_stride_two_matches_zero_padded_reference(operation, size):
    """Independent NumPy reference: zero padding d*(k-1)/2, centres at 0, 2, 4, ..."""
    kernel_size = int(operation[-1])
    dilation = 2
    x = inputs(size)
    dw, pw = random_weights(ops.operation_weight_shapes(operation, CHANNELS, 2))
    pad = dilation * (kernel_size - 1) // 2
    padded = np.pad(np.maximum(x.numpy(), 0.0), [(0, 0), (pad, pad), (pad, pad), (0, 0)])
    out = math.ceil(size / 2)
    depthwise = np.zeros((BATCH, out, out, CHANNELS), np.float32)
    for i, j in itertools.product(range(out), range(out)):
        for u, v in itertools.product(range(kernel_size), range(kernel_size)):
            depthwise[:, i, j, :] += padded[:, 2 * i + dilation * u, 2 * j + dilation * v, :] * dw.numpy()[u, v, :, 0]
    pointwise = np.einsum("bhwc,cd->bhwd", depthwise, pw.numpy()[0, 0])
    expected = ops.batch_norm(tf.constant(pointwise)).numpy()
    y = ops.apply_operation(operation, x, [dw, pw], 2).numpy()
    np.testing.assert_allclose(y, expected, atol=1e-4)


# ------------------------------------------------------------------ batch_norm


@pytest.mark.parametrize("shape", ((2, 8, 8, 4), (2, 7, 7, 3), (1, 1, 2, 5)))
def test_batch_norm_per_channel_zero_mean_unit_variance(shape):
    rng = np.random.default_rng(0)
    scales = np.arange(1, shape[-1] + 1, dtype=np.float32)
    x = tf.constant(rng.normal(5.0, 1.0, shape) * scales - 3.0 * scales, tf.float32)
    y = ops.batch_norm(x)
    assert y.shape == x.shape
    mean, variance = channel_stats(y)
    np.testing.assert_allclose(mean, 0.0, atol=1e-5)
    np.testing.assert_allclose(variance, 1.0, atol=1e-3)


def test_batch_norm_of_constant_channel_is_zero_and_finite():
    x = tf.fill((2, 4, 4, 3), 7.0)
    y = ops.batch_norm(x).numpy()
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y, 0.0, atol=1e-6)


def test_batch_norm_uses_epsilon():
    x = tf.constant(np.array([-1.0, 1.0], np.float32).reshape(2, 1, 1, 1))
    y = ops.batch_norm(x).numpy().ravel()
    expected = np.array([-1.0, 1.0]) / np.sqrt(1.0 + ops.BATCH_NORM_EPSILON)
    np.testing.assert_allclose(y, expected, rtol=1e-6)


# ------------------------------------------------------------------ relu_conv_bn


@pytest.mark.parametrize(
    "kernel_size, channels_in, channels_out, stride, size",
    ((1, 4, 6, 1, 8), (3, 3, 4, 1, 7), (1, 4, 4, 2, 8), (3, 5, 2, 2, 7)),
)
def test_relu_conv_bn(kernel_size, channels_in, channels_out, stride, size):
    x = inputs(size, channels_in)
    (kernel,) = random_weights([(kernel_size, kernel_size, channels_in, channels_out)])
    y = ops.relu_conv_bn(x, (kernel,), stride)
    out = math.ceil(size / stride)
    assert tuple(y.shape) == (BATCH, out, out, channels_out)
    mean, variance = channel_stats(y)
    np.testing.assert_allclose(mean, 0.0, atol=1e-4)
    np.testing.assert_allclose(variance, 1.0, atol=1e-2)
    # ReLU first: negative inputs contribute nothing.
    same = ops.relu_conv_bn(tf.nn.relu(x), (kernel,), stride)
    np.testing.assert_allclose(y.numpy(), same.numpy(), atol=1e-5)


# ------------------------------------------------------------------ factorized_reduce


@pytest.mark.parametrize(
    "channels_in, channels_out, expected",
    (
        (4, 4, [(1, 1, 4, 2), (1, 1, 4, 2)]),
        (4, 5, [(1, 1, 4, 2), (1, 1, 4, 3)]),
        (3, 8, [(1, 1, 3, 4), (1, 1, 3, 4)]),
        (6, 1, [(1, 1, 6, 0), (1, 1, 6, 1)]),
        (5, 7, [(1, 1, 5, 3), (1, 1, 5, 4)]),
    ),
)
def test_factorized_reduce_shapes(channels_in, channels_out, expected):
    shapes = [tuple(s) for s in ops.factorized_reduce_shapes(channels_in, channels_out)]
    assert shapes == expected
    assert sum(shape[-1] for shape in shapes) == channels_out


@pytest.mark.parametrize(
    "size, channels_in, channels_out",
    ((8, 4, 4), (7, 4, 4), (8, 3, 5), (7, 5, 7), (6, 4, 8), (5, 2, 3), (1, 4, 4)),
)
def test_factorized_reduce_output(size, channels_in, channels_out):
    x = inputs(size, channels_in)
    weights = random_weights(ops.factorized_reduce_shapes(channels_in, channels_out))
    y = ops.factorized_reduce(x, weights)
    out = math.ceil(size / 2)
    assert tuple(y.shape) == (BATCH, out, out, channels_out)
    assert np.all(np.isfinite(y.numpy()))


@pytest.mark.parametrize("size", (8, 7))
def test_factorized_reduce_samples_offset_grids(size):
    """First half of the channels reads even pixels, second half odd ones (zero past the edge)."""
    x = inputs(size, 3)
    channels_out = 5
    kernel_a, kernel_b = random_weights(ops.factorized_reduce_shapes(3, channels_out))
    y = ops.factorized_reduce(x, (kernel_a, kernel_b)).numpy()
    relu = np.maximum(x.numpy(), 0.0)
    even = relu[:, ::2, ::2, :]
    shifted = np.pad(relu[:, 1:, 1:, :], [(0, 0), (0, 1), (0, 1), (0, 0)])
    odd = shifted[:, ::2, ::2, :]
    a = np.einsum("bhwc,cd->bhwd", even, kernel_a.numpy()[0, 0])
    b = np.einsum("bhwc,cd->bhwd", odd, kernel_b.numpy()[0, 0])
    expected = ops.batch_norm(tf.constant(np.concatenate([a, b], axis=-1))).numpy()
    assert a.shape[-1] == channels_out // 2
    np.testing.assert_allclose(y, expected, atol=1e-4)


# ------------------------------------------------------------------ gradients


@pytest.mark.parametrize("operation, stride, size", CASES_WITH_SIZE)
def test_gradients_exist_and_are_finite(operation, stride, size):
    x = inputs(size)
    weights = [tf.Variable(w) for w in random_weights(ops.operation_weight_shapes(operation, CHANNELS, stride))]
    x = tf.Variable(x)
    with tf.GradientTape() as tape:
        y = ops.apply_operation(operation, x, weights, stride)
        # A random projection, so BN's zero-sum gradient does not hide anything.
        upstream = tf.constant(np.random.default_rng(2).normal(size=y.shape), tf.float32)
        loss = tf.reduce_sum(y * upstream)
    gradients = tape.gradient(loss, [x, *weights])
    for variable, gradient in zip([x, *weights], gradients, strict=True):
        assert gradient is not None
        assert gradient.shape == variable.shape
        assert np.all(np.isfinite(gradient.numpy()))
    assert np.any(gradients[0].numpy() != 0.0)
    for gradient in gradients[1:]:
        assert np.any(gradient.numpy() != 0.0)


@pytest.mark.parametrize("stride", STRIDES)
def test_gradient_of_factorized_reduce_and_relu_conv_bn(stride):
    x = tf.Variable(inputs(7, 3))
    fr_weights = [tf.Variable(w) for w in random_weights(ops.factorized_reduce_shapes(3, 5))]
    (kernel,) = [tf.Variable(w) for w in random_weights([(3, 3, 3, 5)])]
    with tf.GradientTape() as tape:
        upstream = tf.constant(np.random.default_rng(3).normal(size=(BATCH, 4, 4, 5)), tf.float32)
        loss = tf.reduce_sum(ops.factorized_reduce(x, fr_weights) * upstream)
        loss += tf.reduce_sum(ops.relu_conv_bn(x, (kernel,), stride) ** 2)
    gradients = tape.gradient(loss, [x, *fr_weights, kernel])
    for gradient in gradients:
        assert gradient is not None
        assert np.all(np.isfinite(gradient.numpy()))


@pytest.mark.parametrize("operation, stride", CASES)
def test_operations_trace_in_tf_function(operation, stride):
    """The supernet runs operations inside tf.function; the result must match eager."""
    x = inputs(7)
    weights = random_weights(ops.operation_weight_shapes(operation, CHANNELS, stride))
    traced = tf.function(lambda x, w: ops.apply_operation(operation, x, w, stride))
    np.testing.assert_allclose(
        traced(x, weights).numpy(),
        ops.apply_operation(operation, x, weights, stride).numpy(),
        atol=1e-5,
    )


RELU_FIRST = tuple(case for case in CASES if ops.starts_with_relu(*case))


def test_relu_first_operations_are_the_convolutions_and_the_strided_skip():
    assert set(RELU_FIRST) == {(name, s) for name in OPERATIONS if "conv" in name for s in STRIDES} | {
        ("skip_connect", 2)
    }


@pytest.mark.parametrize("operation,stride", RELU_FIRST)
def test_an_activated_input_gives_the_same_output(operation, stride):
    x, weights, expected = run(operation, stride)
    y = ops.apply_operation(operation, tf.nn.relu(x), weights, stride, activated=True)
    np.testing.assert_allclose(y.numpy(), expected.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("operation,stride", [c for c in CASES if c not in RELU_FIRST])
def test_activated_is_refused_for_operations_that_read_the_raw_input(operation, stride):
    with pytest.raises(ValueError, match="activated.*does not start with a ReLU"):
        ops.apply_operation(operation, inputs(), [], stride, activated=True)


@pytest.mark.parametrize("size", [(6, 6), (7, 5)])
@pytest.mark.parametrize("static", [True, False])
def test_subsample_and_shift_equal_their_strided_slices_with_gradients_that_are_pads(size, static):
    assert_equal_to_strided_slices(ops.subsample, ops.shift, size, static)
