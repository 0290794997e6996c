"""The fused SGD update reproduces keras.optimizers.SGD exactly."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_parsec import search
from keras_parsec.search import eager_updates as weight_updates

SHAPES = ((3, 3, 2, 1), (4,), (1, 1, 2, 2))
SUBSETS = ([0, 1, 2], [2, 0], [1], [0, 2, 1])  # like the union of sampled architectures, step by step


def _variables():
    rng = np.random.default_rng(0)
    return [keras.Variable(rng.normal(size=shape).astype("float32")) for shape in SHAPES]


def _gradients(step):
    rng = np.random.default_rng(100 + step)
    return [tf.constant(rng.normal(size=shape).astype("float32")) for shape in SHAPES]


@pytest.mark.parametrize(
    "make_optimizer",
    [
        lambda: keras.optimizers.SGD(0.1, momentum=0.9),
        lambda: keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
        lambda: keras.optimizers.SGD(0.05),
        lambda: keras.optimizers.SGD(search.CosineSchedule(0.025, 0.001, 3), momentum=0.9),
    ],
    ids=["momentum", "nesterov", "plain", "cosine"],
)
def test_fused_sgd_matches_keras_sgd_on_changing_subsets(make_optimizer):
    reference, fused = _variables(), _variables()
    keras_sgd, fused_sgd = make_optimizer(), make_optimizer()
    keras_sgd.build(reference)
    fused_sgd.build(fused)
    assert weight_updates.supports_fused_update(fused_sgd)
    index = {id(v): i for i, v in enumerate(fused)}
    for step, subset in enumerate(SUBSETS):
        grads = _gradients(step)
        keras_sgd.apply([grads[i] for i in subset], [reference[i] for i in subset])
        weight_updates.apply_fused_sgd(fused_sgd, [grads[i] for i in subset], [fused[i] for i in subset], index)
        for a, b in zip(reference, fused):
            np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-6, atol=1e-7)
        for a, b in zip(keras_sgd.variables, fused_sgd.variables):
            np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-6, atol=1e-7)
    assert int(fused_sgd.iterations) == int(keras_sgd.iterations) == len(SUBSETS)


@pytest.mark.parametrize(
    "optimizer",
    [
        keras.optimizers.Adam(0.01),
        keras.optimizers.SGD(0.1, momentum=0.9, clipnorm=1.0),
        keras.optimizers.SGD(0.1, weight_decay=1e-4),
        keras.optimizers.SGD(0.1, use_ema=True),
        keras.optimizers.SGD(0.1, gradient_accumulation_steps=2),
    ],
    ids=["adam", "clipnorm", "weight_decay", "ema", "accumulation"],
)
def test_other_optimizers_take_the_keras_path(optimizer):
    assert not weight_updates.supports_fused_update(optimizer)


def test_no_fused_update_inside_a_distribution_strategy():
    optimizer = keras.optimizers.SGD(0.1, momentum=0.9)
    with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
        assert not weight_updates.supports_fused_update(optimizer)


def test_no_fused_update_on_mirrored_variables():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        variable = keras.Variable(np.zeros((2,), "float32"))
    optimizer = keras.optimizers.SGD(0.1, momentum=0.9)
    assert not weight_updates.supports_fused_update(optimizer, [variable])
    assert weight_updates.supports_fused_update(optimizer, [keras.Variable(np.zeros((2,), "float32"))])
