"""Eager updates of the supernet's shared weights, one fused kernel per weight.

The supernet runs eagerly, and in eager mode a Keras optimizer updates one
variable at a time through `tf.distribute`'s update machinery and an autograph
wrapper: about 4 ms per variable, 1.6 s per step for the ~700 weights that four
sampled architectures of the 8-cell search network touch (measured with
cProfile, TF 2.21). Plain SGD with momentum, Algorithm 1's weight optimizer, is
exactly TensorFlow's `ResourceApplyKerasMomentum` kernel, so that case runs as
one kernel call per weight; every other optimizer goes through `optimizer.apply`.
"""

import tensorflow as tf

from keras_parsec.search.updates import is_plain_sgd


def supports_fused_update(optimizer, variables=()):
    """Whether `optimizer` is a plain SGD whose update `apply_fused_sgd` reproduces exactly.

    Args:
        optimizer: a Keras optimizer.
        variables: the Keras variables to update.

    Returns:
        True for `keras.optimizers.SGD` without clipping, weight decay, EMA,
        gradient accumulation or loss scaling, outside any distribution
        strategy and on variables that no strategy mirrors.
    """
    return (
        is_plain_sgd(optimizer)
        and not tf.distribute.has_strategy()
        and not any(isinstance(v.value, tf.distribute.DistributedValues) for v in variables)
    )


def apply_fused_sgd(optimizer, gradients, variables, slot_index):
    """`optimizer.apply(gradients, variables)` for a plain SGD, one fused kernel per variable.

    Keras' rule: `m = momentum * m - lr * g; w += m` (Nesterov:
    `w += momentum * m - lr * g`); without momentum `w -= lr * g`. The
    learning rate is read once, at the current iteration, and `iterations`
    grows by one, as in `optimizer.apply`.

    Args:
        optimizer: a built `keras.optimizers.SGD` for which
            `supports_fused_update` holds.
        gradients: list of gradient tensors.
        variables: list of the Keras variables they belong to.
        slot_index: dict from `id(variable)` to the variable's position in the
            list the optimizer was built with (its `momentums` follow that order).
    """
    learning_rate = tf.convert_to_tensor(optimizer.learning_rate)
    for gradient, variable in zip(gradients, variables):
        dtype = variable.dtype
        handle = variable.value.handle
        gradient = tf.cast(gradient, dtype)
        rate = tf.cast(learning_rate, dtype)
        if optimizer.momentum:
            momentum = optimizer.momentums[slot_index[id(variable)]]
            tf.raw_ops.ResourceApplyKerasMomentum(
                var=handle,
                accum=momentum.value.handle,
                lr=rate,
                grad=gradient,
                momentum=tf.cast(optimizer.momentum, dtype),
                use_nesterov=bool(optimizer.nesterov),
            )
        else:
            tf.raw_ops.ResourceApplyGradientDescent(var=handle, alpha=rate, delta=gradient)
    optimizer.iterations.assign_add(1)
