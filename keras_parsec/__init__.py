"""keras-parsec: Probabilistic neural ARchitecture SEarCh (PARSEC) for Keras.

Public API:
    SearchSpace, Genotype, OPERATIONS, DARTS_V1, DARTS_V2   the DARTS cell space as data
    ArchitectureDistribution                               p(alpha | pi): sample, log_prob, mode, entropy
    SuperNet                                               shared weights, each pass one call; train_step = Algorithm 1
    search.EagerSuperNet                                   the same composed eagerly (engine="eager", the baseline)
    ParsecTuner, ParsecOracle                              Keras Tuner search over PARSEC runs
    CellNetwork, layers.Cell                               found cells as Keras models and layers
    CellHyperModel                                         the same space for RandomSearch/Hyperband/Bayesian
    plot_genotype, plot_search                             paper Figures 2 and 3
    split_train_search, search_dataset                     the train/search halves of a search
    preprocessing                                          tfds pipelines: CIFAR crop/flip/cutout, ImageNet crops
    Recipe, CIFAR10_RECIPE, IMAGENET_RECIPE                the final-training settings of the paper (DARTS)
    build_final_network, compile_final_network,            the recipe over plain `model.fit`
      final_callbacks, DropPathSchedule, L2SGD,
      SparseLabelSmoothingCrossentropy
    count_params, count_flops, check_mobile_setting        parameters and multiply-adds of a genotype's network
    ParsecError, InvalidArgumentError, InvalidTypeError    typed errors
"""

from keras_parsec import layers, preprocessing, search
from keras_parsec.counting import check_mobile_setting, count_flops, count_params
from keras_parsec.data import search_dataset, split_train_search
from keras_parsec.distribution import ArchitectureDistribution
from keras_parsec.errors import InvalidArgumentError, InvalidTypeError, ParsecError
from keras_parsec.hypermodel import CellHyperModel
from keras_parsec.networks import CellNetwork
from keras_parsec.oracle import ParsecOracle
from keras_parsec.search import SuperNet
from keras_parsec.space import DARTS_V1, DARTS_V2, OPERATIONS, Genotype, SearchSpace
from keras_parsec.training import (
    CIFAR10_RECIPE,
    IMAGENET_RECIPE,
    L2SGD,
    DropPathSchedule,
    Recipe,
    SparseLabelSmoothingCrossentropy,
    build_final_network,
    compile_final_network,
    final_callbacks,
)
from keras_parsec.tuner import ParsecTuner
from keras_parsec.visualize import plot_genotype, plot_search

__version__ = "0.2.0"

__all__ = [
    "CIFAR10_RECIPE",
    "IMAGENET_RECIPE",
    "L2SGD",
    "ArchitectureDistribution",
    "CellHyperModel",
    "CellNetwork",
    "DARTS_V1",
    "DARTS_V2",
    "DropPathSchedule",
    "Genotype",
    "InvalidArgumentError",
    "InvalidTypeError",
    "OPERATIONS",
    "ParsecError",
    "ParsecOracle",
    "ParsecTuner",
    "Recipe",
    "SearchSpace",
    "SparseLabelSmoothingCrossentropy",
    "SuperNet",
    "__version__",
    "build_final_network",
    "check_mobile_setting",
    "compile_final_network",
    "count_flops",
    "count_params",
    "final_callbacks",
    "layers",
    "plot_genotype",
    "plot_search",
    "preprocessing",
    "search",
    "search_dataset",
    "split_train_search",
]
