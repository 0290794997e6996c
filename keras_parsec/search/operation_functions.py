"""An operation's compiled functions, shared by every slot that can run it.

A slot of the compiled pass runs one of the space's operations on weights
packed into one row (`weights`). Each operation has four functions of
`(operation, stride)`, traced once per (operation, stride, dtype, width) with
batch and image size left open: the forward; the forward that also returns
the tensors its backward reads (`saved_backward`); the vector-Jacobian product
recomputing the operation; and the one applying the kernels' gradient ops to
the saved tensors. A switch branch either holds the function's operations or
calls its concrete function (`cells`).
"""

import tensorflow as tf

from keras_parsec.search import ops, saved_backward
from keras_parsec.search import weights as weights_lib

# ("cell" | kind, ...) -> concrete function, shared by every network of the process (`cells` adds the cells).
FUNCTIONS = {}


def channels(x):
    """The width of `x`: an int where the trace knows it, else a scalar tensor."""
    return x.shape[-1] if x.shape[-1] is not None else tf.shape(x)[-1]


def unpack(row, operation, width, stride):
    """The weights of `operation` as tensors, split from the start of its packed row (one op, not a slice each)."""
    layout = weights_lib.weight_layout(operation, width, stride)
    if not layout:
        return []
    sizes = [stop - start for _, start, stop in layout]
    parts = tf.split(row, tf.stack(sizes + [tf.size(row) - layout[-1][2]]), num=len(sizes) + 1)
    return [tf.reshape(part, shape) for part, (shape, _, _) in zip(parts, layout)]


def leading_row(packed, operation, width, stride):
    """The leading part of a packed row that `operation` uses at `stride` (rows are padded to the longest stride)."""
    return packed[: weights_lib.row_size(operation, width, stride)]


def _forward(operation, stride):
    """`(x, row) -> y`: `operation` at `stride` with the weights packed in `row`."""

    def forward(x, row):
        return ops.apply_operation(operation, x, unpack(row, operation, channels(x), stride), stride)

    return forward


def _gradient(operation, stride):
    """`(x, row, dy) -> (dx, drow)`: the vector-Jacobian product of `_forward`, recomputing the operation."""
    forward = _forward(operation, stride)

    def gradient(x, row, dy):
        with tf.GradientTape() as tape:
            tape.watch([x, row])
            y = forward(x, row)
        dx, drow = tape.gradient(y, [x, row], output_gradients=dy)
        return (tf.zeros_like(x) if dx is None else dx), (tf.zeros_like(row) if drow is None else drow)

    return gradient


def _saving(operation, stride):
    """`(x, row) -> (y, *saved, *context)`: `_forward` and the tensors `saved_backward` reads besides `x`."""

    def saving(x, row):
        y, saved, context = saved_backward.forward(operation, stride, x, unpack(row, operation, channels(x), stride))
        return (y, *saved, *context)

    return saving


def _saved_gradient(operation, stride):
    """`(row, x, dy, *saved, *context) -> (dx, drow)`: the vector-Jacobian product from `x` and `_saving`'s tensors."""
    count = saved_backward.saved_count(operation, stride)

    def gradient(row, x, dy, *tensors):
        weights = unpack(row, operation, channels(dy), stride)
        saved, context = list(tensors[:count]), list(tensors[count:])
        dx, d_weights = saved_backward.backward(operation, stride, x, saved, context, weights, dy)
        drow = tf.concat([tf.reshape(d, [-1]) for d in d_weights], 0) if d_weights else tf.zeros_like(row)
        return dx, drow

    return gradient


# kind -> (operation, stride) -> the Python function `concrete` traces
KINDS = {"forward": _forward, "gradient": _gradient, "saving": _saving, "saved_gradient": _saved_gradient}


def concrete(kind, operation, stride, dtype, width):
    """An operation's function of `KINDS` as a concrete function shared by every slot (batch and size left open)."""
    key = (kind, operation, stride, dtype, width)
    function = FUNCTIONS.get(key)
    if function is None:
        x_spec = tf.TensorSpec([None, None, None, width], dtype)
        row_spec = tf.TensorSpec([None], dtype)
        if kind == "saved_gradient":
            count = saved_backward.saved_count(operation, stride)
            specs = [row_spec, x_spec, x_spec] + [tf.TensorSpec([None] * 4, dtype)] * count
            specs += [tf.TensorSpec(None, tf.float32)] * saved_backward.context_count(operation, stride)
        else:
            specs = [x_spec, row_spec] + ([x_spec] if kind == "gradient" else [])
        python_function = KINDS[kind](operation, stride)
        function = tf.function(python_function, autograph=False).get_concrete_function(*specs)
        FUNCTIONS[key] = function
    return function


def operation_function(kind, operation, stride, dtype, width, calls):
    """An operation's function of `KINDS`: traced into its branch, or (`calls`) a call of `concrete`."""
    if calls:
        return concrete(kind, operation, stride, dtype, width)
    return KINDS[kind](operation, stride)
