"""Tests for keras_parsec.final.layers."""

import itertools

import keras
import numpy as np
import pytest

from keras_parsec.errors import InvalidArgumentError, InvalidTypeError
from keras_parsec.final import layers
from keras_parsec.genotype import DARTS_V1, DARTS_V2, Genotype
from keras_parsec.space import OPERATIONS

BATCH = 2
FILTERS = 4
OPERATION_CASES = tuple(itertools.product(OPERATIONS, (1, 2), (8, 7)))

# Three nodes, concat of two of them, every operation once: exercises odd genotypes.
SMALL_GENOTYPE = Genotype(
    normal=[("sep_conv_5x5", 1), ("avg_pool_3x3", 0), ("dil_conv_5x5", 2), ("skip_connect", 0),
            ("max_pool_3x3", 3), ("dil_conv_3x3", 1)],
    normal_concat=[3, 4],
    reduce=[("skip_connect", 0), ("sep_conv_3x3", 1), ("dil_conv_3x3", 0), ("avg_pool_3x3", 2),
            ("skip_connect", 3), ("max_pool_3x3", 1)],
    reduce_concat=[2, 4],
)  # fmt: skip


@pytest.fixture(autouse=True)
def keras_seed():
    keras.utils.set_random_seed(0)


def images(size=8, channels=FILTERS, batch=BATCH, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0.3, 1.5, (batch, size, size, channels)).astype("float32")


def rebuild(layer):
    """A new layer of the same class from `layer.get_config()`."""
    return layer.__class__.from_config(layer.get_config())


# ------------------------------------------------------------------ operations


def test_registry_holds_exactly_the_operations():
    assert set(layers.OPERATION_LAYERS) == set(OPERATIONS)


