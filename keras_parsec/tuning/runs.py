"""One PARSEC search run per Keras Tuner trial: its supernet, batches, checkpoint and record.

`TunerRuns` is the part of `ParsecTuner` that runs a trial; `tuner.py` holds
the search loop around the runs and `results.py` reads what they leave.
"""

import contextlib
import os

import keras

from keras_parsec import errors
from keras_parsec.data import arrays as data_lib
from keras_parsec.data import streaming
from keras_parsec.distribution import ArchitectureDistribution
from keras_parsec.search import SEARCH_RECIPE, EagerSuperNet, SuperNet, warmup
from keras_parsec.tuning import costs
from keras_parsec.tuning.callbacks import EpochReport, TrialTime, trial_callbacks
from keras_parsec.tuning.checkpoint import SearchCheckpoint, SearchStateError
from keras_parsec.tuning.oracle import RUN_FILE, ParsecOracle, run_record, write_json_atomically


class TunerRuns:
    """`ParsecTuner`'s trials.

    Reads `search_space`, `prior`, `engine`, `inline_cells`, `budget`, the search options and `oracle`.
    """

    def run_trial(
        self, trial, train, search, validation, num_classes, epochs, batch_size, callbacks, verbose, augment=None
    ):
        """One PARSEC search run; continues from its last finished epoch if one was saved."""
        values = trial.hyperparameters.values
        streamed = isinstance(train, streaming.StreamedData)
        steps = train.steps_per_epoch if streamed else len(train[0]) // batch_size
        image_shape = train.input_shape if streamed else train[0].shape[1:]
        net = self._build_supernet(values, num_classes, image_shape, epochs * steps, epochs)
        distribution = net.distribution
        settings = {"epochs": epochs, "batch_size": batch_size, "steps_per_epoch": steps, "engine": self.engine}
        if streamed:  # another buffer would resume with other batches
            settings["shuffle_buffer"] = train.shuffle_buffer
        if self.architecture_warmup_epochs:  # only then: searches saved before the option existed still resume
            settings["architecture_warmup_epochs"] = self.architecture_warmup_epochs
        if self.architecture_decay != "constant":
            settings["architecture_decay"] = self.architecture_decay
        checkpoint = SearchCheckpoint(net, self.get_trial_dir(trial.trial_id), settings=settings)
        try:
            initial_epoch = checkpoint.restore()
        except errors.InvalidArgumentError as e:
            # Keras Tuner swallows ordinary errors inside a trial; this one must reach the user.
            raise SearchStateError(str(e)) from e
        if initial_epoch and verbose:
            print(f"Resuming trial {trial.trial_id} from epoch {initial_epoch}/{epochs}.")
        if initial_epoch < epochs:
            if verbose:
                callbacks = list(callbacks) + [TrialTime(trial.trial_id)]
            if self.architecture_warmup_epochs:
                callbacks = list(callbacks) + [warmup.ArchitectureWarmup(self.architecture_warmup_epochs)]
            batches = {"seed": values["seed"], "epochs": epochs, "initial_epoch": initial_epoch, "augment": augment}
            if streamed:
                dataset = streaming.search_batches(train, batch_size, **batches)
            else:
                dataset = data_lib.search_dataset(train, search, batch_size, **batches)
            net.fit(
                dataset,
                validation_data=validation,
                epochs=epochs,
                initial_epoch=initial_epoch,
                steps_per_epoch=steps,
                callbacks=trial_callbacks(callbacks, trial) + [checkpoint] + self._report_callbacks(trial),
                verbose=verbose,
            )
        # The record goes through the project directory, which the chief shares
        # in distributed mode: a trial on the wire carries no pi.
        write_json_atomically(
            os.path.join(self.get_trial_dir(trial.trial_id), RUN_FILE), run_record(distribution, checkpoint.history)
        )
        if isinstance(self.oracle, ParsecOracle):
            self.oracle.record_run(trial.trial_id, distribution, checkpoint.history)
        return {name: series[-1] for name, series in checkpoint.history.items()}

    def _build_supernet(self, values, num_classes, image_shape, total_steps, epochs=None):
        """The compiled supernet of a run with hyperparameters `values`, seeded as the run is."""
        decay_steps = None
        if self.architecture_decay == "cosine":  # a schedule even when only reloading: the same optimizer variables
            warmup_steps = total_steps // epochs * self.architecture_warmup_epochs if total_steps else 0
            decay_steps = max((total_steps or 1) - warmup_steps, 1)
        keras.utils.set_random_seed(values["seed"])
        scope = self.distribution_strategy.scope() if self.distribution_strategy else contextlib.nullcontext()
        with scope:
            distribution = ArchitectureDistribution(self.search_space, prior=self.prior)
            options = {"distribution": distribution, "num_samples": values["num_samples"], "seed": values["seed"]}
            engine = SuperNet if self.engine == "compiled" else EagerSuperNet
            if self.inline_cells:
                options["inline_cells"] = True
            if self.budget is not None:
                options.update(budget=self.budget, cost_tables=self.cost_tables())
            net = engine(self.search_space, num_classes, auxiliary_weight=self.auxiliary_weight, **options)
            net.build((None,) + tuple(image_shape))
            net.compile(
                weight_optimizer=SEARCH_RECIPE.weight_optimizer(values["weight_learning_rate"], total_steps),
                architecture_optimizer=SEARCH_RECIPE.architecture_optimizer(
                    values["architecture_learning_rate"], decay_steps
                ),
            )
        return net

    def cost_tables(self):
        """The `CostTable`s of the budget's limits at the size it counts (`tuning.costs`); {} without a budget."""
        if self.budget is None:
            return {}
        if self._cost_tables is None:
            summary = self._search_summary or {}
            if "num_classes" not in summary:
                raise errors.invalid_argument("tuner", "a tuner given its data", None, "call search() first")
            self._cost_tables = costs.cost_tables(
                self.budget, self.search_space, summary["input_shape"], summary["num_classes"]
            )
        return self._cost_tables

    def _report_callbacks(self, trial):
        """With early stopping, a callback that reports each epoch and stops the run when the oracle says so."""
        if self.early_stopping is None:
            return []
        return [EpochReport(self.oracle, trial.trial_id)]

    def _reports_every_epoch(self):
        """With early stopping every epoch is reported, and Keras Tuner's final report is skipped (`_upstream`)."""
        return self.early_stopping is not None
