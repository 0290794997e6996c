"""One device as the degenerate case of the replica reduction (two replicas: tests/test_distributed.py)."""

import numpy as np
import tensorflow as tf

from keras_parsec.search import replicas


def test_without_a_multi_replica_strategy_passes_run_here_and_nothing_is_reduced():
    one = replicas.for_strategy(tf.distribute.get_strategy())
    assert isinstance(one, replicas.OneDevice) and one.num_replicas == 1
    assert isinstance(replicas.for_strategy(None), replicas.OneDevice)
    assert one.run(lambda a, b: a + b, tf.constant(1.0), tf.constant(2.0)).numpy() == 3.0
    stacked = one.sum_stacked([tf.constant([1.0, 2.0]), tf.constant([3.0, 4.0])])
    np.testing.assert_array_equal(stacked.numpy(), [[1.0, 2.0], [3.0, 4.0]])


def test_an_accumulator_outside_any_strategy_is_a_plain_zero_variable_that_adds_up():
    like = tf.Variable(tf.ones([2, 3]))
    accumulator = replicas.accumulator_variable(like)
    assert accumulator.shape == like.shape and not accumulator.trainable
    np.testing.assert_array_equal(accumulator.numpy(), np.zeros([2, 3]))
    accumulator.assign_add(tf.fill([2, 3], 0.5))
    accumulator.assign_add(tf.fill([2, 3], 0.25))
    np.testing.assert_array_equal(accumulator.numpy(), np.full([2, 3], 0.75))
