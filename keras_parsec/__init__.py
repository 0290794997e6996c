"""keras-parsec: Probabilistic neural ARchitecture SEarCh (PARSEC) for Keras.

Public API:
    SearchSpace, Genotype, OPERATIONS, DARTS_V1, DARTS_V2   the DARTS cell space as data
    ArchitectureDistribution                               p(alpha | pi): sample, log_prob, mode, entropy
    SuperNet                                               shared weights; train_step = Algorithm 1
    ParsecTuner, ParsecOracle                              Keras Tuner search over PARSEC runs
    CellNetwork, layers.Cell                               found cells as Keras models and layers
    CellHyperModel                                         the same space for RandomSearch/Hyperband/Bayesian
    plot_genotype, plot_search                             paper Figures 2 and 3
    split_train_search, search_dataset                     the train/search halves of a search
    ParsecError, InvalidArgumentError, InvalidTypeError    typed errors
"""

from keras_parsec import layers
from keras_parsec.data import search_dataset, split_train_search
from keras_parsec.distribution import ArchitectureDistribution
from keras_parsec.errors import InvalidArgumentError, InvalidTypeError, ParsecError
from keras_parsec.hypermodel import CellHyperModel
from keras_parsec.networks import CellNetwork
from keras_parsec.oracle import ParsecOracle
from keras_parsec.space import DARTS_V1, DARTS_V2, OPERATIONS, Genotype, SearchSpace
from keras_parsec.supernet import SuperNet
from keras_parsec.tuner import ParsecTuner
from keras_parsec.visualize import plot_genotype, plot_search

__version__ = "0.1.0"

__all__ = [
    "ArchitectureDistribution",
    "CellHyperModel",
    "CellNetwork",
    "DARTS_V1",
    "DARTS_V2",
    "Genotype",
    "InvalidArgumentError",
    "InvalidTypeError",
    "OPERATIONS",
    "ParsecError",
    "ParsecOracle",
    "ParsecTuner",
    "SearchSpace",
    "SuperNet",
    "__version__",
    "layers",
    "plot_genotype",
    "plot_search",
    "search_dataset",
    "split_train_search",
]
