"""ParsecTuner: Keras Tuner's search loop around PARSEC search runs.

The loop checks the arguments and the data, resumes a saved project and writes
the best run's files; `runs.py` runs each trial and `results.py` reads what the
runs leave.
"""

import glob
import json
import os

import keras_tuner

from keras_parsec import _upstream, errors, files
from keras_parsec.data import arrays as data_lib
from keras_parsec.data import streaming
from keras_parsec.distribution import ArchitectureDistribution
from keras_parsec.files import atomic_write, remove_temporaries
from keras_parsec.search import SEARCH_RECIPE, warmup
from keras_parsec.search.supernet import check_inline_cells
from keras_parsec.tuning import chief, costs, resuming
from keras_parsec.tuning.oracle import ParsecOracle
from keras_parsec.tuning.results import TunerResults
from keras_parsec.tuning.runs import TunerRuns

ENGINES = ("compiled", "eager")
BEST_GENOTYPE_FILE = "best_genotype.json"
BEST_DISTRIBUTION_FILE = "best_distribution.json"


class ParsecTuner(TunerResults, TunerRuns, _upstream.OptionalFinalReport, keras_tuner.engine.base_tuner.BaseTuner):
    """Searches a DARTS cell space with PARSEC, one Keras Tuner trial per search run.

    Args:
        search_space: the `SearchSpace` to search.
        num_samples: K, architectures sampled per step (a list: one per trial,
            cycled). Its default, the learning rates' and every other optimizer
            setting come from `keras_parsec.SearchRecipe()`, the paper's.
        objective: what ranks runs; default the mode's `"val_accuracy"`.
        max_trials: search runs (seeds); the best by the objective wins (paper 4.1).
        seed: base seed; run i uses `seed + i`; also seeds the train/search split.
        directory: where the project folder goes: a local folder or any
            `tf.io.gfile` URL (`gs://bucket/runs`; `ram://` in the tests).
        project_name: name of the project folder.
        overwrite: replace an existing project instead of resuming it.
        distribution_strategy: a `tf.distribute.Strategy`: each search step
            runs across its replicas (`keras_parsec.search.replicas`). Under
            `MultiWorkerMirroredStrategy` only the chief worker writes to
            `directory`; the others write to a private subfolder of it.
        prior: an `ArchitectureDistribution` that initialises pi (paper 4.2);
            it may come from a space with other `num_cells`/`filters`.
        architecture_learning_rate: Adam learning rate of pi (paper: 0.02), or a list cycled.
        weight_learning_rate: initial cosine learning rate of the weights (0.025), or a list cycled.
        auxiliary_weight: weight of the supernet's auxiliary head loss; 0 (no
            head) in the small-network search, 0.4 when fine-tuning at full size (paper 4.2).
        early_stopping: None, or "halving": successive halving across runs,
            which stops the weakest runs at rungs of `halving_min_epochs *
            halving_rate**i` epochs by the objective (`keras_parsec.tuning.halving`).
        halving_rate: eta; about 1 / eta of the runs at a rung go on.
        halving_min_epochs: epochs before the first rung.
        engine: "compiled" (default): `keras_parsec.SuperNet`, each pass one
            compiled call; "eager": `keras_parsec.search.EagerSuperNet`, each pass
            composed from hundreds of compiled pieces (the baseline, with its
            recompute policies). BENCHMARKS.md, "Engine v2", compares them.
        inline_cells: with the compiled engine, inline each cell into the
            compiled train pass (`SuperNet(inline_cells=True)`): a few percent
            faster per step, about twice the build of each run's first step,
            more activation memory. For long searches; the search is the same.
        architecture_warmup_epochs: epochs during which pi stays as it is
            while the shared weights train (`search.warmup`); 0 (default):
            the paper's Algorithm 1 from the first step.
        architecture_decay: "constant" (default, the paper's) or "cosine": pi's
            learning rate decays to 0 over the updates after the warm-up.
        budget: a `keras_parsec.Budget` (parameters, multiply-adds, latency
            of the network you will train), or None: its rule weighs each
            sampled architecture by its costs in Algorithm 1 (`search.budget`);
            the costs are counted before the first step, and a limit no
            architecture meets is refused then.
        **kwargs: passed to `ParsecOracle` (e.g. `max_retries_per_trial`).

    Parallel search runs: start the same script once with
    `KERASTUNER_TUNER_ID=chief` (it serves the oracle) and once per worker
    with its own `KERASTUNER_TUNER_ID`, all with `KERASTUNER_ORACLE_IP` and
    `KERASTUNER_ORACLE_PORT` and one shared `directory` (see BUILD.md).

    Example:

    ```python
    tuner = ParsecTuner(SearchSpace(num_cells=8, filters=16), num_samples=16,
                        directory="runs", project_name="cifar10", seed=1)
    tuner.search(x, y, validation_data=(xv, yv), epochs=50, batch_size=64)
    genotype = tuner.get_best_genotypes()[0]
    ```
    """

    def __init__(
        self,
        search_space,
        num_samples=SEARCH_RECIPE.num_samples,
        objective="val_accuracy",
        max_trials=1,
        seed=None,
        directory=None,
        project_name=None,
        overwrite=False,
        distribution_strategy=None,
        prior=None,
        architecture_learning_rate=SEARCH_RECIPE.architecture_learning_rate,
        weight_learning_rate=SEARCH_RECIPE.weight_learning_rate,
        auxiliary_weight=0.0,
        early_stopping=None,
        halving_rate=2,
        halving_min_epochs=1,
        engine="compiled",
        inline_cells=False,
        budget=None,
        architecture_warmup_epochs=0,
        architecture_decay="constant",
        **kwargs,
    ):
        if architecture_decay not in ("constant", "cosine"):
            raise errors.invalid_argument(
                "architecture_decay", '"constant" or "cosine"', architecture_decay, 'leave "constant", the paper\'s'
            )
        self.architecture_decay = architecture_decay
        self.engine = _check_engine(engine)
        self.inline_cells = check_inline_cells(inline_cells)
        if self.inline_cells and self.engine != "compiled":
            raise errors.invalid_argument(
                "inline_cells",
                'False with engine="eager", whose passes are not compiled whole',
                inline_cells,
                'use engine="compiled" (the default) to inline cells',
            )
        self.architecture_warmup_epochs = warmup.check_warmup_epochs(architecture_warmup_epochs)
        self.budget = costs.check_budget(budget)
        self._cost_tables = None
        if kwargs.get("executions_per_trial", 1) != 1:
            raise errors.invalid_argument(
                "executions_per_trial",
                "1: a PARSEC trial is one search run",
                kwargs["executions_per_trial"],
                "pass max_trials= for more runs (each with its own seed)",
            )
        kwargs.pop("executions_per_trial", None)
        if prior is not None:
            # Fails early, with the distribution's own message, on an incompatible prior.
            ArchitectureDistribution(search_space, prior=prior)
        oracle = ParsecOracle(
            search_space,
            num_samples=num_samples,
            architecture_learning_rate=architecture_learning_rate,
            weight_learning_rate=weight_learning_rate,
            objective=objective,
            max_trials=max_trials,
            seed=seed,
            early_stopping=early_stopping,
            halving_rate=halving_rate,
            halving_min_epochs=halving_min_epochs,
            **kwargs,
        )
        self.early_stopping = early_stopping
        directory = chief.writer_directory(directory, distribution_strategy)
        self.search_space = search_space
        self.prior = prior
        self.auxiliary_weight = float(auxiliary_weight)
        self.distribution_strategy = distribution_strategy
        self.data_seed = 0 if seed is None else int(seed)
        self._search_summary = None
        super().__init__(oracle, directory=directory, project_name=project_name, overwrite=overwrite)

    def reload(self):
        """Reloads the project; corrupt or foreign state files raise, naming the folder, and stay as they are."""
        if not chief.is_worker():  # the chief reloads before anything writes: leftovers of a kill can go
            trial_dirs = files.glob_files(os.path.join(glob.escape(self.project_dir), "trial_*"))
            targets = [os.path.join(self.project_dir, "oracle.json"), _upstream.tuner_file(self)]
            for target in targets + [os.path.join(d, "trial.json") for d in trial_dirs]:
                remove_temporaries(target)
        try:
            super().reload()
        except errors.ParsecError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError, RuntimeError) as e:
            # JSONDecodeError and UnicodeDecodeError are ValueErrors; Keras Tuner turns a
            # missing key of oracle.json into a RuntimeError, and reads others blindly.
            raise resuming.unusable_project(
                "project_name",
                "a project folder with readable state files (oracle.json, tuner0.json, trial_*/trial.json)",
                self.project_dir,
                f"the state files there are corrupt or foreign ({type(e).__name__}: {e})",
            ) from e

    def save(self):
        """Saves the oracle and the tuner state atomically (a crash never leaves half a file)."""
        if not chief.is_worker():
            self.oracle.save()
        atomic_write(_upstream.tuner_file(self), json.dumps(self.get_state()))

    # ------------------------------------------------------------------ search
    def search(
        self,
        x,
        y=None,
        validation_data=None,
        search_data=None,
        epochs=50,
        batch_size=64,
        callbacks=None,
        verbose=1,
        num_classes=None,
        augment=None,
        validation_split=None,
        image_size=None,
        steps_per_epoch=None,
        shuffle_buffer=streaming.DEFAULT_SHUFFLE_BUFFER,
    ):
        """Runs `max_trials` PARSEC searches, resuming any that an earlier call left unfinished.

        When they are done, the project folder holds the best run's mode
        genotype (`best_genotype.json`, for `keras-parsec train` or
        `Genotype.load`) and its distribution (`best_distribution.json`, a
        prior for the next search, `ArchitectureDistribution.load`).

        Args:
            x: images as a NumPy array [N, H, W, C], a `tf.data.Dataset` of
                `(image, label)` (batched or not) or a tfds dataset name (its
                "train" split), both streamed, or a `keras.utils.PyDataset` or
                Python generator of `(images, labels)`, read into memory.
            y: labels [N] when `x` is an array.
            validation_data: `(images, labels)` or a dataset to score the mode
                on; default the search half (all of it each epoch: pass a
                smaller set to score a large dataset faster).
            search_data: `(images, labels)` or a dataset of the search set;
                default: half of `x` split off (paper 4.1).
            epochs: search epochs per run.
            batch_size: examples per train and per search batch.
            callbacks: Keras callbacks, passed to the training loop.
            verbose: Keras verbosity.
            num_classes: number of classes. If None: the width of one-hot
                labels, a tfds dataset's info, or the largest label + 1, which
                for a streamed dataset costs one pass over it (labels only,
                nothing kept); a dataset of unknown size needs it.
            augment: optional per-example augmentation of the train and search
                batches, e.g. `keras_parsec.data.preprocessing.search_augment(16)`
                (crop, flip, cutout 16: paper 4.2).
            validation_split: fraction of `x` held out (its last examples, as in
                `model.fit`) to score the mode on, instead of `validation_data`.
            image_size: resize every image to this side (int) or `(height, width)`.
            steps_per_epoch: streamed datasets only: batches per epoch; default
                one pass over the train half. Required when the dataset's
                cardinality is unknown or infinite.
            shuffle_buffer: streamed datasets only: examples each half's
                shuffle buffer holds (arrays are shuffled whole).

        Labels are class indices or one-hot rows. A streamed dataset is split
        by example index (the same halves as arrays of the same examples when
        its size is known), shuffled through a bounded buffer per pass, with
        seeds of (seed, pass) so a resumed search reads the same batches, and
        checked as it is read (`keras_parsec.data.streaming`); its peak memory
        does not grow with its size (BENCHMARKS.md, "Streamed search").
        """
        # A worker's oracle is a client of the chief's and holds no trials of its own.
        saved = self._search_summary if getattr(self.oracle, "trials", None) else None
        if num_classes is None and saved:
            num_classes = saved.get("num_classes")
        if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
            raise errors.invalid_argument("epochs", "a positive integer", epochs)
        inputs = (x, y, validation_data, search_data, batch_size, num_classes, self.search_space, self.data_seed)
        options = {"validation_split": validation_split, "image_size": image_size}
        if streaming.is_stream(x):
            train = streaming.prepare_streamed_data(
                *inputs, steps_per_epoch=steps_per_epoch, shuffle_buffer=shuffle_buffer, **options
            )
            search, validation, num_classes, input_shape = None, train.validation, train.num_classes, train.input_shape
        else:
            if steps_per_epoch is not None:
                raise errors.invalid_argument(
                    "steps_per_epoch", "None for arrays (an epoch is one pass over the train half)", steps_per_epoch
                )
            train, search, validation, num_classes = data_lib.prepare_search_data(*inputs, **options)
            input_shape = train[0].shape[1:]
        summary = {"num_classes": num_classes, "input_shape": list(input_shape)}
        for name, value in summary.items():
            if saved and name in saved:
                resume = "pass the same data to resume it"
                resuming.check_same_as_saved(name, saved[name], value, self.project_dir, resume)
        budget = self.budget.get_config() | {"latency_table": None} if self.budget else None
        if saved:
            resuming.check_same_as_saved(
                "budget", saved.get("budget"), budget, self.project_dir, "pass the same budget"
            )
        self._search_summary = summary | ({"budget": budget} if budget else {})  # unbudgeted: as before budgets
        self._cost_tables = None  # counted for this data's shape and classes
        self.cost_tables()  # counted, and an unreachable limit refused, before any search step
        if chief.is_chief():
            self.save()
            chief.serve(self.oracle)
        else:
            super().search(
                train=train,
                search=search,
                validation=validation,
                num_classes=num_classes,
                epochs=epochs,
                batch_size=batch_size,
                callbacks=callbacks or [],
                verbose=verbose,
                augment=augment,
            )
        self._write_best()

    def _write_best(self):
        """Writes the best run's mode genotype and distribution into the project folder, where the oracle is."""
        if not isinstance(self.oracle, ParsecOracle) or not self.oracle.runs:
            return  # a worker of Keras Tuner's distributed mode: the chief writes them
        atomic_write(os.path.join(self.project_dir, BEST_GENOTYPE_FILE), self.get_best_genotypes()[0].to_json())
        self.get_best_distribution().save(os.path.join(self.project_dir, BEST_DISTRIBUTION_FILE))

    def on_search_begin(self):
        """Saves the tuner state first, so a search interrupted in its first trial reloads."""
        super().on_search_begin()
        self.save()

    # ----------------------------------------------------------------- results
    def get_state(self):
        return {"search_summary": self._search_summary}

    def set_state(self, state):
        self._search_summary = state.get("search_summary")


def _check_engine(engine):
    """Returns `engine` if it names one, else raises before any work."""
    if engine not in ENGINES:
        raise errors.invalid_argument("engine", '"compiled" or "eager"', engine, 'use "compiled" (the default)')
    return engine
