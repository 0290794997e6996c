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

The operation layers themselves (`SepConv`, `DilConv`, `FactorizedReduce`,
`ReLUConvBN`) live in `final/operations.py`, `DropPath` in `final/drop_path.py`; all importable from here.
"""

import collections.abc

import keras
from keras import ops

from keras_parsec.errors import invalid_argument
from keras_parsec.final.drop_path import DropPath, check_rate  # noqa: F401  (DropPath public here since 0.1.0)
from keras_parsec.final.operations import (  # noqa: F401  (public here since 0.1.0)
    BATCH_NORM_MOMENTUM,
    OPERATION_LAYERS,
    DilConv,
    FactorizedReduce,
    ReLUConvBN,
    SepConv,
    _build_chain,
    _check_4d,
    _check_bool,
    _check_filters,
    _strided_shape,
    operation_layer,
)
from keras_parsec.genotype import to_genotype
from keras_parsec.space import (
    CELL_TYPES,
    NUM_CELL_INPUTS,
    input_stride,
)


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
        drop_path_rate = check_rate("drop_path_rate", drop_path_rate)
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
