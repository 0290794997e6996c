"""Ranking genotypes on a search run's shared weights, without training any of them.

A finished PARSEC run leaves shared weights that every architecture of the
space can run on. Scoring a genotype there costs one forward pass over the
data, against hours to train it from scratch, so "sample N genotypes from pi,
rank them on the shared weights, train the best" is an alternative to taking
the mode of pi. The score is the one Algorithm 1 weighs architectures by: the
log-likelihood of the labels (and, for reading, the accuracy).
"""

import numpy as np
import tensorflow as tf

from keras_parsec import errors
from keras_parsec.data import arrays as data_lib
from keras_parsec.search import ops


def score_genotypes(net, genotypes, x, y, batch_size=64):
    """Each genotype's log-likelihood and accuracy on `net`'s shared weights.

    Args:
        net: a trained supernet (`ParsecTuner.load_supernet()`).
        genotypes: `Genotype`s of `net`'s search space (`DARTS_V2`, the mode,
            samples of the learnt distribution...).
        x, y: images and labels to score on; held out from the search's
            training half, e.g. its validation data.
        batch_size: examples per forward pass; batch normalisation uses each
            batch's own statistics, as during the search.

    Returns:
        One dict per genotype, in the order given: `genotype`,
        `log_likelihood` (summed over the examples; higher is better) and
        `accuracy`.

    Raises:
        InvalidTypeError: for something that is not a `Genotype`.
        InvalidArgumentError: for a genotype outside the space, or no examples.
    """
    genotypes = list(genotypes)
    choices = [net.distribution.genotype_to_choices(g) for g in genotypes]  # validates each against the space
    images, labels = data_lib.as_arrays(x, y)
    if not len(images):
        raise errors.invalid_argument("x", "at least one example", len(images), "pass the validation images")
    batches = [(images[i : i + batch_size], labels[i : i + batch_size]) for i in range(0, len(images), batch_size)]
    scores = []
    for genotype, architecture in zip(genotypes, choices):
        log_likelihood, correct = 0.0, 0
        for batch_images, batch_labels in batches:
            logits = net.architecture_logits(tf.constant(batch_images), architecture)
            log_likelihood += float(-tf.reduce_sum(ops.cross_entropy(batch_labels, logits)))
            correct += int(np.sum(np.argmax(logits.numpy(), axis=-1) == batch_labels))
        scores.append({"genotype": genotype, "log_likelihood": log_likelihood, "accuracy": correct / len(labels)})
    return scores
