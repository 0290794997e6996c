"""The private Keras and Keras Tuner APIs `keras_parsec._upstream` relies on still exist and still work.

A failure here names the private API that an upgrade changed: adapt
`keras_parsec/_upstream.py` and the version pins of `setup.py` together.
"""

import contextlib
import inspect
import os
import warnings
from concurrent import futures

import keras
import keras_tuner
import numpy as np
import pytest

from keras_parsec import _upstream


@contextlib.contextmanager
def private(name):
    """Turns any failure inside into one that names the private upstream API `name`."""
    try:
        yield
    except Exception as e:
        pytest.fail(f"private upstream API {name}, used by keras_parsec._upstream, changed: {type(e).__name__}: {e}")


def parameters(function):
    return list(inspect.signature(function).parameters)


# ------------------------------------------------------------------ Keras


def test_keras_optimizer_keeps_its_schedule_in_learning_rate():
    with private("keras BaseOptimizer._learning_rate"):
        schedule = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=10)
        assert _upstream.optimizer_schedule(keras.optimizers.SGD(learning_rate=schedule)) is schedule


def test_keras_compile_loss_is_the_compiled_loss_alone():
    with private("keras Trainer._compile_loss"):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, kernel_regularizer="l2")])
        assert _upstream.compiled_loss(model) is None
        model.compile(loss="mse")
        y, y_pred = np.ones((4, 1), "float32"), np.zeros((4, 1), "float32")
        model(np.zeros((4, 2), "float32"))  # the regulariser's loss, which `compute_loss` would add, exists
        assert model.losses
        assert float(_upstream.compiled_loss(model)(y, y_pred, None)) == pytest.approx(1.0)
        loss = _upstream.compiled_loss(model)
        assert parameters(type(loss).__call__) == ["self", "y_true", "y_pred", "sample_weight"]


