"""Tests of ParsecOracle: trial values, recorded runs, saved state and atomic writes."""

import json
import os

import keras_tuner
import numpy as np
import pytest

import keras_parsec as kp
from keras_parsec import _upstream, errors
from keras_parsec.tuning.oracle import ParsecOracle, write_json_atomically

OPS = ("max_pool_3x3", "skip_connect", "sep_conv_3x3")


def tiny_space(**overrides):
    config = {"num_cells": 2, "filters": 4, "num_nodes": 2, "operations": OPS}
    config.update(overrides)
    return kp.SearchSpace(**config)


def make_oracle(directory, space=None, project_name="p", **kwargs):
    """An oracle with a project folder, as `ParsecTuner.__init__` would set it."""
    oracle = ParsecOracle(space or tiny_space(), **kwargs)
    _upstream.set_oracle_project_dir(oracle, str(directory), project_name)
    return oracle


def random_distribution(space, seed=0):
    logits = np.random.default_rng(seed).normal(size=kp.ArchitectureDistribution(space).logits.shape)
    return kp.ArchitectureDistribution(space, logits=logits.astype("float32"))


HISTORY = {"loss": [2.3, 2.1], "val_accuracy": [0.25, 0.5], "entropy": [15.9, 15.8]}


def temporary_files(directory):
    return [
        name for _, _, files in os.walk(directory) for name in files if name.startswith(".") and name.endswith(".tmp")
    ]


# ---------------------------------------------------------------- populate_space


def test_populate_space_seeds_runs_from_the_base_seed(tmp_path):
    oracle = make_oracle(tmp_path, seed=7, num_samples=3, architecture_learning_rate=0.1, weight_learning_rate=0.05)
    for index in range(3):
        response = oracle.populate_space(str(index))
        assert response["status"] == "RUNNING"
        assert response["values"] == {
            "seed": 7 + index,
            "num_samples": 3,
            "architecture_learning_rate": 0.1,
            "weight_learning_rate": 0.05,
        }


def test_populate_space_without_seed_starts_at_zero(tmp_path):
    assert make_oracle(tmp_path).populate_space("2")["values"]["seed"] == 2


def test_populate_space_cycles_lists_over_trials(tmp_path):
    oracle = make_oracle(
        tmp_path,
        seed=1,
        max_trials=5,
        num_samples=[2, 4, 8],
        architecture_learning_rate=[0.02, 0.01],
        weight_learning_rate=(0.025,),
    )
    values = [oracle.populate_space(str(i))["values"] for i in range(5)]
    assert [v["seed"] for v in values] == [1, 2, 3, 4, 5]
    assert [v["num_samples"] for v in values] == [2, 4, 8, 2, 4]
    assert [v["architecture_learning_rate"] for v in values] == [0.02, 0.01, 0.02, 0.01, 0.02]
    assert [v["weight_learning_rate"] for v in values] == [0.025] * 5
    assert all(isinstance(v["num_samples"], int) for v in values)
    assert all(isinstance(v["architecture_learning_rate"], float) for v in values)


def test_create_trial_gives_each_trial_its_values_and_stops_after_max_trials(tmp_path):
    oracle = make_oracle(tmp_path, seed=3, max_trials=2, num_samples=[2, 5])
    first = oracle.create_trial("tuner0")
    assert first.status == "RUNNING"
    assert first.hyperparameters.values["seed"] == 3
    assert first.hyperparameters.values["num_samples"] == 2
    first.status = "COMPLETED"
    first.metrics.update("val_accuracy", 0.5, step=0)
    oracle.end_trial(first)
    second = oracle.create_trial("tuner0")
    assert second.trial_id != first.trial_id
    assert second.hyperparameters.values["seed"] == 4
    assert second.hyperparameters.values["num_samples"] == 5
    second.status = "COMPLETED"
    second.metrics.update("val_accuracy", 0.25, step=0)
    oracle.end_trial(second)
    assert oracle.create_trial("tuner0").status == "STOPPED"
    assert set(oracle.hyperparameters.values) == {
        "seed",
        "num_samples",
        "architecture_learning_rate",
        "weight_learning_rate",
    }


# ---------------------------------------------------------------- argument checks


