"""Discrete DARTS operations and cells as ordinary Keras layers.

These are the layers of a *final* network: one architecture, affine batch
normalisation with moving statistics, as in DARTS' `model.py`. The search-time
versions (no affine parameters, batch statistics only) live in `ops.py`.

`OPERATION_LAYERS` maps every name of `keras_parsec.space.OPERATIONS` to a
factory `(filters, strides) -> keras.layers.Layer`; `Cell` builds one cell of a
`Genotype` from it and drops into any functional model:

```python
x = keras.Input((32, 32, 3))
h = keras.layers.Conv2D(48, 3, padding="same")(x)
h = Cell(DARTS_V2, "normal", filters=16)([h, h])      # 64 channels, 32x32
h = Cell(DARTS_V2, "reduce", filters=32)([h, h])      # 128 channels, 16x16
```

Every spatial reduction here (strided convolutions and pools with "same"
padding, `FactorizedReduce`, the subsampled dilated convolution) maps a side of
`n` pixels to `ceil(n / 2)`, so all operations of a cell agree on odd sizes too.
"""

import collections.abc
import functools
import numbers

import keras
from keras import ops

from keras_parsec.errors import invalid_argument, invalid_type, is_int
from keras_parsec.genotype import to_genotype
from keras_parsec.space import (
    BATCH_NORM_EPSILON,
    CELL_TYPES,
    NUM_CELL_INPUTS,
    OPERATION_SPECS,
    OPERATIONS,
    input_stride,
)

# PyTorch's BatchNorm2d momentum 0.1, which DARTS trains with, in Keras' convention.
BATCH_NORM_MOMENTUM = 0.9

_STRIDES = (1, 2)


# ------------------------------------------------------------------ validation


def _check_filters(value, minimum=1, name="filters"):
    if not is_int(value):
        raise invalid_type(name, "an int", value, f"pass an int, e.g. {name}=16")
    if value < minimum:
        raise invalid_argument(name, f"an integer >= {minimum}", value, f"pass {name} >= {minimum}, e.g. {name}=16")
    return int(value)


def _check_strides(value):
    if not is_int(value) or value not in _STRIDES:
        raise invalid_argument("strides", "1 or 2", value, "pass strides=1 (normal cell) or strides=2 (reduce cell)")
    return int(value)


def _check_rate(name, value):
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise invalid_type(name, "a float in [0, 1)", value, f"pass a float, e.g. {name}=0.2")
    if not 0.0 <= float(value) < 1.0:
        raise invalid_argument(name, "a float in [0, 1)", value, f"pass 0 <= {name} < 1, e.g. {name}=0.2")
    return float(value)


def _check_bool(name, value):
    if not isinstance(value, bool):
        raise invalid_type(name, "a bool", value, f"pass {name}=True or {name}=False")
    return value


def _check_4d(name, shape):
    if not isinstance(shape, collections.abc.Sequence) or len(shape) != 4:
        raise invalid_argument(
            name, "a 4D (batch, height, width, channels) shape", shape, "feed NHWC image tensors to the layer"
        )
    return tuple(shape)


def _strided_shape(input_shape, strides, channels):
    """Output shape of a same-padded operation: each side `n` becomes `ceil(n / strides)`."""
    batch, height, width, _ = _check_4d("input_shape", input_shape)

    def side(n):
        return None if n is None else -(-int(n) // strides)

    return (batch, side(height), side(width), channels)


def _batch_norm(name):
    return keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, epsilon=BATCH_NORM_EPSILON, name=name)


def _build_chain(layers, input_shape):
    """Builds `layers` one after the other from `input_shape`; returns the last output shape."""
    shape = tuple(input_shape)
    for layer in layers:
        if not layer.built:
            layer.build(shape)
        shape = tuple(layer.compute_output_shape(shape))
    return shape


# ------------------------------------------------------------------ building blocks


