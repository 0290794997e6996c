"""Operations whose forward pass returns what their backward needs, and that backward written by hand.

By default (`Executor(saved_activations=True)`, `keras_parsec.search.executor`)
the taken branch of a slot's switch returns the outputs of its costly steps (convolutions,
pooling), and the backward branch applies the kernels' own gradient ops
(`FusedBatchNormGradV3`, `DepthwiseConv2dNativeBackprop*`, `Conv2DBackprop*`,
`AvgPoolGrad`) to them. The cheap steps (ReLU, batch norm) are rerun in the
backward from the saved tensor before them: they are memory-bound, and their
gradients run faster on inputs still in cache than on saved ones, while
saving them would double what a slot keeps (BENCHMARKS.md, "A hand-written
backward from saved activations"). The chain's last step is the exception:
only its context is needed (a batch norm's statistics, a few floats per
channel), so the forward returns that context and the backward does not
rerun it (BENCHMARKS.md, "A quiet, faster machine; the last batch norm keeps
its statistics").
Each operation is a chain of primitives;
`chain(operation, stride)` is None for those that keep recomputation:
`skip_connect` (free at stride 1, `factorized_reduce` at stride 2) and max
pooling, whose oneDNN gradient needs the workspace of a forward in the same
graph. The forward arithmetic is that of `keras_parsec.search.ops`, kernel for
kernel; tests/search/test_saved_backward.py holds the two to the same outputs
and gradients.
"""

import tensorflow as tf

from keras_parsec.search import ops
from keras_parsec.space import BATCH_NORM_EPSILON, OPERATION_SPECS


class _Primitive:
    """One step of a chain: `forward(a, kernel) -> (out, context)` and `backward`.

    `weighted`: the step takes the next weight of the operation. `rerun`: the
    step is cheap and reruns in the backward pass; otherwise its output is
    saved for the steps after it. `context` is what the backward needs
    besides the step's input (batch norm's statistics), None for most;
    `context_size` tensors of it.
    """

    weighted = False
    rerun = False
    context_size = 0

    def forward(self, a, kernel):
        raise NotImplementedError

    def backward(self, a, context, kernel, gradient):
        """`(d input, d kernel or None)` from the step's input and the output's gradient."""
        raise NotImplementedError


class _Relu(_Primitive):
    rerun = True

    def forward(self, a, kernel):
        return tf.nn.relu(a), None

    def backward(self, a, context, kernel, gradient):
        return tf.raw_ops.ReluGrad(gradients=gradient, features=a), None


