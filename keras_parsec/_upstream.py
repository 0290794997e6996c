"""Every private Keras and Keras Tuner API the package uses, in one place.

Each entry names the upstream API it relies on and why no public one does the
job. Tested with keras 3.15.1 and keras-tuner 1.4.8, the upper ends of the
ranges `setup.py` pins; tests/test_upstream.py fails, naming the private API,
when one of them disappears, changes its signature or is no longer called.
Callers import from here and touch no private upstream name themselves.

The one private TensorFlow API, `cond_v2.indexed_case`, stays beside the code
that needs it in `search/cells.py`, tested in tests/search/test_cells.py.
"""

# ------------------------------------------------------------------ Keras


def optimizer_schedule(optimizer):
    """The learning rate `optimizer` was given: a schedule object, a variable or None.

    Upstream: `keras.src.optimizers.base_optimizer.BaseOptimizer._learning_rate`.
    The public `optimizer.learning_rate` evaluates a schedule at the current
    step; only the private attribute holds the schedule itself, which `fit`
    sizes (`BaseSuperNet.fit`).
    """
    return getattr(optimizer, "_learning_rate", None)


def compiled_loss(model):
    """The loss `model.compile` built, `loss(y_true, y_pred, sample_weight)`, or None before `compile`.

    Upstream: `keras.src.trainers.trainer.Trainer._compile_loss` (a
    `CompileLoss`). The public `Model.compute_loss` adds the regularisation
    losses of `model.losses` too, and `Model.compiled_loss` is deprecated and
    calls `compute_loss`; the auxiliary head's loss (`CellNetwork.compute_loss`)
    needs the compiled loss alone, with its weights and reduction.
    """
    return model._compile_loss


def sublayers(layer):
    """Every layer inside `layer`, at any depth, `layer` itself excluded.

    Upstream: `keras.src.layers.layer.Layer._flatten_layers(include_self,
    recursive)`. The public `Model.layers` lists only the direct children, and
    a plain `Layer` (a cell) lists none.
    """
    return layer._flatten_layers(include_self=False)


class BuiltModelSkipsSymbolicBuild:
    """Mixin for a `keras.Model` built explicitly: `fit` leaves it alone once built.

    Upstream: `keras.src.backend.tensorflow.trainer.TensorFlowTrainer.
    _maybe_symbolic_build(iterator=None, data_batch=None)`, the hook through
    which `fit` and `evaluate` build a model under a distribution strategy
    from a reduced first batch; no public switch turns it off. A supernet is
    built explicitly, and `strategy.reduce` of its nested
    ((x_t, y_t), (x_s, y_s)) batch fails under MultiWorkerMirroredStrategy.
    """

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if not self.built:
            super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)


# ------------------------------------------------------------ Keras Tuner


def oracle_project_dir(oracle):
    """The project folder `BaseTuner` gave `oracle` (created if missing).

    Upstream: `keras_tuner.src.engine.oracle.Oracle._project_dir`. The
    public `Oracle.directory` and `Oracle.project_name` stay None: the tuner
    sets the private ones (`Oracle._set_project_dir`).
    """
    return oracle._project_dir


def set_oracle_project_dir(oracle, directory, project_name):
    """Gives `oracle` its project folder, as `BaseTuner.__init__` does.

    Upstream: `keras_tuner.src.engine.oracle.Oracle._set_project_dir(directory,
    project_name)`; for an oracle used without a tuner (tests).
    """
    oracle._set_project_dir(directory, project_name)


def oracle_trial_dir(oracle, trial_id):
    """The folder of trial `trial_id` in `oracle`'s project (created if missing).

    Upstream: `keras_tuner.src.engine.oracle.Oracle._get_trial_dir(trial_id)`.
    The public `BaseTuner.get_trial_dir` names the same folder, but the
    oracle holds no tuner (on a distributed chief, none runs trials).
    """
    return oracle._get_trial_dir(trial_id)


def oracle_file(oracle):
    """The file Keras Tuner reloads `oracle`'s state from (`oracle.json`).

    Upstream: `keras_tuner.src.engine.oracle.Oracle._get_oracle_fname()`;
    `Oracle.reload` reads it, so a replacement `save` must write the same file.
    """
    return oracle._get_oracle_fname()


def tuner_file(tuner):
    """The file Keras Tuner reloads `tuner`'s state from (`<tuner_id>.json`).

    Upstream: `keras_tuner.src.engine.base_tuner.BaseTuner._get_tuner_fname()`;
    `BaseTuner.__init__` reloads a project when it exists and `reload` reads
    it, so a replacement `save` must write the same file.
    """
    return tuner._get_tuner_fname()


class OracleTrialSaving:
    """Mixin for a `keras_tuner.Oracle` that writes each trial's `trial.json` itself, in `_write_trial(trial)`.

    Upstream: `keras_tuner.src.engine.oracle.Oracle._save_trial(trial)`, which
    `create_trial`, `update_trial` and `end_trial` call; `Oracle.save` does
    not write trials, and no public hook does.
    """

    def _save_trial(self, trial):
        self._write_trial(trial)


class OptionalFinalReport:
    """Mixin for a Keras Tuner tuner that may report every epoch itself (`_reports_every_epoch()`).

    Upstream: `keras_tuner.src.engine.base_tuner.BaseTuner._run_and_update_trial(
    trial, *fit_args, **fit_kwargs)`, which runs `run_trial` and reports its
    result to the oracle as the trial's final metrics; no public switch skips
    that report. When the tuner reported each epoch, only `run_trial` runs.
    """

    def _run_and_update_trial(self, trial, *fit_args, **fit_kwargs):
        if not self._reports_every_epoch():
            return super()._run_and_update_trial(trial, *fit_args, **fit_kwargs)
        self.run_trial(trial, *fit_args, **fit_kwargs)


def add_oracle_servicer(oracle, server):
    """Adds Keras Tuner's own gRPC `OracleServicer` of `oracle` to the gRPC `server`; returns the servicer.

    Upstream: `keras_tuner.src.distribute.oracle_chief.OracleServicer(oracle)`
    (its `stop_triggered` turns True once the oracle has no trial left) and
    `keras_tuner.src.protos.get_service_grpc().add_OracleServicer_to_server`.
    `keras_tuner` exports neither; its own loop (`oracle_chief.start_server`)
    polls every 20 s and never stops the server. Imported here, when
    needed, as Keras Tuner does, to avoid inconsistent protobuf versions.
    """
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    servicer = oracle_chief.OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    return servicer


def chief_may_exit(oracle):
    """Whether the chief may stop: no trial runs and every worker was told to stop.

    Upstream: `keras_tuner.src.distribute.oracle_chief.exit_chief(oracle)`.
    """
    from keras_tuner.src.distribute import oracle_chief

    return oracle_chief.exit_chief(oracle)
