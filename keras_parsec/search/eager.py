"""`EagerSuperNet`: the baseline engine (`engine="eager"`), Algorithm 1 on eagerly composed passes.

The default engine is `search.supernet.SuperNet`, each pass one compiled call;
this one stays as the baseline its benchmarks compare against, and for its
recompute policies. How its passes run: `search.eager_passes`. Across the
replicas of a strategy its step is `search.eager_replicas.train_step`.
"""

import numpy as np
import tensorflow as tf

from keras_parsec.search import algorithm, base_supernet, eager_replicas
from keras_parsec.search.algorithm import distinct_architectures, merged_weights
from keras_parsec.search.eager_passes import EagerPasses, check_recompute
from keras_parsec.search.ops import cross_entropy
from keras_parsec.search.recipe import SEARCH_RECIPE
from keras_parsec.search.replicas import is_distributed


class EagerSuperNet(EagerPasses, base_supernet.BaseSuperNet):
    """Weight-sharing DARTS network trained by PARSEC's Algorithm 1, composed eagerly (the baseline engine).

    Every edge (cell, node, input, operation) owns its weights, as in DARTS; a
    forward pass runs only the operations of one architecture. `train_step`
    samples K architectures from `distribution`, weighs them by their likelihood
    on the search batch, and updates the shared weights and the distribution's
    logits with the importance-weighted gradients of eq. 8.

    Args:
        search_space, num_classes, distribution, num_samples, seed,
            auxiliary_weight: as `BaseSuperNet`.
        recompute: what the backward pass recomputes instead of storing.
            True: the stem and every operation; "early_cells" (default): the
            stem and the cells before the first reduction, where activations
            are largest per FLOP; False: nothing. Memory and time of each:
            BENCHMARKS.md (`benchmarks/engine.py --recompute=...`). Max
            pooling is recomputed under every policy: taped apart from its
            forward, its gradient takes a much slower kernel.
        **kwargs: passed to `keras.Model`.

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
        num_samples=SEARCH_RECIPE.num_samples,
        seed=None,
        recompute="early_cells",
        auxiliary_weight=0.0,
        **kwargs,
    ):
        super().__init__(search_space, num_classes, distribution, num_samples, seed, auxiliary_weight, **kwargs)
        self.recompute = check_recompute(recompute)
        self.auxiliary_index = 2 * search_space.num_cells // 3
        self._compiled = {}

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
        weights, merged, skip = merged_weights(
            log_likelihoods, first, inverse, self.budget_log_factors(choices, y_search)
        )
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
        self.update_architecture(choices, weights)

    def make_train_function(self, force=False):
        """Keras' train function, or Algorithm 1 across replicas under a multi-replica strategy."""
        strategy = self.distribute_strategy
        if not is_distributed(strategy):
            return super().make_train_function(force)
        if self.train_function is None or force:
            self.train_function = eager_replicas.make_train_function(self, strategy)
        return self.train_function

    def make_test_function(self, force=False):
        """Keras' test function, or the mode's score across replicas under a multi-replica strategy."""
        strategy = self.distribute_strategy
        if not is_distributed(strategy):
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
