"""A cell of the compiled pass, its architecture an int32 tensor, with one hand-written backward.

Each slot (node, pair) of a cell picks its input with a switch of identities
and its operation with a switch over the space's operations (`switch_case`);
without XLA only the taken branches run, and untaken ones hold no
activations. The backward of the whole cell is written here rather than left
to TensorFlow: walking the nodes in reverse, it runs each slot's operation
backward in a switch (`operation_functions`: recomputing the operation, or
applying the kernels' gradient ops to the tensors its forward saved) and adds
the input's gradient to the one state the slot read, through a switch that
passes every other state's gradient on untouched. TensorFlow's gradient of an
input switch would instead fill a zero tensor for every state the slot could
have read, and sum them all (BENCHMARKS.md, "One backward per cell").

Every cell of one kind is one call of a function shared at any width, so the
graph traced and differentiated is that of one cell of each kind.
"""

import tensorflow as tf

# Private TensorFlow API, isolated here: `tf.switch_case` with the choice of
# lowering to Switch/Merge (`tf.switch_case` lowers outside XLA). Lowered (the
# default on a CPU), every untaken branch's nodes run as dead tensors, the first
# call optimises the whole lowered graph and oneDNN's rewrites reach every
# operation; kept functional (the default on a GPU), only the taken branch runs
# as a function of its own and the passes build faster (BENCHMARKS.md).
# Upstream: tensorflow/python/ops/cond_v2.py `indexed_case` (TF 2.16-2.21);
# tests/search/test_cells.py fails loudly if it moves.
from tensorflow.python.ops import cond_v2

from keras_parsec.search import operation_functions as functions
from keras_parsec.search import ops, saved_backward
from keras_parsec.space import NUM_CELL_INPUTS


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


def _padded(tensors, count, dtype, rank=4):
    """`tensors` followed by empty tensors of `dtype` up to `count`: every branch of a switch returns as many."""
    return list(tensors) + [tf.zeros([0] * rank, dtype) for _ in range(count - len(tensors))]


def _switch(index, tensors, lowered):
    """`tensors[index]` for a scalar int32 tensor `index`, through identity branches."""
    return switch_case(index, [lambda t=t: tf.identity(t) for t in tensors], lowered)


def input_groups(reduction, count):
    """`[(first source, stop, stride)]`: a slot's `count` possible inputs, grouped by the stride they are read at."""
    if not reduction:
        return [(0, count, 1)]
    return [(0, NUM_CELL_INPUTS, 2)] + ([(NUM_CELL_INPUTS, count, 1)] if count > NUM_CELL_INPUTS else [])