def test_keras_flatten_layers_finds_layers_inside_plain_layers():
    class Holder(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.inner = keras.Sequential([keras.layers.Dropout(0.5)])

        def call(self, x):
            return self.inner(x)

    with private("keras Layer._flatten_layers"):
        assert parameters(keras.layers.Layer._flatten_layers) == ["self", "include_self", "recursive"]
        holder = Holder()
        model = keras.Sequential([keras.Input((2,)), holder])
        found = _upstream.sublayers(model)
        assert holder in found and holder.inner in found and holder.inner.layers[0] in found
        assert model not in found


def test_keras_fit_builds_through_maybe_symbolic_build_which_a_built_model_skips(monkeypatch):
    calls = []

    class Net(_upstream.BuiltModelSkipsSymbolicBuild, keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1)

        def call(self, x):
            return self.dense(x)

    with private("keras TensorFlowTrainer._maybe_symbolic_build"):
        assert parameters(keras.Model._maybe_symbolic_build) == ["self", "iterator", "data_batch"]
        original = keras.Model._maybe_symbolic_build
        monkeypatch.setattr(
            keras.Model, "_maybe_symbolic_build", lambda self, **kwargs: calls.append(1) or original(self, **kwargs)
        )
        net = Net()
        net.compile(loss="mse")
        x = np.ones((4, 2), "float32")
        net.fit(x, x[:, :1], epochs=1, verbose=0)  # unbuilt: Keras' own hook runs
        assert calls == [1]
        net.fit(x, x[:, :1], epochs=1, verbose=0)  # built: skipped
        assert calls == [1]


# ------------------------------------------------------------ Keras Tuner


def oracle(cls=keras_tuner.oracles.RandomSearchOracle):
    return cls(objective=keras_tuner.Objective("score", "max"), max_trials=1)


def test_keras_tuner_oracle_names_its_project_trial_folders_and_state_file(tmp_path):
    with private("keras_tuner Oracle._set_project_dir / _project_dir / _get_trial_dir / _get_oracle_fname"):
        assert parameters(keras_tuner.Oracle._set_project_dir) == ["self", "directory", "project_name"]
        assert parameters(keras_tuner.Oracle._get_trial_dir) == ["self", "trial_id"]
        assert parameters(keras_tuner.Oracle._get_oracle_fname) == ["self"]
        searched = oracle()
        _upstream.set_oracle_project_dir(searched, str(tmp_path), "p")
        assert _upstream.oracle_project_dir(searched) == str(tmp_path / "p")
        assert _upstream.oracle_trial_dir(searched, "3") == str(tmp_path / "p" / "trial_3")
        assert os.path.isdir(tmp_path / "p" / "trial_3")
        searched.save()  # Keras Tuner's own save writes the file its reload reads, which ParsecOracle.save replaces
        assert _upstream.oracle_file(searched) == str(tmp_path / "p" / "oracle.json")
        assert os.path.isfile(_upstream.oracle_file(searched))


class RecordingOracle(_upstream.OracleTrialSaving, keras_tuner.oracles.RandomSearchOracle):
    def _write_trial(self, trial):
        self.written = getattr(self, "written", []) + [(trial.trial_id, trial.status)]


class Tuner(_upstream.OptionalFinalReport, keras_tuner.engine.base_tuner.BaseTuner):
    every_epoch = False

    def run_trial(self, trial, *fit_args, **fit_kwargs):
        self.ran = getattr(self, "ran", 0) + 1
        if self.every_epoch:
            self.oracle.update_trial(trial.trial_id, {"score": 0.25}, step=0)
        return {"score": 0.5}

    def _reports_every_epoch(self):
        self.asked = True
        return self.every_epoch


def test_keras_tuner_oracle_saves_every_trial_through_save_trial(tmp_path):
    with private("keras_tuner Oracle._save_trial"):
        assert parameters(keras_tuner.Oracle._save_trial) == ["self", "trial"]
        tuner = Tuner(oracle(RecordingOracle), directory=str(tmp_path), project_name="p")
        tuner.search()
        assert tuner.oracle.written[0] == ("0", "RUNNING")  # create_trial, then update_trial and end_trial
        assert tuner.oracle.written[-1] == ("0", "COMPLETED")
        assert not os.path.exists(tmp_path / "p" / "trial_0" / "trial.json")  # only the hook writes it


@pytest.mark.parametrize("every_epoch", [False, True])
def test_keras_tuner_reports_a_trial_through_run_and_update_trial(tmp_path, every_epoch):
    with private("keras_tuner BaseTuner._run_and_update_trial"):
        assert parameters(keras_tuner.engine.base_tuner.BaseTuner._run_and_update_trial) == [
            "self",
            "trial",
            "fit_args",
            "fit_kwargs",
        ]
        tuner = Tuner(oracle(), directory=str(tmp_path), project_name="p")
        tuner.every_epoch = every_epoch
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            tuner.search()
        assert tuner.asked and tuner.ran == 1
        assert not [w for w in caught if "update_trial" in str(w.message)]  # Keras Tuner's own path warns here
        best = tuner.oracle.get_trial("0").metrics.get_best_value("score")
        assert best == (0.25 if every_epoch else 0.5)  # the final report of 0.5 is skipped when every epoch was


def test_keras_tuner_tuner_names_its_state_file(tmp_path):
    with private("keras_tuner BaseTuner._get_tuner_fname"):
        assert parameters(keras_tuner.engine.base_tuner.BaseTuner._get_tuner_fname) == ["self"]
        tuner = Tuner(oracle(), directory=str(tmp_path), project_name="p")
        assert _upstream.tuner_file(tuner) == str(tmp_path / "p" / "tuner0.json")
        tuner.save()  # Keras Tuner's own save writes the file `__init__` looks for to reload
        assert os.path.isfile(_upstream.tuner_file(tuner))


def test_keras_tuner_serves_an_oracle_with_its_own_servicer():
    import grpc

    with private("keras_tuner.src.distribute.oracle_chief.OracleServicer / exit_chief, keras_tuner.src.protos"):
        served = oracle()
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
        servicer = _upstream.add_oracle_servicer(served, server)
        assert servicer.oracle is served and servicer.stop_triggered is False
        assert _upstream.chief_may_exit(served)  # no trial runs, no tuner asked
        served.tuner_ids.add("worker0")
        assert not _upstream.chief_may_exit(served)
        server.stop(grace=None)


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"KERASTUNER_TUNER_ID": "chief"},
        {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": "8000", "KERASTUNER_TUNER_ID": "chief"},
        {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": "8000", "KERASTUNER_TUNER_ID": "tuner0"},
        {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_TUNER_ID": "tuner0"},
        {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": "8000"},
    ],
)
def test_chief_and_worker_read_from_the_environment_agree_with_keras_tuner(monkeypatch, env):
    # keras_parsec.tuning.chief replaces Keras Tuner's private distribute.utils and BaseTuner._is_worker.
    from keras_tuner.src.distribute import utils

    from keras_parsec.tuning import chief

    for name in ("KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    def outcome(function):
        try:
            return function()
        except RuntimeError:
            return RuntimeError

    with private("keras_tuner.src.distribute.utils.is_chief_oracle / BaseTuner._is_worker"):
        assert outcome(chief.is_chief) == outcome(utils.is_chief_oracle)
        is_worker = lambda: keras_tuner.engine.base_tuner.BaseTuner._is_worker(None)  # noqa: E731
        assert outcome(chief.is_worker) == outcome(is_worker)
