"""ParsecOracle: a Keras Tuner oracle whose trials are PARSEC search runs."""

import json
import os

import keras_tuner

from keras_parsec import _upstream, errors, files
from keras_parsec.distribution import ArchitectureDistribution
from keras_parsec.files import atomic_write
from keras_parsec.genotype import Genotype
from keras_parsec.search.recipe import SEARCH_RECIPE
from keras_parsec.space import SearchSpace
from keras_parsec.tuning import halving as halving_lib
from keras_parsec.tuning import resuming

RUNNING = "RUNNING"
STOPPED = "STOPPED"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
RUN_FILE = "run.json"
REMAINING_EPOCHS = "remaining_epochs"  # reported with each epoch under early stopping


def write_json_atomically(path, data):
    """Writes `data` as JSON to `path` through a temporary file and a rename.

    Args:
        path: destination file.
        data: JSON-serialisable object.

    Returns:
        `path`.
    """
    return atomic_write(path, json.dumps(data))


class ParsecOracle(_upstream.OracleTrialSaving, keras_tuner.Oracle):
    """Oracle whose trials are search runs, each holding its own distribution over cells.

    A trial is one run of Algorithm 1 with its own seed, number of samples K and
    learning rates (the paper runs several seeds and keeps the best). The oracle
    records, per run, the learnt logits pi, the mode genotype, its entropy and
    its per-epoch history, and keeps all of it in its state, so a reloaded
    project has every finished run.

    Args:
        search_space: the `SearchSpace` searched.
        num_samples: K, or a list of K values cycled over trials; this and
            both learning rates default to `keras_parsec.SearchRecipe()`'s.
        architecture_learning_rate: Adam learning rate of pi, or a list cycled.
        weight_learning_rate: initial SGD learning rate of the shared weights,
            or a list cycled.
        objective: what ranks runs; default `"val_accuracy"` of the mode.
        max_trials: number of search runs.
        seed: base seed; run i uses `seed + i`.
        early_stopping: None, or "halving" to stop the weakest runs at rungs
            of `halving_min_epochs * halving_rate**i` epochs (ASHA's rule, see
            `keras_parsec.tuning.halving`); needs per-epoch reports, which
            `ParsecTuner` sends.
        halving_rate: eta: about 1 / eta of the runs at a rung go on.
        halving_min_epochs: epochs before the first rung.
        **kwargs: passed to `keras_tuner.Oracle`.

    In Keras Tuner's distributed mode a trial on the wire carries only values,
    metrics and status: a worker writes its run record (pi, mode, entropy,
    history) to `trial_<id>/run.json` in the project directory, which chief and
    workers share, and `end_trial` reads it on the chief.
    """

    def __init__(
        self,
        search_space,
        num_samples=SEARCH_RECIPE.num_samples,
        architecture_learning_rate=SEARCH_RECIPE.architecture_learning_rate,
        weight_learning_rate=SEARCH_RECIPE.weight_learning_rate,
        objective="val_accuracy",
        max_trials=1,
        seed=None,
        early_stopping=None,
        halving_rate=2,
        halving_min_epochs=1,
        **kwargs,
    ):
        halving_lib.check_options(early_stopping, halving_rate, halving_min_epochs)
        if not isinstance(search_space, SearchSpace):
            raise errors.invalid_type("search_space", "a keras_parsec.SearchSpace", search_space)
        if not isinstance(max_trials, int) or isinstance(max_trials, bool) or max_trials < 1:
            raise errors.invalid_argument("max_trials", "a positive integer", max_trials, "pass max_trials=1 or more")
        super().__init__(objective=_default_objective(objective), max_trials=max_trials, seed=seed, **kwargs)
        self.search_space = search_space
        self.num_samples = _cycled("num_samples", num_samples, int)
        self.architecture_learning_rate = _cycled("architecture_learning_rate", architecture_learning_rate, float)
        self.weight_learning_rate = _cycled("weight_learning_rate", weight_learning_rate, float)
        self.base_seed = 0 if seed is None else int(seed)
        self._seed_given = seed is not None
        self.early_stopping = early_stopping
        self.halving_rate = halving_rate
        self.halving_min_epochs = halving_min_epochs
        self.runs = {}
        self.rungs = {}  # str(epochs done) -> {trial_id: objective value}
        self.stopped = {}  # trial_id -> epochs done when halving stopped it

    def populate_space(self, trial_id):
        """Seed, K and learning rates of run `trial_id` (an index), cycling the given lists."""
        index = int(trial_id)
        values = {
            "seed": self.base_seed + index,
            "num_samples": self.num_samples[index % len(self.num_samples)],
            "architecture_learning_rate": self.architecture_learning_rate[index % len(self.architecture_learning_rate)],
            "weight_learning_rate": self.weight_learning_rate[index % len(self.weight_learning_rate)],
        }
        for name, value in values.items():
            if name not in self.hyperparameters:
                self.hyperparameters.Fixed(name, value)
        return {"status": RUNNING, "values": values}

    def score_trial(self, trial):
        """A run is scored by its last epoch: the distribution it ends with is what it returns."""
        history = trial.metrics.get_history(self.objective.name)
        if not history:
            return super().score_trial(trial)
        trial.score = history[-1].value[0] if isinstance(history[-1].value, list) else history[-1].value
        trial.best_step = history[-1].step

    @keras_tuner.synchronized
    def record_run(self, trial_id, distribution, history):
        """Keeps run `trial_id`'s distribution, mode, entropy and history in the state.

        Args:
            trial_id: the trial (run) id.
            distribution: its final `ArchitectureDistribution`.
            history: dict of per-epoch metric lists (`keras.callbacks.History.history`).
        """
        self.runs[trial_id] = run_record(distribution, history)
        self.save()

    @keras_tuner.synchronized
    def update_trial(self, trial_id, metrics, step=0):
        """Records a report; with `early_stopping="halving"`, stops a run that falls behind at a rung.

        `step` is the epoch index: a report at step e means e + 1 finished
        epochs. A report with `remaining_epochs` 0 is the run's last: no rung there.
        """
        trial = super().update_trial(trial_id, metrics, step=step)
        name = self.objective.name
        epochs_done = int(step) + 1
        if (
            self.early_stopping == "halving"
            and name in metrics
            and trial_id not in self.stopped
            and metrics.get(REMAINING_EPOCHS, 1) > 0
            and halving_lib.is_rung(epochs_done, self.halving_rate, self.halving_min_epochs)
        ):
            recorded = self.rungs.setdefault(str(epochs_done), {})
            recorded[trial_id] = float(metrics[name])
            direction = getattr(self.objective, "direction", "max")
            if not halving_lib.keeps_going(recorded[trial_id], list(recorded.values()), self.halving_rate, direction):
                self.stopped[trial_id] = epochs_done
                trial.status = STOPPED
            self.save()
        return trial

    @keras_tuner.synchronized
    def end_trial(self, trial):
        """Ends a trial, first recording a finished run whose record a worker left in its trial folder.

        A record that is missing (a worker that does not share `directory`)
        leaves the trial scored but without a run; a corrupt one fails the trial.
        """
        path = os.path.join(_upstream.oracle_trial_dir(self, trial.trial_id), RUN_FILE)
        if trial.status == COMPLETED and trial.trial_id not in self.runs and files.exists(path):
            try:
                self.runs[trial.trial_id] = json.loads(files.read_text(path))
            except (OSError, ValueError) as e:
                trial.status = FAILED
                trial.message = f"The run record {path} of trial {trial.trial_id} cannot be read: {e}"
        super().end_trial(trial)

    def get_distribution(self, trial_id):
        """The `ArchitectureDistribution` run `trial_id` ended with."""
        return ArchitectureDistribution(self.search_space, logits=self.runs[trial_id]["logits"])

    def get_genotype(self, trial_id):
        """The mode `Genotype` of run `trial_id`."""
        return Genotype.from_dict(self.runs[trial_id]["mode"])

    def get_state(self):
        state = super().get_state()
        state["parsec"] = {
            "search_space": self.search_space.get_config(),
            "runs": self.runs,
            "seed": self.base_seed,
            "settings": self._settings(),
            "rungs": self.rungs,
            "stopped": self.stopped,
        }
        return state

    def _settings(self):
        """The run settings a resumed search must share with the saved one."""
        return {
            "num_samples": self.num_samples,
            "architecture_learning_rate": self.architecture_learning_rate,
            "weight_learning_rate": self.weight_learning_rate,
        }

    def _check_saved_settings(self, parsec):
        """Refuses a saved search whose K, learning rates or explicit seed differ from this oracle's."""
        saved = dict(parsec.get("settings", {}))
        if self._seed_given:
            saved["seed"] = parsec["seed"]
        mine = {**self._settings(), "seed": self.base_seed}
        for name, value in saved.items():
            resuming.check_same_as_saved(name, value, mine[name], _upstream.oracle_project_dir(self))

    def set_state(self, state):
        if "parsec" not in state:
            raise resuming.unusable_project(
                "directory",
                "a project written by ParsecTuner",
                f"an oracle state without PARSEC runs in {_upstream.oracle_project_dir(self)}",
            )
        saved_space = SearchSpace.from_config(state["parsec"]["search_space"])
        resuming.check_same_as_saved(
            "search_space",
            saved_space,
            self.search_space,
            _upstream.oracle_project_dir(self),
            "pass the same search space to resume it",
        )
        self._check_saved_settings(state["parsec"])
        super().set_state(state)
        self.runs = state["parsec"]["runs"]
        self.base_seed = state["parsec"]["seed"]
        self.rungs = state["parsec"].get("rungs", {})
        self.stopped = state["parsec"].get("stopped", {})

    def save(self):
        """Saves the oracle state atomically (a crash never leaves half a file)."""
        write_json_atomically(_upstream.oracle_file(self), self.get_state())

    def _write_trial(self, trial):
        """Saves `trial` atomically to its `trial.json` (Keras Tuner's `_save_trial`, through `_upstream`)."""
        path = os.path.join(_upstream.oracle_trial_dir(self, trial.trial_id), "trial.json")
        write_json_atomically(path, trial.get_state())


def run_record(distribution, history):
    """The JSON-safe record of a finished run: logits, mode, entropy, per-epoch history.

    Args:
        distribution: the run's final `ArchitectureDistribution`.
        history: dict of per-epoch metric lists.

    Returns:
        A dict, as `ParsecOracle.runs` holds it.
    """
    return {
        "logits": distribution.logits.numpy().tolist(),
        "mode": distribution.mode().to_dict(),
        "entropy": float(distribution.entropy()),
        "history": {k: [float(v) for v in vs] for k, vs in history.items()},
    }


def _default_objective(objective):
    if isinstance(objective, str) and objective == "val_accuracy":
        return keras_tuner.Objective("val_accuracy", direction="max")
    return objective


def _cycled(name, value, kind):
    """`value` as a non-empty list of positive `kind` values (one per trial, cycled)."""
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    allowed = (int,) if kind is int else (int, float)
    expected = "a positive integer" if kind is int else "a positive number"
    if not values or any(isinstance(v, bool) or not isinstance(v, allowed) or v <= 0 for v in values):
        raise errors.invalid_argument(name, f"{expected} or a non-empty list of them", value)
    return [kind(v) for v in values]