def _slot(states, edges, source, op_index, reduction, operations, dtype, options):
    """One slot: `states[source]` through `operations[op_index]` with its edge's weights.

    Args:
        states: the cell's states so far (two inputs, then its nodes).
        edges: per operation, its packed edge matrix [len(states), row] for
            this node (zero columns without weights); only the taken
            branch reads its row.
        source, op_index: scalar int32 tensors.
        reduction: whether the cell is a reduce cell.
        operations: the space's operation names.
        dtype: compute dtype.
        options: the executor's `Options` (whether branches call shared
            per-operation functions, whether switches are lowered, whether
            the backward reads saved activations instead of recomputing).

    Returns:
        `(y, backward)`: `backward(dy)` returns, per input group, the
        gradient of the input read (an empty tensor for a group not read),
        and, per operation, the gradient of its edge matrix (exact zeros but
        for the row read).
    """
    calls, lowered = options.operation_calls, options.lowered
    width, groups = states[1].shape[-1], input_groups(reduction, len(states))
    inputs = [_switch(tf.clip_by_value(source - lo, 0, hi - lo - 1), states[lo:hi], lowered) for lo, hi, _ in groups]
    branch = op_index
    if len(groups) == 2:
        branch += len(operations) * tf.cast(source >= NUM_CELL_INPUTS, tf.int32)
    cases = [(g, o, op, stride) for g, (_, _, stride) in enumerate(groups) for o, op in enumerate(operations)]
    # Per case, whether its backward reads saved tensors (`saved_backward`), how many activations its forward
    # saves, and how many float32 tensors of context it returns; branches return the most of each, padded.
    hands = [options.saved_activations and saved_backward.chain(op, stride) is not None for *_, op, stride in cases]
    sizes = [saved_backward.saved_count(op, stride) if hand else 0 for hand, (*_, op, stride) in zip(hands, cases)]
    contexts = [saved_backward.context_count(op, s) if hand else 0 for hand, (*_, op, s) in zip(hands, cases)]
    most, most_context = max(sizes), max(contexts)

    def row(o, op, stride):
        return functions.leading_row(tf.gather(edges[o], source), op, functions.channels(states[1]), stride)

    def forward_branch(g, o, op, stride, hand, size):
        function = functions.operation_function("saving" if hand else "forward", op, stride, dtype, width, calls)

        def run_branch():
            if not options.saved_activations:
                return function(inputs[g], row(o, op, stride))
            y, *saved = function(inputs[g], row(o, op, stride)) if hand else [function(inputs[g], row(o, op, stride))]
            return [y, *_padded(saved[:size], most, dtype), *_padded(saved[size:], most_context, tf.float32, 1)]

        return run_branch

    branches = [forward_branch(*case, hand, size) for case, hand, size in zip(cases, hands, sizes)]
    outputs = switch_case(branch, branches, lowered)
    y, saved = (outputs[0], outputs[1:]) if options.saved_activations else (outputs, ())
    saved, context = saved[:most], saved[most:]

    def backward(dy):
        def backward_branch(g, o, op, stride, hand, size, context_size):
            function = functions.operation_function(
                "saved_gradient" if hand else "gradient", op, stride, dtype, width, calls
            )

            def run_branch():
                if hand:
                    dx, drow = function(row(o, op, stride), inputs[g], dy, *saved[:size], *context[:context_size])
                else:
                    dx, drow = function(inputs[g], row(o, op, stride), dy)
                grads = [dx if i == g else tf.zeros([0] * 4, dtype) for i in range(len(inputs))]
                matrices = [tf.zeros_like(m) for m in edges]
                if edges[o].shape[1] != 0:  # an operation with weights: its row gets drow
                    padded = tf.pad(drow, [[0, tf.shape(edges[o])[1] - tf.shape(drow)[0]]])
                    matrices[o] = tf.tensor_scatter_nd_update(matrices[o], [[source]], [padded])
                return grads + matrices

            return run_branch

        branches = [backward_branch(*case, *counts) for case, *counts in zip(cases, hands, sizes, contexts)]
        gradients = switch_case(branch, branches, lowered)
        return gradients[: len(inputs)], gradients[len(inputs) :]

    return y, backward


def _add_at(source, gradients, increments, groups, lowered):
    """`gradients` with the increment of its group added to entry `source`; the others passed on untouched."""
    group_of = [g for g, (lo, hi, _) in enumerate(groups) for _ in range(lo, hi)]

    def branch(i):
        return lambda: [t + increments[group_of[i]] if j == i else tf.identity(t) for j, t in enumerate(gradients)]

    added = switch_case(source, [branch(i) for i in range(len(gradients))], lowered)
    added = list(added) if isinstance(added, (list, tuple)) else [added]
    for tensor, gradient in zip(added, gradients):
        tensor.set_shape(gradient.shape)
    return added


