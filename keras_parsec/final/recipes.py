"""Training a found cell from scratch as in DARTS and PARSEC: the recipe over plain `model.fit`.

```python
recipe = kp.CIFAR10_RECIPE                                   # paper 4.1
model = kp.build_final_network(genotype, recipe, num_classes=10)
kp.compile_final_network(model, recipe, steps_per_epoch=50000 // recipe.batch_size)
model.fit(train_ds, validation_data=test_ds, epochs=recipe.epochs,
          callbacks=kp.final_callbacks(recipe))
```

Choices, where the paper and DARTS differ or are silent:

- Drop path: the paper's text says 0.4 (DARTS' text says 0.2); DARTS' code
  raises the rate linearly from 0 at the first epoch to its value at the last
  one, and the paper says all other settings follow DARTS. `CIFAR10_RECIPE`
  therefore uses 0.4 with DARTS' linear ramp (`DropPathSchedule`); pass
  `drop_path_ramp=False` for a constant rate.
- Weight decay is coupled L2 added to the gradient after clipping, as in
  PyTorch's SGD that DARTS uses (`L2SGD`); Keras' `weight_decay` is decoupled
  and about 10x weaker with momentum 0.9.
- ImageNet: the paper says 600 epochs for its 14-cell networks (DARTS trained
  250); the rest follows DARTS' `train_imagenet.py`: batch 128, learning rate
  0.1 decayed by 0.97 each epoch, weight decay 3e-5, label smoothing 0.1,
  auxiliary weight 0.4, no drop path.
"""

import dataclasses

import keras

