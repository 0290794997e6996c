"""A sampled architecture's pass as one compiled function, the architecture an int32 tensor.

`Executor(weights).logits(images, choices)` and `.gradients(images, labels,
choices)` are `tf.function`s traced once: every architecture of the space runs
through the same graph, so a search step is a handful of calls instead of the
eager engine's hundreds (BENCHMARKS.md, "Engine v2").

Inside the graph, each slot (cell, node, pair) picks its input with a switch
of identities and its operation with a switch whose branches hold the
operations themselves. Without XLA only the taken branch runs and untaken
branches hold no activations. The operation switch has a custom gradient: its
backward switch runs the operation's vector-Jacobian product, which recomputes
the operation (`saved_activations=False`) or, by default, applies the
kernels' gradient ops to the tensors the taken branch saved
(`saved_backward`). TensorFlow therefore never differentiates the switch
itself (whose gradient graph is what made the obvious design build for
minutes). Each cell is one call of a function shared by every
cell of its kind, at any width. Weights an architecture does not use get
exact zeros. Whether a branch holds its operation or calls a function shared
by every slot is `Executor(operation_calls=...)`: the first where the host
bounds the step (a GPU), the second on a CPU; whether the switches stay
functional Case ops or are lowered to Switch/Merge is `lowered`
(BENCHMARKS.md, "Engine v2").
"""

import collections

import tensorflow as tf

# Private TensorFlow API, isolated here: `tf.switch_case` with the choice of
# lowering to Switch/Merge (`tf.switch_case` lowers outside XLA). Lowered, every
# untaken branch's nodes run as dead tensors and the first call optimises the
# whole lowered graph; kept functional (the default), only the taken branch
# runs and the 8-cell passes build faster (BENCHMARKS.md). Upstream: tensorflow/python/ops/cond_v2.py `indexed_case`
# (TF 2.16-2.21); tests/search/test_executor.py fails loudly if it moves.
from tensorflow.python.ops import cond_v2

from keras_parsec.search import ops, saved_backward
from keras_parsec.search import weights as weights_lib
from keras_parsec.space import NUM_CELL_INPUTS

# ("cell" | "forward" | "gradient", ...) -> concrete function, shared by every network of the process.
_FUNCTIONS = {}

# How passes are compiled (see `Executor`).
Options = collections.namedtuple("Options", "open_width operation_calls lowered saved_activations")


def _channels(x):
    """The width of `x`: an int where the trace knows it, else a scalar tensor."""
    return x.shape[-1] if x.shape[-1] is not None else tf.shape(x)[-1]


def _unpack(row, operation, channels, stride):
    """The weights of `operation` as tensors, sliced from its packed row."""
    return [
        tf.reshape(row[start:stop], shape)
        for shape, start, stop in weights_lib.weight_layout(operation, channels, stride)
    ]


def _row(packed, operation, channels, stride):
    """The leading part of a packed row that `operation` uses at `stride` (rows are padded to the longest stride)."""
    return packed[: weights_lib.row_size(operation, channels, stride)]


def _forward(operation, stride):
    """`(x, row) -> y`: `operation` at `stride` with the weights packed in `row`."""

    def forward(x, row):
        return ops.apply_operation(operation, x, _unpack(row, operation, _channels(x), stride), stride)

    return forward


def _concrete(kind, operation, stride, dtype, channels):
    """An operation's function of `_KINDS` as a concrete function shared by every slot (batch and size left open)."""
    key = (kind, operation, stride, dtype, channels)
    function = _FUNCTIONS.get(key)
    if function is None:
        x_spec = tf.TensorSpec([None, None, None, channels], dtype)
        row_spec = tf.TensorSpec([None], dtype)
        if kind == "saved_gradient":
            specs = [row_spec, x_spec, x_spec] + [tf.TensorSpec([None] * 4, dtype)] * saved_backward.saved_count(
                operation, stride
            )
        else:
            specs = [x_spec, row_spec] + ([x_spec] if kind == "gradient" else [])
        python_function = _KINDS[kind](operation, stride)
        function = tf.function(python_function, autograph=False).get_concrete_function(*specs)
        _FUNCTIONS[key] = function
    return function


