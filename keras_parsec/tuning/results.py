"""What a finished search hands back: genotypes, distributions, networks (trained or not), ensembles, summaries, scores.

`TunerResults` is the part of `ParsecTuner` that reads a search's results;
`runs.py` runs each trial and `tuner.py` the search around them.
"""

import dataclasses
import functools
import warnings

import keras_tuner

from keras_parsec import errors
from keras_parsec.tuning.checkpoint import SearchCheckpoint


class TunerResults:
    """`ParsecTuner`'s results; reads `oracle`, `search_space`, `project_dir` and the search's summary."""

    def load_supernet(self, trial_id=None):
        """The supernet of a search run with the shared weights and pi it saved last.

        Args:
            trial_id: the run; default the best finished one.

        Returns:
            A built, compiled `SuperNet` (or `EagerSuperNet`).

        Raises:
            InvalidArgumentError: when the run saved no state.
        """
        trial_id = self._best_trial_ids(1)[0] if trial_id is None else str(trial_id)
        summary = self._search_summary or {}
        if trial_id not in self.oracle.trials or "num_classes" not in summary:
            raise errors.invalid_argument(
                "trial_id", f"a run of the search in {self.project_dir}", trial_id, "pass a trial id of this search"
            )
        values = self.oracle.trials[trial_id].hyperparameters.values
        net = self._build_supernet(values, summary["num_classes"], summary["input_shape"], None)
        if not SearchCheckpoint(net, self.get_trial_dir(trial_id)).restore(writer=False):  # it may still be writing
            raise errors.invalid_argument(
                "trial_id", "a run that saved at least one epoch", trial_id, "search longer, or pick another run"
            )
        return net

    def score_genotypes(self, genotypes, x, y, trial_id=None, batch_size=64):
        """Ranks genotypes on a search run's shared weights, without training them (`keras_parsec.tuning.ranking`)."""
        from keras_parsec.tuning import ranking

        return ranking.score_genotypes(self.load_supernet(trial_id), genotypes, x, y, batch_size)

    def plot_pareto(self, path, x, y, cost="params", num_architectures=32, seed=0, trial_id=None):
        """Plots cost against shared-weight accuracy of samples of the learnt pi (`tuning.pareto`).

        Args:
            path: PNG path.
            x, y: held-out images and labels to score on (e.g. the validation data).
            cost: "params", "flops" or "latency_ms" (the last needs the
                budget's latency table), counted at the budget's size, else
                at the searched size.
            num_architectures: samples of pi, besides its mode.
            seed: the sampler's seed.
            trial_id: the run; default the best.

        Returns:
            The scored points, the mode first (`pareto.sampled_tradeoff`).
        """
        from keras_parsec.tuning import costs, pareto

        budget = getattr(self, "budget", None)
        if budget is not None and cost in budget.limits:
            tables = {cost: self.cost_tables()[cost]}
        else:
            summary = self._search_summary or {}
            if "num_classes" not in summary:
                raise errors.invalid_argument("tuner", "a tuner whose search() ran", None, "call search() first")
            network = costs.network_arguments(
                budget.network if budget else None, self.search_space, summary["input_shape"], summary["num_classes"]
            )
            tables = costs.count_tables([cost], self.search_space, network, budget and budget.latency_table)
        points = pareto.sampled_tradeoff(self.load_supernet(trial_id), tables, x, y, num_architectures, seed)
        pareto.plot_pareto(points, path, cost, budget.limits.get(cost) if budget else None)
        return points

    def _best_trial_ids(self, num):
        trials = [t for t in self.oracle.get_best_trials(num) if t.trial_id in self.oracle.runs]
        if not trials:
            raise errors.invalid_argument(
                "tuner",
                "a finished search run",
                "no finished run",
                "call search() first; in Keras Tuner's distributed mode, give the chief and "
                "every worker the same shared `directory`",
            )
        return [t.trial_id for t in trials]

    def get_best_genotypes(self, num_genotypes=1):
        """Mode genotypes of the best runs, best first."""
        return [self.oracle.get_genotype(i) for i in self._best_trial_ids(num_genotypes)]

    def get_best_distribution(self):
        """The `ArchitectureDistribution` of the best run (a prior for the next search)."""
        return self.oracle.get_distribution(self._best_trial_ids(1)[0])

    def get_best_models(self, num_models=1, **network_kwargs):
        """UNTRAINED `CellNetwork`s of the best genotypes at the searched size (a `UserWarning` says so).

        Unlike `keras_tuner.Tuner.get_best_models`, which reloads trained
        models, the supernet's shared weights are not transferred: the paper
        trains the found architecture from scratch. `train_best_model` does
        that with a recipe and returns the trained model.

        Args:
            num_models: how many.
            **network_kwargs: override `CellNetwork` arguments (num_cells, filters...).

        Returns:
            List of `CellNetwork`, best first, with freshly initialised weights.
        """
        from keras_parsec.final.networks import CellNetwork

        summary = self._search_summary or {}
        kwargs = {
            "num_classes": summary.get("num_classes"),
            "num_cells": self.search_space.num_cells,
            "filters": self.search_space.filters,
            "input_shape": tuple(summary.get("input_shape", ())) or None,
        }
        kwargs.update(network_kwargs)
        if kwargs["num_classes"] is None or kwargs["input_shape"] is None:
            raise errors.invalid_argument(
                "num_classes", "known after search()", None, "pass num_classes= and input_shape="
            )
        warnings.warn(
            "ParsecTuner.get_best_models returns untrained networks (PARSEC trains the found cell from scratch); "
            "call tuner.train_best_model(x, y, recipe=...) for a trained one",
            UserWarning,
            stacklevel=2,
        )
        return [CellNetwork(g, **kwargs) for g in self.get_best_genotypes(num_models)]

    def train_best_model(self, x, y=None, recipe=None, validation_data=None, epochs=None, batch_size=None, **kwargs):
        """Trains the best genotype from scratch with a recipe and returns the trained model.

        Args:
            x, y: training data as `model.fit` takes it (arrays, or a batched
                `tf.data.Dataset` / `keras.utils.PyDataset` of `(images, labels)`).
            recipe: a `Recipe`; default: the paper's CIFAR-10 recipe at the
                searched size (`num_cells`, `filters` of the search space).
            validation_data: as in `model.fit`.
            epochs, batch_size: default the recipe's.
            **kwargs: `callbacks`, `verbose`, and `CellNetwork` arguments that
                override the recipe's (num_cells, filters, auxiliary_weight...).

        Returns:
            The trained `CellNetwork` (`.save("m.keras")`, `.export(path)`),
            with the fit's `History` as `model.history`.
        """
        train_one = self._from_scratch(recipe)
        best = self.get_best_genotypes()[0]
        return train_one(best, x, y, validation_data=validation_data, epochs=epochs, batch_size=batch_size, **kwargs)

    def _from_scratch(self, recipe):
        """`train_final_network` bound to `recipe` (default: CIFAR-10's at the searched size) and the search's data.

        Raises before search() has finished a run, so nothing trains for nothing.
        """
        from keras_parsec.final import recipes, train

        summary = self._search_summary or {}
        if "num_classes" not in summary or not self.oracle.runs:
            raise errors.invalid_argument(
                "tuner", "a tuner whose search() finished a run", self.project_dir, "call search() first"
            )
        if recipe is None:
            space = self.search_space
            recipe = dataclasses.replace(recipes.CIFAR10_RECIPE, num_cells=space.num_cells, filters=space.filters)
        return functools.partial(
            train.train_final_network,
            num_classes=summary["num_classes"],
            input_shape=summary["input_shape"],
            recipe=recipe,
        )

    def get_best_ensemble(
        self,
        num_models,
        x,
        y=None,
        selection="top",
        weighting="uniform",
        recipe=None,
        validation_data=None,
        epochs=None,
        batch_size=None,
        seed=None,
        **kwargs,
    ):
        """Trains `num_models` genotypes of the best run's distribution from scratch and averages them.

        The genotypes build different networks (`keras_parsec.tuning.ensembles`):
        the most probable ones, the mode first (`selection="top"`, exact), or
        distinct draws from p(alpha | pi) (`"sample"`, seeded by `seed`). Each
        is trained as `train_best_model` trains the mode; every argument is
        checked before the first training starts (the first member's
        `train_final_network` checks the data and the recipe before its fit).

        Args:
            num_models: how many genotypes, in [1, the number of distinct networks of the space].
            x, y, recipe, validation_data, epochs, batch_size, **kwargs: as in
                `train_best_model`, for every member.
            selection: "top" or "sample".
            weighting: "uniform", or "probability": weights proportional to
                p(alpha | pi), renormalised over the chosen genotypes.
            seed: an int for `selection="sample"` (same seed, same genotypes),
                or None; the members' initialisations follow Keras' global seed.

        Returns:
            An `EnsembleNetwork` whose output is the weighted mean of its
            members' class probabilities (`.save("e.keras")`, `.export(path)`);
            `members[i].genotype` and `members[i].history` per member.

        Raises:
            InvalidArgumentError, InvalidTypeError: for unusable arguments, or
                before search().
        """
        from keras_parsec.final import ensemble
        from keras_parsec.tuning import ensembles

        train_one = self._from_scratch(recipe)
        ensembles.check_ensemble_arguments(self.search_space, num_models, selection, weighting, seed)
        ensemble.check_probability_output("classifier_activation", kwargs.get("classifier_activation", "softmax"))
        distribution = self.get_best_distribution()
        genotypes = ensembles.select_genotypes(distribution, num_models, selection, seed)
        weights = ensembles.ensemble_weights(distribution, genotypes, weighting)
        fit = {"validation_data": validation_data, "epochs": epochs, "batch_size": batch_size, **kwargs}
        members = [train_one(genotype, x, y, **fit) for genotype in genotypes]
        return ensemble.EnsembleNetwork(members, member_weights=weights)

    def get_best_hyperparameters(self, num_trials=1):
        """`HyperParameters` that `CellHyperModel.build` turns into the best genotypes."""
        from keras_parsec.tuning import hyperparameters

        result = []
        for genotype in self.get_best_genotypes(num_trials):
            hp = keras_tuner.HyperParameters()
            hyperparameters.declare_hyperparameters(hp, self.search_space)
            hp.values.update(hyperparameters.genotype_to_values(genotype))
            result.append(hp)
        return result

    def search_space_summary(self, extended=False):
        """Prints the cell space the search learns a distribution over, and what its runs vary.

        Keras Tuner's own summary lists hyperparameters only; PARSEC's search
        space is the cells' architectures, which are not hyperparameters.
        """
        del extended
        space, oracle = self.search_space, self.oracle
        reductions = ", ".join(str(i) for i in space.reduction_indices) or "none"
        print("Search space summary")
        cells = f"Cells: {space.num_cells} (reduction cells at {reductions}), {space.num_nodes} nodes each"
        print(f"{cells}, {space.filters} filters")
        print(f"Operations ({space.num_operations}): {', '.join(space.operations)}")
        print(
            f"Architectures: {space.num_architectures():.3g} (each node takes 2 (input, operation) pairs, "
            "in a normal and a reduction cell)"
        )
        print(
            f"Runs: {oracle.max_trials}, each learning p(alpha | pi) with K={oracle.num_samples} samples per step, "
            f"pi learning rate {oracle.architecture_learning_rate}, weight learning rate {oracle.weight_learning_rate}"
        )

    def results_summary(self, num_trials=10):
        """Prints the best runs (score, seed, K, entropy, mode genotype) and the best one's sizes."""
        print(f"Results summary\nResults in {self.project_dir}\nObjective: {self.oracle.objective}")
        for trial in self.oracle.get_best_trials(num_trials):
            run = self.oracle.runs.get(trial.trial_id)
            values = trial.hyperparameters.values
            print(
                f"\nTrial {trial.trial_id}: score {trial.score}  seed {values.get('seed')}  "
                f"K {values.get('num_samples')}  status {trial.status}"
            )
            if run:
                print(f"  entropy {run['entropy']:.3f} nats\n  genotype {self.oracle.get_genotype(trial.trial_id)}")
        summary = self._search_summary
        if summary and self.oracle.runs:
            from keras_parsec.final.counting import describe_counts

            space = self.search_space
            try:
                counts = describe_counts(
                    self.get_best_genotypes()[0],
                    num_classes=summary["num_classes"],
                    num_cells=space.num_cells,
                    filters=space.filters,
                    input_shape=tuple(summary["input_shape"]),
                )
            except errors.ParsecError as e:  # e.g. filters=1: no final network of that size exists
                counts = f"no network of that size ({e})"
            print(f"\nBest genotype at the searched size ({space.num_cells} cells, {space.filters} filters): {counts}")
            if getattr(self, "budget", None) is not None:
                from keras_parsec.tuning import costs

                line = costs.describe_costs(self.budget, self.cost_tables(), self.get_best_genotypes()[0])
                print(f"Budget ({self.budget.rule}), counted at {self.budget.network or 'the searched size'}: {line}")