from keras_parsec.errors import invalid_argument, invalid_type
from keras_parsec.final.drop_path import DropPathSchedule


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Hyperparameters of the final training (defaults: paper 4.1, CIFAR-10).

    Attributes:
        num_cells, filters: the final network (CIFAR: 20 cells, 36 filters).
        epochs, batch_size: length of training and examples per step.
        learning_rate: initial SGD learning rate.
        schedule: "cosine" (to 0 over training) or "exponential" (x `decay_rate` per epoch).
        decay_rate: per-epoch factor of the "exponential" schedule.
        momentum: SGD momentum.
        weight_decay: coupled L2 coefficient.
        gradient_clip_norm: global norm the gradients are clipped to.
        auxiliary_weight: weight of the auxiliary head's loss.
        drop_path_rate: drop path probability (at the last epoch if ramped).
        drop_path_ramp: raise drop path linearly over the epochs (DARTS' code).
        label_smoothing: label smoothing of the loss.
        cutout_size: cutout square side of the data augmentation (0: none).
        stem: "cifar" or "imagenet".
        image_size: side of the (cropped) training images.
    """

    num_cells: int = 20
    filters: int = 36
    epochs: int = 600
    batch_size: int = 96
    learning_rate: float = 0.025
    schedule: str = "cosine"
    decay_rate: float = 0.97
    momentum: float = 0.9
    weight_decay: float = 3e-4
    gradient_clip_norm: float = 5.0
    auxiliary_weight: float = 0.4
    drop_path_rate: float = 0.4
    drop_path_ramp: bool = True
    label_smoothing: float = 0.0
    cutout_size: int = 16
    stem: str = "cifar"
    image_size: int = 32

    def __post_init__(self):
        if self.schedule not in ("cosine", "exponential"):
            raise invalid_argument("schedule", '"cosine" or "exponential"', self.schedule)
        for name in ("num_cells", "filters", "epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise invalid_argument(name, "a positive int", value)
        if not 0.0 <= self.label_smoothing < 1.0:
            raise invalid_argument("label_smoothing", "a float in [0, 1)", self.label_smoothing, "DARTS: 0.1")


CIFAR10_RECIPE = Recipe()
IMAGENET_RECIPE = Recipe(
    num_cells=14,
    filters=48,
    epochs=600,
    batch_size=128,
    learning_rate=0.1,
    schedule="exponential",
    weight_decay=3e-5,
    drop_path_rate=0.0,
    label_smoothing=0.1,
    cutout_size=0,
    stem="imagenet",
    image_size=224,
)

# The paper's final networks by dataset: the recipe that trains each, and its number of classes.
PAPER_NETWORKS = {"cifar10": (CIFAR10_RECIPE, 10), "imagenet": (IMAGENET_RECIPE, 1000)}


def network_size(recipe) -> dict:
    """The size of a recipe's network, as `CellNetwork` arguments.

    Args:
        recipe: a `Recipe`.

    Returns:
        A dict of `num_cells`, `filters`, `input_shape` (square RGB images of
        `image_size`) and `stem`.
    """
    recipe = _check_recipe(recipe)
    input_shape = (recipe.image_size, recipe.image_size, 3)
    return {"num_cells": recipe.num_cells, "filters": recipe.filters, "input_shape": input_shape, "stem": recipe.stem}


@keras.saving.register_keras_serializable(package="keras_parsec")
class L2SGD(keras.optimizers.SGD):
    """SGD with coupled L2 weight decay: `l2 * w` is added to each (clipped) gradient (PyTorch's SGD).

    Args:
        l2: decay coefficient (DARTS: 3e-4 on CIFAR, 3e-5 on ImageNet).
        **kwargs: `keras.optimizers.SGD` arguments (learning_rate, momentum, global_clipnorm...).
    """

    def __init__(self, l2=3e-4, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(l2, (int, float)) or isinstance(l2, bool) or l2 < 0:
            raise invalid_argument("l2", "a float >= 0", l2)
        self.l2 = float(l2)

    def update_step(self, gradient, variable, learning_rate):
        if self.l2:
            gradient = gradient + self.l2 * keras.ops.cast(variable, gradient.dtype)
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "l2": self.l2}


@keras.saving.register_keras_serializable(package="keras_parsec")
class SparseLabelSmoothingCrossentropy(keras.losses.Loss):
    """Cross-entropy on integer labels with label smoothing (DARTS' ImageNet loss).

    Args:
        label_smoothing: mass moved from the true class to all classes uniformly.
        from_logits: whether predictions are logits rather than probabilities.
        **kwargs: `keras.losses.Loss` arguments.
    """

    def __init__(self, label_smoothing=0.1, from_logits=False, name="sparse_label_smoothing_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        labels = keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32")
        one_hot = keras.ops.one_hot(labels, keras.ops.shape(y_pred)[-1], dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(
            one_hot, y_pred, from_logits=self.from_logits, label_smoothing=self.label_smoothing
        )

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing, "from_logits": self.from_logits}


def _check_recipe(recipe):
    if not isinstance(recipe, Recipe):
        raise invalid_type("recipe", "a keras_parsec.Recipe", recipe, "pass kp.CIFAR10_RECIPE or kp.IMAGENET_RECIPE")
    return recipe


def build_final_network(genotype, recipe=CIFAR10_RECIPE, num_classes=10, input_shape=None, **kwargs):
    """The `CellNetwork` of `genotype` with the recipe's size, auxiliary head and drop path.

    Args:
        genotype: a `Genotype` or its dict.
        recipe: a `Recipe`.
        num_classes: classes of the dataset.
        input_shape: `(h, w, c)`; default `(image_size, image_size, 3)`.
        **kwargs: further `CellNetwork` arguments (override the recipe's).

    Returns:
        A built `CellNetwork`.
    """
    from keras_parsec.final.networks import CellNetwork

    recipe = _check_recipe(recipe)
    size = network_size(recipe)
    arguments = {
        **size,
        "input_shape": input_shape or size["input_shape"],
        "auxiliary_weight": recipe.auxiliary_weight,
        "drop_path_rate": recipe.drop_path_rate,
        **kwargs,
    }
    return CellNetwork(genotype, num_classes, **arguments)


def learning_rate_schedule(recipe, steps_per_epoch):
    """The recipe's learning rate per step: cosine to 0 over training, or x decay_rate per epoch."""
    recipe = _check_recipe(recipe)
    if not isinstance(steps_per_epoch, int) or isinstance(steps_per_epoch, bool) or steps_per_epoch < 1:
        raise invalid_argument("steps_per_epoch", "a positive int", steps_per_epoch, "pass len(train) // batch_size")
    if recipe.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(recipe.learning_rate, recipe.epochs * steps_per_epoch)
    return keras.optimizers.schedules.ExponentialDecay(
        recipe.learning_rate, steps_per_epoch, recipe.decay_rate, staircase=True
    )


def compile_final_network(model, recipe=CIFAR10_RECIPE, steps_per_epoch=1, metrics=("accuracy",), **kwargs):
    """Compiles `model` with the recipe: L2SGD, clipping, schedule, (smoothed) cross-entropy.

    Args:
        model: a `CellNetwork` (softmax outputs, or logits with `classifier_activation=None`).
        recipe: a `Recipe`.
        steps_per_epoch: steps of one epoch (sizes the schedule).
        metrics: metrics to compile.
        **kwargs: passed to `model.compile`.

    Returns:
        The optimizer.
    """
    recipe = _check_recipe(recipe)
    optimizer = L2SGD(
        l2=recipe.weight_decay,
        learning_rate=learning_rate_schedule(recipe, steps_per_epoch),
        momentum=recipe.momentum,
        global_clipnorm=recipe.gradient_clip_norm,
    )
    from_logits = getattr(model, "classifier_activation", "softmax") is None
    if recipe.label_smoothing:
        loss = SparseLabelSmoothingCrossentropy(recipe.label_smoothing, from_logits=from_logits)
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)
    model.compile(optimizer=optimizer, loss=loss, metrics=list(metrics), **kwargs)
    return optimizer


def final_callbacks(recipe=CIFAR10_RECIPE, epochs=None):
    """Callbacks the recipe needs in `model.fit`: the drop path ramp when it has one.

    Args:
        recipe: a `Recipe`.
        epochs: epochs of this fit, default `recipe.epochs`.

    Returns:
        A list of callbacks.
    """
    recipe = _check_recipe(recipe)
    if recipe.drop_path_rate > 0 and recipe.drop_path_ramp:
        return [DropPathSchedule(recipe.drop_path_rate, epochs or recipe.epochs)]
    return []
