"""EnsembleNetwork: the weighted mean of its members, its checks, and save/reload/export in a fresh process."""

import re
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import keras_parsec as kp
from keras_parsec import errors
from keras_parsec.final.ensemble import EnsembleNetwork

SPACE = kp.SearchSpace(num_cells=1, filters=2, num_nodes=1, operations=("skip_connect", "sep_conv_3x3", "max_pool_3x3"))
NUM_CLASSES = 3
SHAPE = (8, 8, 1)


def members(num=3, **overrides):
    genotypes = kp.ArchitectureDistribution(SPACE).sample(num, seed=0)
    config = {"num_classes": NUM_CLASSES, "num_cells": 1, "filters": 2, "input_shape": SHAPE}
    config.update(overrides)
    return [kp.CellNetwork(g, **config) for g in genotypes]


def images(n=4):
    return np.random.default_rng(0).random((n, *SHAPE)).astype("float32")


@pytest.fixture(scope="module")
def trained():
    """An ensemble of three networks, each fitted a couple of steps, and its inputs."""
    keras.utils.set_random_seed(0)
    x = images(16)
    y = np.arange(16) % NUM_CLASSES
    networks = members()
    for network in networks:
        network.compile("adam", "sparse_categorical_crossentropy")
        network.fit(x, y, epochs=2, batch_size=8, verbose=0)
    return EnsembleNetwork(networks, member_weights=[1.0, 2.0, 5.0]), x[:4]


@pytest.mark.parametrize(
    "member_weights, expected",
    (
        (None, [1 / 3, 1 / 3, 1 / 3]),
        ([1, 2, 5], [0.125, 0.25, 0.625]),
        ([0.0, 0.0, 2.0], [0.0, 0.0, 1.0]),
        (np.array([0.2, 0.3, 0.5]), [0.2, 0.3, 0.5]),
    ),
)
def test_member_weights_are_renormalised_to_sum_to_one(member_weights, expected):
    ensemble = EnsembleNetwork(members(), member_weights=member_weights)
    np.testing.assert_allclose(ensemble.member_weights, expected)
    assert sum(ensemble.member_weights) == pytest.approx(1.0)


def test_the_output_is_the_weighted_mean_of_the_members_probabilities(trained):
    ensemble, x = trained
    outputs = [m.predict(x, verbose=0) for m in ensemble.members]
    expected = sum(w * p for w, p in zip(ensemble.member_weights, outputs))
    predicted = ensemble.predict(x, verbose=0)
    np.testing.assert_allclose(predicted, expected, atol=1e-6)
    np.testing.assert_allclose(predicted.sum(axis=1), 1.0, rtol=1e-5)
    assert ensemble.compute_output_shape((None, *SHAPE)) == (None, NUM_CLASSES)
    # The members differ, so the weights matter.
    assert not np.allclose(outputs[0], outputs[2], atol=1e-4)
    uniform = EnsembleNetwork(ensemble.members).predict(x, verbose=0)
    assert not np.allclose(uniform, predicted, atol=1e-6)


def test_any_keras_model_of_probabilities_is_a_member_with_input_shape():
    model = keras.Sequential([keras.Input(SHAPE), keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
    ensemble = EnsembleNetwork([model, members(1)[0]], input_shape=SHAPE)
    x = images()
    expected = (model.predict(x, verbose=0) + ensemble.members[1].predict(x, verbose=0)) / 2
    np.testing.assert_allclose(ensemble.predict(x, verbose=0), expected, atol=1e-6)


def test_config_round_trip():
    ensemble = EnsembleNetwork(members(2), member_weights=[3, 1], name="pair")
    config = ensemble.get_config()
    rebuilt = EnsembleNetwork.from_config(config)
    assert rebuilt.get_config() == config
    assert rebuilt.name == "pair"
    assert [m.genotype for m in rebuilt.members] == [m.genotype for m in ensemble.members]
    assert rebuilt.member_weights == [0.75, 0.25]


def test_save_reload_and_export_predict_the_same_in_a_fresh_process(trained, tmp_path):
    ensemble, x = trained
    expected = ensemble.predict(x, verbose=0)
    ensemble.save(tmp_path / "e.keras")
    ensemble.export(str(tmp_path / "exported"), verbose=False)
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent(
        f"""
        import numpy as np
        import keras
        import tensorflow as tf
        import keras_parsec
        x = np.load({str(tmp_path / "x.npy")!r})
        loaded = keras.saving.load_model({str(tmp_path / "e.keras")!r})
        assert type(loaded).__name__ == "EnsembleNetwork", type(loaded)
        assert len(loaded.members) == 3 and loaded.member_weights == {ensemble.member_weights!r}
        np.save({str(tmp_path / "reloaded.npy")!r}, loaded.predict(x, verbose=0))
        exported = tf.saved_model.load({str(tmp_path / "exported")!r})  # kept: serve needs its variables alive
        served = exported.serve(x)
        np.save({str(tmp_path / "served.npy")!r}, np.asarray(served))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "reloaded.npy"), expected, atol=1e-6)
    np.testing.assert_allclose(np.load(tmp_path / "served.npy"), expected, atol=1e-5)


BAD = (
    # (members, keyword arguments, error, argument named in the message)
    (lambda: [], {}, errors.InvalidArgumentError, "members"),
    (lambda: members(1)[0], {}, errors.InvalidTypeError, "members"),
    (lambda: [members(1)[0], "model"], {}, errors.InvalidTypeError, "members[1]"),
    (lambda: members(2, classifier_activation=None), {}, errors.InvalidArgumentError, "classifier_activation"),
    (lambda: members(1) + members(1, num_classes=4), {}, errors.InvalidArgumentError, "num_classes"),
    (lambda: members(1) + members(1, input_shape=(16, 16, 1)), {}, errors.InvalidArgumentError, "image_shape"),
    (lambda: members(2), {"member_weights": [1.0]}, errors.InvalidArgumentError, "len(member_weights)"),
    (lambda: members(2), {"member_weights": [1.0, -1.0]}, errors.InvalidArgumentError, "member_weights[1]"),
    (lambda: members(2), {"member_weights": [1.0, float("nan")]}, errors.InvalidArgumentError, "member_weights[1]"),
    (lambda: members(2), {"member_weights": [0, 0]}, errors.InvalidArgumentError, "member_weights"),
    (lambda: members(2), {"member_weights": ["1", "2"]}, errors.InvalidTypeError, "member_weights[0]"),
    (lambda: members(2), {"member_weights": "uniform"}, errors.InvalidTypeError, "member_weights"),
    (
        lambda: [keras.Sequential([keras.Input(SHAPE), keras.layers.Flatten(), keras.layers.Dense(3)])],
        {},
        errors.InvalidArgumentError,
        "input_shape",
    ),
)


@pytest.mark.parametrize("make_members, kwargs, error, name", BAD)
def test_unusable_arguments_raise_typed_errors_naming_them(make_members, kwargs, error, name):
    with pytest.raises(error, match=re.escape(f"{name}`")):  # also `members[*].{name}`
        EnsembleNetwork(make_members(), **kwargs)
