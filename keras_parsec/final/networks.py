"""CellNetwork: a final DARTS network of stacked discrete cells (NetworkCIFAR / NetworkImageNet).

A stem, `num_cells` cells of one genotype (reduce cells at `num_cells // 3` and
`2 * num_cells // 3`, where the filters double), global average pooling and a
dense classifier; optionally DARTS' auxiliary head, which only adds a training
loss and never appears in the model's outputs.
"""

import collections.abc
import math
import numbers
import threading

import keras

from keras_parsec import _upstream
from keras_parsec.errors import invalid_argument, invalid_type, is_int
from keras_parsec.final.layers import BATCH_NORM_MOMENTUM, Cell
from keras_parsec.final.recipes import CIFAR10_RECIPE, network_size
from keras_parsec.genotype import to_genotype
from keras_parsec.space import BATCH_NORM_EPSILON, SearchSpace

STEMS = ("cifar", "imagenet")
_DEFAULT_SIZE = network_size(CIFAR10_RECIPE)  # the paper's CIFAR-10 network

# DARTS' auxiliary heads: 5x5 average pooling, stride 3 (CIFAR) or 2 (ImageNet).
_AUXILIARY_POOL = 5
_AUXILIARY_STRIDES = {"cifar": 3, "imagenet": 2}
_AUXILIARY_FILTERS = (128, 768)
_IMAGENET_STEM_STRIDES = 8  # three stride-2 convolutions


def _check_int(name, value, minimum, example):
    if not is_int(value):
        raise invalid_type(name, "an int", value, f"pass an int, e.g. {name}={example}")
    if value < minimum:
        raise invalid_argument(
            name, f"an integer >= {minimum}", value, f"pass {name} >= {minimum}, e.g. {name}={example}"
        )
    return int(value)


def _check_real(name, value, expected, valid, example):
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise invalid_type(name, f"a float {expected}", value, f"pass e.g. {name}={example}")
    if not (math.isfinite(value) and valid(float(value))):
        raise invalid_argument(name, f"a float {expected}", value, f"pass e.g. {name}={example}")
    return float(value)


def check_input_shape(input_shape):
    """`input_shape` as a tuple of three positive ints, or an error that says the fix."""
    fix = "pass (height, width, channels), e.g. input_shape=(32, 32, 3)"
    if not isinstance(input_shape, collections.abc.Sequence) or isinstance(input_shape, str) or len(input_shape) != 3:
        raise invalid_argument("input_shape", "a (height, width, channels) tuple", input_shape, fix)
    if not all(is_int(side) and side >= 1 for side in input_shape):
        raise invalid_argument("input_shape", "three positive ints", input_shape, fix)
    return tuple(int(side) for side in input_shape)


def _check_activation(value):
    if value is not None and not isinstance(value, str):
        raise invalid_type(
            "classifier_activation", "a str or None", value, 'pass an activation name, e.g. "softmax", or None'
        )
    try:
        keras.activations.get(value)
    except ValueError as e:
        raise invalid_argument(
            "classifier_activation", "a Keras activation name or None", value, 'pass e.g. "softmax" or None (logits)'
        ) from e
    return value


def _halve(side, times=1):
    for _ in range(times):
        side = -(-side // 2)
    return side


def _batch_norm():
    return keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, epsilon=BATCH_NORM_EPSILON)


def _conv(filters, kernel_size, strides=1, padding="same"):
    return keras.layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=False)


