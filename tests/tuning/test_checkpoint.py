"""A run's resumable state: saved by name, restored exactly into any model of the same search, on any filesystem."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_parsec as kp
from keras_parsec.tuning.checkpoint import CHECKPOINT_FOLDER, STATE_FILE, SearchCheckpoint

OPS = ("max_pool_3x3", "skip_connect", "sep_conv_3x3")
SPACE = kp.SearchSpace(num_cells=2, filters=4, num_nodes=2, operations=OPS)
ENGINES = {"compiled": kp.SuperNet, "eager": kp.search.EagerSuperNet}


def trained_net(engine, space=SPACE, seed=0, steps=2):
    """A net whose weights, optimizers, pi and sampler have all moved from their initial values."""
    keras.utils.set_random_seed(seed)
    net = ENGINES[engine](space, num_classes=3, num_samples=2, seed=seed)
    net.build((None, 8, 8, 1))
    net.compile()
    rng = np.random.default_rng(seed)
    x = rng.random((8, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 3, 8).astype("int32")
    for _ in range(steps):
        net.train_step(((x, y), (x, y)))
    return net


def state_of(net):
    return [np.array(v) for v in SearchCheckpoint(net, "unused")._variables()]


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_a_state_saved_by_one_model_restores_exactly_into_another_of_the_same_search(engine, tmp_path):
    saved = trained_net(engine)
    SearchCheckpoint(saved, str(tmp_path), settings={"epochs": 3}).on_epoch_end(0, {"loss": 1.5})
    other = trained_net(engine, seed=1, steps=1)  # another process-unique name (super_net_1), other values
    assert other.name != saved.name
    assert not all(np.array_equal(a, b) for a, b in zip(state_of(saved), state_of(other)))
    checkpoint = SearchCheckpoint(other, str(tmp_path), settings={"epochs": 3})
    assert checkpoint.restore() == 1
    assert checkpoint.history == {"loss": [1.5]}
    for a, b in zip(state_of(saved), state_of(other)):
        np.testing.assert_array_equal(a, b)


def test_a_state_of_another_search_is_refused_by_name_and_left_as_it_was(tmp_path):
    SearchCheckpoint(trained_net("compiled"), str(tmp_path)).on_epoch_end(0)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    wider = kp.SearchSpace(num_cells=2, filters=8, num_nodes=2, operations=OPS)
    with pytest.raises(kp.InvalidArgumentError, match="different search"):
        SearchCheckpoint(trained_net("compiled", space=wider), str(tmp_path)).restore()
    fewer = kp.SearchSpace(num_cells=1, filters=4, num_nodes=2, operations=OPS)
    with pytest.raises(kp.InvalidArgumentError, match="different search"):
        SearchCheckpoint(trained_net("compiled", space=fewer), str(tmp_path)).restore()
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_a_checkpoint_written_but_not_yet_named_by_the_state_file_does_not_count(tmp_path):
    net = trained_net("compiled")
    checkpoint = SearchCheckpoint(net, str(tmp_path))
    checkpoint.on_epoch_end(0)
    meta = json.loads((tmp_path / STATE_FILE).read_text())
    checkpoint._checkpoint().write(str(tmp_path / CHECKPOINT_FOLDER / "epoch-2"))  # a save killed before its rename
    assert SearchCheckpoint(trained_net("compiled"), str(tmp_path)).restore() == 1
    assert json.loads((tmp_path / STATE_FILE).read_text()) == meta
    checkpoint.on_epoch_end(1)
    checkpoint.on_epoch_end(2)
    names = sorted(p.name for p in (tmp_path / CHECKPOINT_FOLDER).iterdir())
    assert names == ["epoch-3.data-00000-of-00001", "epoch-3.index"]  # only the state in force is kept


def test_a_state_on_the_in_memory_filesystem_round_trips(tmp_path):
    directory = f"ram://checkpoint_{tmp_path.name}"
    try:
        saved = trained_net("compiled")
        SearchCheckpoint(saved, directory).on_epoch_end(0)
        SearchCheckpoint(saved, directory).on_epoch_end(1)
        other = trained_net("compiled", seed=1)
        assert SearchCheckpoint(other, directory).restore() == 2
        for a, b in zip(state_of(saved), state_of(other)):
            np.testing.assert_array_equal(a, b)
        assert sorted(tf.io.gfile.glob(f"{directory}/{CHECKPOINT_FOLDER}/*")) == [
            f"{directory}/{CHECKPOINT_FOLDER}/epoch-2.data-00000-of-00001",
            f"{directory}/{CHECKPOINT_FOLDER}/epoch-2.index",
        ]
    finally:
        if tf.io.gfile.exists(directory):
            tf.io.gfile.rmtree(directory)
