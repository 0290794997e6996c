"""The masked SGD update: Keras' SGD rule on the used rows, nothing at all on the others."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_parsec.search import updates


def numpy_reference(values, velocities, gradients, masks, rate, momentum, nesterov, decay, clip):
    norm = np.sqrt(sum(float(np.sum(g**2)) for g in gradients))
    scale = min(1.0, clip / norm) if clip else 1.0
    out_values, out_velocities = [], []
    for value, velocity, gradient, mask in zip(values, velocities, gradients, masks):
        used = np.reshape(mask, [-1] + [1] * (value.ndim - 1)) > 0
        g = gradient * scale + decay * value
        new_velocity = momentum * velocity - rate * g
        step = momentum * new_velocity - rate * g if nesterov else new_velocity
        if not momentum:
            new_velocity, step = velocity, -rate * g
        out_values.append(np.where(used, value + step, value))
        out_velocities.append(np.where(used, new_velocity, velocity))
    return out_values, out_velocities


@pytest.mark.parametrize("momentum,nesterov", [(0.9, False), (0.9, True), (0.0, False)])
@pytest.mark.parametrize("clip", [None, 0.5])
def test_used_rows_follow_keras_sgd_and_the_others_keep_value_and_momentum(momentum, nesterov, clip):
    rng = np.random.default_rng(0)
    variables = [
        keras.Variable(rng.normal(size=(3, 5)).astype("float32")),
        keras.Variable(rng.normal(size=(4,)).astype("float32")),
    ]
    optimizer = keras.optimizers.SGD(learning_rate=0.1, momentum=momentum, nesterov=nesterov)
    optimizer.build(variables)
    if momentum:
        for slot in optimizer.momentums:
            slot.assign(rng.normal(size=slot.shape).astype("float32"))
    update = updates.MaskedSGD(optimizer, variables, [3, 1], weight_decay=0.01, clip_norm=clip)
    gradients = [rng.normal(size=v.shape).astype("float32") for v in variables]
    masks = [np.array([1.0, 0.0, 1.0], "float32"), np.array([1.0], "float32")]
    velocities = (
        [s.numpy() for s in optimizer.momentums] if momentum else [np.zeros(v.shape, "float32") for v in variables]
    )
    expected_values, expected_velocities = numpy_reference(
        [v.numpy() for v in variables], velocities, gradients, masks, 0.1, momentum, nesterov, 0.01, clip
    )
    update(tf.constant(np.concatenate(masks)), [tf.constant(g) for g in gradients])
    for variable, expected in zip(variables, expected_values):
        np.testing.assert_allclose(variable.numpy(), expected, rtol=1e-5, atol=1e-6)
    if momentum:
        for slot, expected in zip(optimizer.momentums, expected_velocities):
            np.testing.assert_allclose(slot.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert int(optimizer.iterations.numpy()) == 1
    np.testing.assert_array_equal(variables[0].numpy()[1], expected_values[0][1])  # the masked row, exactly