@keras.saving.register_keras_serializable(package="keras_parsec")
class ReLUConvBN(keras.layers.Layer):
    """ReLU, a KxK convolution without bias, then batch normalisation.

    Args:
        filters: output channels.
        kernel_size: side of the square kernel.
        strides: 1 or 2.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: NHWC tensor.
        training: whether batch normalisation uses batch statistics.

    Returns:
        NHWC tensor with `filters` channels, each side divided by `strides`
        (rounded up).

    Raises:
        InvalidTypeError, InvalidArgumentError: for an unusable argument.

    Example:

    ```python
    ReLUConvBN(16)(keras.ops.ones((2, 8, 8, 3))).shape  # (2, 8, 8, 16)
    ```
    """

    def __init__(self, filters: int, kernel_size: int = 1, strides: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.filters = _check_filters(filters)
        self.kernel_size = _check_filters(kernel_size, name="kernel_size")
        self.strides = _check_strides(strides)
        self.conv = keras.layers.Conv2D(
            self.filters, self.kernel_size, strides=self.strides, padding="same", use_bias=False, name="conv"
        )
        self.bn = _batch_norm("bn")

    def build(self, input_shape):
        _build_chain([self.conv, self.bn], _check_4d("input_shape", input_shape))

    def call(self, inputs, training=None):
        return self.bn(self.conv(ops.relu(inputs)), training=training)

    def compute_output_shape(self, input_shape):
        return _strided_shape(input_shape, self.strides, self.filters)

    def get_config(self):
        config = {"filters": self.filters, "kernel_size": self.kernel_size, "strides": self.strides}
        return {**super().get_config(), **config}


@keras.saving.register_keras_serializable(package="keras_parsec")
class FactorizedReduce(keras.layers.Layer):
    """Halves the resolution with two 1x1 stride-2 convolutions, one shifted by a pixel.

    ReLU, then `conv_a(x)` and `conv_b(x shifted by one row and column)`
    concatenated on channels (`filters // 2` and `filters - filters // 2` of
    them), then batch normalisation; DARTS' `FactorizedReduce`.

    Args:
        filters: output channels, at least 2.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: NHWC tensor.
        training: whether batch normalisation uses batch statistics.

    Returns:
        NHWC tensor with `filters` channels and each side `ceil(n / 2)`.

    Raises:
        InvalidTypeError, InvalidArgumentError: for an unusable `filters`.

    Example:

    ```python
    FactorizedReduce(16)(keras.ops.ones((2, 8, 8, 3))).shape  # (2, 4, 4, 16)
    ```
    """

    def __init__(self, filters: int, **kwargs):
        super().__init__(**kwargs)
        self.filters = _check_filters(filters, minimum=2)
        half = self.filters // 2
        self.conv_a = keras.layers.Conv2D(half, 1, strides=2, padding="same", use_bias=False, name="conv_a")
        self.conv_b = keras.layers.Conv2D(
            self.filters - half, 1, strides=2, padding="same", use_bias=False, name="conv_b"
        )
        self.bn = _batch_norm("bn")

    def build(self, input_shape):
        input_shape = _check_4d("input_shape", input_shape)
        for conv in (self.conv_a, self.conv_b):
            if not conv.built:
                conv.build(input_shape)
        if not self.bn.built:
            self.bn.build(self.compute_output_shape(input_shape))

    def call(self, inputs, training=None):
        x = ops.relu(inputs)
        # Shift by one pixel, padding the far edge, so both paths give ceil(n / 2).
        shifted = ops.pad(x[:, 1:, 1:, :], [[0, 0], [0, 1], [0, 1], [0, 0]])
        y = ops.concatenate([self.conv_a(x), self.conv_b(shifted)], axis=-1)
        return self.bn(y, training=training)

    def compute_output_shape(self, input_shape):
        return _strided_shape(input_shape, 2, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


@keras.saving.register_keras_serializable(package="keras_parsec")
class SepConv(keras.layers.Layer):
    """DARTS' separable convolution: two ReLU, depthwise KxK, 1x1, BN blocks.

    The first depthwise convolution carries the stride. The first 1x1 already
    maps to `filters` channels; inside a cell input and output channels are
    equal, which makes this DARTS' `SepConv` exactly.

    Args:
        filters: output channels.
        kernel_size: 3 or 5 in the DARTS space; any positive odd int works.
        strides: 1 or 2.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: NHWC tensor.
        training: whether batch normalisation uses batch statistics.

    Returns:
        NHWC tensor with `filters` channels, each side divided by `strides`.

    Example:

    ```python
    SepConv(8, 3, strides=2)(keras.ops.ones((2, 8, 8, 8))).shape  # (2, 4, 4, 8)
    ```
    """

    def __init__(self, filters: int, kernel_size: int = 3, strides: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.filters = _check_filters(filters)
        self.kernel_size = _check_filters(kernel_size, name="kernel_size")
        self.strides = _check_strides(strides)
        self.depthwise_1 = keras.layers.DepthwiseConv2D(
            self.kernel_size, strides=self.strides, padding="same", use_bias=False, name="depthwise_1"
        )
        self.pointwise_1 = keras.layers.Conv2D(self.filters, 1, use_bias=False, name="pointwise_1")
        self.bn_1 = _batch_norm("bn_1")
        self.depthwise_2 = keras.layers.DepthwiseConv2D(
            self.kernel_size, padding="same", use_bias=False, name="depthwise_2"
        )
        self.pointwise_2 = keras.layers.Conv2D(self.filters, 1, use_bias=False, name="pointwise_2")
        self.bn_2 = _batch_norm("bn_2")

    def _chain(self):
        return [self.depthwise_1, self.pointwise_1, self.bn_1, self.depthwise_2, self.pointwise_2, self.bn_2]

    def build(self, input_shape):
        _build_chain(self._chain(), _check_4d("input_shape", input_shape))

    def call(self, inputs, training=None):
        x = self.pointwise_1(self.depthwise_1(ops.relu(inputs)))
        x = self.bn_1(x, training=training)
        x = self.pointwise_2(self.depthwise_2(ops.relu(x)))
        return self.bn_2(x, training=training)

    def compute_output_shape(self, input_shape):
        return _strided_shape(input_shape, self.strides, self.filters)

    def get_config(self):
        config = {"filters": self.filters, "kernel_size": self.kernel_size, "strides": self.strides}
        return {**super().get_config(), **config}


@keras.saving.register_keras_serializable(package="keras_parsec")
class DilConv(keras.layers.Layer):
    """DARTS' dilated convolution: ReLU, dilated depthwise KxK, 1x1, BN.

    TensorFlow cannot combine a stride with a dilation. When they are equal
    (DARTS: 2 and 2) every tap lands on an even pixel, so the input is
    subsampled with `[:, ::2, ::2]` and convolved without dilation: the same
    centres and taps for a quarter of the work. Otherwise the depthwise
    convolution runs at stride 1 and its output is subsampled.

    Args:
        filters: output channels.
        kernel_size: 3 or 5 in the DARTS space.
        strides: 1 or 2.
        dilation_rate: dilation of the depthwise convolution (DARTS: 2).
        **kwargs: base layer arguments.

    Call arguments:
        inputs: NHWC tensor.
        training: whether batch normalisation uses batch statistics.

    Returns:
        NHWC tensor with `filters` channels, each side divided by `strides`.

    Example:

    ```python
    DilConv(8, 3, strides=2)(keras.ops.ones((2, 8, 8, 8))).shape  # (2, 4, 4, 8)
    ```
    """

    def __init__(self, filters: int, kernel_size: int = 3, strides: int = 1, dilation_rate: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.filters = _check_filters(filters)
        self.kernel_size = _check_filters(kernel_size, name="kernel_size")
        self.strides = _check_strides(strides)
        self.dilation_rate = _check_filters(dilation_rate, name="dilation_rate")
        self._subsample_first = self.strides > 1 and self.strides == self.dilation_rate
        self.depthwise = keras.layers.DepthwiseConv2D(
            self.kernel_size,
            padding="same",
            dilation_rate=1 if self._subsample_first else self.dilation_rate,
            use_bias=False,
            name="depthwise",
        )
        self.pointwise = keras.layers.Conv2D(self.filters, 1, use_bias=False, name="pointwise")
        self.bn = _batch_norm("bn")

    def build(self, input_shape):
        input_shape = _check_4d("input_shape", input_shape)
        if not self.depthwise.built:
            self.depthwise.build(input_shape)  # the kernel depends on the channels only
        _build_chain([self.pointwise, self.bn], _strided_shape(input_shape, self.strides, input_shape[-1]))

    def call(self, inputs, training=None):
        x = ops.relu(inputs)
        if self._subsample_first:
            x = self.depthwise(x[:, :: self.strides, :: self.strides, :])
        else:
            x = self.depthwise(x)
            if self.strides > 1:
                x = x[:, :: self.strides, :: self.strides, :]
        return self.bn(self.pointwise(x), training=training)

    def compute_output_shape(self, input_shape):
        return _strided_shape(input_shape, self.strides, self.filters)

    def get_config(self):
        config = {
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "dilation_rate": self.dilation_rate,
        }
        return {**super().get_config(), **config}


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
        self.rate = _check_rate("rate", rate)
        if seed is not None and not is_int(seed):
            raise invalid_type("seed", "an int or None", seed, "pass e.g. seed=0")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        # The rate in use, a variable so that a schedule (DARTS' linear ramp) reaches compiled steps.
        self.current_rate = keras.Variable(self.rate, trainable=False, name="current_rate")
        self.built = True

    def set_rate(self, rate: float):
        """Changes the rate in use (e.g. per epoch) without retracing; `rate` stays the configured one."""
        self.current_rate.assign(_check_rate("rate", rate))

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


# ------------------------------------------------------------------ operations


def _skip_connect(spec, filters, strides):
    if strides == 1:
        return keras.layers.Identity()
    return FactorizedReduce(filters)


# kind of `space.OPERATION_SPECS` -> factory(spec, filters, strides) -> keras.layers.Layer
_FACTORIES = {
    "max_pool": lambda spec, filters, strides: keras.layers.MaxPooling2D(spec.kernel_size, strides, padding="same"),
    "avg_pool": lambda spec, filters, strides: keras.layers.AveragePooling2D(spec.kernel_size, strides, padding="same"),
    "skip": _skip_connect,
    "sep_conv": lambda spec, filters, strides: SepConv(filters, spec.kernel_size, strides),
    "dil_conv": lambda spec, filters, strides: DilConv(filters, spec.kernel_size, strides, spec.dilation),
}
# name -> factory(filters, strides) -> keras.layers.Layer, DARTS' `OPS` for final networks.
OPERATION_LAYERS = {name: functools.partial(_FACTORIES[spec.kind], spec) for name, spec in OPERATION_SPECS.items()}


def operation_layer(name: str, filters: int, strides: int = 1) -> keras.layers.Layer:
    """Builds the layer of the DARTS operation `name`, checking every argument.

    Pools keep the input's channels, the other operations output `filters`;
    in a cell both equal `filters`.

    Args:
        name: one of `keras_parsec.space.OPERATIONS`.
        filters: output channels.
        strides: 1 or 2.

    Returns:
        A new, unbuilt `keras.layers.Layer`.
    """
    if not isinstance(name, str) or name not in OPERATION_LAYERS:
        raise invalid_argument("name", f"an operation name, one of {', '.join(OPERATIONS)}", name, "pick a name above")
    return OPERATION_LAYERS[name](_check_filters(filters, minimum=2), _check_strides(strides))


def _is_identity(layer):
    return isinstance(layer, keras.layers.Identity)


# ------------------------------------------------------------------ cell


@keras.saving.register_keras_serializable(package="keras_parsec")
class Cell(keras.layers.Layer):
    """One discrete DARTS cell of a genotype, as a layer on the two previous cell outputs.

    The inputs `[s0, s1]` (any channel counts) are first mapped to `filters`
    channels: `s1` by ReLU-1x1 conv-BN, `s0` the same way or, when
    `reduction_prev` (s0 has twice the resolution of s1), by
    `FactorizedReduce`. Node `k` sums its two operations of the genotype,
    `op_a(state_i) + op_b(state_j)`, where states 0 and 1 are the preprocessed
    inputs and state `k + 2` is node `k`. In a reduce cell the operations on
    states 0 and 1 have stride 2. The output concatenates the nodes listed in
    the genotype's `*_concat`.

    Args:
        genotype: a `Genotype` or its `to_dict()`.
        cell_type: "normal" or "reduce".
        filters: channels of every node, at least 2.
        reduction_prev: whether `s0` has twice the resolution of `s1`.
        drop_path_rate: in [0, 1); when positive, `DropPath` on the output of
            every operation but the identity, during training only.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: list `[s0, s1]` of NHWC tensors.
        training: whether batch normalisation and drop path are in training mode.

    Returns:
        NHWC tensor with `filters * len(concat)` channels, at the resolution of
        `s1` (normal cell) or half of it (reduce cell).

    Raises:
        InvalidTypeError, InvalidArgumentError: for an unusable argument, or at
            build time for inputs of incompatible resolutions.

    Example:

    ```python
    x = keras.Input((32, 32, 3))
    h = keras.layers.Conv2D(48, 3, padding="same")(x)
    h = Cell(DARTS_V2, "normal", 16)([h, h])  # (None, 32, 32, 64)
    ```
    """

    def __init__(
        self,
        genotype,
        cell_type: str = "normal",
        filters: int = 16,
        reduction_prev: bool = False,
        drop_path_rate: float = 0.0,
        **kwargs,
    ):
        genotype = to_genotype(genotype)
        if cell_type not in CELL_TYPES:
            raise invalid_argument("cell_type", f"one of {CELL_TYPES}", cell_type, 'pass "normal" or "reduce"')
        filters = _check_filters(filters, minimum=2)
        reduction_prev = _check_bool("reduction_prev", reduction_prev)
        drop_path_rate = _check_rate("drop_path_rate", drop_path_rate)
        super().__init__(**kwargs)
        self.genotype = genotype
        self.cell_type = cell_type
        self.filters = filters
        self.reduction_prev = reduction_prev
        self.drop_path_rate = drop_path_rate

        if reduction_prev:
            self.preprocess_0 = FactorizedReduce(filters, name="preprocess_0")
        else:
            self.preprocess_0 = ReLUConvBN(filters, 1, 1, name="preprocess_0")
        self.preprocess_1 = ReLUConvBN(filters, 1, 1, name="preprocess_1")

        reduce = cell_type == "reduce"
        pairs = getattr(genotype, cell_type)
        self.concat = getattr(genotype, f"{cell_type}_concat")
        self.input_indices = tuple(index for _, index in pairs)
        self.strides = tuple(input_stride(reduce, index) for index in self.input_indices)
        self.node_operations = [
            OPERATION_LAYERS[name](filters, strides) for (name, _), strides in zip(pairs, self.strides, strict=True)
        ]
        self.drop_path = DropPath(drop_path_rate, name="drop_path") if drop_path_rate > 0 else None

    @property
    def output_filters(self) -> int:
        """Channels of the cell output, `filters * len(concat)`."""
        return self.filters * len(self.concat)

    def _split_shapes(self, input_shape):
        if not isinstance(input_shape, collections.abc.Sequence) or len(input_shape) != NUM_CELL_INPUTS:
            raise invalid_argument(
                "inputs", "a list [s0, s1] of the two previous cell outputs", input_shape, "call cell([s0, s1])"
            )
        shape_0 = _check_4d("inputs[0].shape", input_shape[0])
        shape_1 = _check_4d("inputs[1].shape", input_shape[1])
        return shape_0, shape_1

    def _state_shapes(self, input_shape):
        """Shapes of the preprocessed inputs, checking that their resolutions agree."""
        shape_0, shape_1 = self._split_shapes(input_shape)
        state_0 = self.preprocess_0.compute_output_shape(shape_0)
        state_1 = self.preprocess_1.compute_output_shape(shape_1)
        for axis in (1, 2):
            if state_0[axis] is not None and state_1[axis] is not None and state_0[axis] != state_1[axis]:
                fix = (
                    "pass reduction_prev=False: s0 already has the resolution of s1"
                    if self.reduction_prev
                    else "pass reduction_prev=True when s0 comes before a reduce cell (twice the resolution of s1)"
                )
                raise invalid_argument(
                    "inputs",
                    "s0 and s1 of the same resolution (or s0 of twice the resolution with reduction_prev=True)",
                    [tuple(shape_0), tuple(shape_1)],
                    fix,
                )
        return state_0, state_1

    def build(self, input_shape):
        shape_0, shape_1 = self._split_shapes(input_shape)
        states = list(self._state_shapes(input_shape))
        _build_chain([self.preprocess_0], shape_0)
        _build_chain([self.preprocess_1], shape_1)
        for k in range(len(self.node_operations) // 2):
            outputs = []
            for slot in (2 * k, 2 * k + 1):
                outputs.append(_build_chain([self.node_operations[slot]], states[self.input_indices[slot]]))
            states.append(outputs[0])

    def call(self, inputs, training=None):
        s0, s1 = inputs
        states = [self.preprocess_0(s0, training=training), self.preprocess_1(s1, training=training)]
        for k in range(len(self.node_operations) // 2):
            node = None
            for slot in (2 * k, 2 * k + 1):
                operation = self.node_operations[slot]
                h = operation(states[self.input_indices[slot]], training=training)
                if self.drop_path is not None and not _is_identity(operation):
                    h = self.drop_path(h, training=training)
                node = h if node is None else node + h
            states.append(node)
        return ops.concatenate([states[index] for index in self.concat], axis=-1)

    def compute_output_shape(self, input_shape):
        _, state_1 = self._state_shapes(input_shape)
        strides = 2 if self.cell_type == "reduce" else 1
        return _strided_shape(state_1, strides, self.output_filters)

    def get_config(self):
        config = {
            "genotype": self.genotype.to_dict(),
            "cell_type": self.cell_type,
            "filters": self.filters,
            "reduction_prev": self.reduction_prev,
            "drop_path_rate": self.drop_path_rate,
        }
        return {**super().get_config(), **config}
