"""Where a search step's passes run: one device, or the replicas of a `tf.distribute` strategy.

The compiled engine writes its step once; this is the only part that differs
between one device and many. A step runs each pass on every replica's share
of the batch (`run`), and adds up what the replicas computed in a single
reduction per kind of result (`sum_stacked`): the K search log-likelihoods,
then the K train losses with their NaN flags. The weighted gradients stay in
per-replica accumulators until the update reads them, summed
(`accumulator_variable`). Batch normalisation uses each replica's own batch,
as Keras' `BatchNormalization(synchronized=False)` and DARTS on several GPUs.
"""

import contextlib

import tensorflow as tf

SUM = tf.distribute.ReduceOp.SUM


def is_distributed(strategy) -> bool:
    """True when `strategy` runs more than one replica in sync."""
    return strategy is not None and strategy.num_replicas_in_sync > 1


# Traced once per number of values (at most K); not reduce_retracing, which fails on a varying number of arguments.
@tf.function(autograph=False)
def _stack(*values):
    return tf.stack(values)


class OneDevice:
    """Every pass on this process's default device; nothing to reduce."""

    num_replicas = 1

    def scope(self):
        return contextlib.nullcontext()

    def run(self, function, *args):
        """`function(*args)`."""
        return function(*args)

    def sum_stacked(self, values):
        """The values (scalars or equal-shaped tensors) stacked: [len(values), ...]."""
        return tf.stack(values)


class Replicas:
    """Every pass on each replica of `strategy`, data parallel, with `strategy.reduce` summing the results.

    Args:
        strategy: a `tf.distribute.Strategy` with several replicas in sync
            (`MirroredStrategy`, `MultiWorkerMirroredStrategy`).
    """

    def __init__(self, strategy):
        self.strategy = strategy
        self.num_replicas = strategy.num_replicas_in_sync

    def scope(self):
        return self.strategy.scope()

    def run(self, function, *args):
        """`function` on each replica's share of `args`; a `tf.function` runs as one call for all of them."""
        return self.strategy.run(function, args=args)

    def sum_stacked(self, values):
        """Per-replica values stacked, summed over the replicas in one reduction: [len(values), ...]."""
        return self.strategy.reduce(SUM, self.strategy.run(_stack, args=tuple(values)), axis=None)


def for_strategy(strategy):
    """`Replicas(strategy)` for a strategy with several replicas in sync, else `OneDevice()`."""
    if is_distributed(strategy):
        return Replicas(strategy)
    return OneDevice()


def accumulator_variable(like):
    """A zero variable shaped as `like` that each replica adds to and that reads as the replicas' sum.

    Created in a strategy's scope it is a `SyncOnReadVariable` (aggregation
    SUM); outside one, a plain variable.
    """
    return tf.Variable(
        tf.zeros(like.shape, like.dtype),
        trainable=False,
        synchronization=tf.VariableSynchronization.ON_READ,
        aggregation=tf.VariableAggregation.SUM,
    )
