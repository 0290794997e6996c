"""Ensembles from a learnt p(alpha | pi): the exact top-n against brute force, samples, weights, the tuner method."""

import itertools
import re
import types

import keras
import numpy as np
import pytest
from sklearn.datasets import load_digits

import keras_parsec as kp
from keras_parsec import errors
from keras_parsec.tuning import ensembles


def space(num_nodes=1, operations=("skip_connect", "sep_conv_3x3", "max_pool_3x3")):
    return kp.SearchSpace(num_cells=3, filters=4, num_nodes=num_nodes, operations=operations)


def random_distribution(space, scale=1.5, seed=0):
    logits = np.random.default_rng(seed).normal(0.0, scale, valid_shape(space))
    return kp.ArchitectureDistribution(space, logits=logits)


def valid_shape(space):
    return (2, space.num_nodes, 2, space.max_choices)


def brute_force(distribution, num_models):
    """Every architecture of a small space, sorted by log p, the first of each set of same networks kept."""
    limits = distribution.mask.sum(axis=-1).reshape(-1)
    every = np.array(list(itertools.product(*[range(n) for n in limits])), np.int32)
    every = every.reshape(-1, *distribution.mask.shape[:-1])
    log_p = distribution.log_prob(every)
    chosen, seen = [], set()
    for index in np.argsort(-log_p, kind="stable"):
        key = ensembles.cells_key(every[index])
        if key not in seen:
            seen.add(key)
            chosen.append(distribution.choices_to_genotype(every[index]))
    return chosen[:num_models], len(every), len(seen)


# ---------------------------------------------------------------- the most probable genotypes


@pytest.mark.parametrize(
    "space_, num_models",
    (
        (space(), None),  # every network of the space, in order: 6 choices per slot, 441 networks
        (space(num_nodes=2, operations=("skip_connect", "sep_conv_3x3")), 40),
    ),
    ids=("one_node_all", "two_nodes_top40"),
)
def test_top_n_equals_brute_force(space_, num_models):
    distribution = random_distribution(space_)
    expected, num_architectures, num_networks = brute_force(distribution, num_models)
    assert num_architectures == space_.num_architectures()
    assert num_networks == ensembles.count_distinct_cells(space_) or num_models is not None
    num_models = num_models or num_networks
    found = ensembles.most_probable_genotypes(distribution, num_models)
    np.testing.assert_allclose(distribution.log_prob(found), distribution.log_prob(expected), rtol=1e-6)
    assert found == expected
    assert found[0] == distribution.mode()


def test_best_first_search_yields_every_architecture_once_most_probable_first():
    distribution = random_distribution(space(), seed=3)
    yielded = list(ensembles.most_probable_choices(ensembles.slot_log_probabilities(distribution)))
    assert len(yielded) == space().num_architectures()
    assert len({choices for _, choices in yielded}) == len(yielded)
    log_p = [value for value, _ in yielded]
    assert all(a >= b for a, b in zip(log_p, log_p[1:]))
    choices = np.array([c for _, c in yielded], np.int32).reshape(-1, 2, 1, 2)
    np.testing.assert_allclose(log_p, distribution.log_prob(choices), rtol=1e-5)


@pytest.mark.parametrize("selection", ensembles.SELECTIONS)
def test_selected_genotypes_build_different_networks(selection):
    distribution = kp.ArchitectureDistribution(space(num_nodes=2))  # uniform: every slot order ties
    genotypes = ensembles.select_genotypes(distribution, 12, selection, seed=0)
    assert len(genotypes) == 12
    keys = {ensembles.cells_key(distribution.genotype_to_choices(g)) for g in genotypes}
    assert len(keys) == 12
    if selection == "top":
        assert genotypes[0] == distribution.mode()


