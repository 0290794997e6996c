"""`SuperNet`: Algorithm 1 on compiled passes, on one device or many replicas (the default engine).

Same method as the eager baseline `EagerSuperNet` (sampling, merged repeats,
importance weights, NaN handling, the pi update: `search.algorithm`); what
changes is how a pass runs. Up to four search-batch forwards are one call
(`Executor`), a train pass with its weighted gradient accumulation is one call,
and the update of every shared weight is one call (`updates.MaskedSGD`). What
no architecture changes, the stem and the preprocessing of its output (the
prefix), runs once per batch for all K: the forwards of a call share it, and
the train passes start from it and sum their gradients for its one backward.
Measured in BENCHMARKS.md ("Engine v2").

The step is written once for one device and for the replicas of a
`tf.distribute` strategy; `search.replicas` is the only difference. Each
replica accumulates the weighted gradients of its share of the train batch,
and the update reads their sum. An architecture whose train loss is NaN or
infinite on some replica but not all is left out on all of them by running the
step's train passes again without it (rare, and exact); on one device the
compiled pass simply does not accumulate it.

By default the backward pass reads what each sampled operation's forward
saved (the outputs of its convolutions and pooling) and reruns only its ReLUs
and batch norms; `recompute=True` recomputes every operation from its input
instead, for less activation memory (BENCHMARKS.md, "Engine v2").
"""

import keras
import numpy as np
import tensorflow as tf

from keras_parsec import errors
from keras_parsec.search import algorithm, base_supernet, ops, replicas, train_passes, updates
from keras_parsec.search import executor as executor_lib
from keras_parsec.search import weights as weights_lib
from keras_parsec.search.recipe import SEARCH_RECIPE

# A step's search-batch forwards run up to this many per compiled call, so that
# one pass's operations fill the cores another leaves idle; bounded so that a
# large K does not hold every forward's activations at once (BENCHMARKS.md,
# "One backward per cell").
FORWARDS_PER_CALL = 4


def check_inline_cells(value):
    """Returns `value` as a bool if it is True or False (`SuperNet(inline_cells=...)`), else raises before any work."""
    if not isinstance(value, (bool, np.bool_)):
        raise errors.invalid_type(
            "inline_cells", "True or False", value, "pass True for a long search, or leave it out for short builds"
        )
    return bool(value)