@keras.saving.register_keras_serializable(package="keras_parsec")
class CellNetwork(keras.Model):
    """A final DARTS network of one genotype: DARTS' NetworkCIFAR or NetworkImageNet.

    Built at construction for `input_shape`, so `summary`, `fit`, `predict`,
    `save` and `export` work at once.

    Stems: "cifar" is a 3x3 convolution to `stem_multiplier * filters` channels
    and BN. "imagenet" is DARTS' pair of stems for 224x224 inputs: stem0 =
    conv 3x3 stride 2 to `filters // 2`, BN, ReLU, conv 3x3 stride 2 to
    `filters`, BN; stem1 = ReLU, conv 3x3 stride 2, BN (`stem_multiplier` is
    unused there). The first cell then reads stem0 and stem1 with
    `reduction_prev=True`.

    The auxiliary head (DARTS' AuxiliaryHeadCIFAR: ReLU, 5x5 average pooling
    stride 3 (2 with the imagenet stem), 1x1 conv 128, BN, ReLU, 2x2 conv 768,
    BN, ReLU, global average pooling, dense) reads the output of cell
    `2 * num_cells // 3`. Pool and kernel shrink to fit smaller feature maps.
    In training, `call` keeps its output aside and `compute_loss` adds
    `auxiliary_weight` times the compiled loss on it; the model's only output
    is the main classifier's, in `predict` and in exported models alike.

    Drop path uses `drop_path_rate` in every cell, constant over training
    (DARTS raises it linearly with the epoch; change the cells'
    `drop_path.rate` from a callback for that).

    Args:
        genotype: a `Genotype` or its `to_dict()`.
        num_classes: number of classes, at least 2.
        num_cells: number of cells (DARTS: 20 on CIFAR, 14 on ImageNet);
            this, `filters`, `input_shape` and `stem` default to the size of
            `CIFAR10_RECIPE`'s network.
        filters: channels of the first cells; doubled at each reduce cell.
        input_shape: `(height, width, channels)` of the images.
        auxiliary_weight: weight of the auxiliary loss, >= 0 (DARTS: 0.4);
            0 builds no auxiliary head.
        drop_path_rate: drop path probability in [0, 1) (DARTS: 0.2).
        classifier_activation: activation of the classifier (and auxiliary
            head), a Keras activation name, or None for logits.
        stem: "cifar" or "imagenet".
        stem_multiplier: the cifar stem outputs `stem_multiplier * filters`
            channels (DARTS: 3).
        **kwargs: base model arguments (`name`, ...).

    Call arguments:
        inputs: images of shape `(batch, *input_shape)`.
        training: training mode of batch normalisation, drop path and the
            auxiliary head.

    Returns:
        Class probabilities (or logits with `classifier_activation=None`),
        shape `(batch, num_classes)`.

    Raises:
        InvalidTypeError, InvalidArgumentError: for an unusable argument,
            before any layer is built.

    Example:

    ```python
    model = CellNetwork(DARTS_V2, num_classes=10, num_cells=20, filters=36,
                        auxiliary_weight=0.4, drop_path_rate=0.2)
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=600)
    model.export("exported/cifar10")
    ```
    """

    def __init__(
        self,
        genotype,
        num_classes: int,
        num_cells: int = _DEFAULT_SIZE["num_cells"],
        filters: int = _DEFAULT_SIZE["filters"],
        input_shape=_DEFAULT_SIZE["input_shape"],
        auxiliary_weight: float = 0.0,
        drop_path_rate: float = 0.0,
        classifier_activation="softmax",
        stem: str = _DEFAULT_SIZE["stem"],
        stem_multiplier: int = 3,
        **kwargs,
    ):
        genotype = to_genotype(genotype)
        num_classes = _check_int("num_classes", num_classes, 2, 10)
        num_cells = _check_int("num_cells", num_cells, 1, 20)
        filters = _check_int("filters", filters, 2, 36)
        input_shape = check_input_shape(input_shape)
        auxiliary_weight = _check_real("auxiliary_weight", auxiliary_weight, ">= 0", lambda w: w >= 0, 0.4)
        drop_path_rate = _check_real("drop_path_rate", drop_path_rate, "in [0, 1)", lambda r: 0 <= r < 1, 0.2)
        classifier_activation = _check_activation(classifier_activation)
        if stem not in STEMS:
            raise invalid_argument("stem", f"one of {STEMS}", stem, 'pass stem="cifar" (32x32) or "imagenet" (224x224)')
        stem_multiplier = _check_int("stem_multiplier", stem_multiplier, 1, 3)
        space = SearchSpace(num_cells=num_cells, filters=filters, num_nodes=genotype.num_nodes)
        stem_side = min(input_shape[:2])
        if stem == "imagenet":
            stem_side = _halve(stem_side, 3)
        needed = 2 ** len(space.reduction_indices)
        if stem_side < needed:
            smallest = needed if stem == "cifar" else needed * _IMAGENET_STEM_STRIDES
            raise invalid_argument(
                "input_shape",
                f"images of at least {smallest}x{smallest} for the {stem} stem and "
                f"{len(space.reduction_indices)} reduce cells (a side >= {needed} after the stem)",
                input_shape,
                "pass larger images, fewer cells, or the cifar stem",
            )

        super().__init__(**kwargs)
        self.genotype = genotype
        self.num_classes = num_classes
        self.num_cells = num_cells
        self.filters = filters
        self.image_shape = input_shape
        self.auxiliary_weight = auxiliary_weight
        self.drop_path_rate = drop_path_rate
        self.classifier_activation = classifier_activation
        self.stem_type = stem
        self.stem_multiplier = stem_multiplier
        self.reduction_indices = space.reduction_indices
        self.auxiliary_index = 2 * num_cells // 3
        # Per thread, so that replicas of a distribution strategy never mix their outputs.
        self._auxiliary = threading.local()

        if stem == "cifar":
            self.stem = keras.Sequential([_conv(stem_multiplier * filters, 3), _batch_norm()], name="stem")
            self.stem_1 = None
        else:
            self.stem = keras.Sequential(
                [
                    _conv(filters // 2, 3, 2),
                    _batch_norm(),
                    keras.layers.ReLU(),
                    _conv(filters, 3, 2),
                    _batch_norm(),
                ],
                name="stem",
            )
            self.stem_1 = keras.Sequential([keras.layers.ReLU(), _conv(filters, 3, 2), _batch_norm()], name="stem_1")

        self.cells = []
        cell_filters = filters
        reduction_prev = stem == "imagenet"
        side = stem_side
        auxiliary_side = None
        for index in range(num_cells):
            reduce = index in self.reduction_indices
            if reduce:
                cell_filters *= 2
                side = _halve(side)
            cell_type = "reduce" if reduce else "normal"
            self.cells.append(
                Cell(genotype, cell_type, cell_filters, reduction_prev, drop_path_rate, name=f"cell_{index}")
            )
            reduction_prev = reduce
            if index == self.auxiliary_index:
                auxiliary_side = side

        self.auxiliary_head = None
        if auxiliary_weight > 0:
            self.auxiliary_head = self._make_auxiliary_head(auxiliary_side)
        self.global_pooling = keras.layers.GlobalAveragePooling2D(name="global_pooling")
        self.classifier = keras.layers.Dense(num_classes, activation=classifier_activation, name="classifier")
        self.build((None, *input_shape))

    def _make_auxiliary_head(self, side):
        pool = min(_AUXILIARY_POOL, side)
        strides = _AUXILIARY_STRIDES[self.stem_type]
        pooled = (side - pool) // strides + 1
        return keras.Sequential(
            [
                keras.layers.ReLU(),
                keras.layers.AveragePooling2D(pool, strides=strides, padding="valid"),
                _conv(_AUXILIARY_FILTERS[0], 1),
                _batch_norm(),
                keras.layers.ReLU(),
                _conv(_AUXILIARY_FILTERS[1], min(2, pooled), padding="valid"),
                _batch_norm(),
                keras.layers.ReLU(),
                keras.layers.GlobalAveragePooling2D(),
                keras.layers.Dense(self.num_classes, activation=self.classifier_activation),
            ],
            name="auxiliary_head",
        )

    def build(self, input_shape):
        if self.built:
            return
        shape = tuple(input_shape)
        self.stem.build(shape)
        s0 = s1 = tuple(self.stem.compute_output_shape(shape))
        if self.stem_1 is not None:
            self.stem_1.build(s0)
            s1 = tuple(self.stem_1.compute_output_shape(s0))
        for index, cell in enumerate(self.cells):
            cell.build([s0, s1])
            s0, s1 = s1, tuple(cell.compute_output_shape([s0, s1]))
            if index == self.auxiliary_index and self.auxiliary_head is not None:
                self.auxiliary_head.build(s1)
        self.global_pooling.build(s1)
        self.classifier.build(self.global_pooling.compute_output_shape(s1))

    def cell_input_shapes(self, batch_size=None) -> list:
        """The shapes `[s0, s1]` that each cell reads, in cell order, for images of `input_shape`.

        Args:
            batch_size: the batch axis of the shapes (None: any).

        Returns:
            One pair of NHWC shape tuples per cell.
        """
        shape = (batch_size, *self.image_shape)
        s0 = s1 = tuple(self.stem.compute_output_shape(shape))
        if self.stem_1 is not None:
            s1 = tuple(self.stem_1.compute_output_shape(s0))
        shapes = []
        for cell in self.cells:
            shapes.append([s0, s1])
            s0, s1 = s1, tuple(cell.compute_output_shape([s0, s1]))
        return shapes

    def call(self, inputs, training=None):
        self._auxiliary.output = None
        s0 = s1 = self.stem(inputs, training=training)
        if self.stem_1 is not None:
            s1 = self.stem_1(s0, training=training)
        for index, cell in enumerate(self.cells):
            s0, s1 = s1, cell([s0, s1], training=training)
            if index == self.auxiliary_index and self.auxiliary_head is not None and training:
                self._auxiliary.output = self.auxiliary_head(s1, training=training)
        return self.classifier(self.global_pooling(s1))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The compiled loss, plus `auxiliary_weight` times it on the auxiliary head in training."""
        loss = super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)
        auxiliary = getattr(self._auxiliary, "output", None)
        self._auxiliary.output = None
        compiled_loss = _upstream.compiled_loss(self)
        if training and auxiliary is not None and compiled_loss is not None:
            loss = loss + self.auxiliary_weight * compiled_loss(y, auxiliary, sample_weight)
        return loss

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs):
        """`keras.Model.export`, with the signature `(None, *input_shape)` by default."""
        if input_signature is None:
            input_signature = [keras.InputSpec(shape=(None, *self.image_shape), dtype=self.input_dtype)]
        return super().export(filepath, format=format, verbose=verbose, input_signature=input_signature, **kwargs)

    def get_config(self):
        config = {
            "genotype": self.genotype.to_dict(),
            "num_classes": self.num_classes,
            "num_cells": self.num_cells,
            "filters": self.filters,
            "input_shape": list(self.image_shape),
            "auxiliary_weight": self.auxiliary_weight,
            "drop_path_rate": self.drop_path_rate,
            "classifier_activation": self.classifier_activation,
            "stem": self.stem_type,
            "stem_multiplier": self.stem_multiplier,
        }
        return {**super().get_config(), **config}