def _operation(kind, operation, stride, dtype, channels, calls):
    """An operation's function of `_KINDS`: traced into its branch, or (`calls`) a call of `_concrete`."""
    if calls:
        return _concrete(kind, operation, stride, dtype, channels)
    return _KINDS[kind](operation, stride)


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
    """`(x, row) -> (y, *saved)`: `_forward` and the tensors `saved_backward` reads besides `x`."""

    def saving(x, row):
        y, saved = saved_backward.forward(operation, stride, x, _unpack(row, operation, _channels(x), stride))
        return (y, *saved)

    return saving


def _saved_gradient(operation, stride):
    """`(row, x, dy, *saved) -> (dx, drow)`: the vector-Jacobian product from `x` and `_saving`'s tensors."""

    def gradient(row, x, dy, *saved):
        weights = _unpack(row, operation, _channels(dy), stride)
        dx, d_weights = saved_backward.backward(operation, stride, x, list(saved), weights, dy)
        drow = tf.concat([tf.reshape(d, [-1]) for d in d_weights], 0) if d_weights else tf.zeros_like(row)
        return dx, drow

    return gradient


# kind -> (operation, stride) -> the Python function `_concrete` traces
_KINDS = {"forward": _forward, "gradient": _gradient, "saving": _saving, "saved_gradient": _saved_gradient}


def switch_case(index, branches, lowered=False):
    """`branches[index]()` for a scalar int32 tensor `index`.

    Args:
        index: scalar int32 tensor.
        branches: no-argument callables.
        lowered: lower the Case op to Switch/Merge nodes of the enclosing
            graph instead of keeping it a functional Case op, whose branches
            run as functions of their own.
    """
    if len(branches) == 1:
        return branches[0]()
    return cond_v2.indexed_case(index, branches, lower_using_switch_merge=lowered)


def _padded(tensors, count, dtype):
    """`tensors` followed by empty rank-4 tensors of `dtype` up to `count`: every branch of a switch returns as many."""
    return list(tensors) + [tf.zeros([0] * 4, dtype) for _ in range(count - len(tensors))]


def _switch(index, tensors, lowered):
    """`tensors[index]` for a scalar int32 tensor `index`, through identity branches."""
    return switch_case(index, [lambda t=t: tf.identity(t) for t in tensors], lowered)


def _slot(states, edges, source, op_index, reduction, operations, dtype, options):
    """One slot's output: `states[source]` through `operations[op_index]` with its edge's weights.

    Args:
        states: the cell's states so far (two inputs, then its nodes).
        edges: per operation, its packed edge matrix [len(states), row] for
            this node (zero columns without weights); only the taken
            branch reads its row, and only that row gets a gradient.
        source, op_index: scalar int32 tensors.
        reduction: whether the cell is a reduce cell.
        operations: the space's operation names.
        dtype: compute dtype.
        options: the executor's `Options` (whether branches call shared
            per-operation functions, whether switches are lowered, whether
            the backward reads saved activations instead of recomputing).
    """
    calls, lowered = options.operation_calls, options.lowered
    channels = _channels(states[1])
    groups = [(0, len(states), 1)]  # (first source, stop, stride): inputs read at one stride
    if reduction:
        groups = [(0, NUM_CELL_INPUTS, 2)]
        if len(states) > NUM_CELL_INPUTS:
            groups.append((NUM_CELL_INPUTS, len(states), 1))
    inputs = [_switch(tf.clip_by_value(source - lo, 0, hi - lo - 1), states[lo:hi], lowered) for lo, hi, _ in groups]
    branch = op_index
    if len(groups) == 2:
        branch += len(operations) * tf.cast(source >= NUM_CELL_INPUTS, tf.int32)
    cases = [(g, o, op, stride) for g, (_, _, stride) in enumerate(groups) for o, op in enumerate(operations)]

    @tf.custom_gradient
    def run(*tensors):
        xs, matrices = tensors[: len(inputs)], tensors[len(inputs) :]

        def row(o, op, stride):
            return _row(tf.gather(matrices[o], source), op, channels, stride)

        width = states[1].shape[-1]
        # Per case, whether its backward reads saved tensors (`saved_backward`), and how many its forward saves.
        hands = [options.saved_activations and saved_backward.chain(op, stride) is not None for *_, op, stride in cases]
        sizes = [saved_backward.saved_count(op, stride) if hand else 0 for hand, (*_, op, stride) in zip(hands, cases)]
        most = max(sizes)

        def forward_branch(g, o, op, stride, hand):
            function = _operation("saving" if hand else "forward", op, stride, dtype, width, calls)
            if not options.saved_activations:
                return lambda: function(xs[g], row(o, op, stride))

            def run_branch():
                y, *saved = function(xs[g], row(o, op, stride)) if hand else [function(xs[g], row(o, op, stride))]
                return [y, *_padded(saved, most, dtype)]

            return run_branch

        branches = [forward_branch(*case, hand) for case, hand in zip(cases, hands)]
        outputs = switch_case(branch, branches, lowered)
        y, saved = (outputs[0], outputs[1:]) if options.saved_activations else (outputs, ())

        def gradient(dy):
            def backward_branch(g, o, op, stride, hand, size):
                function = _operation("saved_gradient" if hand else "gradient", op, stride, dtype, width, calls)

                def run_branch():
                    if hand:
                        dx, drow = function(row(o, op, stride), xs[g], dy, *saved[:size])
                    else:
                        dx, drow = function(xs[g], row(o, op, stride), dy)
                    grads = [dx if i == g else tf.zeros_like(x) for i, x in enumerate(xs)]
                    grads += [tf.zeros_like(m) for m in matrices]
                    if matrices[o].shape[1] != 0:  # an operation with weights: its row gets drow
                        padded = tf.pad(drow, [[0, tf.shape(matrices[o])[1] - tf.shape(drow)[0]]])
                        grads[len(xs) + o] = tf.tensor_scatter_nd_update(grads[len(xs) + o], [[source]], [padded])
                    return grads

                return run_branch

            backward = [backward_branch(*case, hand, size) for case, hand, size in zip(cases, hands, sizes)]
            return switch_case(branch, backward, lowered)

        return y, gradient

    return run(*inputs, *edges)


