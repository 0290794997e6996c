"""Algorithm 1's bookkeeping: merged repeats, NaN drops, renormalisation and the pi update, on plain arrays."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_parsec as kp
from keras_parsec.search import algorithm


def test_distinct_architectures_keep_the_order_of_first_appearance():
    a, b, c = (np.full((2, 2, 2), v) for v in (5, 1, 3))
    distinct, first, inverse = algorithm.distinct_architectures(np.stack([a, b, a, c, b]))
    np.testing.assert_array_equal(distinct, np.stack([a, b, c]))
    np.testing.assert_array_equal(first, [0, 1, 3])
    np.testing.assert_array_equal(inverse, [0, 1, 0, 2, 1])


@pytest.mark.parametrize(
    "log_likelihoods, inverse, merged, skip",
    (
        # Three samples, the first and third the same architecture: their weights add up.
        ([0.0, np.log(2.0), 0.0], [0, 1, 0], [0.5, 0.5], [False, False]),
        # A NaN likelihood: weight 0, skipped; the others share all of the weight.
        ([np.nan, 0.0, 0.0], [0, 1, 2], [0.0, 0.5, 0.5], [True, False, False]),
        ([-np.inf, -np.inf], [0, 1], [0.0, 0.0], [True, True]),
    ),
)
def test_merged_weights_sum_repeats_and_skip_what_is_not_finite(log_likelihoods, inverse, merged, skip):
    first = [inverse.index(d) for d in range(max(inverse) + 1)]
    weights, got_merged, got_skip = algorithm.merged_weights(
        tf.constant(log_likelihoods, tf.float32), np.array(first), np.array(inverse)
    )
    np.testing.assert_allclose(got_merged.numpy(), merged, atol=1e-6)
    np.testing.assert_array_equal(got_skip, skip)
    np.testing.assert_allclose(float(tf.reduce_sum(weights)), float(np.sum(merged)), atol=1e-6)


@pytest.mark.parametrize(
    "skip, inverse, dropped, finite",
    (
        ([False, False], [0, 1, 0], [], [True, True, True]),
        ([False, True], [0, 1, 0], [], [True, False, True]),
        ([False, False], [0, 1, 0], [0], [False, True, False]),  # a dropped architecture drops its repeats
        ([True, False], [0, 1], [1], [False, False]),
    ),
)
def test_finite_samples_leave_out_both_kinds_of_failure(skip, inverse, dropped, finite):
    np.testing.assert_array_equal(algorithm.finite_samples(np.array(skip), np.array(inverse), dropped), finite)


def test_the_update_of_pi_ascends_the_weighted_log_probability_of_the_samples():
    space = kp.SearchSpace(num_cells=1, filters=4, num_nodes=2, operations=("skip_connect", "max_pool_3x3"))
    distribution = kp.ArchitectureDistribution(space)
    choices = distribution.sample_choices(2, seed=0).numpy()
    weights = tf.constant([1.0, 0.0])
    before = distribution.log_prob(choices[0])[0]
    optimizer = keras.optimizers.SGD(0.1)
    algorithm.update_distribution(optimizer, distribution, choices, weights)
    assert distribution.log_prob(choices[0])[0] > before
