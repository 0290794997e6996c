"""A sampled architecture's pass as one compiled function, the architecture an int32 tensor.

`Executor(weights).logits(images, choices)` and `.gradients(images, labels,
choices)` are `tf.function`s traced once: every architecture of the space runs
through the same graph, so a search step is a handful of calls instead of the
eager engine's hundreds (BENCHMARKS.md, "Engine v2").

Inside the graph, each slot (cell, node, pair) picks its input with a
`tf.switch_case` of identities and its operation with a `tf.switch_case` whose
branches call one concrete function per (operation, stride, channels), shared
by every slot. Without XLA only the taken branch runs and untaken branches hold
no activations. The operation switch has a custom gradient: its backward
switch calls the operation's vector-Jacobian product, which recomputes the
operation. TensorFlow therefore never differentiates the switch itself (whose
gradient graph is what made the obvious design build for minutes), and the
backward pass keeps only each slot's input, as the eager engine's
`recompute=True` does. Weights an architecture does not use get exact zeros.
"""

import tensorflow as tf

from keras_parsec import ops
from keras_parsec.search import weights as weights_lib

_OPERATION_FUNCTIONS = {}  # (kind, operation, stride, channels, dtype) -> concrete function


def _unpack(row, operation, channels, stride):
    """The weights of `operation` as tensors, sliced from its packed row."""
    return [tf.reshape(row[start:stop], shape) for shape, start, stop in weights_lib.weight_layout(operation, channels, stride)]


def _operation_function(kind, operation, stride, channels, dtype):
    """The shared concrete function `forward(x, row) -> y` or `gradient(x, row, dy) -> (dx, drow)`.

    Traced once per process for each (operation, stride, channels, dtype),
    with the batch and spatial sizes left open.
    """
    key = (kind, operation, stride, channels, dtype)
    function = _OPERATION_FUNCTIONS.get(key)
    if function is not None:
        return function
    x_spec = tf.TensorSpec([None, None, None, channels], dtype)
    row_spec = tf.TensorSpec([None], dtype)

    def forward(x, row):
        return ops.apply_operation(operation, x, _unpack(row, operation, channels, stride), stride)

    def gradient(x, row, dy):
        with tf.GradientTape() as tape:
            tape.watch([x, row])
            y = forward(x, row)
        dx, drow = tape.gradient(y, [x, row], output_gradients=dy)
        return (tf.zeros_like(x) if dx is None else dx), (tf.zeros_like(row) if drow is None else drow)

    if kind == "forward":
        function = tf.function(forward, autograph=False).get_concrete_function(x_spec, row_spec)
    else:
        function = tf.function(gradient, autograph=False).get_concrete_function(x_spec, row_spec, x_spec)
    _OPERATION_FUNCTIONS[key] = function
    return function


def _switch(index, tensors):
    """`tensors[index]` for a scalar int32 tensor `index`, through identity branches."""
    if len(tensors) == 1:
        return tensors[0]
    return tf.switch_case(index, [lambda t=t: tf.identity(t) for t in tensors])


def _slot(states, rows, source, op_index, cell, operations, dtype):
    """One slot's output: `states[source]` through `operations[op_index]` with its edge's weights.

    Args:
        states: the cell's states so far (two inputs, then its nodes).
        rows: per operation, the packed row of this edge (empty without weights).
        source, op_index: scalar int32 tensors.
        cell: the cell's dict from `SharedWeights`.
        operations: the space's operation names.
        dtype: compute dtype.
    """
    channels, reduction = cell["channels"], cell["reduction"]
    groups = [(0, len(states), 1)]  # (first source, stop, stride): inputs read at one stride
    if reduction:
        groups = [(0, weights_lib.NUM_CELL_INPUTS, 2)]
        if len(states) > weights_lib.NUM_CELL_INPUTS:
            groups.append((weights_lib.NUM_CELL_INPUTS, len(states), 1))
    inputs = [_switch(tf.clip_by_value(source - lo, 0, hi - lo - 1), states[lo:hi]) for lo, hi, _ in groups]
    branch = op_index
    if len(groups) == 2:
        branch += len(operations) * tf.cast(source >= weights_lib.NUM_CELL_INPUTS, tf.int32)
    cases = [(g, op, stride) for g, (_, _, stride) in enumerate(groups) for op in operations]

    @tf.custom_gradient
    def run(*tensors):
        xs, packed = tensors[: len(inputs)], tensors[len(inputs) :]

        def forward_branch(g, o, op, stride):
            function = _operation_function("forward", op, stride, channels, dtype)
            return lambda: function(xs[g], _row(packed[o], op, channels, stride))

        branches = [forward_branch(g, operations.index(op), op, stride) for g, op, stride in cases]
        y = tf.switch_case(branch, branches) if len(branches) > 1 else branches[0]()

        def gradient(dy):
            def backward_branch(g, o, op, stride):
                function = _operation_function("gradient", op, stride, channels, dtype)

                def run_branch():
                    dx, drow = function(xs[g], _row(packed[o], op, channels, stride), dy)
                    grads = [dx if i == g else tf.zeros_like(x) for i, x in enumerate(xs)]
                    grads += [tf.zeros_like(p) for p in packed]
                    size = tf.shape(drow)[0]
                    grads[len(xs) + o] = tf.pad(drow, [[0, tf.shape(packed[o])[0] - size]])
                    return grads

                return run_branch

            backward = [backward_branch(g, operations.index(op), op, stride) for g, op, stride in cases]
            return tf.switch_case(branch, backward) if len(backward) > 1 else backward[0]()

        return y, gradient

    return run(*inputs, *rows)


