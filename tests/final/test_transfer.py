"""Paper 4.2 end to end: a prior from a small search fine-tuned on a larger network, auxiliary head, augmentation.

Covers the pieces the fine-tuning protocol adds to the engine and the tuner:
`SuperNet(auxiliary_weight=...)`, `ParsecTuner(auxiliary_weight=..., prior=...)`,
`ParsecTuner.search(augment=...)`, and the sizes `results_summary` prints.
"""

import contextlib
import io

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_parsec as kp
from keras_parsec.data import preprocessing
from keras_parsec.data.arrays import load_digits_images
from keras_parsec.final import counting


@pytest.fixture(autouse=True)
def keras_seed():
    keras.utils.set_random_seed(0)


def supernet(auxiliary_weight, num_cells=3, side=16, engine=kp.search.EagerSuperNet):
    net = engine(kp.SearchSpace(num_cells=num_cells, filters=4, num_nodes=2), 3, num_samples=2, seed=0,
                 auxiliary_weight=auxiliary_weight)  # fmt: skip
    net.build((None, side, side, 3))
    return net


def batch(n=4, side=16):
    rng = np.random.default_rng(0)
    return tf.constant(rng.normal(size=(n, side, side, 3)).astype("float32")), tf.constant([0, 1, 2, 1][:n])


# ------------------------------------------------------------------ auxiliary head of the supernet


def test_supernet_auxiliary_loss_joins_training_only():
    net = supernet(0.4)
    x, y = batch()
    choices = net.sample_choices()[0]
    assert len(net.auxiliary_weights) == 4
    used = {id(v) for v in net.architecture_variables(choices)}
    assert all(id(w) in used for w in net.auxiliary_weights)  # they get gradients in train_step
    net.architecture_logits(x, choices)
    auxiliary = float(net.auxiliary_loss(y))
    assert auxiliary > 0
    assert net.auxiliary_loss(y) == 0.0  # consumed: one auxiliary term per forward pass
    # Inference and the search batch's likelihoods read the main classifier only.
    logits = net(x)
    np.testing.assert_allclose(logits, net.architecture_logits(x, net.distribution.mode_choices().numpy()), atol=1e-5)
    assert logits.shape == (4, 3)


def test_forward_only_passes_keep_no_auxiliary_features():
    net = supernet(0.4)
    x, y = batch()
    net.search_log_likelihoods(x, y, net.sample_choices())
    net.test_step((x, y))
    assert net._auxiliary_input is None  # nothing held until, or leaking into, the next train pass


def test_supernet_auxiliary_weights_train_and_scale_the_loss():
    net = supernet(0.4)
    net.compile()
    x, y = batch()
    before = [w.numpy().copy() for w in net.auxiliary_weights]
    logs = net.train_step(((x, y), (x, y)))
    assert np.isfinite(float(logs["loss"]))
    assert all(not np.allclose(b, w.numpy()) for b, w in zip(before, net.auxiliary_weights))
    # The term is auxiliary_weight x the head's cross-entropy.
    choices = net.sample_choices()[0]
    net.architecture_logits(x, choices)
    net.auxiliary_weight = 0.8
    doubled = float(net.auxiliary_loss(y))
    net.architecture_logits(x, choices)
    net.auxiliary_weight = 0.4
    assert doubled == pytest.approx(2 * float(net.auxiliary_loss(y)), rel=1e-5)


def test_supernet_without_auxiliary_head():
    net = supernet(0.0)
    x, y = batch()
    net.architecture_logits(x, net.sample_choices()[0])
    assert net.auxiliary_weights == [] and net.auxiliary_loss(y) == 0.0
    assert not any("auxiliary" in w.path for w in net.weights)


def test_the_default_engine_adds_the_weighted_auxiliary_loss_to_training_only():
    net = supernet(0.4, engine=kp.SuperNet)
    x, y = batch()
    choices = tf.constant(net.sample_choices()[0], tf.int32)
    assert len(net.auxiliary_weights) == 4
    assert {id(w) for w in net.auxiliary_weights} <= {id(v) for v in net.executor.variables}
    main = -float(net.log_likelihood(x, y, choices))  # the search batch reads the main classifier only
    net._zero()
    with_04 = float(net._accumulate_passes(x, y, [(choices, tf.constant(0.0))])[0][0])
    net.auxiliary_weight = 0.8
    with_08 = float(net._accumulate_passes(x, y, [(choices, tf.constant(0.0))])[0][0])  # a new weight, a new trace
    assert with_04 > main
    assert with_08 - main == pytest.approx(2 * (with_04 - main), rel=1e-4)
    np.testing.assert_allclose(net(x), net.architecture_logits(x, net.distribution.mode_choices().numpy()), atol=1e-5)
    without = supernet(0.0, engine=kp.SuperNet)
    assert without.auxiliary_weights == [] and not any("auxiliary" in w.path for w in without.weights)


# ------------------------------------------------------------------ transfer: digits, small -> CIFAR shapes, larger


class Probe(keras.callbacks.Callback):
    """Records what the tuner's supernet starts from."""

    def on_train_begin(self, logs=None):
        net = self.model
        self.logits = net.distribution.logits.numpy().copy()
        self.num_cells = net.search_space.num_cells
        self.auxiliary = (net.auxiliary_weight, len(net.auxiliary_weights))
        self.architecture_learning_rate = float(net.architecture_optimizer.learning_rate)


def test_prior_transfers_from_a_small_digits_search_to_a_larger_cifar_shaped_one(tmp_path):
    images, labels = load_digits_images()
    small = kp.ParsecTuner(kp.SearchSpace(num_cells=2, filters=4, num_nodes=2), num_samples=2, seed=0,
                           directory=tmp_path, project_name="small")  # fmt: skip
    small.search(images[:48], labels[:48], epochs=1, batch_size=8, verbose=0)
    prior = small.get_best_distribution()
    assert prior.space.num_cells == 2

    summary = io.StringIO()
    with contextlib.redirect_stdout(summary):
        small.results_summary()
    expected = counting.describe_counts(
        small.get_best_genotypes()[0], num_classes=10, num_cells=2, filters=4, input_shape=(8, 8, 1)
    )
    assert f"Best genotype at the searched size (2 cells, 4 filters): {expected}" in summary.getvalue()

    # Paper 4.2 at toy size: more cells, CIFAR-shaped images, auxiliary head, cutout, Adam 0.01.
    large_space = kp.SearchSpace(num_cells=3, filters=4, num_nodes=2)
    large = kp.ParsecTuner(large_space, num_samples=2, seed=0, prior=prior, auxiliary_weight=0.4,
                           architecture_learning_rate=0.01, directory=tmp_path, project_name="large")  # fmt: skip
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(16, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, 16)
    probe = Probe()
    large.search(x, y, epochs=1, batch_size=8, verbose=0, num_classes=10, callbacks=[probe],
                 augment=preprocessing.search_augment(cutout_size=16))  # fmt: skip
    np.testing.assert_array_equal(probe.logits, prior.logits.numpy())  # pi starts at the small search's
    assert probe.num_cells == 3 and probe.auxiliary == (0.4, 4)
    assert probe.architecture_learning_rate == pytest.approx(0.01)
    tuned = large.get_best_distribution()
    assert tuned.space.num_cells == 3
    assert not np.array_equal(tuned.logits.numpy(), prior.logits.numpy())  # and was tuned from there
