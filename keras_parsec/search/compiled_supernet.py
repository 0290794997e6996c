"""`CompiledSuperNet`: Algorithm 1 of `keras_parsec.SuperNet` on compiled passes (engine v2, opt-in).

Same method, same `train_step` (sampling, merged repeats, importance weights,
NaN handling, the pi update); what changes is how a pass runs. The eager
`SuperNet` composes each architecture from hundreds of small compiled calls;
here a search-batch forward is one call (`Executor.logits`), a train pass with
its weighted gradient accumulation is one call, and the update of every shared
weight is one call (`updates.MaskedSGD`). Measured in BENCHMARKS.md ("Engine v2").

Not yet carried over from the eager engine: the auxiliary head, multi-replica
strategies and the recompute policies (here every candidate operation is
recomputed in the backward pass; the stem and cell inputs are not), and loading
weights saved by the eager engine's checkpoints (`SharedWeights.copy_from_supernet`
converts a live eager network; a checkpoint of the other engine is refused).
"""

import numpy as np
import tensorflow as tf

from keras_parsec import errors, ops, supernet, weight_updates
from keras_parsec.search import executor as executor_lib
from keras_parsec.search import updates
from keras_parsec.search import weights as weights_lib


class CompiledSuperNet(supernet.SuperNet):
    """`keras_parsec.SuperNet` whose passes are compiled once for every architecture.

    Args:
        search_space, num_classes, distribution, num_samples, seed: as `SuperNet`.
        **kwargs: passed to `keras.Model`.

    Raises:
        InvalidArgumentError: for options the compiled engine does not have yet
            (`auxiliary_weight`, `recompute`).
    """

    def __init__(self, search_space, num_classes, distribution=None, num_samples=16, seed=None, **kwargs):
        for name in ("auxiliary_weight", "recompute"):
            if name in kwargs:
                raise errors.invalid_argument(
                    name,
                    "not passed: the compiled engine recomputes every operation and has no auxiliary head yet",
                    kwargs[name],
                    "use keras_parsec.SuperNet for this option",
                )
        super().__init__(search_space, num_classes, distribution, num_samples, seed, recompute=True, **kwargs)
        self.seed_value = seed

    def build(self, input_shape):
        self.shared = weights_lib.SharedWeights(self.search_space, self.num_classes, seed=self.seed_value)
        self.shared.build(input_shape)
        self.auxiliary_weights = []
        self.stem_kernel = self.shared.stem_kernel
        self.classifier_kernel, self.classifier_bias = self.shared.classifier_kernel, self.shared.classifier_bias
        self.cells = self.shared.cells
        self.executor = executor_lib.Executor(self.shared, dtype=self.compute_dtype)
        self._accumulators = [tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False) for v in self.executor.variables]
        self._accumulate = tf.function(self._accumulate_gradients, autograph=False, reduce_retracing=True)
        self._zero = tf.function(self._zero_accumulators, autograph=False)
        self._used_rows = {}
        self.built = True

    # ------------------------------------------------------------ passes
    def architecture_logits(self, images, choices, recompute=None, prefix=None):
        """Logits of architecture `choices` ([2, N, 2]) on `images`, one compiled call."""
        del recompute, prefix  # one graph for every policy; nothing to share between calls
        return self.executor.logits(images, tf.constant(np.asarray(choices), tf.int32))

    def search_log_likelihoods(self, images, labels, choices):
        """[K] summed log-likelihoods of a search batch, one compiled forward each."""
        return tf.stack([self.log_likelihood(images, labels, c) for c in choices])

    def _accumulate_gradients(self, images, labels, choices, weight, normalizer):
        """One train pass: adds `weight` x its gradient into the accumulators; nothing if the loss is not finite."""
        with tf.GradientTape() as tape:
            logits = self.executor.pass_logits(images, choices)
            losses = ops.cross_entropy(labels, logits)
            loss = tf.reduce_sum(losses) / normalizer
        gradients = tape.gradient(loss, self.executor.variables)

        def add():
            for accumulator, gradient in zip(self._accumulators, gradients):
                if gradient is not None:
                    accumulator.assign_add(tf.cast(weight, gradient.dtype) * tf.convert_to_tensor(gradient))
            return tf.constant(True)

        tf.cond(tf.math.is_finite(loss), add, lambda: tf.constant(False))
        return loss, logits

    def _zero_accumulators(self):
        for accumulator in self._accumulators:
            accumulator.assign(tf.zeros_like(accumulator))

    def weighted_gradients(self, images, labels, choices, weights, normalizer=None, skip=None, agree=None):
        """sum_k w_k grad_v loss_k on a train batch; returns what `SuperNet.weighted_gradients` returns.

        The passes are queued without waiting for the device: the weights are
        read back once before them and the K losses once after them.
        """
        if agree is not None:
            raise errors.invalid_argument(
                "agree", "None: the compiled engine runs on one replica", agree, "use keras_parsec.SuperNet"
            )
        count = tf.constant(float(normalizer) if normalizer is not None else float(labels.shape[0]))
        host_weights = np.asarray(weights, "float32")
        weight_tensors = tf.unstack(tf.cast(weights, tf.float32), num=len(choices))
        self._zero()
        ran = []
        for k, architecture in enumerate(choices):
            if (skip is not None and skip[k]) or (host_weights[k] == 0.0 and self.skip_zero_weights):
                continue
            architecture_tensor = tf.constant(np.asarray(architecture), tf.int32)
            loss, logits = self._accumulate(images, labels, architecture_tensor, weight_tensors[k], count)
            ran.append((k, architecture, loss, logits))
        finite = np.isfinite(tf.stack([loss for _, _, loss, _ in ran]).numpy()) if ran else []
        weighted_loss, outputs, dropped, used = 0.0, [], [], {}
        for (k, architecture, loss, logits), ok in zip(ran, finite):
            if not ok:
                dropped.append(k)  # its gradient was not added; its weight goes to the others
                continue
            for key, rows in self.shared.used_rows(architecture).items():
                used.setdefault(key, set()).update(rows)
            weighted_loss += weight_tensors[k] * loss
            outputs.append((logits, weight_tensors[k]))
        self._used_rows = used
        # The accumulators themselves: the update reads them inside its compiled call.
        pairs = list(zip(self.executor.variables, self._accumulators)) if outputs else []
        return pairs, weighted_loss, outputs, dropped

    def architecture_variables(self, choices, with_prefix=True):
        """The variables architecture `choices` reads (an edge variable counts if any of its rows is read)."""
        del with_prefix
        used = self.shared.used_rows(choices)
        edges = self.shared.edge_variable_ids()
        return [v for v in self.executor.variables if id(v) not in edges or id(v) in used]

    # ------------------------------------------------------------ update
    def _update_weights(self, pairs):
        """Clipping, masked weight decay and SGD in one compiled call.

        Another weight optimizer goes through `optimizer.apply` on every
        variable some architecture used: the unused rows of those variables
        then get that optimizer's own update of a zero gradient.
        """
        if not pairs:
            return
        if not weight_updates.supports_fused_update(self.weight_optimizer, self.executor.variables):
            edges = self.shared.edge_variable_ids()
            used = [(v, tf.convert_to_tensor(g)) for v, g in pairs if id(v) not in edges or id(v) in self._used_rows]
            return super()._update_weights(used)
        if not hasattr(self, "_masked_sgd"):
            self._masked_sgd = updates.MaskedSGD(
                self.weight_optimizer,
                self.executor.variables,
                self.shared.mask_sizes(self.executor.variables),
                self.weight_decay,
                self.gradient_clip_norm,
                gradient_variables=self._accumulators,
            )
        gradients = [g for _, g in pairs]
        if all(g is a for g, a in zip(gradients, self._accumulators)):
            gradients = None  # read inside the compiled update: no eager read per variable
        self._masked_sgd(tf.constant(self.shared.row_mask(self._used_rows, self.executor.variables)), gradients)

    def build_optimizers(self):
        """Both optimizers' state, the weight optimizer's in the executor's variable order."""
        if not self.weight_optimizer.built:
            self.weight_optimizer.build(self.executor.variables)
            self.architecture_optimizer.build([self.distribution.logits])
        if not hasattr(self, "_slot_index"):
            self._slot_index = {id(v): i for i, v in enumerate(self.executor.variables)}

    def make_train_function(self, force=False):
        if self.distribute_strategy.num_replicas_in_sync > 1:
            raise errors.invalid_argument(
                "distribution strategy",
                "one replica: the compiled engine has no replica reduction yet",
                self.distribute_strategy,
                "use keras_parsec.SuperNet under MirroredStrategy",
            )
        return super().make_train_function(force)
