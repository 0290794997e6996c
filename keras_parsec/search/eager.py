"""`EagerSuperNet`: the baseline engine, each pass composed eagerly from compiled pieces (`engine="eager"`).

The default engine is `search.supernet.SuperNet`, each pass one compiled call;
this one stays as the baseline its benchmarks compare against and for its
recompute policies. Execution model (chosen by measurement before the default
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

from keras_parsec import distributed, errors, ops
from keras_parsec import space as space_lib
from keras_parsec.ops import classifier, cross_entropy, stem
from keras_parsec.search import algorithm, base_supernet, eager_replicas
from keras_parsec.search.algorithm import distinct_architectures, merged_weights

NORMAL, REDUCE = 0, 1


class EagerSuperNet(base_supernet.BaseSuperNet):
    """Weight-sharing DARTS network trained by PARSEC's Algorithm 1, composed eagerly (the baseline engine).

    Every edge (cell, node, input, operation) owns its weights, as in DARTS; a
    forward pass runs only the operations of one architecture. `train_step`
    samples K architectures from `distribution`, weighs them by their likelihood
    on the search batch, and updates the shared weights and the distribution's
    logits with the importance-weighted gradients of eq. 8.

    Args:
        search_space: a `keras_parsec.SearchSpace`.
        num_classes: int, number of classes.
        distribution: an `ArchitectureDistribution` over `search_space`;
            uniform when None.
        num_samples: K, architectures sampled per step.
        seed: int seed of the architecture sampler, or None.
        recompute: what the backward pass recomputes instead of storing.
            True: the stem and every operation; "early_cells" (default): the
            stem and the cells before the first reduction, where activations
            are largest per FLOP; False: nothing. Measured on the 8-cell,
            16-filter network at batch 64 against the same architecture
            compiled as one graph (activation memory per example / CPU time
            of a search step per architecture): True 0.62x / 1.9x,
            "early_cells" 1.0x / 1.7-1.8x, False 1.2x / 1.5x
            (`benchmarks/engine.py --recompute=...`; BENCHMARKS.md). Max
            pooling is recomputed under every policy: taped apart from its
            forward, its gradient takes a kernel 4-9x slower.
        auxiliary_weight: when positive, DARTS' auxiliary head reads cell
            `2 * num_cells // 3` and this weight times its loss joins the
            training loss (paper 4.2 fine-tunes with 0.4); the search batch's
            likelihoods use the main classifier only.

    Example:

    ```python
    net = EagerSuperNet(SearchSpace(num_cells=2, filters=8), num_classes=10, num_samples=4)
    net.compile()
    net.fit(search_dataset, validation_data=(x_val, y_val), epochs=5)
    net.distribution.mode()
    ```
    """

    def __init__(
        self,
        search_space,
        num_classes,
        distribution=None,
        num_samples=16,
        seed=None,
        recompute="early_cells",
        auxiliary_weight=0.0,
        **kwargs,
    ):
        super().__init__(search_space, num_classes, distribution, num_samples, seed, auxiliary_weight, **kwargs)
        self.recompute = check_recompute(recompute)
        self.auxiliary_index = 2 * search_space.num_cells // 3
        self._compiled = {}

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
                for source in range(node + 2):
                    stride = 2 if plan.reduction and source < 2 else 1
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
                stride = 2 if cell["reduction"] and source < 2 else 1
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
        return self._apply("concat", _concat, tuple(states[2:]), [])

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

    def log_likelihood(self, images, labels, choices, prefix=None):
        """log p(y | X, v, alpha): summed log-likelihood of a batch (Algorithm 1, line 8).

        `prefix`: `shared_prefix(images)`, when several architectures score the same batch.
        """
        logits = self.architecture_logits(images, choices, recompute=False, prefix=prefix)
        return -tf.reduce_sum(cross_entropy(labels, logits))

    def train_step(self, data):
        """One step of Algorithm 1 on `((x_train, y_train), (x_search, y_search))`.

        An architecture whose loss on either batch is NaN or infinite gets
        weight 0 (the others are renormalised) and is counted in the
        `nonfinite_samples` metric; if none is finite the step changes nothing.
        An architecture sampled twice runs once, with the sum of its weights:
        exact, and common once pi concentrates.
        Under a `tf.distribute` strategy with several replicas, `fit` runs
        `eager_replicas.train_step` instead, built from the same pieces.
        """
        (x_train, y_train), (x_search, y_search) = data
        self.build_optimizers()
        choices = self.sample_choices()
        distinct, first, inverse = distinct_architectures(choices)
        log_likelihoods = tf.gather(self.search_log_likelihoods(x_search, y_search, distinct), inverse)
        weights, merged, skip = merged_weights(log_likelihoods, first, inverse)
        step = self.weighted_gradients(x_train, y_train, distinct, merged, skip=skip)
        return self.finish_step(choices, weights, skip, inverse, y_train, step)

    def finish_step(self, choices, weights, skip, inverse, labels, step):
        """Drops the architectures whose loss was not finite, updates v, pi and the metrics (Algorithm 1, 10-11).

        Args:
            choices: [K, 2, N, 2] the step's samples.
            weights: [K] their importance weights.
            skip: per distinct architecture, True where its search-batch
                log-likelihood was not finite (`merged_weights`).
            inverse: [K] index of each sample among the distinct architectures
                (`distinct_architectures`).
            labels: the train labels the logits of `step` are of.
            step: `(pairs, weighted_loss, outputs, dropped)` as `weighted_gradients`
                returns it for the distinct architectures.

        Returns:
            The step's logs.
        """
        pairs, weighted_loss, outputs, dropped = step
        finite = algorithm.finite_samples(skip, inverse, dropped)
        kept = tf.reduce_sum(tf.where(finite, weights, 0.0))  # a tensor: see `weighted_gradients`
        if not finite.all():
            kept_value = float(kept)
            self._report_nonfinite(int(np.sum(~finite)), len(finite), kept_value == 0.0)
            if kept_value == 0.0:
                return self.step_logs()
            if kept_value < float(tf.reduce_sum(weights)):  # renormalise over the architectures kept
                pairs = [(v, g / kept) for v, g in pairs]
                outputs = [(logits, weight / kept) for logits, weight in outputs]
                weights, weighted_loss = tf.where(finite, weights, 0.0) / kept, weighted_loss / kept
        for logits, weight in outputs:
            self.accuracy_tracker.update_state(labels, logits, sample_weight=tf.fill(tf.shape(labels), weight))
        self.apply_step(pairs, choices, weights)
        self.loss_tracker.update_state(weighted_loss)
        return self.step_logs()

    def search_log_likelihoods(self, images, labels, choices):
        """[K] summed log-likelihoods of a search batch, one per architecture (Algorithm 1, line 8)."""
        prefix = self.shared_prefix(images)
        return tf.stack([self.log_likelihood(images, labels, c, prefix) for c in choices])

    def weighted_gradients(self, images, labels, choices, weights, normalizer=None, skip=None, agree=None):
        """sum_k w_k grad_v loss_k on a train batch (Algorithm 1, lines 9-10).

        Args:
            images, labels: the train batch (or one replica's share of it).
            choices: [K, 2, N, 2] sampled architectures.
            weights: [K] importance weights.
            normalizer: each loss is the summed cross-entropy divided by this;
                None: the mean over `labels`. Replicas pass 1 and divide the
                all-reduced sums by the global batch size.
            skip: optional [K] bool array of architectures to leave out.
            agree: optional `loss -> bool`, True when the loss is finite; the
                default reads this call's loss alone. Replicas pass one that asks
                all of them, so that every replica leaves out the same ones.

        Returns:
            `(pairs, weighted_loss, outputs, dropped)`: `(variable, gradient)`
            for each weight some architecture used, in a fixed order;
            sum_k w_k loss_k; `(logits, w_k)` of each architecture that ran;
            the indices k whose loss was NaN or infinite (left out).
        """
        accumulated = {}
        weighted_loss = 0.0
        outputs, dropped = [], []
        # Each weight stays a tensor: TensorFlow caches every Python float it converts to a tensor, for good.
        weight_tensors = tf.unstack(tf.cast(weights, tf.float32), num=len(choices))
        # The prefix every architecture shares runs once, without a tape; each
        # architecture's gradient stops at its outputs, and the weighted sum of
        # those gradients goes back through a recomputed prefix once, at the end.
        prefix = self.shared_prefix(images)
        prefix_outputs = [t for pair in prefix for t in pair if t is not None]
        prefix_gradients = {}  # id(prefix output) -> (output, weighted sum of its gradients)
        for k, architecture in enumerate(choices):
            weight = weight_tensors[k]
            if (skip is not None and skip[k]) or (float(weight) == 0.0 and self.skip_zero_weights):
                continue  # contributes exactly nothing to either gradient
            variables = self.architecture_variables(architecture, with_prefix=False)
            with tf.GradientTape() as tape:
                tape.watch(prefix_outputs)
                logits = self.architecture_logits(images, architecture, prefix=prefix)
                if normalizer is None:
                    loss = tf.reduce_mean(cross_entropy(labels, logits))
                else:
                    loss = tf.reduce_sum(cross_entropy(labels, logits)) / float(normalizer)
                loss += self.auxiliary_loss(labels, normalizer)
            if not (agree(loss) if agree else np.isfinite(float(loss))):
                dropped.append(k)  # its weight goes to the others
                continue
            gradients = tape.gradient(loss, variables + prefix_outputs)
            for variable, gradient in zip(variables, gradients):
                _accumulate(accumulated, variable, gradient, weight)
            for output, gradient in zip(prefix_outputs, gradients[len(variables) :]):
                _accumulate(prefix_gradients, output, gradient, weight)  # None: an output no node reads
            weighted_loss += weight * loss
            outputs.append((logits, weight))
        reached = [i for i, output in enumerate(prefix_outputs) if id(output) in prefix_gradients]
        if reached:
            variables = self.prefix_variables()
            with tf.GradientTape() as tape:
                recomputed = [t for pair in self.shared_prefix(images) for t in pair if t is not None]
            gradients = tape.gradient(
                [recomputed[i] for i in reached],
                variables,
                output_gradients=[prefix_gradients[id(prefix_outputs[i])][1] for i in reached],
            )
            for variable, gradient in zip(variables, gradients):
                _accumulate(accumulated, variable, gradient, None)
        return list(accumulated.values()), weighted_loss, outputs, dropped

    def apply_step(self, pairs, choices, weights):
        """Updates the shared weights with `pairs` and pi with the weighted score (Algorithm 1, lines 10-11)."""
        self._update_weights(pairs)
        algorithm.update_distribution(self.architecture_optimizer, self.distribution, choices, weights)

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

    def make_train_function(self, force=False):
        """Keras' train function, or Algorithm 1 across replicas under a multi-replica strategy."""
        strategy = self.distribute_strategy
        if not distributed.is_distributed(strategy):
            return super().make_train_function(force)
        if self.train_function is None or force:
            self.train_function = eager_replicas.make_train_function(self, strategy)
        return self.train_function

    def make_test_function(self, force=False):
        """Keras' test function, or the mode's score across replicas under a multi-replica strategy."""
        strategy = self.distribute_strategy
        if not distributed.is_distributed(strategy):
            return super().make_test_function(force)
        if self.test_function is None or force:
            self.test_function = eager_replicas.make_test_function(self, strategy)
        return self.test_function

    def test_step(self, data):
        """Scores the mode architecture: `accuracy` here is `val_accuracy` in `fit` logs."""
        x, y = data[0], data[1]
        logits = self.architecture_logits(x, self.distribution.mode_choices().numpy(), recompute=False)
        self.loss_tracker.update_state(tf.reduce_mean(cross_entropy(y, logits)))
        self.accuracy_tracker.update_state(y, logits)
        return {"loss": self.loss_tracker.result(), "accuracy": self.accuracy_tracker.result()}


def _accumulate(accumulated, variable, gradient, weight):
    """Adds `weight * gradient` (`gradient` if `weight` is None) to `accumulated[id(variable)]`.

    `variable` is what the gradient is of: a weight, or a tensor such as a
    prefix output. A None gradient (one this architecture did not reach) adds nothing.
    """
    if gradient is None:
        return
    gradient = tf.convert_to_tensor(gradient)
    if weight is not None:
        gradient = tf.cast(weight, gradient.dtype) * gradient
    previous = accumulated.get(id(variable), (variable, None))[1]
    accumulated[id(variable)] = (variable, gradient if previous is None else previous + gradient)


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