def _cell_body(space, reduction, dtype, options):
    """`(p0, p1, choices, edge matrices) -> cell output` for cells of one kind, at any width, with its backward."""
    operations, num_nodes = space.operations, space.num_nodes

    def body(p0, p1, choices, edge_values):
        keys = sorted(edge_values)
        sources, op_indices = choices // len(operations), choices % len(operations)

        @tf.custom_gradient
        def cell(p0, p1, *values):
            by_key = dict(zip(keys, values))
            states, slots = [p0, p1], []
            for node in range(num_nodes):
                no_weights = tf.zeros([node + NUM_CELL_INPUTS, 0], dtype)
                edges = [by_key.get((node, op), no_weights) for op in operations]
                total = None
                for pair in range(2):
                    source, op_index = sources[node, pair], op_indices[node, pair]
                    y, backward = _slot(states, edges, source, op_index, reduction, operations, dtype, options)
                    slots.append((node, source, backward, input_groups(reduction, len(states))))
                    total = y if total is None else total + y
                states.append(total)

            def gradient(d_output):
                d_states = [tf.zeros_like(p0), tf.zeros_like(p1)] + tf.split(d_output, num_nodes, axis=-1)
                d_edges = {}
                for node, source, backward, groups in reversed(slots):  # every reader of a node comes after it
                    d_inputs, d_matrices = backward(d_states[NUM_CELL_INPUTS + node])
                    readable = NUM_CELL_INPUTS + node
                    d_states[:readable] = _add_at(source, d_states[:readable], d_inputs, groups, options.lowered)
                    for op, d_matrix in zip(operations, d_matrices):
                        if (node, op) in by_key:
                            d_edges[node, op] = d_matrix + d_edges[node, op] if (node, op) in d_edges else d_matrix
                return [d_states[0], d_states[1]] + [d_edges[key] for key in keys]

            return tf.concat(states[NUM_CELL_INPUTS:], axis=-1), gradient

        return cell(p0, p1, *[edge_values[key] for key in keys])

    return body


def _cell_function(space, cell, dtype, options):
    """The concrete function of `_cell_body`, shared by every cell of the same kind.

    With `options.open_width`, two per space (normal and reduce), whatever the depth
    and the widths; else one per kind and width. Inside the pass each cell is
    one call, so the graph to trace and to differentiate stays that of one
    cell of each kind. With `options.inline_cells` the calls are inlined when
    the pass runs (the trace stays that small; the optimised graph does not).
    """
    edge_keys = sorted(cell["edges"])
    width = None if options.open_width else cell["channels"]
    key = ("cell", space, cell["reduction"], dtype, width, *options[1:])  # open_width shows in `width`
    function = functions.FUNCTIONS.get(key)
    if function is None:
        body = _cell_body(space, cell["reduction"], dtype, options)

        def run(p0, p1, choices, values):
            return body(p0, p1, choices, dict(zip(edge_keys, values)))

        state = tf.TensorSpec([None, None, None, width], dtype)
        specs = [
            tf.TensorSpec(cell["edges"][k].shape if width else [cell["edges"][k].shape[0], None], dtype)
            for k in edge_keys
        ]
        attributes = {} if options.inline_cells else {"_noinline": True}
        function = tf.function(run, autograph=False, experimental_attributes=attributes).get_concrete_function(
            state, state, tf.TensorSpec([space.num_nodes, 2], tf.int32), specs
        )
        functions.FUNCTIONS[key] = function
    return function, edge_keys


def preprocess(cell, which, x, dtype, activated=False):
    """Cell input `which` (0 or 1) of `cell` prepared from `x` (ReLU, convolution, batch norm; DARTS' preprocessing).

    Args:
        activated: `x` is already `relu(x)`, shared by several inputs.
    """
    read = [tf.cast(w, dtype) for w in cell[f"pre{which}"]]
    prepare = ops.factorized_reduce if which == 0 and cell["reduction_prev"] else ops.relu_conv_bn
    return prepare(x, read, activated=activated)


def cell_output(weights, cell, s0, s1, choices, dtype, options, preprocessed=()):
    """A cell of architecture `choices` ([num_nodes, 2] int32 tensor) on inputs `s0`, `s1`.

    `preprocessed`: the cell's first prepared inputs, where they are already
    computed (the shared prefix, `executor.prefix_outputs`); the matching `s0`,
    `s1` are then not read.
    """
    p0 = preprocessed[0] if len(preprocessed) > 0 else preprocess(cell, 0, s0, dtype)
    p1 = preprocessed[1] if len(preprocessed) > 1 else preprocess(cell, 1, s1, dtype)
    function, edge_keys = _cell_function(weights.search_space, cell, dtype, options)
    return function(p0, p1, choices, [tf.cast(cell["edges"][k], dtype) for k in edge_keys])