def _row(packed, op, channels, stride):
    """The leading part of a packed row that `op` uses at `stride` (rows are padded to the longest stride)."""
    return packed[: weights_lib.row_size(op, channels, stride)]


def _cell_body(space, reduction, channels, dtype):
    """`(p0, p1, choices, rows_by_edge) -> cell output` for cells of one kind and width."""
    operations = space.operations
    cell = {"reduction": reduction, "channels": channels}

    def body(p0, p1, choices, edge_values):
        states = [p0, p1]
        empty = tf.zeros([0], dtype)
        for node in range(space.num_nodes):
            total = None
            for slot in range(2):
                choice = choices[node, slot]
                source, op_index = choice // len(operations), choice % len(operations)
                rows = [
                    tf.gather(edge_values[node, op], source) if (node, op) in edge_values else empty
                    for op in operations
                ]
                y = _slot(states, rows, source, op_index, cell, operations, dtype)
                total = y if total is None else total + y
            states.append(total)
        return tf.concat(states[weights_lib.NUM_CELL_INPUTS :], axis=-1)

    return body


def _cell_function(space, cell, dtype):
    """The concrete function of `_cell_body`, shared by every cell of the same kind and width.

    A network has at most five such (normal and reduce, at each width), whatever
    its depth; inside the pass each cell is one call, so the graph to trace and
    to differentiate stays that of one cell of each kind.
    """
    channels = cell["channels"]
    edge_keys = sorted(cell["edges"])
    key = ("cell", space, cell["reduction"], channels, dtype)
    function = _OPERATION_FUNCTIONS.get(key)
    if function is None:
        body = _cell_body(space, cell["reduction"], channels, dtype)

        def run(p0, p1, choices, values):
            return body(p0, p1, choices, dict(zip(edge_keys, values)))

        state = tf.TensorSpec([None, None, None, channels], dtype)
        specs = [tf.TensorSpec(cell["edges"][k].shape, dtype) for k in edge_keys]
        function = tf.function(run, autograph=False).get_concrete_function(
            state, state, tf.TensorSpec([space.num_nodes, 2], tf.int32), specs
        )
        _OPERATION_FUNCTIONS[key] = function
    return function, edge_keys


def cell_output(weights, cell, s0, s1, choices, dtype):
    """A cell of architecture `choices` ([num_nodes, 2] int32 tensor) on inputs `s0`, `s1`."""
    read = lambda w: tf.cast(w, dtype)  # noqa: E731
    pre0 = ops.factorized_reduce if cell["reduction_prev"] else ops.relu_conv_bn
    p0 = pre0(s0, [read(w) for w in cell["pre0"]])
    p1 = ops.relu_conv_bn(s1, [read(w) for w in cell["pre1"]])
    function, edge_keys = _cell_function(weights.search_space, cell, dtype)
    return function(p0, p1, choices, [read(cell["edges"][k]) for k in edge_keys])


def architecture_logits(weights, images, choices, dtype=tf.float32):
    """Logits of architecture `choices` ([2, num_nodes, 2] int32 tensor) on `images`, in graph mode."""
    x = tf.cast(images, dtype)
    s0 = s1 = ops.batch_norm(tf.nn.conv2d(x, tf.cast(weights.stem_kernel, dtype), 1, "SAME"))
    for cell in weights.cells:
        cell_choices = choices[1 if cell["reduction"] else 0]
        s0, s1 = s1, cell_output(weights, cell, s0, s1, cell_choices, dtype)
    pooled = tf.reduce_mean(s1, axis=[1, 2])
    return tf.matmul(pooled, tf.cast(weights.classifier_kernel, dtype)) + tf.cast(weights.classifier_bias, dtype)


class Executor:
    """The compiled passes of one `SharedWeights`: forward, and loss with gradients.

    Args:
        weights: a built `SharedWeights`.
        dtype: compute dtype (float16 or bfloat16 under mixed precision).

    Attributes:
        traces: how many times each pass was traced (a new architecture adds none).
    """

    def __init__(self, weights, dtype="float32"):
        self.weights = weights
        self.dtype = tf.as_dtype(dtype)
        self.variables = list(weights.trainable_variables)
        self.traces = {"logits": 0, "gradients": 0}
        self.logits = tf.function(self._logits, autograph=False, reduce_retracing=True)
        self.gradients = tf.function(self._gradients, autograph=False, reduce_retracing=True)

    def _logits(self, images, choices):
        self.traces["logits"] += 1
        return architecture_logits(self.weights, images, tf.cast(choices, tf.int32), self.dtype)

    def _gradients(self, images, labels, choices):
        """`(loss, logits, gradients)`: mean cross-entropy and its gradient for every variable (zeros if unused)."""
        self.traces["gradients"] += 1
        with tf.GradientTape() as tape:
            logits = architecture_logits(self.weights, images, tf.cast(choices, tf.int32), self.dtype)
            labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=tf.cast(logits, tf.float32))
            loss = tf.reduce_mean(losses)
        gradients = tape.gradient(loss, self.variables)
        gradients = [tf.zeros_like(v) if g is None else tf.convert_to_tensor(g) for v, g in zip(self.variables, gradients)]
        return loss, logits, gradients