@pytest.mark.parametrize(
    "name, value",
    (
        ("num_samples", 0),
        ("num_samples", -2),
        ("num_samples", 2.5),
        ("num_samples", "4"),
        ("num_samples", True),
        ("num_samples", []),
        ("num_samples", [2, 0]),
        ("num_samples", None),
        ("architecture_learning_rate", 0.0),
        ("architecture_learning_rate", -0.02),
        ("architecture_learning_rate", "0.02"),
        ("architecture_learning_rate", ()),
        ("architecture_learning_rate", [0.02, False]),
        ("weight_learning_rate", 0),
        ("weight_learning_rate", [0.025, -1.0]),
        ("weight_learning_rate", None),
        ("max_trials", 0),
        ("max_trials", -1),
        ("max_trials", 1.5),
        ("max_trials", True),
        ("max_trials", None),
        ("max_trials", "2"),
    ),
)
def test_invalid_arguments_raise_naming_the_argument(name, value):
    with pytest.raises(errors.InvalidArgumentError, match=f"`{name}`"):
        ParsecOracle(tiny_space(), **{name: value})


@pytest.mark.parametrize("space", (None, "darts", {"num_cells": 2}, kp.DARTS_V2))
def test_search_space_of_wrong_type_raises(space):
    with pytest.raises(errors.InvalidTypeError, match="`search_space`"):
        ParsecOracle(space)


def test_valid_numbers_are_accepted_as_scalars_and_lists():
    oracle = ParsecOracle(
        tiny_space(), num_samples=(1, 16), architecture_learning_rate=1, weight_learning_rate=[0.1, 0.2], max_trials=4
    )
    assert oracle.num_samples == [1, 16]
    assert oracle.architecture_learning_rate == [1.0]
    assert oracle.weight_learning_rate == [0.1, 0.2]
    assert oracle.max_trials == 4


def test_default_objective_is_the_modes_validation_accuracy_maximised():
    oracle = ParsecOracle(tiny_space())
    assert oracle.objective.name == "val_accuracy"
    assert oracle.objective.direction == "max"


# ---------------------------------------------------------------- record_run and state


def test_record_run_keeps_distribution_mode_entropy_and_history(tmp_path):
    space = tiny_space()
    oracle = make_oracle(tmp_path, space)
    distribution = random_distribution(space)
    oracle.record_run("0", distribution, HISTORY)
    assert oracle.get_genotype("0") == distribution.mode()
    np.testing.assert_allclose(oracle.get_distribution("0").logits.numpy(), distribution.logits.numpy())
    assert oracle.runs["0"]["entropy"] == pytest.approx(distribution.entropy())
    assert oracle.runs["0"]["history"] == HISTORY
    # Saved at once, as JSON.
    with open(tmp_path / "p" / "oracle.json") as f:
        saved = json.load(f)
    assert saved["parsec"]["runs"]["0"]["mode"] == distribution.mode().to_dict()


def test_state_round_trip_gives_the_same_genotypes_and_logits(tmp_path):
    space = tiny_space()
    oracle = make_oracle(tmp_path / "a", space, seed=5)
    distributions = {"0": random_distribution(space, 0), "1": random_distribution(space, 1)}
    for trial_id, distribution in distributions.items():
        oracle.record_run(trial_id, distribution, HISTORY)
    state = json.loads(json.dumps(oracle.get_state()))  # as it comes back from disk

    restored = make_oracle(tmp_path / "b", tiny_space())
    restored.set_state(state)
    assert restored.base_seed == 5
    for trial_id, distribution in distributions.items():
        assert restored.get_genotype(trial_id) == distribution.mode()
        assert isinstance(restored.get_genotype(trial_id), kp.Genotype)
        np.testing.assert_array_equal(restored.get_distribution(trial_id).logits.numpy(), distribution.logits.numpy())
        assert restored.runs[trial_id]["history"] == HISTORY


def test_reload_from_the_project_folder_restores_the_runs(tmp_path):
    space = tiny_space()
    oracle = make_oracle(tmp_path, space, seed=2)
    distribution = random_distribution(space, 3)
    oracle.record_run("0", distribution, HISTORY)
    reloaded = make_oracle(tmp_path, tiny_space(), seed=2)
    reloaded.reload()
    assert reloaded.get_genotype("0") == distribution.mode()
    np.testing.assert_array_equal(reloaded.get_distribution("0").logits.numpy(), distribution.logits.numpy())


@pytest.mark.parametrize(
    "other",
    (
        {"filters": 8},
        {"num_cells": 3},
        {"num_nodes": 3},
        {"operations": ("skip_connect", "max_pool_3x3", "sep_conv_3x3")},
        {"stem_multiplier": 2},
    ),
)
def test_set_state_of_another_search_space_raises_with_the_fix(tmp_path, other):
    oracle = make_oracle(tmp_path / "a", tiny_space())
    oracle.record_run("0", random_distribution(tiny_space()), HISTORY)
    state = json.loads(json.dumps(oracle.get_state()))
    different = make_oracle(tmp_path / "b", tiny_space(**other))
    with pytest.raises(errors.InvalidArgumentError, match="`search_space`") as info:
        different.set_state(state)
    assert "project_name" in str(info.value)
    assert "overwrite=True" in str(info.value)
    assert different.runs == {}


