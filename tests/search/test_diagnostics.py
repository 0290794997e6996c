"""Pi's per-epoch diagnostics and the architecture warm-up, against NumPy references on tiny cases."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_parsec as kp
from keras_parsec.search import diagnostics, warmup

SPACE = kp.SearchSpace(num_cells=2, filters=4, num_nodes=2, operations=("max_pool_3x3", "skip_connect", "sep_conv_3x3"))


def data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 8, 8, 1)).astype("float32"), rng.integers(0, 3, n).astype("int32")


def supernet(num_samples=2, **compile_kwargs):
    keras.utils.set_random_seed(0)
    net = kp.SuperNet(SPACE, num_classes=3, num_samples=num_samples, seed=0)
    net.build((None, 8, 8, 1))
    net.compile(**compile_kwargs)
    return net


def search_batches(n=32, batch_size=8):
    x, y = data(n)
    half = n // 2
    return kp.search_dataset((x[:half], y[:half]), (x[half:], y[half:]), batch_size, seed=0)


@pytest.mark.parametrize(
    "weights, size", (([0.5, 0.5], 2.0), ([1.0, 0.0, 0.0], 1.0), ([0.2] * 5, 5.0), ([0.0, 0.0], 0.0))
)
def test_the_effective_sample_size_is_one_over_the_sum_of_squared_weights(weights, size):
    np.testing.assert_allclose(float(diagnostics.effective_sample_size(weights)), size, rtol=1e-6)


def test_the_entropies_of_the_two_cell_types_add_up_to_pis():
    distribution = kp.ArchitectureDistribution(SPACE, logits=np.random.default_rng(0).normal(size=(2, 2, 2, 9)))
    p = distribution.probabilities()
    reference = [-np.sum(np.where(p[c] > 0, p[c] * np.log(np.where(p[c] > 0, p[c], 1)), 0)) for c in range(2)]
    got = diagnostics.cell_entropies(distribution.logits, distribution.mask)
    np.testing.assert_allclose([got["entropy_normal"], got["entropy_reduce"]], reference, rtol=1e-5)
    np.testing.assert_allclose(sum(got.values()), distribution.entropy(), rtol=1e-5)


class Recorder(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.logits = [self.model.distribution.logits.numpy().copy()]
        self.logs = []

    def on_epoch_end(self, epoch, logs=None):
        self.logits.append(self.model.distribution.logits.numpy().copy())
        self.logs.append(dict(logs))


def test_every_epoch_logs_the_diagnostics_of_the_distribution_it_ends_with():
    net, recorder = supernet(), Recorder()
    net.fit(search_batches(), epochs=2, callbacks=[recorder], verbose=0)
    for before, after, logs in zip(recorder.logits, recorder.logits[1:], recorder.logs):
        distribution = kp.ArchitectureDistribution(SPACE, logits=after)
        p = distribution.probabilities()
        masked = np.where(distribution.mask, p, -1)
        np.testing.assert_allclose(logs["mode_log_prob"], np.sum(np.log(masked.max(axis=-1))), rtol=1e-5)
        changed = np.argmax(np.where(distribution.mask, before, -np.inf), -1) != np.argmax(masked, -1)
        assert logs["mode_changes"] == changed.sum()
        assert 1.0 <= logs["effective_sample_size"] <= 2.0
        np.testing.assert_allclose(logs["entropy_normal"] + logs["entropy_reduce"], logs["entropy"], rtol=1e-4)


def test_a_warm_up_holds_pi_exactly_while_the_weights_train_then_algorithm_1_runs():
    net, recorder = supernet(), Recorder()
    stem = net.stem_kernel.numpy().copy()
    net.fit(search_batches(), epochs=3, callbacks=[recorder, warmup.ArchitectureWarmup(2)], verbose=0)
    np.testing.assert_array_equal(recorder.logits[2], recorder.logits[0])
    assert not np.array_equal(recorder.logits[3], recorder.logits[2])
    assert int(net.architecture_optimizer.iterations) == 2  # its state moved only in the third epoch
    assert not np.array_equal(net.stem_kernel.numpy(), stem)
    assert not net.architecture_frozen


def test_with_one_sample_pi_moves_along_one_hot_minus_p():
    """K=1: the weight is 1 whatever the likelihood, so the update carries no information about the data."""
    net = supernet(num_samples=1, architecture_optimizer=keras.optimizers.SGD(1.0))
    choices = net.distribution.sample_choices(1, seed=3).numpy()
    net.sample_choices = lambda: choices
    before = net.distribution.logits.numpy().copy()
    p = net.distribution.probabilities()
    x, y = data(8)
    net.train_step(((tf.constant(x), tf.constant(y)), (tf.constant(x), tf.constant(y))))
    one_hot = np.eye(p.shape[-1])[choices[0]]
    mask = net.distribution.mask
    expected = np.where(mask, one_hot - p, 0.0)
    moved = np.where(mask, net.distribution.logits.numpy() - before, 0.0)
    valid = mask.sum(-1, keepdims=True)
    centre = lambda v: np.where(mask, v - v.sum(-1, keepdims=True) / valid, 0.0)  # noqa: E731 (logits are re-centred)
    np.testing.assert_allclose(centre(moved), centre(expected), atol=1e-5)


def test_a_warm_up_must_be_a_non_negative_integer():
    with pytest.raises(kp.InvalidArgumentError, match="architecture_warmup_epochs"):
        warmup.ArchitectureWarmup(-1)
    with pytest.raises(kp.InvalidArgumentError, match="architecture_warmup_epochs"):
        kp.ParsecTuner(SPACE, architecture_warmup_epochs=1.5)


def test_a_cosine_decay_of_pis_rate_reaches_zero_after_its_steps():
    optimizer = kp.SearchRecipe().architecture_optimizer(0.02, decay_steps=10)
    schedule = optimizer.learning_rate if callable(optimizer.learning_rate) else optimizer._learning_rate
    rates = [float(schedule(step)) for step in (0, 5, 10, 20)]
    np.testing.assert_allclose(rates, [0.02, 0.01, 0.0, 0.0], atol=1e-7)
    with pytest.raises(kp.InvalidArgumentError, match="decay_steps"):
        kp.SearchRecipe().architecture_optimizer(0.02, decay_steps=0)
    with pytest.raises(kp.InvalidArgumentError, match="architecture_decay"):
        kp.ParsecTuner(SPACE, architecture_decay="linear")


def test_a_tuner_with_warm_up_and_decay_holds_pi_then_moves_it_and_resumes(tmp_path):
    x, y = data(64)
    make = lambda: kp.ParsecTuner(  # noqa: E731
        SPACE, num_samples=2, seed=0, directory=str(tmp_path), project_name="p",
        architecture_warmup_epochs=1, architecture_decay="cosine",
    )  # fmt: skip
    tuner = make()
    tuner.search(x, y, epochs=2, batch_size=16, verbose=0)
    history = next(iter(tuner.oracle.runs.values()))["history"]
    assert history["mode_changes"][0] == 0
    uniform = kp.ArchitectureDistribution(SPACE).entropy()
    assert history["entropy"][0] == pytest.approx(uniform, abs=1e-4)
    assert history["entropy"][1] < uniform
    assert tuner.load_supernet().architecture_optimizer.iterations.numpy() > 0
    make().search(x, y, epochs=2, batch_size=16, verbose=0)  # the same settings: reloads, nothing refused
