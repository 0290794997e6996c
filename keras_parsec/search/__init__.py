"""The PARSEC one-shot search engine v2: packed shared weights and passes compiled once.

SharedWeights       the search network's weights, one variable per (cell, node, operation)
Executor            an architecture's forward and gradient, the architecture an int32 tensor
CompiledSuperNet    `keras_parsec.SuperNet`'s Algorithm 1 on those passes (opt-in)
"""

from keras_parsec.search.compiled_supernet import CompiledSuperNet
from keras_parsec.search.executor import Executor
from keras_parsec.search.weights import SharedWeights

__all__ = ["CompiledSuperNet", "Executor", "SharedWeights"]
