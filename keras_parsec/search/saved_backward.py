"""Operations whose forward pass returns what their backward needs, and that backward written by hand.

The executor's switch recomputes the taken operation in its backward pass
(`keras_parsec.search.executor`). With `Executor(saved_activations=True)` the
taken branch instead returns the tensors its vector-Jacobian product reads,
and the backward branch applies the kernels' own gradient ops to them
(`FusedBatchNormGradV3`, `DepthwiseConv2dNativeBackprop*`, `Conv2DBackprop*`,
`AvgPoolGrad`), recomputing nothing. Each operation is a chain of primitives;
`chain(operation, stride)` is None for those that keep recomputation:
`skip_connect` (free at stride 1, `factorized_reduce` at stride 2) and max
pooling, whose oneDNN gradient needs the workspace of a forward in the same
graph (BENCHMARKS.md, "A hand-written backward from saved activations"). The
forward arithmetic is that of `keras_parsec.search.ops`, kernel for kernel;
tests/search/test_saved_backward.py holds the two to the same outputs and
gradients.
"""

import tensorflow as tf

from keras_parsec.space import BATCH_NORM_EPSILON, OPERATION_SPECS


class _Primitive:
    """One step of a chain: `forward(a, kernel) -> (out, activations, statistics)`, `backward`.

    `activations` are in the compute dtype and `statistics` in float32, so that
    every branch of a switch can return them in two padded lists. `weighted`:
    the step takes the next weight of the operation. `saves`: how many
    activations and statistics `forward` returns.
    """

    weighted = False
    saves = (1, 0)

    def forward(self, a, kernel):
        raise NotImplementedError

    def backward(self, activations, statistics, kernel, gradient):
        """`(d input, d kernel or None)` from what `forward` saved and the output's gradient."""
        raise NotImplementedError


class _Relu(_Primitive):
    def forward(self, a, kernel):
        out = tf.nn.relu(a)
        return out, [out], []

    def backward(self, activations, statistics, kernel, gradient):
        return tf.raw_ops.ReluGrad(gradients=gradient, features=activations[0]), None


class _BatchNorm(_Primitive):
    """`ops.batch_norm`: the batch's statistics, no affine parameters."""

    saves = (1, 3)

    @staticmethod
    def _unit(a):
        channels = tf.shape(a)[-1]
        return tf.ones([channels], tf.float32), tf.zeros([channels], tf.float32)

    def forward(self, a, kernel):
        scale, offset = self._unit(a)
        empty = tf.constant([], tf.float32)
        y, _, _, mean, inverse, reserve = tf.raw_ops.FusedBatchNormV3(
            x=a, scale=scale, offset=offset, mean=empty, variance=empty, epsilon=BATCH_NORM_EPSILON, is_training=True
        )
        return y, [a], [mean, inverse, reserve]

    def backward(self, activations, statistics, kernel, gradient):
        scale, _ = self._unit(activations[0])
        mean, inverse, reserve = statistics
        dx = tf.raw_ops.FusedBatchNormGradV3(
            y_backprop=gradient,
            x=activations[0],
            scale=scale,
            reserve_space_1=mean,
            reserve_space_2=inverse,
            reserve_space_3=reserve,
            epsilon=BATCH_NORM_EPSILON,
            is_training=True,
        )[0]
        return dx, None


class _Pointwise(_Primitive):
    """A 1x1 convolution at stride 1."""

    weighted = True

    def forward(self, a, kernel):
        return tf.nn.conv2d(a, kernel, 1, "SAME"), [a], []

    def backward(self, activations, statistics, kernel, gradient):
        (a,) = activations
        strides, padding = [1, 1, 1, 1], "SAME"
        da = tf.raw_ops.Conv2DBackpropInput(
            input_sizes=tf.shape(a), filter=kernel, out_backprop=gradient, strides=strides, padding=padding
        )
        d_kernel = tf.raw_ops.Conv2DBackpropFilter(
            input=a, filter_sizes=tf.shape(kernel), out_backprop=gradient, strides=strides, padding=padding
        )
        return da, d_kernel