def test_slot_order_does_not_make_a_second_network():
    # Normal cell: slot 0 favours choice 0 then 1, slot 1 choice 1 then 0, the rest improbable; reduce cell fixed.
    logits = np.full(valid_shape(space()), -30.0)
    logits[0, 0, 0, :2] = (5.0, 4.9)
    logits[0, 0, 1, :2] = (4.9, 5.0)
    logits[1, ..., 0] = 30.0
    distribution = kp.ArchitectureDistribution(space(), logits=logits)
    mode = distribution.mode()
    swapped = distribution.choices_to_genotype(distribution.genotype_to_choices(mode)[:, :, ::-1])
    assert swapped != mode and distribution.log_prob(swapped)[0] == pytest.approx(distribution.log_prob(mode)[0] - 0.2)
    top = ensembles.most_probable_genotypes(distribution, 4)
    pairs = [tuple(sorted(int(j) for j in distribution.genotype_to_choices(g)[0, 0])) for g in top[:3]]
    assert pairs[0] == (0, 1) and set(pairs[1:]) == {(0, 0), (1, 1)}  # tied at log p(mode) - 0.1
    assert swapped not in top  # 4th: an improbable choice, yet another network
    assert distribution.log_prob(top[3])[0] < distribution.log_prob(swapped)[0] - 20


def test_count_of_distinct_networks():
    assert ensembles.count_distinct_cells(space()) == 21**2  # 6 choices: 6 * 7 / 2 unordered pairs per node
    assert ensembles.count_distinct_cells(space(num_nodes=2, operations=("skip_connect",))) == (3 * 6) ** 2


# ---------------------------------------------------------------- samples and weights


def test_samples_are_seeded_and_in_the_order_drawn():
    distribution = random_distribution(space(num_nodes=2), scale=0.5)
    first = ensembles.sample_distinct_genotypes(distribution, 5, seed=7)
    assert first == ensembles.sample_distinct_genotypes(distribution, 5, seed=7)
    assert first != ensembles.sample_distinct_genotypes(distribution, 5, seed=8)


def test_too_concentrated_a_distribution_for_distinct_samples_raises():
    logits = np.full(valid_shape(space()), -30.0)
    logits[..., 0] = 30.0
    distribution = kp.ArchitectureDistribution(space(), logits=logits)
    with pytest.raises(errors.InvalidArgumentError, match=re.escape('selection="top"')):
        ensembles.sample_distinct_genotypes(distribution, 2, seed=0)


def test_weights_sum_to_one_uniform_or_proportional_to_the_probability():
    distribution = random_distribution(space())
    genotypes = ensembles.most_probable_genotypes(distribution, 4)
    uniform = ensembles.ensemble_weights(distribution, genotypes, "uniform")
    assert uniform == [0.25] * 4
    weights = np.array(ensembles.ensemble_weights(distribution, genotypes, "probability"))
    assert weights.sum() == pytest.approx(1.0)
    assert np.all(np.diff(weights) <= 0)  # most probable first, heaviest first
    p = np.exp(distribution.log_prob(genotypes).astype(np.float64))
    np.testing.assert_allclose(weights, p / p.sum(), rtol=1e-5)


BAD_ARGUMENTS = (
    # (num_models, selection, weighting, seed, error, argument named)
    (0, "top", "uniform", None, errors.InvalidArgumentError, "num_models"),
    (442, "top", "uniform", None, errors.InvalidArgumentError, "num_models"),
    (2.0, "top", "uniform", None, errors.InvalidTypeError, "num_models"),
    (True, "top", "uniform", None, errors.InvalidTypeError, "num_models"),
    (2, "mode", "uniform", None, errors.InvalidArgumentError, "selection"),
    (2, "top", "softmax", None, errors.InvalidArgumentError, "weighting"),
    (2, "sample", "uniform", -1, errors.InvalidArgumentError, "seed"),
    (2, "sample", "uniform", "0", errors.InvalidArgumentError, "seed"),
)


@pytest.mark.parametrize("num_models, selection, weighting, seed, error, name", BAD_ARGUMENTS)
def test_unusable_arguments_raise_typed_errors_naming_them(num_models, selection, weighting, seed, error, name):
    with pytest.raises(error, match=re.escape(f"`{name}`")):
        ensembles.check_ensemble_arguments(space(), num_models, selection, weighting, seed)


def test_the_largest_ensemble_is_every_network():
    ensembles.check_ensemble_arguments(space(), 441, "top", "probability", 0)


# ---------------------------------------------------------------- ParsecTuner.get_best_ensemble

