"""The shared weights of the search network, packed one variable per (cell, node, operation).

Every edge (cell, node, input, operation) owns its weights, as in DARTS. The
eager engine keeps each of them as its own variable (about 3,000 at 8 cells);
here the weights of one operation on all inputs of one node are the rows of one
variable, each row the operation's weights flattened. A compiled pass then
picks an edge's weights with one `tf.gather(variable, input)`, and the whole
network has a few hundred variables, so a step reads, returns and updates a
few hundred tensors instead of thousands.

In reduce cells, inputs 0 and 1 are read at stride 2: `skip_connect` there is
a factorized reduction with weights, which its rows for later inputs (stride 1,
no weights) leave unused.
"""

import keras
import numpy as np

from keras_parsec import space as space_lib
from keras_parsec.search import ops
from keras_parsec.space import NUM_CELL_INPUTS, input_stride


def weight_layout(operation, channels, stride):
    """The weights of `operation` packed into one row: `[(shape, start, stop)]`.

    Args:
        operation: a candidate operation name.
        channels: channels in and out: an int, or a scalar int32 tensor inside
            a graph traced for every width.
        stride: 1 or 2.

    Returns:
        A list of the weights' shapes with their slices of the row, in
        `ops.operation_weight_shapes` order.
    """
    layout, start = [], 0
    for shape in ops.operation_weight_shapes(operation, channels, stride):
        size = 1
        for dimension in shape:
            size = size * dimension
        stop = start + size
        layout.append((shape, start, stop))
        start = stop
    return layout


def row_size(operation, channels, stride):
    """Length of one packed row of `operation` (0 for an operation without weights)."""
    layout = weight_layout(operation, channels, stride)
    return layout[-1][2] if layout else 0


def _he_uniform_row(layout, seed):
    """One packed row, each weight He-uniform for its own shape (as the eager engine initialises it)."""
    initializer = keras.initializers.HeUniform(seed=seed)
    return np.concatenate([np.reshape(initializer(shape), [-1]) for shape, _, _ in layout])


