"""A genotype trained from scratch with a `Recipe`, on anything `model.fit` reads.

`train_final_network` is the four steps of the recipe's docstring in one
call: build the `CellNetwork`, compile it with the recipe's optimizer and
schedule, fit with the recipe's callbacks, and hand back the trained model,
ready for `model.save("m.keras")` or `model.export(path)`.
"""

import dataclasses
import math

import keras
import numpy as np
import tensorflow as tf

from keras_parsec.errors import invalid_argument
from keras_parsec.final import recipes


def steps_per_epoch(x, batch_size):
    """Steps of one epoch over `x` (arrays, a batched `tf.data.Dataset` or a `keras.utils.PyDataset`)."""
    if isinstance(x, tf.data.Dataset):
        cardinality = int(x.cardinality())
        if cardinality < 1:  # infinite or unknown
            raise invalid_argument(
                "x", "a dataset of known, finite length", x, "call dataset.repeat(n) or .take(n) before, or pass arrays"
            )
        return cardinality
    if isinstance(x, keras.utils.PyDataset):
        return len(x)
    return max(1, math.ceil(len(x) / batch_size))


def train_final_network(
    genotype,
    x,
    y=None,
    *,
    num_classes,
    input_shape,
    recipe=recipes.CIFAR10_RECIPE,
    validation_data=None,
    epochs=None,
    batch_size=None,
    callbacks=None,
    verbose=1,
    **network_kwargs,
):
    """Builds, compiles and fits the `CellNetwork` of `genotype` with `recipe`.

    Args:
        genotype: a `Genotype` or its dict.
        x, y: training data as `model.fit` takes it: arrays `x` [N, H, W, C]
            with integer labels `y`, or a batched `tf.data.Dataset` /
            `keras.utils.PyDataset` of `(images, labels)` with `y` None.
        num_classes: classes of the labels.
        input_shape: `(height, width, channels)` of the images.
        recipe: a `Recipe` (size, optimizer, schedule, auxiliary head, drop path).
        validation_data: as in `model.fit`.
        epochs: default `recipe.epochs`.
        batch_size: for arrays; default `recipe.batch_size`.
        callbacks: further Keras callbacks.
        verbose: Keras verbosity.
        **network_kwargs: `CellNetwork` arguments that override the recipe's
            (num_cells, filters, auxiliary_weight...).

    Returns:
        The trained `CellNetwork`; its `history` attribute holds the fit's `History`.
    """
    recipe = recipes._check_recipe(recipe)
    epochs = recipe.epochs if epochs is None else epochs
    batch_size = recipe.batch_size if batch_size is None else batch_size
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise invalid_argument(name, "a positive int", value, f"pass {name}=10, or leave it to the recipe")
    arrays = not isinstance(x, (tf.data.Dataset, keras.utils.PyDataset))
    if arrays and y is None:
        raise invalid_argument("y", "labels for the images in x", None, "pass y=, or a dataset of (images, labels)")
    steps = steps_per_epoch(x, batch_size)
    model = recipes.build_final_network(genotype, recipe, num_classes, tuple(input_shape), **network_kwargs)
    recipes.compile_final_network(model, dataclasses.replace(recipe, epochs=epochs), steps_per_epoch=steps)
    fit_kwargs = {"batch_size": batch_size} if arrays else {}
    model.fit(
        x,
        y,
        validation_data=validation_data,
        epochs=epochs,
        callbacks=recipes.final_callbacks(recipe, epochs) + list(callbacks or []),
        verbose=verbose,
        **fit_kwargs,
    )
    return model
