"""The categoricals of p(alpha | pi) as pure functions of their logits (paper eqs. 4-5).

Each cell type (normal, reduce), node `n` and input slot `s` has one
categorical over the (input node, operation) pairs of node `n`, choice
`j = input_index * P + operation_index`, valid for `j < (n + 2) * P`. All the
logits live in one float32 tensor of shape `[2, N, 2, M]`, `M =
space.max_choices`; the entries past a node's choices are padding, masked by a
constant boolean `mask`. An architecture is an int32 tensor of shape `[2, N, 2]`.

The functions are pure TensorFlow, float32 and graph-safe, so a `train_step`
or `tf.function` calls them directly; they take `logits` `[2, N, 2, M]`, the
`mask` from `valid_choice_mask` and, where needed, `choices` `[K, 2, N, 2]`.
`keras_parsec.distribution.ArchitectureDistribution` holds the logits of a
search and calls them.
"""

import numpy as np
import tensorflow as tf

from keras_parsec.errors import invalid_argument
from keras_parsec.space import CELL_TYPES, SearchSpace

MASKED_LOGIT = -1e9  # finite: padding gets probability 0, never NaN
LOGIT_LIMIT = 30.0  # |centred logit| bound: probability ratios up to e**60 within a slot
_NUM_SLOTS = 2


def valid_choice_mask(space: SearchSpace) -> np.ndarray:
    """Returns the bool mask `[2, N, 2, M]` of the real (non-padding) choices."""
    mask = np.zeros((len(CELL_TYPES), space.num_nodes, _NUM_SLOTS, space.max_choices), bool)
    for node in range(space.num_nodes):
        mask[:, node, :, : space.num_choices(node)] = True
    return mask


def check_choice_range(name, choices, mask):
    """Raises, naming the first one, unless every entry of `choices` (`[..., 2, N, 2]`) is a valid choice."""
    limits = mask.sum(axis=-1)  # (node + 2) * P
    bad = np.argwhere((choices < 0) | (choices >= limits))
    if bad.size:
        index = tuple(int(i) for i in bad[0])
        raise invalid_argument(
            f"{name}{list(index)}",
            f"a choice index in [0, {limits[index[-3:]]}) for node {index[-2]}",
            int(choices[index]),
            "pass choices from sample_choices() or genotype_to_choices()",
        )


def masked_logits(logits, mask) -> tf.Tensor:
    """Returns `logits` with padding set to `MASKED_LOGIT`, which gets zero gradient."""
    logits = tf.convert_to_tensor(logits, tf.float32)
    return tf.where(mask, logits, tf.fill(tf.shape(logits), MASKED_LOGIT))


def _log_probabilities(logits, mask):
    return tf.nn.log_softmax(masked_logits(logits, mask), axis=-1)


def probabilities(logits, mask) -> tf.Tensor:
    """Returns the choice probabilities `[2, N, 2, M]`, exactly zero on padding."""
    p = tf.nn.softmax(masked_logits(logits, mask), axis=-1)
    return tf.where(mask, p, tf.zeros_like(p))


def sample_choices(logits, mask, num_samples, seed) -> tf.Tensor:
    """Draws K = `num_samples` architectures from p(alpha | pi).

    Args:
        seed: a shape-[2] integer tensor for `tf.random.stateless_categorical`.

    Returns:
        int32 choices `[K, 2, N, 2]`, only ever valid (non-padding) indices.
    """
    logits = masked_logits(logits, mask)
    shape = tf.shape(logits)
    flat = tf.reshape(logits, [-1, shape[-1]])
    seed = tf.cast(seed, tf.int64)
    samples = tf.random.stateless_categorical(flat, num_samples, seed, dtype=tf.int32)
    return tf.reshape(tf.transpose(samples), tf.concat([[-1], shape[:-1]], 0))


def log_prob(logits, mask, choices) -> tf.Tensor:
    """Returns log p(alpha_k | pi) `[K]`, summed over cells, nodes and slots."""
    log_p = _log_probabilities(logits, mask)
    one_hot = tf.one_hot(choices, tf.shape(log_p)[-1], dtype=tf.float32)
    return tf.reduce_sum(one_hot * log_p, axis=[1, 2, 3, 4])


def score_gradient(logits, mask, choices, weights) -> tf.Tensor:
    """Returns `sum_k w_k grad_logits log p(alpha_k | pi)`, analytically.

    Args:
        weights: float weights `[K]`, e.g. from `importance_weights`.

    Returns:
        `sum_k w_k (onehot(alpha_k) - softmax(logits))`, `[2, N, 2, M]`, zero on
        padding.
    """
    p = probabilities(logits, mask)
    weights = tf.cast(weights, tf.float32)
    one_hot = tf.one_hot(choices, tf.shape(p)[-1], dtype=tf.float32)
    counts = tf.tensordot(weights, one_hot, axes=[[0], [0]])
    gradient = counts - tf.reduce_sum(weights) * p
    return tf.where(mask, gradient, tf.zeros_like(gradient))


def entropy(logits, mask) -> tf.Tensor:
    """Returns the total entropy (nats) of p(alpha | pi), a float32 scalar."""
    p = probabilities(logits, mask)
    terms = tf.where(mask, p * _log_probabilities(logits, mask), tf.zeros_like(p))
    return -tf.reduce_sum(terms)


def mode_choices(logits, mask) -> tf.Tensor:
    """Returns the most probable choice of every slot, int32 `[2, N, 2]`."""
    return tf.argmax(masked_logits(logits, mask), axis=-1, output_type=tf.int32)


def recentred_logits(logits, mask) -> tf.Tensor:
    """Shifts each slot's logits to mean 0 over its real choices and clips them to +-`LOGIT_LIMIT`.

    The shift leaves every probability unchanged; it keeps the logits near 0
    however long a search runs (Adam moves them by about the learning rate per
    step, and the sum is not conserved). The clip only binds once a slot's
    probabilities span more than e**30 around their geometric mean.

    Returns:
        float32 `[2, N, 2, M]`, 0 on padding.
    """
    logits = tf.convert_to_tensor(logits, tf.float32)
    valid = tf.cast(mask, tf.float32)
    mean = tf.reduce_sum(logits * valid, axis=-1, keepdims=True) / tf.reduce_sum(valid, axis=-1, keepdims=True)
    centred = tf.clip_by_value(logits - mean, -LOGIT_LIMIT, LOGIT_LIMIT)
    return tf.where(mask, centred, tf.zeros_like(centred))


def importance_weights(log_likelihoods) -> tf.Tensor:
    """Normalises log-likelihoods into weights by a log-sum-exp softmax.

    Args:
        log_likelihoods: float `[K]`, e.g. log p(y | X, v, alpha_k).

    Returns:
        float32 `[K]` summing to 1; NaN and infinite entries get weight 0, and
        all weights are 0 when no entry is finite. float64 inputs are reduced
        in float64, which keeps small differences between large values.
    """
    x = tf.convert_to_tensor(log_likelihoods)
    x = x if x.dtype == tf.float64 else tf.cast(x, tf.float32)
    finite = tf.math.is_finite(x)
    safe = tf.where(finite, x, tf.zeros_like(x))
    largest = tf.reduce_max(tf.where(finite, x, tf.fill(tf.shape(x), tf.cast(-np.inf, x.dtype))))
    largest = tf.where(tf.math.is_finite(largest), largest, tf.zeros_like(largest))
    unnormalised = tf.where(finite, tf.exp(safe - largest), tf.zeros_like(x))
    weights = tf.math.divide_no_nan(unnormalised, tf.reduce_sum(unnormalised))
    return tf.cast(weights, tf.float32)
