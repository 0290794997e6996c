"""Tests for keras_parsec.final.counting: parameters and multiply-adds of a genotype's network."""

import inspect

import numpy as np
import pytest
import tensorflow as tf

import keras_parsec as kp
import keras_parsec_cli
from keras_parsec import cli
from keras_parsec.errors import InvalidArgumentError
from keras_parsec.final import counting, recipes

SMALL = {"num_classes": 3, "num_cells": 3, "filters": 4}


def graph_ops(function, *specs):
    return tf.function(function).get_concrete_function(*specs).graph.get_operations()


@pytest.mark.parametrize(
    "function, specs, expected",
    (
        # 8x8x5 outputs, each a 3x3x4 dot product.
        (lambda x, k: tf.nn.conv2d(x, k, 1, "SAME"), [(1, 8, 8, 4), (3, 3, 4, 5)], 8 * 8 * 5 * 3 * 3 * 4),
        # Stride 2: 4x4 outputs.
        (lambda x, k: tf.nn.conv2d(x, k, 2, "SAME"), [(1, 8, 8, 4), (1, 1, 4, 6)], 4 * 4 * 6 * 4),
        # Depthwise: one 5x5 window per output value, no sum over channels.
        (lambda x, k: tf.nn.depthwise_conv2d(x, k, [1, 1, 1, 1], "SAME"), [(1, 6, 6, 3), (5, 5, 3, 1)], 6 * 6 * 3 * 25),
        (lambda a, b: tf.matmul(a, b), [(1, 7), (7, 10)], 70),
        (lambda a, b: tf.matmul(a, b, transpose_a=True), [(7, 1), (7, 10)], 70),
    ),
)
def test_multiply_adds_of_each_counted_op(function, specs, expected):
    operations = graph_ops(function, *[tf.TensorSpec(shape) for shape in specs])
    assert sum(counting._multiply_adds(op) for op in operations) == expected


def test_pooling_and_normalisation_are_not_counted():
    operations = graph_ops(lambda x: tf.nn.relu(tf.nn.max_pool2d(x, 3, 1, "SAME")) * 2.0, tf.TensorSpec((1, 8, 8, 4)))
    assert sum(counting._multiply_adds(op) for op in operations) == 0


def test_flops_grow_with_the_image_area_except_the_classifier():
    small = kp.CellNetwork(kp.DARTS_V2, input_shape=(16, 16, 3), **SMALL)
    large = kp.CellNetwork(kp.DARTS_V2, input_shape=(32, 32, 3), **SMALL)
    classifier = int(np.prod(small.classifier.kernel.shape))
    assert kp.count_flops(large) - classifier == 4 * (kp.count_flops(small) - classifier)
    assert kp.count_params(large) == kp.count_params(small)


def test_auxiliary_head_is_excluded_from_both_counts():
    plain = kp.CellNetwork(kp.DARTS_V1, input_shape=(16, 16, 3), **SMALL)
    auxiliary = kp.CellNetwork(kp.DARTS_V1, input_shape=(16, 16, 3), auxiliary_weight=0.4, **SMALL)
    assert kp.count_params(auxiliary) == kp.count_params(plain)
    assert kp.count_params(plain) == sum(int(np.prod(w.shape)) for w in plain.trainable_weights)
    assert sum(int(np.prod(w.shape)) for w in auxiliary.trainable_weights) > kp.count_params(auxiliary)
    assert kp.count_flops(auxiliary) == kp.count_flops(plain)
    # A genotype is built without the head: the same counts.
    assert kp.count_params(kp.DARTS_V1, input_shape=(16, 16, 3), **SMALL) == kp.count_params(plain)


def test_darts_v2_at_paper_size_has_darts_published_parameter_count():
    # DARTS reports 3.3M parameters for DARTS_V2 at 20 cells, 36 filters on CIFAR-10.
    assert kp.count_params(kp.DARTS_V2) == pytest.approx(3.3e6, rel=0.03)


def test_mobile_setting(monkeypatch):
    network = {"num_cells": 3, "filters": 4, "input_shape": (32, 32, 3)}
    flops = kp.check_mobile_setting(kp.DARTS_V2, **network)
    assert flops == kp.count_flops(kp.DARTS_V2, "imagenet", **network)
    monkeypatch.setattr(counting, "MOBILE_SETTING_MULTIPLY_ADDS", flops)
    with pytest.raises(InvalidArgumentError, match="mobile setting"):
        kp.check_mobile_setting(kp.DARTS_V2, **network)


def test_bad_arguments():
    model = kp.CellNetwork(kp.DARTS_V2, input_shape=(8, 8, 3), **SMALL)
    with pytest.raises(InvalidArgumentError, match="setting"):
        kp.count_params(model, "cifar10")
    with pytest.raises(InvalidArgumentError, match="setting"):
        kp.count_flops(kp.DARTS_V2, "mnist")


def test_describe_counts_and_the_cli_show_text():
    text = counting.describe_counts(kp.DARTS_V2, input_shape=(8, 8, 1), num_classes=10, num_cells=2, filters=4)
    params = kp.count_params(kp.DARTS_V2, input_shape=(8, 8, 1), num_classes=10, num_cells=2, filters=4)
    assert text.startswith(f"{params / 1e6:.3f}M params") and "mult-adds" in text
    args = keras_parsec_cli.parser().parse_args(["show", "--dataset=digits"])
    assert cli._counts(args, kp.DARTS_V2, 2, 4) == f"As a 2-cell, 4-filter network on digits: {text}"


def test_the_counted_settings_are_the_recipes_networks():
    for name, recipe, num_classes in (("cifar10", kp.CIFAR10_RECIPE, 10), ("imagenet", kp.IMAGENET_RECIPE, 1000)):
        setting = counting.SETTINGS[name]
        assert (setting["num_cells"], setting["filters"]) == (recipe.num_cells, recipe.filters)
        assert setting["stem"] == recipe.stem
        assert setting["input_shape"] == (recipe.image_size, recipe.image_size, 3)
        assert setting["num_classes"] == num_classes
    defaults = inspect.signature(kp.CellNetwork).parameters
    assert {name: defaults[name].default for name in ("num_cells", "filters", "input_shape", "stem")} == (
        recipes.network_size(kp.CIFAR10_RECIPE)
    )


@pytest.mark.parametrize(
    "dataset, setting", [("cifar10", "cifar10"), ("imagenet2012", "imagenet"), ("mnist", "cifar10")]
)
def test_the_cli_counts_on_the_settings_images(dataset, setting):
    args = keras_parsec_cli.parser().parse_args(["show", f"--dataset={dataset}"])
    expected = counting.SETTINGS[setting]
    assert cli._network_shape(args) == (expected["input_shape"], expected["num_classes"], expected["stem"])
