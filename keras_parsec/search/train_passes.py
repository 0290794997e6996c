"""A search step's train passes (Algorithm 1, line 10): weighted gradients accumulated from one shared prefix.

`TrainPasses` is the part of `SuperNet` that runs the K train passes of a
step and leaves their importance-weighted gradient sum in per-replica
accumulators for the update. The prefix (the stem and the preprocessing of its
output, `Executor.pass_prefix`) does not depend on the architecture, so the
passes start from one prefix forward of the batch, each adds its weighted
gradient with respect to the prefix to running sums, and one backward through
a recomputed prefix ends them, as in `EagerSuperNet` (BENCHMARKS.md, "The
prefix shared again").
"""

import tensorflow as tf

from keras_parsec.search import executor as executor_lib
from keras_parsec.search import ops


class TrainPasses:
    """Mixin of `SuperNet`: the train passes of a step and their accumulation.

    The class mixing it in provides `executor`, `shared`, `replicas`,
    `_accumulators` (one per `executor.variables`), `auxiliary_weight`,
    `skip_zero_weights`, and the compiled `_zero` (`_zero_accumulators`),
    `_prefix` (`_prefix_start`), `_accumulate` (`_accumulate_gradients`) and
    `_prefix_backward_pass` (`_prefix_backward`).
    """

    def _prefix_start(self, images):
        """The train batch's prefix (`Executor.pass_prefix`) and zero float32 sums of the gradients it will get."""
        prefix = tuple(self.executor.pass_prefix(images))
        return prefix, tuple(tf.zeros(tf.shape(p), tf.float32) for p in prefix)

    def _accumulate_passes(self, images, labels, passes):
        """Train passes `[(choices, weight)]` on one batch, on every replica, from one shared prefix.

        Each pass starts from the batch's prefix and adds its weighted gradient
        to the accumulators and its weighted gradient with respect to the
        prefix to running sums; the prefix's own backward then runs once for
        all of them (`_prefix_backward`), as in `EagerSuperNet`.

        Returns:
            Per pass, its per-replica totals (`_accumulate_gradients`).
        """
        run = self.replicas
        prefix, sums = run.run(self._prefix, images)
        outputs = []
        for choices, weight in passes:
            totals, sums = run.run(self._accumulate, images, labels, choices, weight, prefix, sums)
            outputs.append(totals)
        if passes:
            run.run(self._prefix_backward_pass, images, sums)
        return outputs

    def _accumulate_gradients(self, images, labels, choices, weight, prefix, prefix_sums):
        """One train pass on this replica's share, from its `prefix`: adds `weight` x the gradient of its summed loss.

        Returns:
            `(totals, prefix_sums)`: `[summed loss, 1.0 if it is NaN or
            infinite else 0.0, correct predictions, examples]`, and the sums of
            the weighted gradients with respect to the prefix, this pass's
            added. A loss that is not finite adds nothing.
        """
        del images  # read only through the prefix
        with tf.GradientTape() as tape:
            tape.watch(prefix)
            logits, auxiliary_logits = self.executor.pass_outputs(None, choices, auxiliary=True, prefix=prefix)
            loss = tf.reduce_sum(ops.cross_entropy(labels, logits))
            if auxiliary_logits is not None:
                loss += self.auxiliary_weight * tf.reduce_sum(ops.cross_entropy(labels, auxiliary_logits))
        gradients = tape.gradient(loss, self.executor.variables + list(prefix))
        prefix_gradients = gradients[len(self.executor.variables) :]
        finite = tf.math.is_finite(loss)

        def add():
            for accumulator, gradient in zip(self._accumulators, gradients):
                if gradient is not None:
                    accumulator.assign_add(tf.cast(weight, gradient.dtype) * tf.convert_to_tensor(gradient))
            return [
                s if g is None else s + tf.cast(weight, tf.float32) * tf.cast(g, tf.float32)
                for s, g in zip(prefix_sums, prefix_gradients)
            ]

        prefix_sums = tuple(tf.cond(finite, add, lambda: [tf.identity(s) for s in prefix_sums]))
        totals = tf.concat([[loss, 1.0 - tf.cast(finite, tf.float32)], correct_and_count(labels, logits)], axis=0)
        return totals, prefix_sums

    def _prefix_backward(self, images, prefix_sums):
        """Adds the prefix weights' gradient, from the summed gradients of its outputs, to their accumulators."""
        variables = executor_lib.prefix_variables(self.shared)
        with tf.GradientTape() as tape:
            prefix = self.executor.pass_prefix(images)
        output_gradients = [tf.cast(s, p.dtype) for s, p in zip(prefix_sums, prefix)]
        gradients = tape.gradient(prefix, variables, output_gradients=output_gradients)
        position = {id(v): i for i, v in enumerate(self.executor.variables)}
        for variable, gradient in zip(variables, gradients):
            self._accumulators[position[id(variable)]].assign_add(tf.convert_to_tensor(gradient))

    def _zero_accumulators(self):
        for accumulator in self._accumulators:
            accumulator.assign(tf.zeros_like(accumulator))

    def _train_passes(self, images, labels, architectures, merged, skip):
        """Accumulates the weighted gradients of the architectures to train (Algorithm 1, line 10).

        The passes are queued without waiting for the device; their losses
        and NaN flags are read back once, summed over the replicas.

        Returns:
            `(ran, dropped)`: `(index, totals)` of each distinct architecture
            whose gradient was accumulated (`_accumulate_gradients`' totals
            summed over the replicas), and the indices of those left out
            because their train loss was not finite.
        """
        run = self.replicas
        weights = tf.unstack(merged, num=len(architectures))
        host_weights = merged.numpy()
        todo = [d for d in range(len(architectures)) if not skip[d]]
        todo = [d for d in todo if not (host_weights[d] == 0.0 and self.skip_zero_weights)]
        dropped = []
        while True:
            run.run(self._zero)
            outputs = self._accumulate_passes(images, labels, [(architectures[d], weights[d]) for d in todo])
            if not todo:
                return [], dropped
            totals = run.sum_stacked(outputs)  # [n, (loss, replicas where not finite, correct, examples)]
            bad = totals[:, 1].numpy()
            partial = [d for d, b in zip(todo, bad) if 0 < b < run.num_replicas]
            if not partial:
                break
            dropped += partial  # some replicas added its gradient: run the others again without it
            todo = [d for d in todo if d not in partial]
        ran = []
        for d, b, row in zip(todo, bad, tf.unstack(totals)):
            if b:
                dropped.append(d)  # not finite anywhere, so added nowhere
            else:
                ran.append((d, row))
        return ran, dropped


def correct_and_count(labels, logits):
    """`[correct predictions, examples]` as float32."""
    labels = tf.cast(tf.reshape(labels, [-1]), tf.int64)
    correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, axis=-1), labels), tf.float32))
    return tf.stack([correct, tf.cast(tf.shape(labels)[0], tf.float32)])
