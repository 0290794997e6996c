"""keras-parsec: Probabilistic neural ARchitecture SEarCh (PARSEC) for Keras.

Public API:
    SearchSpace, Genotype, OPERATIONS, DARTS_V1, DARTS_V2   the DARTS cell space as data
    ArchitectureDistribution                               p(alpha | pi): sample, log_prob, mode, entropy
    SuperNet                                               shared weights; train_step = Algorithm 1
    split_train_search, search_dataset                     the train/search halves of a search
    ParsecError, InvalidArgumentError, InvalidTypeError    typed errors
"""

from keras_parsec.data import search_dataset, split_train_search
from keras_parsec.distribution import ArchitectureDistribution
from keras_parsec.errors import InvalidArgumentError, InvalidTypeError, ParsecError
from keras_parsec.space import DARTS_V1, DARTS_V2, OPERATIONS, Genotype, SearchSpace
from keras_parsec.supernet import SuperNet

__version__ = "0.1.0"

__all__ = [
    "ArchitectureDistribution",
    "DARTS_V1",
    "DARTS_V2",
    "Genotype",
    "InvalidArgumentError",
    "InvalidTypeError",
    "OPERATIONS",
    "ParsecError",
    "SearchSpace",
    "SuperNet",
    "__version__",
    "search_dataset",
    "split_train_search",
]
