"""How the eager engine (`EagerSuperNet`) holds its weights and runs a pass.

Execution model (chosen by measurement before the default
engine existed, see `benchmarks/engine.py`): each
candidate operation is a `tf.function` traced once per (operation, stride, input
shape) and shared by every edge that uses it, and an architecture is composed
from those compiled pieces eagerly. A step therefore allocates exactly the
activations of the architecture that runs, the K architectures of a step run one
after another, and no graph ever holds the ~10^20 alternatives. Graph-mode
dispatch with `tf.switch_case` was measured at 30x slower graph builds.

What the eager composition must do by hand that a compiled graph does for free:
node sums and concatenations run as compiled functions (eager `Add`/`ConcatV2`
keep their inputs on the tape), a state read by several ReLU-first operations is
ReLU'd once (graph CSE), and recomputation is traced into each compiled
operation rather than wrapped around eager calls. What no single graph could
do: the K architectures of a step share one stem and the preprocessing of its
output (`shared_prefix`), forward and backward.
"""

import numpy as np
import tensorflow as tf

from keras_parsec import errors
from keras_parsec import space as space_lib
from keras_parsec.search import ops
from keras_parsec.search.ops import classifier, cross_entropy, stem

NORMAL, REDUCE = 0, 1


class EagerPasses:
    """The eager engine's weights (one variable per edge weight) and passes, mixed into `EagerSuperNet`.

    Expects of the model it is mixed into: `search_space`, `num_classes`,
    `recompute`, `auxiliary_weight`, `auxiliary_index`, `distribution`,
    `compute_dtype`, `add_weight` and a `_compiled` dict.
    """

    # ---------------------------------------------------------------- weights
    def _conv_weight(self, name, shape):
        return self.add_weight(name=name, shape=shape, initializer="he_uniform")

    def build(self, input_shape):
        space = self.search_space
        stem_channels = space.stem_multiplier * space.filters
        self.stem_kernel = self._conv_weight("stem_kernel", (3, 3, input_shape[-1], stem_channels))
        plans, prev = space_lib.cell_plans(space)
        self.cells = []
        for plan in plans:
            name, channels = plan.name, plan.channels
            if plan.reduction_prev:
                shapes = ops.factorized_reduce_shapes(plan.prev_prev_channels, channels)
            else:
                shapes = [(1, 1, plan.prev_prev_channels, channels)]
            edges = {}
            for node in range(space.num_nodes):
                for source in range(node + space_lib.NUM_CELL_INPUTS):
                    stride = space_lib.input_stride(plan.reduction, source)
                    for op in space.operations:
                        edges[node, source, op] = [
                            self._conv_weight(f"{name}_node{node}_from{source}_{op}_{j}", shape)
                            for j, shape in enumerate(ops.operation_weight_shapes(op, channels, stride))
                        ]
            self.cells.append(
                {
                    "reduction": plan.reduction,
                    "reduction_prev": plan.reduction_prev,
                    "pre0": [self._conv_weight(f"{name}_pre0_{j}", s) for j, s in enumerate(shapes)],
                    "pre1": [self._conv_weight(f"{name}_pre1_0", (1, 1, plan.prev_channels, channels))],
                    "edges": edges,
                }
            )
        self._build_auxiliary_head(input_shape)
        self.classifier_kernel = self.add_weight(
            name="classifier_kernel", shape=(prev, self.num_classes), initializer="glorot_uniform"
        )
        self.classifier_bias = self.add_weight(name="classifier_bias", shape=(self.num_classes,), initializer="zeros")
        super().build(input_shape)

    # ---------------------------------------------------------------- forward
    def _apply(self, key, python_function, inputs, weights):
        """Runs `python_function(inputs, weights)`, compiled once per key and input shapes.

        Concrete functions are cached and called directly: that skips the
        `tf.function` dispatch, a third of the per-call cost in eager mode.

        Args:
            key: hashable name of the computation.
            python_function: `(inputs, weights) -> tensor`.
            inputs: a tensor or a tuple of tensors.
            weights: list of variables or tensors.
        """
        weights = [tf.cast(w, self.compute_dtype) for w in weights]  # float16 under mixed precision
        if tf.inside_function():
            return python_function(inputs, weights)
        flat = inputs if isinstance(inputs, tuple) else (inputs,)
        signature = (key, tuple((tuple(t.shape), t.dtype) for t in flat), tuple(tuple(w.shape) for w in weights))
        function = self._compiled.get(signature)
        if function is None:
            specs = tuple(tf.TensorSpec(t.shape, t.dtype) for t in flat)
            function = tf.function(python_function, autograph=False).get_concrete_function(
                specs if isinstance(inputs, tuple) else specs[0], [tf.TensorSpec(w.shape, w.dtype) for w in weights]
            )
            self._compiled[signature] = function
        return function(inputs, weights)

    def architecture_logits(self, images, choices, recompute=None, prefix=None):
        """Logits of the architecture `choices` on `images`.

        Args:
            images: NHWC float tensor.
            choices: [2, num_nodes, 2] choice indices (normal, reduce) as an int
                array or nested Python ints.
            recompute: a recompute policy (see `SuperNet`); default
                `self.recompute`. Forward-only passes (search batch, validation)
                pass False: with no gradient to take there is nothing to save.
            prefix: `shared_prefix(images)`, computed once for all the
                architectures of a step; None computes it here.

        Returns:
            Logits [batch, num_classes].
        """
        choices = np.asarray(choices).tolist()
        policy = self.recompute if recompute is None else check_recompute(recompute)
        first_reduction = min(self.search_space.reduction_indices, default=len(self.cells))
        if prefix is None:
            x = tf.cast(images, self.compute_dtype)
            # The stem is cheap to recompute (3 input channels) and its output is the widest tensor.
            stem_output = self._run("stem", stem, x, [self.stem_kernel], policy is not False)
        else:
            stem_output = None  # only read by the preprocessing that `prefix` holds
        s0 = s1 = stem_output
        # Every cell output feeds the ReLU-first preprocessing of the next two
        # cells: without recomputation they share one stored ReLU (r0, r1).
        r0 = r1 = None
        for index, cell in enumerate(self.cells):
            recompute_cell = policy is True or (policy == "early_cells" and index < first_reduction)
            p0, p1 = prefix[index] if prefix is not None and index < len(prefix) else (None, None)
            shared = not recompute_cell
            in0, in1 = s0, s1
            if shared:
                if p1 is None:
                    r1 = self._run("relu", _relu, s1, [], False) if r1 is None else r1
                    in1 = r1
                if p0 is None:
                    r0 = r1 if s0 is s1 else (self._run("relu", _relu, s0, [], False) if r0 is None else r0)
                    in0 = r0
            if p0 is None:
                p0 = self._preprocess(cell, 0, in0, shared, recompute_cell)
            if p1 is None:
                p1 = self._preprocess(cell, 1, in1, shared, recompute_cell)
            cell_choices = choices[REDUCE if cell["reduction"] else NORMAL]
            s0, s1 = s1, self._cell(p0, p1, cell, cell_choices, recompute_cell)
            r0, r1 = r1, None
            if index == self.auxiliary_index and self.auxiliary_weights and recompute is not False:
                self._auxiliary_input = s1  # read by auxiliary_loss, in the same tape; forward-only passes keep none
        return self._apply("classifier", classifier, s1, [self.classifier_kernel, self.classifier_bias])

    def _preprocess(self, cell, which, x, activated, recompute):
        """Cell input `which` (0: two cells back, 1: the previous cell) brought to the cell's channels."""
        reduces = which == 0 and cell["reduction_prev"]
        kind = "reduce_input" if reduces else "preprocess"
        return self._run((kind, activated), PREPROCESS[reduces, activated], x, cell[f"pre{which}"], recompute)

    def shared_prefix(self, images):
        """What every architecture computes alike on `images`: the stem and the preprocessing of its output.

        The stem output is both inputs of the first cell and the first input of
        the second, and no choice touches it: a step computes these once for
        its K architectures (forward, and backward in `weighted_gradients`).

        Returns:
            A list with, per leading cell, its preprocessed inputs `(p0, p1)`,
            None where an input depends on the architecture.
        """
        x = tf.cast(images, self.compute_dtype)
        activated = self._run("relu", _relu, self._run("stem", stem, x, [self.stem_kernel], False), [], False)
        prefix = [(self._preprocess(cell, 0, activated, True, False), None) for cell in self.cells[:2]]
        prefix[0] = (prefix[0][0], self._preprocess(self.cells[0], 1, activated, True, False))
        return prefix

    def prefix_variables(self):
        """The weights `shared_prefix` reads."""
        return [self.stem_kernel] + [w for cell in self.cells[:2] for w in cell["pre0"]] + self.cells[0]["pre1"]

    def _cell(self, s0, s1, cell, choices, recompute):
        """One cell of architecture `choices`.

        Memory: the ReLU that most operations start with runs once per state
        and its output is shared by every operation that reads the state (as
        graph-mode common-subexpression elimination would), and the node sums
        and the concatenation run as compiled functions: eager `Add`/`ConcatV2`
        would keep their inputs on the tape for shapes alone. Together these
        took the activation memory without recomputation from 2.27x to about
        1.2x that of the same architecture compiled as one graph.
        """
        states = [s0, s1]
        activated = {}
        operations = self.search_space.operations
        for node in range(self.search_space.num_nodes):
            output = None
            for choice in choices[node]:
                source, op_index = divmod(int(choice), len(operations))
                op = operations[op_index]
                stride = space_lib.input_stride(cell["reduction"], source)
                edge = cell["edges"][node, source, op]
                # Recomputed, an operation keeps only its input: a separate ReLU would store one more tensor.
                x, relu_first = states[source], ops.starts_with_relu(op, stride) and not recompute
                if relu_first:
                    if source not in activated:
                        activated[source] = self._run("relu", _relu, x, [], False)
                    x = activated[source]
                operation = _bound_operation(op, stride, relu_first)
                # Max pooling is always recomputed: taped apart from its forward, TensorFlow's
                # max-pool gradient takes a slow kernel (4-9x the pass compiled as one graph).
                recompute_op = recompute or op == "max_pool_3x3"
                output = self._run((op, stride, relu_first), operation, x, edge, recompute_op, addend=output)
            states.append(output)
        return self._apply("concat", _concat, tuple(states[space_lib.NUM_CELL_INPUTS :]), [])

    def _run(self, key, python_function, x, weights, recompute, addend=None):
        """`_apply`, optionally under `tf.recompute_grad`, optionally plus `addend`.

        Each operation is compiled once per (operation, stride, shapes) and
        shared by all edges. With `recompute`, the compiled function holds
        `tf.recompute_grad`: the tape keeps only the operation's input and
        weights and the backward function runs the operation again.

        With `addend`, the function returns the operation's output plus
        `addend`, outside any recomputation: a node's sum costs no call of
        its own, and its first operand is not kept for the gradient.

        Compiling whole nodes instead (both slots in one graph) was measured at
        121 s and 3.9 GB for the first 8-cell step, against 9 s here: the number
        of (operation, operation) pairs to trace outweighs the parallelism won.
        """
        if recompute and not tf.inside_function():
            key, python_function = ("recompute", key), _recomputed(python_function)
        if addend is not None:
            key, python_function, x = (key, "plus"), _plus(python_function), (x, addend)
        return self._apply(key, python_function, x, weights)

    def architecture_variables(self, choices, with_prefix=True):
        """The trainable variables architecture `choices` uses (the rest get no gradient).

        `with_prefix=False` leaves out `prefix_variables()`.
        """
        choices = np.asarray(choices).tolist()
        operations = self.search_space.operations
        used = [self.stem_kernel]
        for cell in self.cells:
            used += cell["pre0"] + cell["pre1"]
            for node, pair in enumerate(choices[REDUCE if cell["reduction"] else NORMAL]):
                for choice in pair:
                    source, op_index = divmod(int(choice), len(operations))
                    used += cell["edges"][node, source, operations[op_index]]
        used += self.auxiliary_weights
        unique = {id(v): v for v in used + [self.classifier_kernel, self.classifier_bias]}
        if not with_prefix:
            for variable in self.prefix_variables():
                unique.pop(id(variable))
        return list(unique.values())

    # ---------------------------------------------------------------- auxiliary head
    def _build_auxiliary_head(self, input_shape):
        """DARTS' AuxiliaryHeadCIFAR weights, shrunk to fit small feature maps like `CellNetwork`'s."""
        self.auxiliary_weights = []
        self._auxiliary_input = None
        if self.auxiliary_weight <= 0:
            return
        _, self._auxiliary_pool, shapes = ops.auxiliary_head_plan(self.search_space, input_shape, self.num_classes)
        self.auxiliary_weights = [
            self._conv_weight("auxiliary_conv_0", shapes[0]),
            self._conv_weight("auxiliary_conv_1", shapes[1]),
            self.add_weight(name="auxiliary_kernel", shape=shapes[2], initializer="glorot_uniform"),
            self.add_weight(name="auxiliary_bias", shape=shapes[3], initializer="zeros"),
        ]

    def auxiliary_loss(self, labels, normalizer=None):
        """`auxiliary_weight` x cross-entropy of the auxiliary head on the last forward pass (0 without).

        Args:
            labels: the labels of that pass.
            normalizer: as in `weighted_gradients`: the summed cross-entropy is
                divided by it; None: the mean.
        """
        features, self._auxiliary_input = self._auxiliary_input, None
        if not self.auxiliary_weights or features is None:
            return 0.0
        pool = self._auxiliary_pool
        logits = self._apply(
            ("auxiliary", pool), lambda x, w: ops.auxiliary_head(x, w, pool), features, self.auxiliary_weights
        )
        losses = cross_entropy(labels, logits)
        loss = tf.reduce_mean(losses) if normalizer is None else tf.reduce_sum(losses) / float(normalizer)
        return self.auxiliary_weight * loss


