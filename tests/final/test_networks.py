"""Tests for keras_parsec.final.networks."""

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from keras_parsec.errors import InvalidArgumentError, InvalidTypeError
from keras_parsec.final.layers import Cell
from keras_parsec.final.networks import CellNetwork
from keras_parsec.genotype import DARTS_V1, DARTS_V2

NUM_CLASSES = 3
SMALL = {"num_cells": 3, "filters": 4, "input_shape": (16, 16, 3)}


@pytest.fixture(autouse=True)
def keras_seed():
    keras.utils.set_random_seed(0)


def data(batch=4, shape=(16, 16, 3), seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, (batch, *shape)).astype("float32")
    y = rng.integers(0, NUM_CLASSES, batch)
    return x, y


@pytest.fixture(scope="module")
def trained():
    """A small DARTS_V2 network with auxiliary head and drop path, fitted two steps."""
    keras.utils.set_random_seed(1)
    model = CellNetwork(DARTS_V2, NUM_CLASSES, auxiliary_weight=0.4, drop_path_rate=0.2, **SMALL)
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = data()
    history = model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    return model, history, x


# ------------------------------------------------------------------ structure


def test_cells_reduce_at_one_and_two_thirds():
    model = CellNetwork(DARTS_V2, NUM_CLASSES, num_cells=6, filters=4, input_shape=(8, 8, 3))
    assert model.reduction_indices == (2, 4)
    assert [cell.cell_type for cell in model.cells] == ["normal", "normal", "reduce", "normal", "reduce", "normal"]
    assert [cell.filters for cell in model.cells] == [4, 4, 8, 8, 16, 16]
    assert [cell.reduction_prev for cell in model.cells] == [False, False, False, True, False, True]
    assert all(isinstance(cell, Cell) for cell in model.cells)
    assert model.auxiliary_head is None


def test_built_at_construction():
    model = CellNetwork(DARTS_V1, NUM_CLASSES, **SMALL)
    assert model.built
    assert model.count_params() > 0
    model.summary(print_fn=lambda *args, **kwargs: None)
    x, _ = data()
    assert model.predict(x, verbose=0).shape == (4, NUM_CLASSES)


def test_config_round_trip():
    model = CellNetwork(
        DARTS_V2, NUM_CLASSES, auxiliary_weight=0.4, drop_path_rate=0.1, classifier_activation=None, **SMALL
    )
    config = model.get_config()
    assert config["genotype"] == DARTS_V2.to_dict()
    copy = CellNetwork.from_config(config)
    assert copy.get_config() == config
    assert copy.genotype == DARTS_V2
    assert len(copy.weights) == len(model.weights)


def test_imagenet_stem_on_a_small_input():
    model = CellNetwork(
        DARTS_V2, NUM_CLASSES, num_cells=3, filters=4, input_shape=(32, 32, 3), stem="imagenet",
        auxiliary_weight=0.4,
    )  # fmt: skip
    assert model.cells[0].reduction_prev
    x, y = data(shape=(32, 32, 3))
    assert model.predict(x, verbose=0).shape == (4, NUM_CLASSES)
    model.compile("sgd", "sparse_categorical_crossentropy", run_eagerly=True)
    assert np.isfinite(model.train_on_batch(x, y))


# ------------------------------------------------------------------ training, saving, export


