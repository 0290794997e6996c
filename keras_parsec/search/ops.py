"""Candidate operations of the DARTS cell space as pure functions of explicit weights.

Every operation is a function ``(x, weights, stride) -> y`` of a NHWC tensor and a
tuple of weight tensors, with a matching ``*_shapes`` entry that says which weights
it needs. Keeping the weights outside the computation lets the supernet share one
traced graph per (operation, input shape) across every edge that uses it, and lets
the discrete networks reuse exactly the same arithmetic.

Batch normalisation here is DARTS' search-time flavour: no affine parameters and
always the statistics of the current batch. Running averages would mix every
sampled architecture into one estimate and mean nothing for any single one.
"""

import tensorflow as tf

from keras_parsec import errors, space
from keras_parsec.space import BATCH_NORM_EPSILON, starts_with_relu


def batch_norm(x):
    """Normalises each channel of `x` by the statistics of the current batch.

    Args:
        x: NHWC tensor.

    Returns:
        Tensor of the same shape, zero mean and unit variance per channel.
    """
    channels = x.shape[-1] if x.shape[-1] is not None else tf.shape(x)[-1]
    y, _, _ = tf.compat.v1.nn.fused_batch_norm(
        x,
        scale=tf.ones([channels], tf.float32),
        offset=tf.zeros([channels], tf.float32),
        epsilon=BATCH_NORM_EPSILON,
        is_training=True,
    )
    return y


def subsample(x, stride):
    """`x[:, ::stride, ::stride, :]`, as a reshape and a slice.

    Same values; its gradient is a pad instead of TensorFlow's strided-slice
    gradient, several times slower (BENCHMARKS.md, "Slices whose gradient is a pad").
    """
    dims = [x.shape[i] if x.shape[i] is not None else tf.shape(x)[i] for i in range(4)]
    height, width = dims[1], dims[2]
    extra = [(-height) % stride, (-width) % stride]
    if not all(isinstance(e, int) and e == 0 for e in extra):  # odd sizes: SAME rounds up
        x = tf.pad(x, [[0, 0], [0, extra[0]], [0, extra[1]], [0, 0]])
    height, width = (height + stride - 1) // stride, (width + stride - 1) // stride
    blocks = tf.reshape(x, [dims[0], height, stride, width, stride, dims[3]])
    return tf.reshape(tf.slice(blocks, [0] * 6, [-1, -1, 1, -1, 1, -1]), [dims[0], height, width, dims[3]])


def shift(x):
    """`x` moved up and left by one pixel, zeros entering at the bottom and right (`factorized_reduce`).

    A slice and a pad, whose gradient is a slice and a pad (`subsample`).
    """
    return tf.pad(tf.slice(x, [0, 1, 1, 0], [-1, -1, -1, -1]), [[0, 0], [0, 1], [0, 1], [0, 0]])


def _same_padding_conv(x, kernel, stride, dilation=1):
    return tf.nn.conv2d(x, kernel, strides=stride, padding="SAME", dilations=dilation)


def _dilated_depthwise(x, kernel, dilation):
    """Stride-1 depthwise convolution with `dilation` and SAME padding, for any channel count.

    `tf.nn.depthwise_conv2d` needs the kernel's shape when dilated; a graph
    traced once for every width (`keras_parsec.search.executor`) has only its
    spatial size. This is the same space-to-batch rewrite TensorFlow applies:
    the input padded by `dilation * (k - 1) / 2` on each side (and up to a
    multiple of `dilation`), split into `dilation**2` phase grids, each
    convolved undilated, and interleaved back.
    """
    pad = dilation * (kernel.shape[0] - 1) // 2
    height, width = tf.shape(x)[1], tf.shape(x)[2]
    extra_h, extra_w = (-(height + 2 * pad)) % dilation, (-(width + 2 * pad)) % dilation
    grids = tf.space_to_batch_nd(x, [dilation, dilation], [[pad, pad + extra_h], [pad, pad + extra_w]])
    y = tf.nn.depthwise_conv2d(grids, kernel, strides=[1, 1, 1, 1], padding="VALID")
    return tf.batch_to_space(y, [dilation, dilation], [[0, extra_h], [0, extra_w]])


