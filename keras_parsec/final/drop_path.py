"""Drop path (stochastic depth) of a final network: the layer, and DARTS' linear ramp of its rate.

`layers.Cell` puts a `DropPath` on each operation's output when built with
`drop_path_rate > 0`; `DropPathSchedule` (in the recipes' callbacks) raises the
rate in use from 0 to that rate over the training, as DARTS does.
"""

import numbers

import keras
from keras import ops

from keras_parsec import _upstream
from keras_parsec.errors import invalid_argument, invalid_type, is_int


def check_rate(name, value):
    """`value` as a float in [0, 1), or a typed error naming `name`."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise invalid_type(name, "a float in [0, 1)", value, f"pass a float, e.g. {name}=0.2")
    if not 0.0 <= float(value) < 1.0:
        raise invalid_argument(name, "a float in [0, 1)", value, f"pass 0 <= {name} < 1, e.g. {name}=0.2")
    return float(value)


@keras.saving.register_keras_serializable(package="keras_parsec")
class DropPath(keras.layers.Layer):
    """Drops the whole input of some examples during training (stochastic depth).

    Each example is kept with probability `1 - rate` and then scaled by
    `1 / (1 - rate)`, so the expectation is unchanged; DARTS' `drop_path`.

    Args:
        rate: drop probability in [0, 1).
        seed: optional int seed of the masks.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: tensor whose first axis is the batch.
        training: masks are drawn only when True; identity otherwise.

    Returns:
        Tensor of the input's shape.

    Example:

    ```python
    DropPath(0.2)(keras.ops.ones((4, 8, 8, 16)), training=True)
    ```
    """

    def __init__(self, rate: float, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_rate("rate", rate)
        if seed is not None and not is_int(seed):
            raise invalid_type("seed", "an int or None", seed, "pass e.g. seed=0")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        # The rate in use, a variable so that a schedule (DARTS' linear ramp) reaches compiled steps.
        self.current_rate = keras.Variable(self.rate, trainable=False, name="current_rate")
        self.built = True

    def set_rate(self, rate: float):
        """Changes the rate in use (e.g. per epoch) without retracing; `rate` stays the configured one."""
        self.current_rate.assign(check_rate("rate", rate))

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        noise_shape = (ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        keep = 1.0 - ops.cast(self.current_rate, inputs.dtype)
        noise = keras.random.uniform(noise_shape, dtype=inputs.dtype, seed=self.seed_generator)
        return inputs * ops.cast(noise < keep, inputs.dtype) / keep

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class DropPathSchedule(keras.callbacks.Callback):
    """Sets every `DropPath` of the model to `rate * epoch / epochs` at each epoch start (DARTS).

    Build the network with `drop_path_rate=rate` so that the layers exist.

    Args:
        rate: the rate reached at the last epoch.
        epochs: total epochs of the training.
    """

    def __init__(self, rate, epochs):
        super().__init__()
        self.rate = float(rate)
        self.epochs = int(epochs)

    def on_epoch_begin(self, epoch, logs=None):
        rate = self.rate * epoch / self.epochs
        for layer in drop_path_layers(self.model):
            layer.set_rate(rate)


def drop_path_layers(model):
    """Every `DropPath` layer inside `model`."""
    return [layer for layer in _upstream.sublayers(model) if isinstance(layer, DropPath)]