class _Depthwise(_Primitive):
    """`ops._depthwise` of a `size`x`size` kernel at `stride` and `dilation` (SAME padding), for any channel count."""

    weighted = True
    saves = (2, 0)

    def __init__(self, size, stride, dilation):
        self.size, self.stride, self.dilation = size, stride, dilation

    def _plan(self, a, kernel):
        """`(input of the native kernel, its strides, padding, (block, paddings) of a space-to-batch or None)`."""
        if self.dilation == 1:
            return a, self.stride, "SAME", None
        if self.stride > 1:  # dilation == stride: the undilated kernel on the even pixels (ops._depthwise)
            return a[:, :: self.stride, :: self.stride, :], 1, "SAME", None
        pad = self.dilation * (self.size - 1) // 2
        height, width = tf.shape(a)[1], tf.shape(a)[2]
        extra_h, extra_w = (-(height + 2 * pad)) % self.dilation, (-(width + 2 * pad)) % self.dilation
        paddings = [[pad, pad + extra_h], [pad, pad + extra_w]]
        block = [self.dilation, self.dilation]
        return tf.space_to_batch_nd(a, block, paddings), 1, "VALID", (block, [[0, extra_h], [0, extra_w]])

    def forward(self, a, kernel):
        if self.dilation > 1 and self.stride > 1 and self.dilation != self.stride:
            raise ValueError(f"no hand backward for dilation {self.dilation} at stride {self.stride}")
        grids, stride, padding, space = self._plan(a, kernel)
        out = tf.nn.depthwise_conv2d(grids, kernel, strides=[1, stride, stride, 1], padding=padding)
        if space is not None:
            out = tf.batch_to_space(out, space[0], space[1])
        return out, [a, grids], []

    def backward(self, activations, statistics, kernel, gradient):
        a, grids = activations
        _, stride, padding, space = self._plan(a, kernel)
        if space is not None:  # the adjoint of batch_to_space
            gradient = tf.space_to_batch_nd(gradient, space[0], space[1])
        strides = [1, stride, stride, 1]
        d_grids = tf.raw_ops.DepthwiseConv2dNativeBackpropInput(
            input_sizes=tf.shape(grids), filter=kernel, out_backprop=gradient, strides=strides, padding=padding
        )
        d_kernel = tf.raw_ops.DepthwiseConv2dNativeBackpropFilter(
            input=grids, filter_sizes=tf.shape(kernel), out_backprop=gradient, strides=strides, padding=padding
        )
        if self.dilation == 1:
            return d_grids, d_kernel
        with tf.GradientTape() as tape:  # the adjoint of a slice or a space-to-batch: shapes only, nothing recomputed
            tape.watch(a)
            mapped = self._plan(a, kernel)[0]
        return tape.gradient(mapped, a, output_gradients=d_grids), d_kernel


class _AvgPool(_Primitive):
    """3x3 average pooling with SAME padding, the padding left out of each average (as DARTS')."""

    def __init__(self, size, stride):
        self.window, self.strides = [1, size, size, 1], [1, stride, stride, 1]

    def forward(self, a, kernel):
        return tf.nn.avg_pool2d(a, ksize=self.window, strides=self.strides, padding="SAME"), [a], []

    def backward(self, activations, statistics, kernel, gradient):
        shape = tf.shape(activations[0])
        return tf.raw_ops.AvgPoolGrad(
            orig_input_shape=shape, grad=gradient, ksize=self.window, strides=self.strides, padding="SAME"
        ), None


def chain(operation, stride):
    """The primitives of `operation` at `stride`, in forward order, or None where it keeps recomputation."""
    spec = OPERATION_SPECS[operation]
    if spec.kind == "avg_pool":
        return [_AvgPool(spec.kernel_size, stride), _BatchNorm()]
    if spec.kind == "sep_conv":
        size = spec.kernel_size
        block = [_Relu(), _Depthwise(size, stride, 1), _Pointwise(), _BatchNorm()]
        return block + [_Relu(), _Depthwise(size, 1, 1), _Pointwise(), _BatchNorm()]
    if spec.kind == "dil_conv":
        return [_Relu(), _Depthwise(spec.kernel_size, stride, spec.dilation), _Pointwise(), _BatchNorm()]
    return None


def counts(operation, stride):
    """`(activations, statistics)`: how many tensors of each the forward of `chain` saves (0, 0 without one)."""
    steps = chain(operation, stride) or []
    return sum(step.saves[0] for step in steps), sum(step.saves[1] for step in steps)


def forward(operation, stride, x, weights):
    """`(y, activations, statistics)`: `ops.apply_operation`'s output and what its backward reads."""
    activations, statistics, remaining = [], [], list(weights)
    for step in chain(operation, stride):
        x, saved, stats = step.forward(x, remaining.pop(0) if step.weighted else None)
        activations += saved
        statistics += stats
    return x, activations, statistics


def backward(operation, stride, activations, statistics, weights, gradient):
    """`(dx, weight gradients)` of `operation` at `stride` from what `forward` saved, recomputing nothing."""
    steps = chain(operation, stride)
    kernels, remaining = [], list(weights)
    for step in steps:
        kernels.append(remaining.pop(0) if step.weighted else None)
    d_weights = []
    a_stop, s_stop = len(activations), len(statistics)
    for step, kernel in reversed(list(zip(steps, kernels))):
        a_start, s_start = a_stop - step.saves[0], s_stop - step.saves[1]
        gradient, d_kernel = step.backward(activations[a_start:a_stop], statistics[s_start:s_stop], kernel, gradient)
        a_stop, s_stop = a_start, s_start
        if step.weighted:
            d_weights.insert(0, d_kernel)
    return gradient, d_weights