def _cell_body(space, reduction, dtype, options):
    """`(p0, p1, choices, edge matrices) -> cell output` for cells of one kind, at any width."""
    operations = space.operations

    def body(p0, p1, choices, edge_values):
        states = [p0, p1]
        sources, op_indices = choices // len(operations), choices % len(operations)
        for node in range(space.num_nodes):
            no_weights = tf.zeros([node + NUM_CELL_INPUTS, 0], dtype)
            edges = [edge_values.get((node, op), no_weights) for op in operations]
            total = None
            for slot in range(2):
                y = _slot(
                    states, edges, sources[node, slot], op_indices[node, slot], reduction, operations, dtype, options
                )
                total = y if total is None else total + y
            states.append(total)
        return tf.concat(states[NUM_CELL_INPUTS:], axis=-1)

    return body


def _cell_function(space, cell, dtype, options):
    """The concrete function of `_cell_body`, shared by every cell of the same kind.

    With `options.open_width`, two per space (normal and reduce), whatever the depth
    and the widths; else one per kind and width. Inside the pass each cell is
    one call, so the graph to trace and to differentiate stays that of one
    cell of each kind.
    """
    edge_keys = sorted(cell["edges"])
    channels = None if options.open_width else cell["channels"]
    key = ("cell", space, cell["reduction"], dtype, channels, *options[1:])  # open_width shows in `channels`
    function = _FUNCTIONS.get(key)
    if function is None:
        body = _cell_body(space, cell["reduction"], dtype, options)

        def run(p0, p1, choices, values):
            return body(p0, p1, choices, dict(zip(edge_keys, values)))

        state = tf.TensorSpec([None, None, None, channels], dtype)
        specs = [
            tf.TensorSpec(cell["edges"][k].shape if channels else [cell["edges"][k].shape[0], None], dtype)
            for k in edge_keys
        ]
        function = tf.function(run, autograph=False, experimental_attributes={"_noinline": True}).get_concrete_function(
            state, state, tf.TensorSpec([space.num_nodes, 2], tf.int32), specs
        )
        _FUNCTIONS[key] = function
    return function, edge_keys


def cell_output(weights, cell, s0, s1, choices, dtype, options):
    """A cell of architecture `choices` ([num_nodes, 2] int32 tensor) on inputs `s0`, `s1`."""
    read = lambda w: tf.cast(w, dtype)  # noqa: E731
    pre0 = ops.factorized_reduce if cell["reduction_prev"] else ops.relu_conv_bn
    p0 = pre0(s0, [read(w) for w in cell["pre0"]])
    p1 = ops.relu_conv_bn(s1, [read(w) for w in cell["pre1"]])
    function, edge_keys = _cell_function(weights.search_space, cell, dtype, options)
    return function(p0, p1, choices, [read(cell["edges"][k]) for k in edge_keys])


