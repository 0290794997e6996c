"""Final networks: found cells as Keras layers and models, trained with the paper's recipes.

layers      `Cell`: one cell of a genotype as a Keras layer
operations  the candidate operations as Keras layers (`SepConv`, `DilConv`...), their registry
drop_path   `DropPath` (stochastic depth) and `DropPathSchedule`, DARTS' linear ramp of its rate
networks    `CellNetwork`: DARTS' CIFAR and ImageNet networks of a genotype
recipes     `Recipe` and the final-training pieces (CIFAR10_RECIPE, IMAGENET_RECIPE)
train       `train_final_network`: build, compile and fit a genotype with a recipe in one call
ensemble    `EnsembleNetwork`: trained networks' class probabilities averaged, as one Keras model
counting    parameters and multiply-adds of a genotype's network
costs       `CostTable`: those counts per choice, additive over an architecture's choices
latency     inference latency, end to end and per choice (a measured `CostTable`)

Nothing here imports `keras_parsec.search`: a found cell needs no search code.
"""

from keras_parsec.final import (
    costs,
    counting,
    drop_path,
    ensemble,
    latency,
    layers,
    networks,
    operations,
    recipes,
    train,
)

__all__ = [
    "costs",
    "counting",
    "drop_path",
    "ensemble",
    "latency",
    "layers",
    "networks",
    "operations",
    "recipes",
    "train",
]