def _depthwise(x, kernel, stride, dilation=1):
    if dilation > 1 and stride == 1 and kernel.shape[2] is None:
        return _dilated_depthwise(x, kernel, dilation)
    if dilation > 1 and stride > 1:
        # TensorFlow refuses stride and dilation together. With dilation equal to
        # the stride (DARTS: 2 and 2) every tap of an output centre 0, 2, 4, ...
        # falls on an even index, so the dilated strided convolution (PyTorch's
        # zero padding d*(k-1)/2) is the undilated one on the even pixels: a
        # quarter of the work of a stride-1 pass subsampled afterwards.
        if dilation == stride:
            return tf.nn.depthwise_conv2d(subsample(x, stride), kernel, strides=[1, 1, 1, 1], padding="SAME")
        y = tf.nn.depthwise_conv2d(x, kernel, strides=[1, 1, 1, 1], padding="SAME", dilations=[dilation] * 2)
        return subsample(y, stride)
    return tf.nn.depthwise_conv2d(
        x,
        kernel,
        strides=[1, stride, stride, 1],
        padding="SAME",
        dilations=[dilation] * 2,
    )


def relu_conv_bn(x, weights, stride=1, activated=False):
    """ReLU, a KxK convolution and batch normalisation (cell input preprocessing).

    Args:
        x: NHWC tensor.
        weights: `(kernel,)`, kernel of shape [K, K, C_in, C_out].
        stride: int.
        activated: `x` is already `relu(x)`, as `apply_operation` says.

    Returns:
        NHWC tensor with C_out channels.
    """
    (kernel,) = weights
    return batch_norm(_same_padding_conv(x if activated else tf.nn.relu(x), kernel, stride))


def factorized_reduce(x, weights, stride=2, activated=False):
    """Halves the resolution with two offset 1x1 strided convolutions (DARTS).

    Args:
        x: NHWC tensor with even-agnostic spatial size.
        weights: `(kernel_a, kernel_b)`, each [1, 1, C_in, C_out // 2].
        stride: must be 2; kept for the common operation signature.
        activated: `x` is already `relu(x)`, as `apply_operation` says.

    Returns:
        NHWC tensor at half resolution with C_out channels.
    """
    kernel_a, kernel_b = weights
    x = x if activated else tf.nn.relu(x)
    a = _same_padding_conv(x, kernel_a, stride)
    b = _same_padding_conv(shift(x), kernel_b, stride)
    return batch_norm(tf.concat([a, b], axis=-1))


def _no_weights(channels, stride):
    del channels, stride
    return []


def _pool(pool_fn):
    def build(spec):
        def apply(x, weights, stride):
            del weights
            return batch_norm(pool_fn(x, ksize=spec.kernel_size, strides=stride, padding="SAME"))

        return apply, _no_weights

    return build


def skip_connect(x, weights, stride, activated=False):
    """Identity at stride 1, `factorized_reduce` at stride 2."""
    if stride == 1:
        return x
    return factorized_reduce(x, weights, stride, activated)


def _skip_shapes(channels, stride):
    if stride == 1:
        return []
    return factorized_reduce_shapes(channels, channels)


