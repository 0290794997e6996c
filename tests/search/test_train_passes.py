"""A step's train passes from one shared prefix accumulate what whole passes, one per architecture, give."""

import collections

import keras
import numpy as np
import tensorflow as tf

import keras_parsec as kp
from keras_parsec.search import SuperNet, executor

OPS = ("max_pool_3x3", "skip_connect", "sep_conv_3x3", "dil_conv_3x3")


def test_passes_from_one_shared_prefix_accumulate_the_weighted_sum_of_whole_passes_gradients():
    keras.utils.set_random_seed(0)
    space = kp.SearchSpace(num_cells=3, filters=4, num_nodes=2, operations=OPS)
    net = SuperNet(space, num_classes=3, num_samples=3, seed=0)
    net.build((None, 8, 8, 1))
    net.compile()
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(4, 8, 8, 1)).astype("float32"))
    y = tf.constant(rng.integers(0, 3, size=4).astype("int32"))
    architectures = [tf.constant(a, tf.int32) for a in net.distribution.sample_choices(3, seed=1).numpy()]
    weights = [0.5, 0.3, 0.2]
    calls = collections.Counter()
    for name in ("_prefix", "_accumulate", "_prefix_backward_pass"):
        original = getattr(net, name)
        setattr(net, name, lambda *args, original=original, name=name: calls.update([name]) or original(*args))
    net._zero()
    net._accumulate_passes(x, y, [(a, tf.constant(w)) for a, w in zip(architectures, weights)])
    assert calls == {"_prefix": 1, "_accumulate": 3, "_prefix_backward_pass": 1}
    expected = [np.zeros(v.shape, np.float32) for v in net.executor.variables]
    for architecture, weight in zip(architectures, weights):
        _, _, gradients = net.executor.gradients(x, y, architecture)  # of the mean loss, each pass whole
        for total, gradient in zip(expected, gradients):
            total += weight * len(y) * gradient.numpy()
    prefix = {id(v) for v in executor.prefix_variables(net.shared)}
    assert len(prefix) == 4  # the stem, cell 0's two preprocessing kernels, cell 1's first
    for variable, accumulator, total in zip(net.executor.variables, net._accumulators, expected):
        np.testing.assert_allclose(accumulator.numpy(), total, rtol=1e-4, atol=1e-6, err_msg=variable.path)
        if id(variable) in prefix:
            assert np.abs(total).max() > 0
