"""Tests of the architecture distribution p(alpha | pi) and its functions."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from keras_parsec import distribution as dist_lib
from keras_parsec.distribution import ArchitectureDistribution
from keras_parsec.errors import InvalidArgumentError, InvalidTypeError
from keras_parsec.genotype import Genotype
from keras_parsec.space import SearchSpace

OPS = ("max_pool_3x3", "skip_connect", "sep_conv_3x3")


def tiny_space(**overrides):
    config = dict(num_cells=2, filters=4, num_nodes=2, operations=OPS)
    return SearchSpace(**{**config, **overrides})


def random_distribution(space=None, scale=1.0, seed=0):
    space = space or tiny_space()
    rng = np.random.default_rng(seed)
    logits = scale * rng.normal(size=dist_lib.valid_choice_mask(space).shape)
    return ArchitectureDistribution(space, logits=logits)


def numpy_log_softmax(row):
    row = row - row.max()
    return row - np.log(np.exp(row).sum())


def numpy_importance_weights(x):
    x = np.asarray(x, np.float64)
    finite = np.isfinite(x)
    if not finite.any():
        return np.zeros_like(x)
    e = np.where(finite, np.exp(np.where(finite, x, 0.0) - x[finite].max()), 0.0)
    return e / e.sum()


def test_mask_marks_the_choices_of_each_node():
    mask = dist_lib.valid_choice_mask(tiny_space())
    assert mask.shape == (2, 2, 2, 9)
    np.testing.assert_array_equal(mask.sum(axis=-1), [[[6, 6], [9, 9]]] * 2)
    assert not mask[:, 0, :, 6:].any()


@pytest.mark.parametrize(
    "log_likelihoods",
    (
        [0.0, 0.0, 0.0],
        [-1e4, -1e4 - 1.0, -1e4 - 2.0],
        [-1e4, -1e4],
        [1e4, -1e4],
        [-3.0],
        [np.nan, 1.0, 2.0],
        [np.inf, 1.0, 2.0],
        [-np.inf, 0.0, -1.0],
        [np.nan, np.inf, -np.inf],
    ),
)
def test_importance_weights_match_numpy(log_likelihoods):
    weights = dist_lib.importance_weights(tf.constant(log_likelihoods)).numpy()
    assert weights.dtype == np.float32
    assert np.all(np.isfinite(weights))
    np.testing.assert_allclose(weights, numpy_importance_weights(log_likelihoods), atol=1e-6)


def test_importance_weights_keep_float64_precision():
    log_likelihoods = np.array([-1e4, -1e4 - np.log(3.0)])
    weights = dist_lib.importance_weights(tf.constant(log_likelihoods, tf.float64))
    assert weights.dtype == tf.float32
    np.testing.assert_allclose(weights.numpy(), [0.75, 0.25], rtol=1e-7)


def test_log_prob_and_score_gradient_match_numpy():
    distribution = random_distribution()
    logits, mask = distribution.logits.numpy(), distribution.mask
    choices = distribution.sample_choices(5, seed=1).numpy()
    weights = np.array([0.1, 0.2, 0.3, 0.25, 0.15], np.float32)
    expected_log_prob = np.zeros(5)
    expected_gradient = np.zeros(mask.shape)
    for index in np.ndindex(mask.shape[:-1]):
        valid = mask[index]
        log_p = numpy_log_softmax(logits[index][valid])
        for k in range(5):
            j = choices[(k, *index)]
            expected_log_prob[k] += log_p[j]
            expected_gradient[index][j] += weights[k]
        expected_gradient[index][valid] -= weights.sum() * np.exp(log_p)
    np.testing.assert_allclose(distribution.log_prob(choices), expected_log_prob, rtol=1e-5)
    gradient = distribution.score_gradient(choices, weights).numpy()
    np.testing.assert_allclose(gradient, expected_gradient, atol=1e-6)
    assert np.all(gradient[~mask] == 0.0)


def test_score_gradient_equals_tape_gradient_and_padding_gets_none():
    space = tiny_space()
    mask = dist_lib.valid_choice_mask(space)
    # Large padding logits must change nothing and receive exactly zero gradient.
    values = np.where(mask, np.random.normal(size=mask.shape), 50.0)
    logits = tf.Variable(values.astype(np.float32))
    choices = dist_lib.sample_choices(logits, mask, 6, tf.constant([3, 4]))
    weights = dist_lib.importance_weights(tf.constant(np.random.normal(size=6)))
    with tf.GradientTape(persistent=True) as tape:
        objective = tf.reduce_sum(weights * dist_lib.log_prob(logits, mask, choices))
        total_entropy = dist_lib.entropy(logits, mask)
        probabilities = dist_lib.probabilities(logits, mask)
    expected = tape.gradient(objective, logits).numpy()
    np.testing.assert_allclose(
        dist_lib.score_gradient(logits, mask, choices, weights).numpy(),
        expected,
        atol=1e-6,
    )
    for target in (objective, total_entropy, probabilities):
        assert np.all(tape.gradient(target, logits).numpy()[~mask] == 0.0)
    assert np.all(probabilities.numpy()[~mask] == 0.0)


def test_sampling_frequencies_match_probabilities():
    distribution = random_distribution()
    num_samples = 20000
    choices = distribution.sample_choices(num_samples, seed=7).numpy()
    probabilities = distribution.probabilities()
    # Chi-square critical values at p = 0.001 for 5 and 8 degrees of freedom.
    critical = {5: 20.515, 8: 26.124}
    for index in np.ndindex(choices.shape[1:]):
        valid = distribution.mask[index]
        counts = np.bincount(choices[(slice(None), *index)], minlength=valid.size)
        expected = num_samples * probabilities[index][valid]
        statistic = np.sum((counts[valid] - expected) ** 2 / expected)
        assert statistic < critical[valid.sum() - 1], index


def test_samples_never_hit_padding_even_when_padding_logits_are_huge():
    space = tiny_space()
    mask = dist_lib.valid_choice_mask(space)
    logits = np.where(mask, -20.0, 1e6).astype(np.float32)
    choices = dist_lib.sample_choices(logits, mask, 2000, tf.constant([0, 1])).numpy()
    assert choices.dtype == np.int32 and choices.shape == (2000, 2, 2, 2)
    assert np.all(choices < mask.sum(axis=-1)) and np.all(choices >= 0)


def test_sample_is_deterministic_for_an_int_seed():
    distribution = random_distribution()
    assert distribution.sample(8, seed=3) == distribution.sample(8, seed=3)
    first = distribution.sample_choices(8, seed=3).numpy()
    np.testing.assert_array_equal(first, distribution.sample_choices(8, seed=3).numpy())
    assert not np.array_equal(first, distribution.sample_choices(8, seed=4).numpy())
    assert all(isinstance(g, Genotype) for g in distribution.sample(2))


def test_uniform_entropy_and_log_prob():
    space = tiny_space()
    distribution = ArchitectureDistribution(space)
    expected = sum(2 * 2 * np.log(space.num_choices(node)) for node in range(space.num_nodes))
    assert distribution.entropy() == pytest.approx(expected, rel=1e-6)
    log_probs = distribution.log_prob(distribution.sample(3, seed=0))
    np.testing.assert_allclose(log_probs, [-expected] * 3, rtol=1e-6)


PEAK = Genotype(
    normal=[
        ("skip_connect", 1),
        ("sep_conv_3x3", 0),
        ("max_pool_3x3", 2),
        ("skip_connect", 1),
    ],
    normal_concat=[2, 3],
    reduce=[
        ("max_pool_3x3", 0),
        ("max_pool_3x3", 1),
        ("sep_conv_3x3", 1),
        ("skip_connect", 2),
    ],
    reduce_concat=[2, 3],
)


def test_mode_and_entropy_of_a_peaked_distribution():
    space = tiny_space()
    converter = ArchitectureDistribution(space)
    choices = converter.genotype_to_choices(PEAK)
    logits = 30.0 * np.eye(space.max_choices, dtype=np.float32)[choices]
    distribution = ArchitectureDistribution(space, logits=logits)
    assert distribution.mode() == PEAK
    np.testing.assert_array_equal(distribution.mode_choices().numpy(), choices)
    assert distribution.entropy() == pytest.approx(0.0, abs=1e-5)
    assert distribution.log_prob(PEAK)[0] == pytest.approx(0.0, abs=1e-5)
    assert converter.choices_to_genotype(choices) == PEAK


def test_functions_run_inside_tf_function():
    distribution = random_distribution()
    mask = distribution.mask

    @tf.function
    def step(logits, seed):
        choices = dist_lib.sample_choices(logits, mask, 4, seed)
        weights = dist_lib.importance_weights(dist_lib.log_prob(logits, mask, choices))
        return choices, dist_lib.score_gradient(logits, mask, choices, weights)

    choices, gradient = step(distribution.logits, tf.constant([1, 2]))
    assert choices.shape == (4, 2, 2, 2) and gradient.shape == mask.shape


def test_prior_from_a_space_with_other_num_cells_and_filters_copies_logits():
    prior = random_distribution()
    distribution = ArchitectureDistribution(tiny_space(num_cells=8, filters=16), prior=prior)
    np.testing.assert_array_equal(distribution.logits.numpy(), prior.logits.numpy())
    assert distribution.space.num_cells == 8


@pytest.mark.parametrize(
    "overrides, match",
    (
        ({"num_nodes": 3}, r"prior\.space\.num_nodes.*num_cells and filters"),
        ({"operations": OPS[:2]}, r"prior\.space\.operations"),
    ),
)
def test_prior_from_another_cell_space_raises(overrides, match):
    prior = ArchitectureDistribution(tiny_space(**overrides))
    with pytest.raises(InvalidArgumentError, match=match):
        ArchitectureDistribution(tiny_space(), prior=prior)


@pytest.mark.parametrize(
    "kwargs, error, match",
    (
        ({"logits": np.zeros((2, 2, 2, 8))}, InvalidArgumentError, r"logits\.shape"),
        ({"logits": np.full((2, 2, 2, 9), np.nan)}, InvalidArgumentError, "finite"),
        ({"prior": "uniform"}, InvalidTypeError, "prior"),
        ({"name": "a/b"}, InvalidArgumentError, "name"),
    ),
)
def test_invalid_constructor_arguments_raise(kwargs, error, match):
    with pytest.raises(error, match=match):
        ArchitectureDistribution(tiny_space(), **kwargs)


def test_invalid_choices_raise():
    distribution = random_distribution()
    choices = np.zeros((2, 2, 2), np.int32)
    choices[0, 0, 1] = 6  # past the 6 choices of node 0
    with pytest.raises(InvalidArgumentError, match="architectures"):
        distribution.log_prob(choices)
    with pytest.raises(InvalidArgumentError, match="choices"):
        distribution.choices_to_genotype(choices)


def test_config_round_trip_is_json_safe():
    distribution = random_distribution()
    config = json.loads(json.dumps(distribution.get_config()))
    restored = ArchitectureDistribution.from_config(config)
    assert restored.space == distribution.space and restored.name == distribution.name
    np.testing.assert_array_equal(restored.logits.numpy(), distribution.logits.numpy())
    restored = ArchitectureDistribution.from_json(distribution.to_json())
    np.testing.assert_array_equal(restored.logits.numpy(), distribution.logits.numpy())


def test_save_load_round_trip_leaves_no_temporary_files(tmp_path):
    distribution = random_distribution()
    path = tmp_path / "pi.json"
    ArchitectureDistribution(distribution.space).save(path)
    distribution.save(path)  # overwrites in place
    assert os.listdir(tmp_path) == ["pi.json"]
    restored = ArchitectureDistribution.load(path)
    np.testing.assert_array_equal(restored.logits.numpy(), distribution.logits.numpy())
    assert restored.space == distribution.space


def test_save_and_load_on_the_in_memory_filesystem(tmp_path):
    distribution = random_distribution()
    path = f"ram://parsec_pi_{tmp_path.name}/pi.json"
    distribution.save(path)
    restored = ArchitectureDistribution.load(path)
    np.testing.assert_array_equal(restored.logits.numpy(), distribution.logits.numpy())
    with pytest.raises(InvalidArgumentError, match="No such file.*missing.json"):
        ArchitectureDistribution.load(f"ram://parsec_pi_{tmp_path.name}/missing.json")


def test_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "pi.json"
    old = random_distribution(seed=1)
    old.save(path)

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        random_distribution(seed=2).save(path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["pi.json"]
    restored = ArchitectureDistribution.load(path)
    np.testing.assert_array_equal(restored.logits.numpy(), old.logits.numpy())


@pytest.mark.parametrize(
    "content",
    (
        None,
        "{not json",
        '{"a": 1}',
        '{"class_name": "ArchitectureDistribution", "config": {}}',
    ),
)
def test_load_of_missing_corrupt_or_foreign_file_names_the_file(tmp_path, content):
    path = tmp_path / "broken_pi.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InvalidArgumentError, match="broken_pi.json"):
        ArchitectureDistribution.load(path)
