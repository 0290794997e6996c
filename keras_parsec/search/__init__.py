"""The PARSEC search engine: shared weights that run only the sampled operations, trained by Algorithm 1.

SuperNet            the default engine: each pass one compiled call, the architecture an int32 tensor
EagerSuperNet       the baseline engine: each pass composed eagerly from compiled pieces
BaseSuperNet        what both share: the two optimizers, metrics, sampling, `fit`
SearchRecipe        the two optimizers' settings, the paper's by default (SEARCH_RECIPE)
CosineSchedule      the weights' learning rate (DARTS)
SharedWeights       the search network's weights, one variable per (cell, node, operation)
Executor            an architecture's forward and gradient as compiled calls
algorithm           Algorithm 1's bookkeeping, shared by both engines
budget              Budget: cost limits as a factor of the importance weights (hard or soft rule)
diagnostics         what a step and an epoch log about pi: effective sample size, log p(mode), changed slots
warmup              pi held still for the first epochs while the shared weights learn (off by default)
replicas            one device or a strategy's replicas: the only difference between the two
"""

from keras_parsec.search import algorithm, budget, diagnostics, recipe, replicas, warmup
from keras_parsec.search.base_supernet import BaseSuperNet
from keras_parsec.search.eager import EagerSuperNet
from keras_parsec.search.executor import Executor
from keras_parsec.search.recipe import SEARCH_RECIPE, CosineSchedule, SearchRecipe
from keras_parsec.search.supernet import SuperNet
from keras_parsec.search.weights import SharedWeights

__all__ = [
    "BaseSuperNet",
    "CosineSchedule",
    "EagerSuperNet",
    "Executor",
    "SEARCH_RECIPE",
    "SearchRecipe",
    "SharedWeights",
    "SuperNet",
    "algorithm",
    "budget",
    "diagnostics",
    "recipe",
    "replicas",
    "warmup",
]
