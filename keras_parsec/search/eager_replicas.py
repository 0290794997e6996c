"""The eager engine's Algorithm 1 across the replicas of a `tf.distribute` strategy (data parallel).

`EagerSuperNet.fit` under a strategy with several replicas (`MirroredStrategy`
on several GPUs, `MultiWorkerMirroredStrategy` on several machines) runs
`train_step` below instead of Keras' per-replica `train_step`. The default
engine does the same with `search.replicas`; BUILD.md describes both. The step
is driven from the cross-replica context, with TensorFlow's own machinery only:

1. The K architectures are sampled ONCE per step, from the mirrored seed
   generator and the mirrored logits pi: every replica (and every worker, which
   runs the same program from the same seed) gets the same K. An architecture
   sampled twice runs once, with the sum of its weights.
2. Each replica returns the summed log-likelihood of its share of the search
   batch for each architecture (`strategy.run`); `strategy.reduce(SUM)` gives the
   global batch's log-likelihoods, and the importance weights are computed from
   them once.
3. Each replica returns sum_k w_k grad_v (summed cross-entropy) on its share of
   the train batch, flattened into one vector with the example count and the
   loss; one `strategy.reduce(SUM)` all-reduces it, and the division by the
   global count gives exactly the gradient of the global batch's mean loss.
   An architecture whose train loss is NaN or infinite on any replica is left
   out on all of them (one all-reduce of a flag per architecture), so every
   replica sends the same layout, and the others are renormalised.
4. Clipping, weight decay, the SGD step on v and the Adam step on pi run once in
   the cross-replica context, which updates every mirrored copy identically.

Batch normalisation uses each replica's own batch statistics (as Keras'
`BatchNormalization(synchronized=False)` and DARTS on several GPUs), so a run
on R replicas equals a single-device run whose batch is normalised in R groups.
"""

import tensorflow as tf

from keras_parsec.search import algorithm
from keras_parsec.search.ops import cross_entropy

SUM = tf.distribute.ReduceOp.SUM


def make_train_function(net, strategy):
    """A `fit` train function: one distributed step of Algorithm 1 per call.

    Args:
        net: the `EagerSuperNet`, built and compiled in `strategy.scope()`.
        strategy: its `tf.distribute.Strategy`.

    Returns:
        `function(iterator) -> logs`, raising StopIteration at the end of data.
    """

    def train_function(iterator):
        return train_step(net, strategy, next(iterator))

    return train_function


def make_test_function(net, strategy):
    """A `fit`/`evaluate` test function: the mode architecture on a distributed batch.

    Keras' own reduction of the per-replica logs fails on scalars under
    `MultiWorkerMirroredStrategy`; here the logits are gathered instead and
    the metrics updated once, in the cross-replica context.

    Args:
        net: the `EagerSuperNet`.
        strategy: its `tf.distribute.Strategy`.

    Returns:
        `function(iterator) -> logs`.
    """

    def test_function(iterator):
        data = next(iterator)
        choices = net.distribution.mode_choices().numpy()
        logits = strategy.run(net.architecture_logits, args=(data[0], choices))
        logits, labels = strategy.gather(logits, axis=0), strategy.gather(data[1], axis=0)
        net.loss_tracker.update_state(tf.reduce_mean(cross_entropy(labels, logits)))
        net.accuracy_tracker.update_state(labels, logits)
        return {"loss": net.loss_tracker.result(), "accuracy": net.accuracy_tracker.result()}

    return test_function


def train_step(net, strategy, data):
    """One step of Algorithm 1 on a distributed batch, run in the cross-replica context.

    Args:
        net: the `EagerSuperNet`.
        strategy: the `tf.distribute.Strategy` it was built in.
        data: `((x_train, y_train), (x_search, y_search))` of per-replica values,
            as a distributed dataset yields them.

    Returns:
        The step's logs: loss, accuracy, entropy.
    """
    (x_train, y_train), (x_search, y_search) = data
    with strategy.scope():
        net.build_optimizers()
    choices = net.sample_choices()
    distinct, first, inverse = algorithm.distinct_architectures(choices)  # a repeated sample runs once
    log_likelihoods = strategy.reduce(
        SUM, strategy.run(net.search_log_likelihoods, args=(x_search, y_search, distinct)), axis=None
    )
    weights, merged, skip = algorithm.merged_weights(
        tf.gather(log_likelihoods, inverse), first, inverse, net.budget_log_factors(choices, y_search)
    )
    ran = []  # per replica: (variables, weights of the architectures that ran, dropped)

    def replica_gradients(images, labels):
        pairs, loss, outputs, dropped = net.weighted_gradients(
            images, labels, distinct, merged, normalizer=1.0, skip=skip, agree=_finite_on_every_replica
        )
        ran.append(([variable for variable, _ in pairs], [weight for _, weight in outputs], dropped))
        count = tf.cast(tf.shape(labels)[0], tf.float32)
        flat = tf.concat([tf.reshape(g, [-1]) for _, g in pairs] + [tf.stack([count, loss])], axis=0)
        if outputs:
            logits = tf.stack([logits for logits, _ in outputs])
        else:
            logits = tf.zeros([0, tf.shape(labels)[0], net.num_classes])
        return flat, logits, labels

    flat, logits, labels = strategy.run(replica_gradients, args=(x_train, y_train))
    flat = strategy.reduce(SUM, flat, axis=None)
    logits, labels = strategy.gather(logits, axis=1), strategy.gather(labels, axis=0)
    count, loss = flat[-2], flat[-1]
    variables, output_weights, dropped = ran[0]  # the same on every replica: `agree` keeps them in step
    sizes = [int(tf.size(v)) for v in variables]
    pieces = tf.split(flat[:-2], sizes) if variables else []
    pairs = [(v, tf.reshape(g, v.shape) / count) for v, g in zip(variables, pieces)]
    outputs = list(zip(tf.unstack(logits, num=len(output_weights)), output_weights))
    return net.finish_step(choices, weights, skip, inverse, labels, (pairs, loss / count, outputs, dropped))


def _finite_on_every_replica(loss):
    """Inside `strategy.run`: True when `loss` is finite on every replica.

    Every replica leaves out an architecture whose train loss is NaN or
    infinite on any of them, so all of them send gradients of the same shapes.
    """
    context = tf.distribute.get_replica_context()
    nonfinite = tf.cast(tf.logical_not(tf.math.is_finite(loss)), tf.float32)
    return float(context.all_reduce(SUM, nonfinite)) == 0.0