def factorized_reduce_shapes(channels_in, channels_out):
    """Weight shapes of `factorized_reduce` from `channels_in` to `channels_out`."""
    return [(1, 1, channels_in, channels_out // 2), (1, 1, channels_in, channels_out - channels_out // 2)]


def _separable(spec):
    k = spec.kernel_size

    def apply(x, weights, stride, activated=False):
        dw1, pw1, dw2, pw2 = weights
        x = x if activated else tf.nn.relu(x)
        y = batch_norm(_same_padding_conv(_depthwise(x, dw1, stride), pw1, 1))
        return batch_norm(_same_padding_conv(_depthwise(tf.nn.relu(y), dw2, 1), pw2, 1))

    def shapes(channels, stride):
        del stride
        depthwise, pointwise = (k, k, channels, 1), (1, 1, channels, channels)
        return [depthwise, pointwise, depthwise, pointwise]

    apply.__doc__ = f"Two stacked ReLU-depthwise {k}x{k}-pointwise-BN blocks."
    return apply, shapes


def _dilated(spec):
    k, dilation = spec.kernel_size, spec.dilation

    def apply(x, weights, stride, activated=False):
        dw, pw = weights
        y = _depthwise(x if activated else tf.nn.relu(x), dw, stride, dilation=dilation)
        return batch_norm(_same_padding_conv(y, pw, 1))

    def shapes(channels, stride):
        del stride
        return [(k, k, channels, 1), (1, 1, channels, channels)]

    apply.__doc__ = f"ReLU, depthwise {k}x{k} with dilation {dilation}, pointwise, BN."
    return apply, shapes


# kind of `space.OPERATION_SPECS` -> builder(spec) -> (function, shapes)
_BUILDERS = {
    "max_pool": _pool(tf.nn.max_pool2d),
    "avg_pool": _pool(tf.nn.avg_pool2d),
    "skip": lambda spec: (skip_connect, _skip_shapes),
    "sep_conv": _separable,
    "dil_conv": _dilated,
}
# name -> (function(x, weights, stride), shapes(channels, stride) -> list of weight shapes)
OPERATION_REGISTRY = {name: _BUILDERS[spec.kind](spec) for name, spec in space.OPERATION_SPECS.items()}


def stem(x, weights):
    """3x3 convolution and batch normalisation on the images."""
    return batch_norm(tf.nn.conv2d(x, weights[0], 1, "SAME"))


def classifier(x, weights):
    """Global average pooling and a dense layer: the logits."""
    kernel, bias = weights
    return tf.matmul(tf.reduce_mean(x, axis=[1, 2]), kernel) + bias


def auxiliary_head_plan(search_space, input_shape, num_classes):
    """Where DARTS' auxiliary head reads and the shapes of its weights, shrunk to fit small feature maps.

    Args:
        search_space: a `keras_parsec.SearchSpace`.
        input_shape: the images' shape (batch, height, width, channels).
        num_classes: number of classes.

    Returns:
        `(cell index, pool size, weight shapes)`: the head reads the output of
        cell `2 * num_cells // 3` (as `CellNetwork` does).
    """
    index = 2 * search_space.num_cells // 3
    reductions = sum(1 for cell in range(index + 1) if search_space.is_reduction(cell))
    side = min(input_shape[1], input_shape[2])
    for _ in range(reductions):
        side = -(-side // 2)
    channels = search_space.filters * 2**reductions * search_space.num_nodes
    pool = min(5, side)
    pooled = min(2, (side - pool) // 3 + 1)
    return index, pool, [(1, 1, channels, 128), (pooled, pooled, 128, 768), (768, num_classes), (num_classes,)]


def auxiliary_head(x, weights, pool):
    """DARTS' AuxiliaryHeadCIFAR: ReLU, 3-strided average pooling, 1x1 conv 128, BN, ReLU, conv 768, BN, ReLU, dense."""
    conv_0, conv_1, kernel, bias = weights
    x = tf.nn.avg_pool2d(tf.nn.relu(x), pool, 3, "VALID")
    x = tf.nn.relu(batch_norm(tf.nn.conv2d(x, conv_0, 1, "VALID")))
    x = tf.nn.relu(batch_norm(tf.nn.conv2d(x, conv_1, 1, "VALID")))
    return classifier(x, [kernel, bias])


def cross_entropy(labels, logits):
    """Per-example sparse softmax cross-entropy, in float32."""
    labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=tf.cast(logits, tf.float32))


def operation_weight_shapes(operation, channels, stride):
    """Shapes of the weights `operation` needs on `channels` channels at `stride`.

    Args:
        operation: a name from `keras_parsec.space.OPERATIONS`.
        channels: int, channels in and out.
        stride: 1 or 2.

    Returns:
        List of weight shapes (tuples), possibly empty.
    """
    return [tuple(s) for s in OPERATION_REGISTRY[operation][1](channels, stride)]


def apply_operation(operation, x, weights, stride, activated=False):
    """Runs `operation` on `x` with the given weights.

    Args:
        operation: a name from `keras_parsec.space.OPERATIONS`.
        x: NHWC tensor.
        weights: sequence of weight tensors shaped as `operation_weight_shapes` says.
        stride: 1 or 2.
        activated: `x` is already `relu(input)`, for an operation that
            `starts_with_relu`: several operations reading one tensor can
            then share one ReLU output instead of storing one each.

    Returns:
        NHWC tensor, same channels, spatial size divided by `stride`.
    """
    function = OPERATION_REGISTRY[operation][0]
    if activated:
        if not starts_with_relu(operation, stride):
            raise errors.invalid_argument(
                "activated",
                f"False for {operation} at stride {stride}, which does not start with a ReLU",
                activated,
                "pass the raw input with activated=False",
            )
        return function(x, tuple(weights), stride, activated=True)
    return function(x, tuple(weights), stride)