class _BatchNorm(_Primitive):
    """`ops.batch_norm`: the batch's statistics, no affine parameters."""

    rerun = True
    context_size = 3  # mean, variance (or its inverse, by device), reserve

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
        return y, (mean, inverse, reserve)

    def backward(self, a, context, kernel, gradient):
        scale, _ = self._unit(a)
        mean, inverse, reserve = context
        dx = tf.raw_ops.FusedBatchNormGradV3(
            y_backprop=gradient,
            x=a,
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
        return tf.nn.conv2d(a, kernel, 1, "SAME"), None

    def backward(self, a, context, kernel, gradient):
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

    def __init__(self, size, stride, dilation):
        self.size, self.stride, self.dilation = size, stride, dilation

    def _plan(self, a):
        """`(input of the native kernel, its strides, padding, (block, paddings) of a space-to-batch or None)`."""
        if self.dilation == 1:
            return a, self.stride, "SAME", None
        if self.stride > 1:  # dilation == stride: the undilated kernel on the even pixels (ops._depthwise)
            return ops.subsample(a, self.stride), 1, "SAME", None
        pad = self.dilation * (self.size - 1) // 2
        height, width = tf.shape(a)[1], tf.shape(a)[2]
        extra_h, extra_w = (-(height + 2 * pad)) % self.dilation, (-(width + 2 * pad)) % self.dilation
        paddings = [[pad, pad + extra_h], [pad, pad + extra_w]]
        block = [self.dilation, self.dilation]
        return tf.space_to_batch_nd(a, block, paddings), 1, "VALID", (block, [[0, extra_h], [0, extra_w]])

    def forward(self, a, kernel):
        grids, stride, padding, space = self._plan(a)
        out = tf.nn.depthwise_conv2d(grids, kernel, strides=[1, stride, stride, 1], padding=padding)
        if space is not None:
            out = tf.batch_to_space(out, space[0], space[1])
        return out, None

    def backward(self, a, context, kernel, gradient):
        with tf.GradientTape() as tape:  # for the adjoint of a slice or a space-to-batch: shapes only
            tape.watch(a)
            grids, stride, padding, space = self._plan(a)
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
        return tape.gradient(grids, a, output_gradients=d_grids), d_kernel


class _AvgPool(_Primitive):
    """3x3 average pooling with SAME padding, the padding left out of each average (as DARTS')."""

    def __init__(self, size, stride):
        self.window, self.strides = [1, size, size, 1], [1, stride, stride, 1]

    def forward(self, a, kernel):
        return tf.nn.avg_pool2d(a, ksize=self.window, strides=self.strides, padding="SAME"), None

    def backward(self, a, context, kernel, gradient):
        return tf.raw_ops.AvgPoolGrad(
            orig_input_shape=tf.shape(a), grad=gradient, ksize=self.window, strides=self.strides, padding="SAME"
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
    if spec.kind == "dil_conv" and (stride == 1 or spec.dilation == stride):  # what `_Depthwise._plan` covers
        return [_Relu(), _Depthwise(spec.kernel_size, stride, spec.dilation), _Pointwise(), _BatchNorm()]
    return None


def _segments(steps):
    """Runs of step indices, each ending at a saved step (or at the chain's end): what one saved tensor feeds."""
    segments, current = [], []
    for index, step in enumerate(steps):
        current.append(index)
        if not step.rerun:
            segments.append(current)
            current = []
    return segments + ([current] if current else [])


def saved_count(operation, stride):
    """How many activations the forward of `chain` saves: one per segment after the first (0 without a chain)."""
    steps = chain(operation, stride)
    return len(_segments(steps)) - 1 if steps else 0


def context_count(operation, stride):
    """How many float32 tensors of context the forward of `chain` returns: its last step's (0 if none, or no chain)."""
    steps = chain(operation, stride)
    return steps[-1].context_size if steps else 0


def _kernels(steps, weights):
    """Per step, its weight (None for steps without one), in the order `ops` packs them."""
    remaining = list(weights)
    return [remaining.pop(0) if step.weighted else None for step in steps]


def forward(operation, stride, x, weights):
    """`(y, saved, context)`: `ops.apply_operation`'s output, and what its backward reads besides `x`.

    Returns:
        `saved`: `saved_count` activations; `context`: `context_count`
        float32 tensors, the last step's context.
    """
    steps = chain(operation, stride)
    saved, context = [], None
    for index, (step, kernel) in enumerate(zip(steps, _kernels(steps, weights))):
        x, context = step.forward(x, kernel)
        if not step.rerun and index < len(steps) - 1:  # the start of the next segment
            saved.append(x)
    return x, saved, list(context or ())


def backward(operation, stride, x, saved, context, weights, gradient):
    """`(dx, weight gradients)` of `operation` at `stride` from its input and what `forward` returned.

    Each segment reruns its cheap steps from its saved tensor, but for the
    last step, whose context `forward` returned; no convolution or pooling is recomputed.
    """
    steps = chain(operation, stride)
    kernels = _kernels(steps, weights)
    d_kernels = [None] * len(steps)
    last = len(steps) - 1
    for segment, start in reversed(list(zip(_segments(steps), [x, *saved]))):
        inputs, contexts, a = [], [], start
        for index in segment:
            inputs.append(a)
            context_of_step = None
            if index == last and context:  # its output is not needed, its context was kept
                context_of_step = tuple(context)
            elif steps[index].rerun:  # a saved step's output is never needed by its own backward
                a, context_of_step = steps[index].forward(a, kernels[index])
            contexts.append(context_of_step)
        for index, a, context in reversed(list(zip(segment, inputs, contexts))):
            gradient, d_kernels[index] = steps[index].backward(a, context, kernels[index], gradient)
    return gradient, [d for step, d in zip(steps, d_kernels) if step.weighted]