@pytest.mark.parametrize("name, strides, size", OPERATION_CASES)
def test_operation_shape_and_finite(name, strides, size):
    layer = layers.OPERATION_LAYERS[name](FILTERS, strides)
    x = images(size)
    for training in (True, False):
        y = keras.ops.convert_to_numpy(layer(x, training=training))
        expected = (BATCH, -(-size // strides), -(-size // strides), FILTERS)
        assert y.shape == expected
        assert tuple(layer.compute_output_shape(x.shape)) == expected
        assert np.all(np.isfinite(y))


@pytest.mark.parametrize("name, strides", tuple(itertools.product(OPERATIONS, (1, 2))))
def test_operation_config_round_trip(name, strides):
    layer = layers.OPERATION_LAYERS[name](FILTERS, strides)
    x = images()
    layer(x)
    copy = rebuild(layer)
    assert copy.get_config() == layer.get_config()
    copy(x)
    copy.set_weights(layer.get_weights())
    np.testing.assert_allclose(copy(x, training=False), layer(x, training=False), atol=1e-6)


@pytest.mark.parametrize("strides", (1, 2))
def test_skip_connect_is_identity_then_factorized_reduce(strides):
    layer = layers.OPERATION_LAYERS["skip_connect"](FILTERS, strides)
    expected = keras.layers.Identity if strides == 1 else layers.FactorizedReduce
    assert isinstance(layer, expected)


@pytest.mark.parametrize("kernel_size, size", [(3, 8), (5, 7)])
def test_dil_conv_stride_two_subsamples_the_stride_one_output(kernel_size, size):
    strided = layers.DilConv(FILTERS, kernel_size, strides=2)  # convolves the even pixels only
    dense = layers.DilConv(FILTERS, kernel_size, strides=1)
    x = images(size)
    strided(x)
    dense(x)
    dense.set_weights(strided.get_weights())
    y_dense = keras.ops.convert_to_numpy(dense(x, training=False))
    np.testing.assert_allclose(strided(x, training=False), y_dense[:, ::2, ::2, :], atol=1e-6)


@pytest.mark.parametrize("size", (8, 7))
def test_factorized_reduce_and_relu_conv_bn(size):
    x = images(size, channels=3)
    reduced = layers.FactorizedReduce(5)(x)  # odd filters split 2 + 3
    assert reduced.shape == (BATCH, -(-size // 2), -(-size // 2), 5)
    assert layers.ReLUConvBN(6, 3, 2)(x).shape == (BATCH, -(-size // 2), -(-size // 2), 6)


@pytest.mark.parametrize(
    "factory, error, match",
    (
        (lambda: layers.operation_layer("none", 4, 1), InvalidArgumentError, "operation name"),
        (lambda: layers.operation_layer("sep_conv_3x3", 4, 3), InvalidArgumentError, "strides"),
        (lambda: layers.SepConv(0), InvalidArgumentError, "filters"),
        (lambda: layers.SepConv("8"), InvalidTypeError, "filters"),
        (lambda: layers.FactorizedReduce(1), InvalidArgumentError, "filters.*>= 2"),
        (lambda: layers.DropPath(1.0), InvalidArgumentError, r"rate.*\[0, 1\)"),
        (lambda: layers.DropPath(-0.1), InvalidArgumentError, "rate"),
        (lambda: layers.DropPath("0.2"), InvalidTypeError, "rate"),
        (lambda: layers.Cell(DARTS_V2, "stem", 8), InvalidArgumentError, "cell_type"),
        (lambda: layers.Cell("DARTS_V2", "normal", 8), InvalidTypeError, "genotype"),
        (lambda: layers.Cell({"normal": []}, "normal", 8), InvalidArgumentError, "keys"),
        (lambda: layers.Cell(DARTS_V2, "normal", 8, reduction_prev=1), InvalidTypeError, "reduction_prev"),
        (lambda: layers.Cell(DARTS_V2, "normal", 8, drop_path_rate=2), InvalidArgumentError, "drop_path_rate"),
    ),
)
def test_invalid_arguments(factory, error, match):
    with pytest.raises(error, match=match):
        factory()


# ------------------------------------------------------------------ drop path


def test_drop_path_drops_whole_examples_in_training():
    x = np.ones((64, 4, 4, 3), "float32")
    y = keras.ops.convert_to_numpy(layers.DropPath(0.5, seed=1)(x, training=True))
    per_example = y.reshape(64, -1)
    # Each example is either all zero or all 1 / (1 - rate).
    assert set(np.unique(per_example)) <= {0.0, 2.0}
    assert np.all(per_example.min(axis=1) == per_example.max(axis=1))
    assert 0 < np.count_nonzero(per_example[:, 0]) < 64


@pytest.mark.parametrize("training", (False, None))
def test_drop_path_is_identity_in_inference(training):
    x = images()
    np.testing.assert_array_equal(layers.DropPath(0.7)(x, training=training), x)


def test_drop_path_preserves_the_expectation():
    layer = layers.DropPath(0.3, seed=2)
    x = np.ones((4000, 1, 1, 1), "float32")
    mean = float(keras.ops.mean(layer(x, training=True)))
    assert mean == pytest.approx(1.0, abs=0.05)


def test_drop_path_config_round_trip():
    layer = layers.DropPath(0.25, seed=3)
    assert rebuild(layer).get_config() == layer.get_config()


# ------------------------------------------------------------------ cell


@pytest.mark.parametrize("genotype", (DARTS_V2, DARTS_V1, SMALL_GENOTYPE), ids=("v2", "v1", "small"))
@pytest.mark.parametrize("cell_type", ("normal", "reduce"))
def test_cell_output_shape(genotype, cell_type):
    cell = layers.Cell(genotype, cell_type, FILTERS)
    s0, s1 = images(8, channels=5), images(8, channels=3, seed=1)
    y = cell([s0, s1], training=True)
    concat = getattr(genotype, f"{cell_type}_concat")
    side = 4 if cell_type == "reduce" else 8
    assert y.shape == (BATCH, side, side, FILTERS * len(concat))
    assert cell.output_filters == FILTERS * len(concat)
    assert tuple(cell.compute_output_shape([s0.shape, s1.shape])) == y.shape
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(y)))


def test_cell_reduction_prev_takes_s0_at_twice_the_resolution():
    cell = layers.Cell(DARTS_V2, "normal", FILTERS, reduction_prev=True)
    assert cell([images(8), images(4)]).shape == (BATCH, 4, 4, 4 * FILTERS)


@pytest.mark.parametrize("reduction_prev", (False, True))
def test_cell_rejects_inputs_of_mismatched_resolution(reduction_prev):
    cell = layers.Cell(DARTS_V2, "normal", FILTERS, reduction_prev=reduction_prev)
    s0 = images(8) if not reduction_prev else images(4)
    with pytest.raises(InvalidArgumentError, match="reduction_prev"):
        cell([s0, images(4)])


def test_cell_rejects_a_single_input():
    with pytest.raises(InvalidArgumentError, match=r"\[s0, s1\]"):
        layers.Cell(DARTS_V2, "normal", FILTERS)(images())


def test_cell_drop_path_only_in_training():
    cell = layers.Cell(DARTS_V2, "normal", FILTERS, drop_path_rate=0.5)
    x = images(batch=8)
    inference = [keras.ops.convert_to_numpy(cell([x, x], training=False)) for _ in range(2)]
    np.testing.assert_array_equal(inference[0], inference[1])
    training = [keras.ops.convert_to_numpy(cell([x, x], training=True)) for _ in range(2)]
    assert not np.allclose(training[0], training[1])


@pytest.mark.parametrize("genotype", (DARTS_V2, DARTS_V2.to_dict()), ids=("genotype", "dict"))
def test_cell_config_round_trip(genotype):
    cell = layers.Cell(genotype, "reduce", FILTERS, reduction_prev=True, drop_path_rate=0.1, name="c")
    config = cell.get_config()
    assert config["genotype"] == DARTS_V2.to_dict()
    copy = layers.Cell.from_config(config)
    assert copy.genotype == DARTS_V2
    assert copy.get_config() == config
    s0, s1 = images(8), images(4)
    cell([s0, s1])
    copy([s0, s1])
    copy.set_weights(cell.get_weights())
    np.testing.assert_allclose(copy([s0, s1]), cell([s0, s1]), atol=1e-6)


def test_cell_in_a_functional_model_fits_and_saves(tmp_path):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(12, 3, padding="same")(inputs)
    normal = layers.Cell(DARTS_V2, "normal", FILTERS, drop_path_rate=0.2)([x, x])
    reduce = layers.Cell(DARTS_V2, "reduce", 2 * FILTERS)([x, normal])
    assert normal.shape == (None, 8, 8, 4 * FILTERS)
    assert reduce.shape == (None, 4, 4, 8 * FILTERS)
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(reduce))
    model = keras.Model(inputs, outputs)
    model.compile("adam", "sparse_categorical_crossentropy")
    x_train, y_train = images(channels=3, batch=4), np.array([0, 1, 2, 0])
    history = model.fit(x_train, y_train, epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])

    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x_train, verbose=0), model.predict(x_train, verbose=0), atol=1e-6)
