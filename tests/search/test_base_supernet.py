"""What both engines share: the cosine schedule, `fit` sizing it, the optimizers' state, the update of used weights."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_parsec as kp
from keras_parsec import _upstream

ENGINES = (kp.SuperNet, kp.search.EagerSuperNet)
SPACE = kp.SearchSpace(num_cells=1, filters=4, num_nodes=2, operations=("skip_connect", "sep_conv_3x3"))


def built(engine):
    keras.utils.set_random_seed(0)
    net = engine(SPACE, num_classes=3, num_samples=2, seed=0)
    net.build((None, 8, 8, 1))
    net.compile()
    return net


def batch(size=8):
    rng = np.random.default_rng(0)
    return rng.normal(size=(size, 8, 8, 1)).astype("float32"), rng.integers(0, 3, size).astype("int32")


def test_cosine_schedule_runs_from_initial_to_final():
    schedule = kp.search.CosineSchedule(0.025, 0.001, total_steps=10)
    assert float(schedule(0)) == pytest.approx(0.025)
    assert float(schedule(5)) == pytest.approx(0.013)
    assert float(schedule(10)) == pytest.approx(0.001)
    assert float(schedule(20)) == pytest.approx(0.001)


@pytest.mark.parametrize("engine", ENGINES)
def test_fit_sizes_the_default_schedule_to_the_run_and_logs_every_metric(engine):
    net = built(engine)
    x, y = batch()
    pairs = tf.data.Dataset.from_tensor_slices(((x, y), (x, y))).batch(4)
    history = net.fit(pairs, epochs=3, verbose=0, validation_data=(x, y))
    assert _upstream.optimizer_schedule(net.weight_optimizer).total_steps == 6
    assert set(history.history) >= {"loss", "accuracy", "nonfinite_samples", "entropy", "val_accuracy", "val_loss"}
    assert all(0.0 <= a <= 1.0 for a in history.history["accuracy"] + history.history["val_accuracy"])


@pytest.mark.parametrize("engine", ENGINES)
def test_the_optimizers_state_is_built_once_over_the_shared_weights(engine):
    net = built(engine)
    net.build_optimizers()
    slots = [id(v) for v in net.weight_optimizer.variables]
    net.build_optimizers()
    assert [id(v) for v in net.weight_optimizer.variables] == slots
    assert sorted(net._slot_index.values()) == list(range(len(net.shared_variables())))
    assert len(net.architecture_optimizer.variables) > 1  # Adam's moments of pi


@pytest.mark.parametrize("engine", ENGINES)
def test_an_update_changes_only_the_weights_it_is_given(engine):
    net = built(engine)
    net.build_optimizers()
    variables = net.shared_variables()
    given, others = variables[0], variables[1:]
    before = [v.numpy().copy() for v in others]
    old = given.numpy().copy()
    net._update_weights([(given, tf.ones(given.shape))])
    assert not np.array_equal(given.numpy(), old)
    for variable, value in zip(others, before):
        np.testing.assert_array_equal(variable.numpy(), value)
