"""The candidate operations of a final network as Keras layers, and their registry.

`OPERATION_LAYERS` maps every name of `keras_parsec.space.OPERATIONS` to a
factory `(filters, strides) -> keras.layers.Layer`, built from the space's one
operation registry; `layers.Cell` composes them. Affine batch normalisation with
moving statistics, as in DARTS' `model.py` (the search-time versions: `search/ops.py`).

Every spatial reduction here (strided convolutions and pools with "same"
padding, `FactorizedReduce`, the subsampled dilated convolution) maps a side of
`n` pixels to `ceil(n / 2)`, so all operations of a cell agree on odd sizes too.
"""

import collections.abc
import functools

import keras
from keras import ops

from keras_parsec.errors import invalid_argument, invalid_type, is_int
from keras_parsec.final import subsampling
from keras_parsec.space import (
    BATCH_NORM_EPSILON,
    OPERATION_SPECS,
    OPERATIONS,
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
        y = ops.concatenate([self.conv_a(x), self.conv_b(subsampling.shift(x))], axis=-1)
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
    subsampled (`x[:, ::2, ::2]`, `subsampling.subsample`) and convolved without dilation: the same
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
            x = self.depthwise(subsampling.subsample(x, self.strides))
        else:
            x = self.depthwise(x)
            if self.strides > 1:
                x = subsampling.subsample(x, self.strides)
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
