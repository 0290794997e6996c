"""Keras Tuner integration: PARSEC runs as trials, over the search engine and the final networks.

tuner       `ParsecTuner`: one PARSEC run per trial, resumed where it stopped
results     what a finished search hands back: genotypes, distributions, trained networks, summaries
oracle      `ParsecOracle`: pi, mode and entropy per trial; successive halving
checkpoint  the resumable search state of a trial
callbacks   per trial: reports to the oracle, a TensorBoard folder with HParams and pi, a time estimate
halving     the successive-halving rule
hypermodel  `CellHyperModel`: the same space for Keras Tuner's own tuners
resuming    the checks that refuse to resume a project saved with other settings
ranking     genotypes scored on a trained supernet's shared weights
chief       Keras Tuner's distributed chief, and which multi-worker process writes
"""

from keras_parsec.tuning import (
    callbacks,
    checkpoint,
    chief,
    halving,
    hypermodel,
    oracle,
    ranking,
    results,
    resuming,
    tuner,
)

__all__ = [
    "callbacks",
    "checkpoint",
    "chief",
    "halving",
    "hypermodel",
    "oracle",
    "ranking",
    "results",
    "resuming",
    "tuner",
]