def architecture_outputs(weights, images, choices, dtype, options, auxiliary=False):
    """Logits of architecture `choices` ([2, num_nodes, 2] int32 tensor) on `images`, in graph mode.

    Returns:
        `(logits, auxiliary_logits)`: the second is None unless `auxiliary`
        and the weights have an auxiliary head.
    """
    read = lambda tensors: [tf.cast(w, dtype) for w in tensors]  # noqa: E731
    s0 = s1 = ops.stem(tf.cast(images, dtype), read([weights.stem_kernel]))
    auxiliary_logits = None
    for index, cell in enumerate(weights.cells):
        cell_choices = choices[1 if cell["reduction"] else 0]
        s0, s1 = s1, cell_output(weights, cell, s0, s1, cell_choices, dtype, options)
        if auxiliary and weights.auxiliary_weights and index == weights.auxiliary_index:
            auxiliary_logits = ops.auxiliary_head(s1, read(weights.auxiliary_weights), weights.auxiliary_pool)
    logits = ops.classifier(s1, read([weights.classifier_kernel, weights.classifier_bias]))
    return logits, auxiliary_logits


class Executor:
    """The compiled passes of one `SharedWeights`: forward, and loss with gradients.

    Args:
        weights: a built `SharedWeights`.
        dtype: compute dtype (float16 or bfloat16 under mixed precision).
        open_width: trace one cell function per kind for every width (fast
            builds) rather than one per kind and width.
        operation_calls: switch branches call one shared function per
            operation instead of holding the operation. None (default): only
            where no GPU is visible. Held in the branch, a step makes fewer
            calls (what bounds it on a GPU); on a CPU the operations held in
            a functional Case branch run without TensorFlow's oneDNN rewrite,
            several times slower, while called functions get it.
        lowered: lower the switches to Switch/Merge nodes of the cell's graph
            (False: functional Case ops). Each operation then runs at about
            its speed in one graph, but the build takes longer and a whole
            step gains little on this CPU (BENCHMARKS.md, "Engine v2").
        saved_activations: the taken branch returns the outputs of its
            convolutions and pooling, and the backward applies the kernels'
            gradient ops to them (`saved_backward`), rerunning only ReLUs and
            batch norms. False: every operation is recomputed from the slot's
            input (less activation memory, more time; BENCHMARKS.md, "Engine v2").

    Attributes:
        traces: how many times each pass was traced (a new architecture adds none).
    """

    def __init__(
        self, weights, dtype="float32", open_width=True, operation_calls=None, lowered=False, saved_activations=True
    ):
        self.weights = weights
        self.dtype = tf.as_dtype(dtype)
        if operation_calls is None:
            operation_calls = not tf.config.list_physical_devices("GPU")
        self.options = Options(bool(open_width), bool(operation_calls), bool(lowered), bool(saved_activations))
        self.variables = list(weights.trainable_variables)
        self.traces = {"logits": 0, "gradients": 0}
        self.logits = tf.function(self._logits, autograph=False, reduce_retracing=True)
        self.gradients = tf.function(self._gradients, autograph=False, reduce_retracing=True)

    def _logits(self, images, choices):
        self.traces["logits"] += 1
        return self.pass_logits(images, choices)

    def pass_logits(self, images, choices):
        """The logits of architecture `choices` on `images`, not to be differentiated, inside a `tf.function`."""
        return self.pass_outputs(images, choices, differentiated=False)[0]

    def pass_outputs(self, images, choices, auxiliary=False, differentiated=True):
        """`(logits, auxiliary_logits)` of architecture `choices`, inside a `tf.function` (`architecture_outputs`).

        A pass that is not `differentiated` saves nothing for a backward, even with `saved_activations`.
        """
        choices = tf.cast(choices, tf.int32)
        options = self.options if differentiated else self.options._replace(saved_activations=False)
        return architecture_outputs(self.weights, images, choices, self.dtype, options, auxiliary)

    def _gradients(self, images, labels, choices):
        """`(loss, logits, gradients)`: mean cross-entropy and its gradient for every variable (zeros if unused)."""
        self.traces["gradients"] += 1
        with tf.GradientTape() as tape:
            logits = self.pass_outputs(images, choices)[0]
            loss = tf.reduce_mean(ops.cross_entropy(labels, logits))
        gradients = tape.gradient(loss, self.variables)
        gradients = [
            tf.zeros_like(v) if g is None else tf.convert_to_tensor(g) for v, g in zip(self.variables, gradients)
        ]
        return loss, logits, gradients
