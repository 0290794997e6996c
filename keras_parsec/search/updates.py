"""The update of the shared weights in one compiled call, masked to the rows a step used.

Algorithm 1 updates only the weights that a sampled architecture used (PyTorch's
`grad=None` semantics): the others get neither momentum nor weight decay. With
packed edge variables (`weights.SharedWeights`) "used" is a set of rows, so the
update takes a 0/1 mask per row and leaves masked rows, and their momentum,
exactly as they were.
"""

import keras
import tensorflow as tf


def is_plain_sgd(optimizer):
    """Whether `optimizer` is a plain `keras.optimizers.SGD`: no clipping, decay, EMA, accumulation, loss scaling.

    Algorithm 1's own rule (clipping, then weight decay, then SGD with
    momentum) can then replace `optimizer.apply` exactly.
    """
    return (
        type(optimizer) is keras.optimizers.SGD
        and not (optimizer.clipnorm or optimizer.clipvalue or optimizer.global_clipnorm)
        and not optimizer.weight_decay
        and not optimizer.use_ema
        and not optimizer.gradient_accumulation_steps
        and optimizer.loss_scale_factor is None
    )


def _broadcast(mask, variable):
    """A [rows] mask shaped to broadcast against `variable` ([rows, ...])."""
    return tf.reshape(mask, [-1] + [1] * (len(variable.shape) - 1))


class MaskedSGD:
    """Clipping, weight decay and SGD with momentum (Keras' rule) on the used rows only, one call a step.

    Args:
        optimizer: a built `keras.optimizers.SGD`; its momentum slots and
            learning rate (schedule) are the ones updated and read.
        variables: the Keras variables, in the order the optimizer was built with.
        mask_sizes: per variable, its entries in the mask (`SharedWeights.mask_sizes`).
        weight_decay: L2 coefficient added to each used row's gradient.
        clip_norm: global norm the gradients are clipped to (None: no clipping).
        gradient_variables: optional variables that hold the gradients (the
            accumulators of a step), read inside the compiled call when a call
            passes no gradients.
    """

    def __init__(self, optimizer, variables, mask_sizes, weight_decay, clip_norm, gradient_variables=None):
        self.optimizer = optimizer
        self.gradient_variables = gradient_variables
        self.variables = list(variables)
        self.weight_decay = float(weight_decay)
        self.clip_norm = clip_norm
        self._mask_sizes = list(mask_sizes)
        self._from_tensors = tf.function(self._update, autograph=False, reduce_retracing=True)
        self._from_variables = tf.function(self._update_from_variables, autograph=False)

    def __call__(self, mask, gradients=None, scale=None):
        """Applies the gradients where `mask` is 1.

        Args:
            mask: float vector, per variable in order, one 0/1 entry per row of
                an edge variable and one entry for any other variable.
            gradients: one tensor per variable; or None to read them from
                `gradient_variables` inside the compiled call (under a
                strategy, summed over the replicas there).
            scale: scalar tensor the gradients are multiplied by first (1 when None).
        """
        learning_rate = tf.convert_to_tensor(self.optimizer.learning_rate, tf.float32)
        scale = tf.constant(1.0) if scale is None else tf.cast(scale, tf.float32)
        if gradients is None:
            self._from_variables(mask, learning_rate, scale)
        else:
            self._from_tensors(list(gradients), mask, learning_rate, scale)
        self.optimizer.iterations.assign_add(1)

    def _update_from_variables(self, mask, learning_rate, scale):
        return self._update([tf.convert_to_tensor(v) for v in self.gradient_variables], mask, learning_rate, scale)

    def _update(self, gradients, mask, learning_rate, scale):
        gradients = [tf.cast(scale, g.dtype) * g for g in gradients]
        if self.clip_norm:
            gradients, _ = tf.clip_by_global_norm(gradients, self.clip_norm)
        masks = tf.split(mask, self._mask_sizes)
        momentum = float(self.optimizer.momentum or 0.0)
        for index, (variable, gradient, row_mask) in enumerate(zip(self.variables, gradients, masks)):
            used = _broadcast(row_mask, variable) > 0
            value = variable.value
            gradient = tf.cast(gradient, value.dtype) + self.weight_decay * value
            rate = tf.cast(learning_rate, value.dtype)
            if momentum:
                slot = self.optimizer.momentums[index]
                velocity = tf.where(used, momentum * slot.value - rate * gradient, slot.value)
                slot.assign(velocity)
                step = momentum * velocity - rate * gradient if self.optimizer.nesterov else velocity
            else:
                step = -rate * gradient
            variable.assign(tf.where(used, value + step, value))