class SharedWeights(keras.layers.Layer):
    """The weights of the search network: stem, cell inputs, packed edges, classifier.

    Args:
        search_space: a `keras_parsec.SearchSpace`.
        num_classes: number of classes of the classifier.
        seed: int seed of the initialisers, or None.

    With `auxiliary`, `build` also creates DARTS' auxiliary head
    (`auxiliary_weights`, reading cell `auxiliary_index`).

    After `build(input_shape)`, `cells[i]` is a dict with `reduction`,
    `reduction_prev`, `channels`, `pre0`, `pre1` (lists of kernels) and
    `edges`: `{(node, operation): variable [node + 2, row]}` for every
    operation that has weights at some input of that node.
    """

    def __init__(self, search_space, num_classes, seed=None, auxiliary=False, **kwargs):
        super().__init__(**kwargs)
        self.search_space = search_space
        self.num_classes = int(num_classes)
        self.seed = seed
        self.auxiliary = bool(auxiliary)

    def _kernel(self, name, shape):
        return self.add_weight(name=name, shape=shape, initializer=keras.initializers.HeUniform(seed=self.seed))

    def build(self, input_shape):
        space = self.search_space
        stem_channels = space.stem_multiplier * space.filters
        self.stem_kernel = self._kernel("stem_kernel", (3, 3, input_shape[-1], stem_channels))
        plans, prev = space_lib.cell_plans(space)
        self.cells = []
        for plan in plans:
            name, channels, reduction = plan.name, plan.channels, plan.reduction
            prev_prev = plan.prev_prev_channels
            pre0 = (
                ops.factorized_reduce_shapes(prev_prev, channels)
                if plan.reduction_prev
                else [(1, 1, prev_prev, channels)]
            )
            edges = {}
            for node in range(space.num_nodes):
                for op in space.operations:
                    strides = {input_stride(reduction, s) for s in range(node + NUM_CELL_INPUTS)}
                    if max(row_size(op, channels, stride) for stride in strides):
                        edges[node, op] = self._edge_variable(f"{name}_node{node}_{op}", node, op, channels, reduction)
            self.cells.append(
                {
                    "reduction": reduction,
                    "reduction_prev": plan.reduction_prev,
                    "channels": channels,
                    "pre0": [self._kernel(f"{name}_pre0_{j}", s) for j, s in enumerate(pre0)],
                    "pre1": [self._kernel(f"{name}_pre1_0", (1, 1, plan.prev_channels, channels))],
                    "edges": edges,
                }
            )
        self.classifier_kernel = self.add_weight(
            name="classifier_kernel", shape=(prev, self.num_classes), initializer="glorot_uniform"
        )
        self.classifier_bias = self.add_weight(name="classifier_bias", shape=(self.num_classes,), initializer="zeros")
        self.auxiliary_weights = []
        if self.auxiliary:
            self.auxiliary_index, self.auxiliary_pool, shapes = ops.auxiliary_head_plan(
                space, input_shape, self.num_classes
            )
            self.auxiliary_weights = [
                self._kernel("auxiliary_conv_0", shapes[0]),
                self._kernel("auxiliary_conv_1", shapes[1]),
                self.add_weight(name="auxiliary_kernel", shape=shapes[2], initializer="glorot_uniform"),
                self.add_weight(name="auxiliary_bias", shape=shapes[3], initializer="zeros"),
            ]
        super().build(input_shape)

    def _edge_variable(self, name, node, op, channels, reduction):
        rows = []
        size = max(row_size(op, channels, input_stride(reduction, s)) for s in range(node + NUM_CELL_INPUTS))
        for source in range(node + NUM_CELL_INPUTS):
            layout = weight_layout(op, channels, input_stride(reduction, source))
            row = _he_uniform_row(layout, None if self.seed is None else self.seed + len(rows)) if layout else []
            rows.append(np.pad(np.asarray(row, "float32"), (0, size - len(row))))
        initial = np.stack(rows).astype("float32")
        return self.add_weight(name=name, shape=initial.shape, initializer=keras.initializers.Constant(initial))

    def used_rows(self, choices):
        """The rows of the edge variables that architecture `choices` reads.

        Args:
            choices: [2, num_nodes, 2] choice indices (normal, reduce).

        Returns:
            `{id(variable): set of rows}`; every other variable (stem, cell
            inputs, classifier) is used whole by every architecture.
        """
        operations = self.search_space.operations
        used = {}
        for cell in self.cells:
            for node, pair in enumerate(np.asarray(choices)[1 if cell["reduction"] else 0]):
                for choice in pair:
                    source, op_index = divmod(int(choice), len(operations))
                    op = operations[op_index]
                    stride = input_stride(cell["reduction"], source)
                    if (node, op) in cell["edges"] and row_size(op, cell["channels"], stride):
                        used.setdefault(id(cell["edges"][node, op]), set()).add(source)
        return used

    def edge_variable_ids(self):
        """The `id`s of the packed edge variables (the ones updated by rows)."""
        return {id(v) for cell in self.cells for v in cell["edges"].values()}

    def mask_sizes(self, variables):
        """Entries per variable in a `row_mask`: its rows for an edge variable, 1 for any other."""
        edges = self.edge_variable_ids()
        return [int(v.shape[0]) if id(v) in edges else 1 for v in variables]

    def row_mask(self, used_rows, variables):
        """A flat 0/1 mask of what a step used: per edge variable a 1 per row read, else a 1.

        Args:
            used_rows: `{id(variable): rows}`, as `used_rows` returns (merged over a step).
            variables: the variables, in the order of `mask_sizes`.

        Returns:
            A float32 NumPy vector of `sum(mask_sizes(variables))` entries.
        """
        edges = self.edge_variable_ids()
        mask = []
        for variable in variables:
            if id(variable) in edges:
                rows = used_rows.get(id(variable), ())
                mask += [1.0 if row in rows else 0.0 for row in range(variable.shape[0])]
            else:
                mask.append(1.0)
        return np.asarray(mask, "float32")

    def copy_from_supernet(self, net):
        """Sets these weights to the values of an eager `keras_parsec.SuperNet` of the same space.

        The two engines then compute the same function, which is how their
        equality is tested and how a search saved by the eager engine carries over.
        """
        self.stem_kernel.assign(net.stem_kernel)
        for mine, theirs in zip(self.cells, net.cells):
            for a, b in zip(mine["pre0"] + mine["pre1"], theirs["pre0"] + theirs["pre1"]):
                a.assign(b)
            for (node, op), variable in mine["edges"].items():
                value = variable.numpy()
                for source in range(node + NUM_CELL_INPUTS):
                    flat = [np.reshape(w.numpy(), [-1]) for w in theirs["edges"][node, source, op]]
                    if flat:
                        row = np.concatenate(flat)
                        value[source, : len(row)] = row
                variable.assign(value)
        self.classifier_kernel.assign(net.classifier_kernel)
        self.classifier_bias.assign(net.classifier_bias)
        for mine, theirs in zip(self.auxiliary_weights, net.auxiliary_weights):
            mine.assign(theirs)