def test_set_state_without_parsec_runs_raises(tmp_path):
    # A project written by another Keras Tuner tuner has no "parsec" entry.
    foreign = keras_tuner.oracles.RandomSearchOracle(objective="val_accuracy", max_trials=1)
    _upstream.set_oracle_project_dir(foreign, str(tmp_path), "random_search")
    state = json.loads(json.dumps(foreign.get_state()))
    oracle = make_oracle(tmp_path, project_name="random_search")
    with pytest.raises(errors.InvalidArgumentError, match="overwrite=True") as info:
        oracle.set_state(state)
    assert "project_name" in str(info.value)
    assert "random_search" in str(info.value)


# ---------------------------------------------------------------- scoring


def trial_with(name, values):
    trial = keras_tuner.engine.trial.Trial(keras_tuner.HyperParameters(), trial_id="0")
    for step, value in enumerate(values):
        trial.metrics.update(name, value, step=step)
    return trial


@pytest.mark.parametrize(
    "values, score",
    (
        ([0.9, 0.5], 0.5),
        ([0.1, 0.2, 0.3], 0.3),
        ([0.3, 0.8, 0.4], 0.4),
        ([0.7], 0.7),
    ),
)
def test_score_trial_uses_the_last_epoch(tmp_path, values, score):
    oracle = make_oracle(tmp_path)
    trial = trial_with("val_accuracy", values)
    oracle.score_trial(trial)
    assert trial.score == pytest.approx(score)
    assert trial.best_step == len(values) - 1


def test_score_trial_uses_the_last_epoch_of_a_minimised_objective(tmp_path):
    oracle = make_oracle(tmp_path, objective="val_loss")
    assert oracle.objective.direction == "min"
    trial = trial_with("val_loss", [1.0, 2.0, 3.0])
    oracle.score_trial(trial)
    assert trial.score == pytest.approx(3.0)
    assert trial.best_step == 2


def test_objective_may_be_a_keras_tuner_objective(tmp_path):
    oracle = make_oracle(tmp_path, objective=keras_tuner.Objective("val_loss", "min"))
    assert oracle.objective.name == "val_loss"
    assert oracle.objective.direction == "min"


def test_best_trials_are_ranked_by_their_last_epoch(tmp_path):
    oracle = make_oracle(tmp_path, max_trials=2)
    for last in (0.4, 0.6):
        trial = oracle.create_trial("tuner0")
        # The first run peaks higher but ends lower.
        for step, value in enumerate((0.9 if last == 0.4 else 0.1, last)):
            oracle.update_trial(trial.trial_id, {"val_accuracy": value}, step=step)
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    best = oracle.get_best_trials(2)
    assert [t.score for t in best] == pytest.approx([0.6, 0.4])


# ---------------------------------------------------------------- atomic writes


def test_write_json_atomically_writes_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "new" / "state.json"  # the folder is created
    assert write_json_atomically(str(path), {"a": [1, 2.5, "x"]}) == str(path)
    assert json.loads(path.read_text()) == {"a": [1, 2.5, "x"]}
    write_json_atomically(str(path), {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert os.listdir(path.parent) == ["state.json"]


def test_failing_json_dump_leaves_the_previous_file_intact(tmp_path):
    path = tmp_path / "state.json"
    write_json_atomically(str(path), {"runs": {"0": 1}})
    before = path.read_bytes()
    with pytest.raises(TypeError):
        write_json_atomically(str(path), {"runs": {"0": object()}})
    assert path.read_bytes() == before
    assert temporary_files(tmp_path) == []
    assert os.listdir(tmp_path) == ["state.json"]


def test_failing_first_write_leaves_no_file(tmp_path):
    path = tmp_path / "state.json"
    with pytest.raises(TypeError):
        write_json_atomically(str(path), {1j: "complex keys are not JSON"})
    assert os.listdir(tmp_path) == []


def test_oracle_saves_leave_no_temporary_files(tmp_path):
    oracle = make_oracle(tmp_path, max_trials=1)
    trial = oracle.create_trial("tuner0")
    oracle.record_run(trial.trial_id, random_distribution(tiny_space()), HISTORY)
    oracle.update_trial(trial.trial_id, {"val_accuracy": 0.5})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)
    project = tmp_path / "p"
    assert temporary_files(project) == []
    assert json.loads((project / "oracle.json").read_text())["parsec"]["runs"].keys() == {trial.trial_id}
    saved_trial = json.loads((project / f"trial_{trial.trial_id}" / "trial.json").read_text())
    assert saved_trial["status"] == "COMPLETED"
    assert saved_trial["score"] == pytest.approx(0.5)