def test_fits_a_couple_of_steps(trained):
    model, history, x = trained
    assert len(history.history["loss"]) == 2
    assert np.all(np.isfinite(history.history["loss"]))
    probabilities = model.predict(x, verbose=0)
    assert probabilities.shape == (4, NUM_CLASSES)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_keras_file_round_trip(trained, tmp_path):
    model, _, x = trained
    path = tmp_path / "network.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, CellNetwork)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_export_serves_the_main_head_in_a_fresh_process(trained, tmp_path):
    model, _, x = trained
    export_path = tmp_path / "exported"
    model.export(str(export_path), verbose=False)
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent(
        f"""
        import numpy as np
        import tensorflow as tf
        loaded = tf.saved_model.load({str(export_path)!r})
        outputs = loaded.serve(np.load({str(tmp_path / "x.npy")!r}))
        np.save({str(tmp_path / "served.npy")!r}, np.asarray(outputs))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    served = np.load(tmp_path / "served.npy")
    # One tensor, the main classifier's: the auxiliary head is not exported.
    assert served.shape == (4, NUM_CLASSES)
    np.testing.assert_allclose(served, model.predict(x, verbose=0), atol=1e-5)


# ------------------------------------------------------------------ auxiliary head


def test_auxiliary_loss_only_in_training():
    model = CellNetwork(DARTS_V2, NUM_CLASSES, auxiliary_weight=0.4, **SMALL)
    model.compile("sgd", "sparse_categorical_crossentropy")
    x, y = data()

    y_pred = model(x, training=True)
    with_auxiliary = float(model.compute_loss(x, y, y_pred, training=True))
    main_only = float(model.compute_loss(x, y, y_pred, training=False))
    assert with_auxiliary > main_only

    # The same weights and data with twice the weight: twice the extra loss.
    model.auxiliary_weight = 0.8
    y_pred_again = model(x, training=True)
    np.testing.assert_allclose(y_pred_again, y_pred, atol=1e-6)
    doubled = float(model.compute_loss(x, y, y_pred_again, training=True))
    assert doubled - main_only == pytest.approx(2 * (with_auxiliary - main_only), rel=1e-4)


def test_auxiliary_head_absent_from_inference():
    model = CellNetwork(DARTS_V2, NUM_CLASSES, auxiliary_weight=0.4, **SMALL)
    assert model.auxiliary_head is not None
    x, y = data()
    outputs = model.predict(x, verbose=0)
    assert isinstance(outputs, np.ndarray) and outputs.shape == (4, NUM_CLASSES)
    model.compile("sgd", "sparse_categorical_crossentropy")
    y_pred = model(x, training=False)
    assert float(model.compute_loss(x, y, y_pred, training=True)) == pytest.approx(
        float(keras.losses.sparse_categorical_crossentropy(y, y_pred).numpy().mean()), rel=1e-5
    )


def test_no_auxiliary_head_without_weight():
    model = CellNetwork(DARTS_V2, NUM_CLASSES, **SMALL)
    model.compile("sgd", "sparse_categorical_crossentropy")
    x, y = data()
    y_pred = model(x, training=True)
    assert model.auxiliary_head is None
    assert float(model.compute_loss(x, y, y_pred, training=True)) == pytest.approx(
        float(model.compute_loss(x, y, y_pred, training=False))
    )


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    "overrides, error, match",
    (
        ({"genotype": "darts"}, InvalidTypeError, "genotype"),
        ({"num_classes": 1}, InvalidArgumentError, "num_classes.*>= 2"),
        ({"num_classes": 2.0}, InvalidTypeError, "num_classes"),
        ({"num_cells": 0}, InvalidArgumentError, "num_cells"),
        ({"filters": 1}, InvalidArgumentError, "filters"),
        ({"input_shape": (16, 16)}, InvalidArgumentError, "input_shape"),
        ({"input_shape": (16, -16, 3)}, InvalidArgumentError, "input_shape"),
        ({"input_shape": (2, 2, 3)}, InvalidArgumentError, "at least 4x4"),
        ({"input_shape": (16, 16, 3), "stem": "imagenet"}, InvalidArgumentError, "at least 32x32"),
        ({"auxiliary_weight": -0.1}, InvalidArgumentError, "auxiliary_weight"),
        ({"auxiliary_weight": float("nan")}, InvalidArgumentError, "auxiliary_weight"),
        ({"drop_path_rate": 1.0}, InvalidArgumentError, r"drop_path_rate.*\[0, 1\)"),
        ({"drop_path_rate": -0.5}, InvalidArgumentError, "drop_path_rate"),
        ({"drop_path_rate": True}, InvalidTypeError, "drop_path_rate"),
        ({"classifier_activation": "softmaxx"}, InvalidArgumentError, "classifier_activation"),
        ({"classifier_activation": 3}, InvalidTypeError, "classifier_activation"),
        ({"stem": "mnist"}, InvalidArgumentError, "stem"),
        ({"stem_multiplier": 0}, InvalidArgumentError, "stem_multiplier"),
    ),
)
def test_invalid_arguments(overrides, error, match):
    arguments = {"genotype": DARTS_V2, "num_classes": NUM_CLASSES, **SMALL, **overrides}
    with pytest.raises(error, match=match):
        CellNetwork(**arguments)
