"""keras-parsec: Probabilistic neural ARchitecture SEarCh (PARSEC) for Keras.

The package in four parts (the top level holds what all of them share:
space, genotype, distribution and categorical, errors, files, visualize and cell_drawing, cli):
    search/    the engine: shared weights, compiled passes, Algorithm 1 (`SuperNet`)
    final/     found cells as Keras layers and networks, the final-training recipes
    tuning/    Keras Tuner: `ParsecTuner`, `ParsecOracle`, resumable state, halving, the chief
    data/      arrays and tf.data for a search, tensorflow-datasets pipelines
`search/` and `final/` never import each other; `tuning/` sits on both.

Public API:
    SearchSpace, Genotype, OPERATIONS, DARTS_V1, DARTS_V2   the DARTS cell space as data
    ArchitectureDistribution                               p(alpha | pi): sample, log_prob, mode, entropy
    SuperNet                                               shared weights, each pass one call; train_step = Algorithm 1
    SearchRecipe                                           the search's optimizer settings (paper 4.1 and DARTS)
    Budget                                                 cost limits (params, mult-adds, latency) in the weights
    search.EagerSuperNet                                   the same composed eagerly (engine="eager", the baseline)
    ParsecTuner, ParsecOracle                              Keras Tuner search over PARSEC runs
    CellNetwork, layers.Cell                               found cells as Keras models and layers
    EnsembleNetwork                                        trained networks' probabilities averaged, one Keras model
    CellHyperModel                                         the same space for RandomSearch/Hyperband/Bayesian
    plot_genotype, plot_search, plot_distribution          paper Figures 2 and 3; pi as heatmaps
    split_train_search, search_dataset                     the train/search halves of a search
    preprocessing                                          tfds pipelines: CIFAR crop/flip/cutout, ImageNet crops
    Recipe, CIFAR10_RECIPE, IMAGENET_RECIPE                the final-training settings of the paper (DARTS)
    train_final_network                                    a genotype built, compiled and fitted with a recipe
    build_final_network, compile_final_network,            the recipe over plain `model.fit`
      final_callbacks, DropPathSchedule, L2SGD,
      SparseLabelSmoothingCrossentropy
    count_params, count_flops, check_mobile_setting        parameters and multiply-adds of a genotype's network
    CostTable, params_table, flops_table                   those costs per choice, additive over an architecture
    measure_latency_table, measure_latency                 inference latency per choice and end to end
    ParsecError, InvalidArgumentError, InvalidTypeError    typed errors
Modules moved in 0.3.0 still import under their 0.2.0 names (`keras_parsec._moved`).
"""

from keras_parsec import _moved, data, final, search, tuning
from keras_parsec.data import preprocessing
from keras_parsec.data.arrays import search_dataset, split_train_search
from keras_parsec.distribution import ArchitectureDistribution
from keras_parsec.errors import InvalidArgumentError, InvalidTypeError, ParsecError
from keras_parsec.final import layers
from keras_parsec.final.costs import CostTable, flops_table, params_table
from keras_parsec.final.counting import check_mobile_setting, count_flops, count_params
from keras_parsec.final.drop_path import DropPathSchedule
from keras_parsec.final.ensemble import EnsembleNetwork
from keras_parsec.final.latency import measure_latency, measure_latency_table
from keras_parsec.final.networks import CellNetwork
from keras_parsec.final.recipes import (
    CIFAR10_RECIPE,
    IMAGENET_RECIPE,
    L2SGD,
    Recipe,
    SparseLabelSmoothingCrossentropy,
    build_final_network,
    compile_final_network,
    final_callbacks,
)
from keras_parsec.final.train import train_final_network
from keras_parsec.genotype import DARTS_V1, DARTS_V2, Genotype
from keras_parsec.search import SearchRecipe, SuperNet
from keras_parsec.search.budget import Budget
from keras_parsec.space import OPERATIONS, SearchSpace
from keras_parsec.tuning.hypermodel import CellHyperModel
from keras_parsec.tuning.oracle import ParsecOracle
from keras_parsec.tuning.tuner import ParsecTuner
from keras_parsec.visualize import plot_distribution, plot_genotype, plot_search

__version__ = "0.3.0"

_moved.install()  # the modules of 0.2.0 under their old names, with a DeprecationWarning

__all__ = [
    "Budget",
    "CIFAR10_RECIPE",
    "IMAGENET_RECIPE",
    "L2SGD",
    "ArchitectureDistribution",
    "CellHyperModel",
    "CellNetwork",
    "CostTable",
    "DARTS_V1",
    "DARTS_V2",
    "DropPathSchedule",
    "EnsembleNetwork",
    "Genotype",
    "InvalidArgumentError",
    "InvalidTypeError",
    "OPERATIONS",
    "ParsecError",
    "ParsecOracle",
    "ParsecTuner",
    "Recipe",
    "SearchRecipe",
    "SearchSpace",
    "SparseLabelSmoothingCrossentropy",
    "SuperNet",
    "__version__",
    "data",
    "final",
    "build_final_network",
    "check_mobile_setting",
    "compile_final_network",
    "count_flops",
    "count_params",
    "final_callbacks",
    "flops_table",
    "layers",
    "measure_latency",
    "measure_latency_table",
    "params_table",
    "plot_distribution",
    "plot_genotype",
    "plot_search",
    "preprocessing",
    "search",
    "search_dataset",
    "tuning",
    "split_train_search",
    "train_final_network",
]