class SuperNet(train_passes.TrainPasses, base_supernet.BaseSuperNet):
    """Weight-sharing DARTS network trained by PARSEC's Algorithm 1, its passes compiled once.

    Every edge (cell, node, input, operation) owns its weights, as in DARTS; a
    pass runs only the operations of one architecture, and one trace serves
    every architecture. `train_step` samples K architectures from
    `distribution`, weighs them by their likelihood on the search batch, and
    updates the shared weights and the distribution's logits with the
    importance-weighted gradients of eq. 8. Under a `tf.distribute` strategy
    with several replicas, each step runs across them (data parallel).

    Args:
        search_space, num_classes, distribution, num_samples, auxiliary_weight:
            as `BaseSuperNet`.
        seed: int seed of the architecture sampler and of the initialisers, or None.
        recompute: False (default): the backward reads the outputs of each
            operation's convolutions and pooling, saved by its forward, and
            reruns only ReLUs and batch norms (about one fixed architecture's
            activation memory). True: every operation is recomputed from its
            input (about 0.7x that memory, slower). `EagerSuperNet` has
            other policies.
        inline_cells: inline each cell's forward and backward into the
            compiled train pass (`Executor(inline_cells=...)`): the step is a
            few percent faster, the first step builds about twice as long and
            holds more activations (BENCHMARKS.md, "Cells inlined in the train
            pass"). For long searches; False (default) keeps builds short.
        **kwargs: passed to `keras.Model`.

    Raises:
        InvalidArgumentError: for another `recompute` policy.

    Example:

    ```python
    net = SuperNet(SearchSpace(num_cells=2, filters=8), num_classes=10, num_samples=4)
    net.build((None, 32, 32, 3))
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
        num_samples=SEARCH_RECIPE.num_samples,
        seed=None,
        auxiliary_weight=0.0,
        recompute=False,
        inline_cells=False,
        **kwargs,
    ):
        if recompute not in (True, False):
            raise errors.invalid_argument(
                "recompute",
                "False (the backward reads saved activations) or True (it recomputes every operation)",
                recompute,
                "leave recompute out, or use keras_parsec.search.EagerSuperNet for another policy",
            )
        self.recompute = bool(recompute)
        self.inline_cells = check_inline_cells(inline_cells)
        super().__init__(search_space, num_classes, distribution, num_samples, seed, auxiliary_weight, **kwargs)
        self.seed_value = seed
        # Fed with per-replica counts of correct predictions (`_totals`), not with logits.
        self.accuracy_tracker = keras.metrics.Mean(name="accuracy")

    @property
    def auxiliary_weight(self):
        """Weight of the auxiliary head's loss; the head exists only if the network was built with a positive one."""
        return self._auxiliary_weight

    @auxiliary_weight.setter
    def auxiliary_weight(self, value):
        # A train pass reads the weight when it is traced: a new value gets a new trace.
        self._auxiliary_weight = float(value)
        self._accumulate = tf.function(self._accumulate_gradients, autograph=False, reduce_retracing=True)

    def build(self, input_shape):
        self.shared = weights_lib.SharedWeights(
            self.search_space, self.num_classes, seed=self.seed_value, auxiliary=self.auxiliary_weight > 0
        )
        self.shared.build(input_shape)
        self.auxiliary_weights = self.shared.auxiliary_weights
        self.stem_kernel = self.shared.stem_kernel
        self.classifier_kernel, self.classifier_bias = self.shared.classifier_kernel, self.shared.classifier_bias
        self.cells = self.shared.cells
        self.executor = executor_lib.Executor(
            self.shared, dtype=self.compute_dtype, saved_activations=not self.recompute, inline_cells=self.inline_cells
        )
        self.replicas = replicas.for_strategy(self.distribute_strategy)
        self._accumulators = [replicas.accumulator_variable(v) for v in self.executor.variables]
        self._log_likelihood = tf.function(self._summed_log_likelihood, autograph=False, reduce_retracing=True)
        self._log_likelihoods = tf.function(self._summed_log_likelihoods, autograph=False, reduce_retracing=True)
        self._zero = tf.function(self._zero_accumulators, autograph=False)
        self._prefix = tf.function(self._prefix_start, autograph=False, reduce_retracing=True)
        self._prefix_backward_pass = tf.function(self._prefix_backward, autograph=False, reduce_retracing=True)
        self._evaluate = tf.function(self._evaluation_totals, autograph=False, reduce_retracing=True)
        self.built = True

    # ------------------------------------------------------------ passes
    def architecture_logits(self, images, choices, recompute=None, prefix=None):
        """Logits of architecture `choices` ([2, N, 2]) on `images`, one compiled call."""
        del recompute, prefix  # one graph for every policy; nothing to share between calls
        return self.executor.logits(images, tf.constant(np.asarray(choices), tf.int32))

    def log_likelihood(self, images, labels, choices):
        """log p(y | X, v, alpha): summed log-likelihood of a batch (Algorithm 1, line 8), one compiled forward."""
        return self._log_likelihood(images, labels, tf.constant(np.asarray(choices), tf.int32))

    def search_log_likelihoods(self, images, labels, choices):
        """[K] summed log-likelihoods of a search batch, `FORWARDS_PER_CALL` forwards per compiled call."""
        architectures = [tf.constant(np.asarray(c), tf.int32) for c in choices]
        return self._search_scores(replicas.OneDevice(), images, labels, architectures)

    def _search_scores(self, run, images, labels, architectures):
        """[len(architectures)] summed log-likelihoods on a search batch, summed over `run`'s replicas (line 8).

        The architectures go `FORWARDS_PER_CALL` (at most K) to a call; the
        last call's empty places repeat its first architecture and are not computed.
        """
        size = min(FORWARDS_PER_CALL, self.num_samples)
        calls = []
        for start in range(0, len(architectures), size):
            chunk = architectures[start : start + size]
            stacked = tf.stack(chunk + chunk[:1] * (size - len(chunk)))
            calls.append(run.run(self._log_likelihoods, images, labels, stacked, tf.constant(len(chunk), tf.int32)))
        return tf.reshape(run.sum_stacked(calls), [-1])[: len(architectures)]

    def _summed_log_likelihood(self, images, labels, choices, prefix=None):
        """log p(y | X, v, alpha) of this replica's share of a search batch (Algorithm 1, line 8)."""
        return -tf.reduce_sum(ops.cross_entropy(labels, self.executor.pass_logits(images, choices, prefix)))

    def _summed_log_likelihoods(self, images, labels, choices, count):
        """`_summed_log_likelihood` of the first `count` architectures of `choices` [n, 2, N, 2]; 0 for the rest.

        They share one prefix (`Executor.pass_prefix`).
        """
        prefix = self.executor.pass_prefix(images)
        return tf.stack(
            [
                tf.cond(
                    index < count,
                    lambda c=c: self._summed_log_likelihood(images, labels, c, prefix),
                    lambda: tf.constant(0.0),
                )
                for index, c in enumerate(tf.unstack(choices))
            ]
        )

    def _evaluation_totals(self, images, labels, choices):
        """`[summed cross-entropy, correct predictions, examples]` of this replica's share of a batch."""
        logits = self.executor.pass_logits(images, choices)
        return tf.concat(
            [[tf.reduce_sum(ops.cross_entropy(labels, logits))], train_passes.correct_and_count(labels, logits)], 0
        )

    # ------------------------------------------------------------ Algorithm 1
    def train_step(self, data):
        """One step of Algorithm 1 on `((x_train, y_train), (x_search, y_search))`, on every replica.

        An architecture whose loss on either batch is NaN or infinite gets
        weight 0 (the others are renormalised) and is counted in
        `nonfinite_samples`; a repeated sample runs once.
        """
        (x_train, y_train), (x_search, y_search) = data
        run = self.replicas
        with run.scope():
            self.build_optimizers()
        choices = self.sample_choices()
        distinct, first, inverse = algorithm.distinct_architectures(choices)
        architectures = [tf.constant(a, tf.int32) for a in distinct]
        scores = self._search_scores(run, x_search, y_search, architectures)
        weights, merged, skip = algorithm.merged_weights(
            tf.gather(scores, inverse), first, inverse, self.budget_log_factors(choices, y_search)
        )
        ran, dropped = self._train_passes(x_train, y_train, architectures, merged, skip)
        finite = algorithm.finite_samples(skip, inverse, dropped)
        kept = tf.reduce_sum(tf.where(finite, weights, 0.0))  # a tensor: TF caches every Python float it converts
        if not finite.all():
            kept_value = float(kept)
            self._report_nonfinite(int(np.sum(~finite)), len(finite), kept_value == 0.0)
            if kept_value == 0.0:
                return self.step_logs()
        count = ran[0][1][3]  # examples in the global batch
        scale = 1.0 / (count * kept)  # the gradient of the mean loss over the global batch
        used, weighted_loss = {}, 0.0
        for d, totals in ran:
            for key, rows in self.shared.used_rows(distinct[d]).items():
                used.setdefault(key, set()).update(rows)
            weighted_loss += merged[d] * totals[0] * scale
            self.accuracy_tracker.update_state(totals[2] / count, sample_weight=count * merged[d] / kept)
        self._apply_accumulated(used, scale)
        weights = tf.where(finite, weights, 0.0) / kept
        self.update_architecture(choices, weights)
        self.loss_tracker.update_state(weighted_loss)
        return self.step_logs()

    def architecture_variables(self, choices, with_prefix=True):
        """The variables architecture `choices` reads (an edge variable counts if any of its rows is read)."""
        del with_prefix
        used = self.shared.used_rows(choices)
        edges = self.shared.edge_variable_ids()
        return [v for v in self.executor.variables if id(v) not in edges or id(v) in used]

    # ------------------------------------------------------------ update
    def _apply_accumulated(self, used_rows, scale):
        """Clipping, masked weight decay and SGD in one compiled call, on `scale` x the accumulated gradients.

        Another weight optimizer goes through `optimizer.apply` on every
        variable some architecture used: the unused rows of those variables
        then get that optimizer's own update of a zero gradient.
        """
        if not updates.is_plain_sgd(self.weight_optimizer):
            edges = self.shared.edge_variable_ids()
            pairs = [
                (v, scale * tf.convert_to_tensor(a))
                for v, a in zip(self.executor.variables, self._accumulators)
                if id(v) not in edges or id(v) in used_rows
            ]
            return self._update_weights(pairs)
        if not hasattr(self, "_masked_sgd"):
            self._masked_sgd = updates.MaskedSGD(
                self.weight_optimizer,
                self.executor.variables,
                self.shared.mask_sizes(self.executor.variables),
                self.weight_decay,
                self.gradient_clip_norm,
                gradient_variables=self._accumulators,
            )
        self._masked_sgd(tf.constant(self.shared.row_mask(used_rows, self.executor.variables)), scale=scale)

    def shared_variables(self):
        """The shared weights, in the executor's order (the weight optimizer's state follows it)."""
        return self.executor.variables

    # ------------------------------------------------------------ Keras plumbing
    def make_train_function(self, force=False):
        """Keras' train function on one device; on several replicas, `train_step` in the cross-replica context."""
        if isinstance(self.replicas, replicas.OneDevice):
            return super().make_train_function(force)
        if self.train_function is None or force:
            self.train_function = lambda iterator: self.train_step(next(iterator))
        return self.train_function

    def make_test_function(self, force=False):
        """Keras' test function on one device; on several replicas, `test_step` in the cross-replica context."""
        if isinstance(self.replicas, replicas.OneDevice):
            return super().make_test_function(force)
        if self.test_function is None or force:
            self.test_function = lambda iterator: self.test_step(next(iterator))
        return self.test_function

    def test_step(self, data):
        """Scores the mode architecture: `accuracy` here is `val_accuracy` in `fit` logs."""
        images, labels = data[0], data[1]
        choices = tf.cast(self.distribution.mode_choices(), tf.int32)
        loss, correct, count = tf.unstack(
            self.replicas.sum_stacked([self.replicas.run(self._evaluate, images, labels, choices)])[0]
        )
        self.loss_tracker.update_state(loss / count, sample_weight=count)
        self.accuracy_tracker.update_state(correct / count, sample_weight=count)
        return {"loss": self.loss_tracker.result(), "accuracy": self.accuracy_tracker.result()}
