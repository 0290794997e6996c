"""Algorithm 1 of the paper as small functions: what a search step decides, apart from how passes run.

A step samples K architectures, scores each on the search batch (line 8),
turns the scores into importance weights (line 9), trains the shared weights
on the weighted sum of the K train losses (line 10) and moves pi along the
weighted score function (line 11). The functions here are that bookkeeping:
merging repeated samples, leaving out architectures whose loss is NaN or
infinite, renormalising the rest, and the update of pi. Both engines and any
number of replicas call them, so the method is written once.
"""

import numpy as np
import tensorflow as tf

from keras_parsec import distribution as dist_lib


def distinct_architectures(choices):
    """The distinct architectures among `choices`, in order of first appearance.

    An architecture sampled twice runs once, with the sum of its weights: exact,
    and common once pi concentrates.

    Args:
        choices: [K, 2, N, 2] int array.

    Returns:
        `(distinct, first, inverse)`: the distinct architectures, the index in
        `choices` of each one's first appearance, and for each of the K the
        index of its architecture in `distinct`.
    """
    choices = np.asarray(choices)
    _, first, inverse = np.unique(choices.reshape(len(choices), -1), axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    first = first[order]
    return choices[first], first, rank[np.reshape(inverse, -1)]


def merged_weights(log_likelihoods, first, inverse, log_factors=None):
    """Importance weights, summed over repeated architectures, and which architectures to skip.

    Args:
        log_likelihoods: [K] search-batch log-likelihoods of the samples.
        first, inverse: from `distinct_architectures`.
        log_factors: None, or [K] log factors added to the log-likelihoods
            before normalising (a budget's, `search.budget`): `-inf` gives
            weight 0 without counting the sample as not finite.

    Returns:
        `(weights, merged, skip)`: the [K] importance weights (0 for a NaN or
        infinite log-likelihood), the weight of each distinct architecture, and
        a bool array, True where its log-likelihood is NaN or infinite.
    """
    scores = log_likelihoods
    if log_factors is not None:
        scores = tf.cast(scores, tf.float64) + tf.constant(log_factors, tf.float64)
    weights = dist_lib.importance_weights(scores)
    merged = tf.math.unsorted_segment_sum(weights, inverse, len(first))
    return weights, merged, ~np.isfinite(np.asarray(log_likelihoods))[first]


def finite_samples(skip, inverse, dropped):
    """Which of the K samples count in the step: finite on the search batch and on the train batch.

    Args:
        skip: per distinct architecture, True where its search log-likelihood
            was not finite (`merged_weights`).
        inverse: [K] index of each sample among the distinct architectures.
        dropped: indices of distinct architectures whose train loss was not finite.

    Returns:
        A [K] bool array.
    """
    finite = ~np.asarray(skip)[inverse]
    finite[np.isin(inverse, list(dropped))] = False
    return finite


def update_distribution(optimizer, distribution, choices, weights):
    """Moves pi along `sum_k w_k grad log p(alpha_k | pi)` (Algorithm 1, line 11).

    Args:
        optimizer: the architecture optimizer (Adam in the paper).
        distribution: the `ArchitectureDistribution` whose logits it updates.
        choices: [K, 2, N, 2] the step's samples.
        weights: [K] their importance weights.
    """
    gradient = distribution.score_gradient(choices, weights)
    # Keras optimizers minimise: ascend log p(y | X, v, pi) by descending its negation.
    optimizer.apply([-gradient], [distribution.logits])
