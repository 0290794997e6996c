"""Successive halving across search runs: the rule, the oracle's decisions, a tiny search."""

import numpy as np
import pytest

import keras_parsec as kp
from keras_parsec import _upstream, errors
from keras_parsec.tuning import halving
from keras_parsec.tuning.oracle import ParsecOracle


def make_oracle(directory, **kwargs):
    oracle = ParsecOracle(kp.SearchSpace(num_cells=1, filters=4), max_trials=6, **kwargs)
    _upstream.set_oracle_project_dir(oracle, str(directory), "p")
    return oracle


@pytest.mark.parametrize(
    "epochs_done, rate, min_epochs, expected",
    (
        (1, 2, 1, True),
        (2, 2, 1, True),
        (3, 2, 1, False),
        (4, 2, 1, True),
        (3, 3, 1, True),
        (2, 3, 1, False),
        (9, 3, 1, True),
        (1, 2, 2, False),
        (2, 2, 2, True),
        (4, 2, 2, True),
        (5, 1.5, 2, False),  # 2, 3, 4, 6, 9...
        (6, 1.5, 2, True),
        (3, 1.5, 2, True),
    ),
)
def test_rungs_are_min_epochs_times_powers_of_the_rate(epochs_done, rate, min_epochs, expected):
    assert halving.is_rung(epochs_done, rate, min_epochs) is expected


@pytest.mark.parametrize(
    "value, recorded, rate, direction, expected",
    (
        (0.5, [0.5], 2, "max", True),  # the first run at a rung always goes on
        (0.3, [0.5, 0.3], 2, "max", False),  # keeps ceil(2 / 2) = 1
        (0.7, [0.5, 0.3, 0.7], 2, "max", True),
        (0.5, [0.5, 0.3, 0.7], 2, "max", True),  # keeps ceil(3 / 2) = 2
        (0.3, [0.5, 0.3, 0.7, 0.6], 2, "max", False),
        (0.6, [0.5, 0.7, 0.6], 3, "max", False),  # keeps ceil(3 / 3) = 1
        (0.2, [0.5, 0.2], 2, "min", True),  # a loss: lower is better
        (0.5, [0.5, 0.2], 2, "min", False),
        (float("nan"), [float("nan")], 2, "max", False),
    ),
)
def test_a_run_goes_on_only_among_the_best_fraction_at_its_rung(value, recorded, rate, direction, expected):
    assert halving.keeps_going(value, recorded, rate, direction) is expected


@pytest.mark.parametrize(
    "kwargs, argument",
    (
        ({"early_stopping": "hyperband"}, "early_stopping"),
        ({"early_stopping": "halving", "halving_rate": 1}, "halving_rate"),
        ({"early_stopping": "halving", "halving_rate": True}, "halving_rate"),
        ({"early_stopping": "halving", "halving_min_epochs": 0}, "halving_min_epochs"),
        ({"early_stopping": "halving", "halving_min_epochs": 1.5}, "halving_min_epochs"),
    ),
)
def test_bad_halving_options_raise_naming_the_argument(tmp_path, kwargs, argument):
    with pytest.raises(errors.InvalidArgumentError, match=f"`{argument}`"):
        make_oracle(tmp_path, **kwargs)
    with pytest.raises(errors.InvalidArgumentError, match=f"`{argument}`"):
        kp.ParsecTuner(kp.SearchSpace(num_cells=1, filters=4), directory=str(tmp_path), **kwargs)


def test_the_oracle_stops_runs_behind_at_a_rung_and_keeps_its_decisions(tmp_path):
    oracle = make_oracle(tmp_path, early_stopping="halving", halving_rate=2)
    statuses = {}
    for worker, value in enumerate((0.5, 0.3, 0.7)):
        trial = oracle.create_trial(f"worker{worker}")  # three runs in parallel
        trial = oracle.update_trial(trial.trial_id, {"val_accuracy": value}, step=0)  # 1 epoch: a rung
        statuses[trial.trial_id] = trial.status
    assert statuses == {"0": "RUNNING", "1": "STOPPED", "2": "RUNNING"}
    # Epoch 3 is no rung with rate 2: nobody is stopped there, however bad.
    assert oracle.update_trial("0", {"val_accuracy": 0.0}, step=2).status == "RUNNING"
    # Epoch 2 is a rung, but a run's last epoch is never a stop: it would save nothing.
    assert oracle.update_trial("2", {"val_accuracy": 0.9, "remaining_epochs": 3.0}, step=1).status == "RUNNING"
    assert oracle.update_trial("0", {"val_accuracy": 0.1, "remaining_epochs": 0.0}, step=1).status == "RUNNING"
    assert oracle.stopped == {"1": 1}
    assert oracle.rungs == {"1": {"0": 0.5, "1": 0.3, "2": 0.7}, "2": {"2": 0.9}}
    restored = make_oracle(tmp_path, early_stopping="halving")
    restored.reload()  # from the oracle.json each decision saved
    assert restored.stopped == oracle.stopped and restored.rungs == oracle.rungs


def test_without_early_stopping_no_run_is_stopped(tmp_path):
    oracle = make_oracle(tmp_path)
    for worker, value in enumerate((0.5, 0.1)):
        trial = oracle.create_trial(f"worker{worker}")
        assert oracle.update_trial(trial.trial_id, {"val_accuracy": value}, step=0).status == "RUNNING"
    assert oracle.stopped == {}


@pytest.mark.slow
def test_a_halving_search_stops_weak_runs_early_and_still_gives_the_best_genotype(tmp_path):
    rng = np.random.default_rng(0)
    images, labels = rng.random((24, 8, 8, 1), np.float32), rng.integers(0, 3, 24).astype(np.int32)
    tuner = kp.ParsecTuner(
        kp.SearchSpace(num_cells=1, filters=4),
        num_samples=2,
        max_trials=3,
        seed=1,
        directory=str(tmp_path),
        project_name="p",
        early_stopping="halving",
    )
    tuner.search(images, labels, epochs=2, batch_size=4, verbose=0)
    oracle = tuner.oracle
    assert sorted(oracle.runs) == ["0", "1", "2"]
    epochs_run = {i: len(run["history"]["val_accuracy"]) for i, run in oracle.runs.items()}
    assert epochs_run["0"] == 2  # the first run at a rung goes on
    for trial_id, epochs in epochs_run.items():
        assert epochs == (1 if trial_id in oracle.stopped else 2)
        first = oracle.runs[trial_id]["history"]["val_accuracy"][0]
        assert oracle.rungs["1"][trial_id] == pytest.approx(first)
        earlier = [oracle.rungs["1"][i] for i in sorted(oracle.rungs["1"]) if i <= trial_id]
        assert (trial_id not in oracle.stopped) == halving.keeps_going(first, earlier, 2)
    for trial in oracle.trials.values():
        assert trial.status == "COMPLETED"
        assert trial.score == pytest.approx(oracle.runs[trial.trial_id]["history"]["val_accuracy"][-1])
    assert isinstance(tuner.get_best_genotypes()[0], kp.Genotype)