OPS = ("max_pool_3x3", "skip_connect", "sep_conv_3x3")
SEARCHED = kp.SearchSpace(num_cells=3, filters=2, num_nodes=1, operations=OPS)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One finished search of one run of one epoch on 8x8 digits."""
    data = load_digits()
    x = (data.images[:128, ..., None] / 16.0).astype("float32")
    y = data.target[:128].astype("int32")
    tuner = kp.ParsecTuner(
        SEARCHED, num_samples=2, max_trials=1, seed=1, directory=tmp_path_factory.mktemp("ens"), project_name="p"
    )
    tuner.search(x, y, epochs=1, batch_size=32, verbose=0)
    return types.SimpleNamespace(tuner=tuner, x=x, y=y)


RECIPE = kp.Recipe(
    num_cells=1, filters=2, epochs=1, batch_size=64, auxiliary_weight=0.0, drop_path_rate=0.0, image_size=8
)


@pytest.mark.parametrize("weighting", ensembles.WEIGHTINGS)
def test_the_best_ensemble_trains_the_most_probable_genotypes_and_averages_them(finished, weighting):
    tuner, x, y = finished.tuner, finished.x, finished.y
    keras.utils.set_random_seed(0)
    ensemble = tuner.get_best_ensemble(2, x, y, weighting=weighting, recipe=RECIPE, verbose=0)
    distribution = tuner.get_best_distribution()
    genotypes = ensembles.most_probable_genotypes(distribution, 2)
    assert isinstance(ensemble, kp.EnsembleNetwork)
    assert [m.genotype for m in ensemble.members] == genotypes
    assert ensemble.members[0].genotype == tuner.get_best_genotypes()[0]
    assert [(m.num_cells, m.filters) for m in ensemble.members] == [(1, 2)] * 2
    assert all(len(m.history.history["loss"]) == 1 for m in ensemble.members)
    np.testing.assert_allclose(ensemble.member_weights, ensembles.ensemble_weights(distribution, genotypes, weighting))
    outputs = [m.predict(x[:4], verbose=0) for m in ensemble.members]
    expected = sum(w * p for w, p in zip(ensemble.member_weights, outputs))
    np.testing.assert_allclose(ensemble.predict(x[:4], verbose=0), expected, atol=1e-6)


def test_a_sampled_ensemble_takes_the_seeded_draws(finished):
    tuner = finished.tuner
    expected = ensembles.sample_distinct_genotypes(tuner.get_best_distribution(), 2, seed=3)
    ensemble = tuner.get_best_ensemble(
        2, finished.x, finished.y, selection="sample", seed=3, recipe=RECIPE, epochs=1, verbose=0
    )
    assert [m.genotype for m in ensemble.members] == expected


@pytest.mark.parametrize(
    "kwargs, error, name",
    (
        ({"num_models": 0}, errors.InvalidArgumentError, "num_models"),
        ({"num_models": 10**6}, errors.InvalidArgumentError, "num_models"),
        ({"selection": "best"}, errors.InvalidArgumentError, "selection"),
        ({"weighting": "loss"}, errors.InvalidArgumentError, "weighting"),
        ({"classifier_activation": None}, errors.InvalidArgumentError, "classifier_activation"),
        ({"y": None}, errors.InvalidArgumentError, "y"),
        ({"epochs": 0}, errors.InvalidArgumentError, "epochs"),
        ({"recipe": "cifar"}, errors.InvalidTypeError, "recipe"),
    ),
)
def test_unusable_arguments_raise_before_any_training(finished, monkeypatch, kwargs, error, name):
    fitted = []
    monkeypatch.setattr(kp.CellNetwork, "fit", lambda self, *a, **k: fitted.append(self))
    call = {"num_models": 2, "x": finished.x, "y": finished.y, "recipe": RECIPE, "verbose": 0, **kwargs}
    with pytest.raises(error, match=re.escape(f"`{name}`")):
        finished.tuner.get_best_ensemble(**call)
    assert not fitted


def test_an_ensemble_before_search_raises(tmp_path):
    tuner = kp.ParsecTuner(SEARCHED, num_samples=2, directory=tmp_path, project_name="p")
    with pytest.raises(errors.InvalidArgumentError, match=re.escape("search()")):
        tuner.get_best_ensemble(2, np.zeros((4, 8, 8, 1), "float32"), np.zeros(4, "int32"))