def _plus(python_function):
    """`python_function(x, weights) + addend`, as `((x, addend), weights) -> tensor`."""

    def function(inputs, weights):
        x, addend = inputs
        return python_function(x, weights) + addend

    return function


def _concat(inputs, weights):
    del weights
    return tf.concat(list(inputs), axis=-1)


def _recomputed(python_function):
    """`python_function` under `tf.recompute_grad`, to be compiled as one graph.

    Compiled, the tape keeps only its input and weights and the backward
    function reruns the forward inside the same graph; `tf.recompute_grad`
    around an eager call instead pays Python dispatch on every backward pass.
    """

    def function(x, weights):
        return tf.recompute_grad(lambda x, *w: python_function(x, list(w)))(x, *weights)

    return function


def _relu(x, weights):
    del weights
    return tf.nn.relu(x)


def _bound_operation(op, stride, activated=False):
    """`(x, weights) -> y` of one candidate operation at one stride."""
    return lambda x, weights: ops.apply_operation(op, x, weights, stride, activated)


def check_recompute(recompute):
    """Returns `recompute` if it is a valid recompute policy, else raises.

    Args:
        recompute: True, False or "early_cells".
    """
    if recompute is True or recompute is False or (isinstance(recompute, str) and recompute == "early_cells"):
        return recompute
    raise errors.invalid_argument(
        "recompute",
        'True, False or "early_cells"',
        recompute,
        'use "early_cells" (the default) unless memory or time says otherwise',
    )


# (reduces, input already ReLU'd) -> the preprocessing of a cell input.
PREPROCESS = {
    (False, False): lambda x, weights: ops.relu_conv_bn(x, weights),
    (False, True): lambda x, weights: ops.relu_conv_bn(x, weights, activated=True),
    (True, False): lambda x, weights: ops.factorized_reduce(x, weights),
    (True, True): lambda x, weights: ops.factorized_reduce(x, weights, activated=True),
}
