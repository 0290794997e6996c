"""Keras Tuner integration: PARSEC runs as trials, over the search engine and the final networks.

tuner       `ParsecTuner`: one PARSEC run per trial, resumed where it stopped
runs        one trial's run: its supernet, batches, checkpoint and record
results     what a finished search hands back: genotypes, distributions, trained networks, summaries
ensembles   the genotypes of an ensemble from a learnt distribution (the most probable, or samples), their weights
oracle      `ParsecOracle`: pi, mode and entropy per trial; successive halving
checkpoint  the resumable search state of a trial
callbacks   per trial: reports to the oracle, a TensorBoard folder with HParams and pi, a time estimate
halving     the successive-halving rule
hypermodel  `CellHyperModel`: the same space for Keras Tuner's own tuners
hyperparameters  the space as one `hp.Choice` per input slot, and the genotype of their values
resuming    the checks that refuse to resume a project saved with other settings
ranking     genotypes scored on a trained supernet's shared weights
chief       Keras Tuner's distributed chief, and which multi-worker process writes
"""

from keras_parsec.tuning import (
    callbacks,
    checkpoint,
    chief,
    ensembles,
    halving,
    hypermodel,
    hyperparameters,
    oracle,
    ranking,
    results,
    resuming,
    runs,
    tuner,
)

__all__ = [
    "callbacks",
    "checkpoint",
    "chief",
    "ensembles",
    "halving",
    "hypermodel",
    "hyperparameters",
    "oracle",
    "ranking",
    "results",
    "resuming",
    "runs",
    "tuner",
]
