"""The operation registry of keras_parsec.space drives both the search ops and the final layers."""

import itertools

import pytest

from keras_parsec import space
from keras_parsec.final import layers, networks, operations
from keras_parsec.search import ops

CASES = tuple(itertools.product(space.OPERATIONS, (1, 2)))
CHANNELS = 4


def test_the_operation_names_are_the_registry_s_keys_in_its_order():
    assert space.OPERATIONS == tuple(space.OPERATION_SPECS)
    assert list(ops.OPERATION_REGISTRY) == list(layers.OPERATION_LAYERS) == list(space.OPERATIONS)


@pytest.mark.parametrize("operation, stride", CASES)
def test_weights_and_relu_follow_the_registry(operation, stride):
    has_weights = space.has_weights(operation, stride)
    assert bool(ops.operation_weight_shapes(operation, CHANNELS, stride)) == has_weights
    layer = layers.OPERATION_LAYERS[operation](CHANNELS, stride)
    layer.build((2, 8, 8, CHANNELS))
    assert bool(layer.trainable_weights) == has_weights
    assert space.starts_with_relu(operation, stride) == has_weights
    assert ops.starts_with_relu is space.starts_with_relu


@pytest.mark.parametrize("operation", [name for name in space.OPERATIONS if space.has_weights(name)])
def test_kernel_size_and_dilation_come_from_the_registry(operation):
    spec = space.OPERATION_SPECS[operation]
    depthwise = ops.operation_weight_shapes(operation, CHANNELS, 1)[0]
    assert depthwise[:2] == (spec.kernel_size, spec.kernel_size)
    layer = layers.OPERATION_LAYERS[operation](CHANNELS, 1)
    assert layer.kernel_size == spec.kernel_size
    assert getattr(layer, "dilation_rate", 1) == spec.dilation


def test_pools_use_the_registry_s_window():
    for name in ("max_pool_3x3", "avg_pool_3x3"):
        layer = layers.OPERATION_LAYERS[name](CHANNELS, 2)
        assert tuple(layer.pool_size) == (space.OPERATION_SPECS[name].kernel_size,) * 2


def test_search_and_final_batch_norm_share_one_epsilon():
    assert ops.BATCH_NORM_EPSILON == operations.BATCH_NORM_EPSILON == networks.BATCH_NORM_EPSILON
    assert ops.BATCH_NORM_EPSILON is space.BATCH_NORM_EPSILON
    layer = layers.SepConv(CHANNELS, 3)
    assert layer.bn_1.epsilon == layer.bn_2.epsilon == space.BATCH_NORM_EPSILON
