"""`BaseSuperNet`: the Keras side of a PARSEC supernet, shared by both engines.

Algorithm 1 trains two things with two optimizers: the shared weights v (SGD
with momentum and a cosine schedule, as DARTS) and the logits pi of the
architecture distribution (Adam). This class holds what does not depend on
how a pass runs: those optimizers (defaults: `search.recipe.SEARCH_RECIPE`), the metrics a step
logs, the sampler of architectures, the weight update of a list of
gradients, and `fit` sizing the cosine schedule. The engines subclass it:
`search.supernet.SuperNet` (compiled passes, the default) and
`search.eager.EagerSuperNet` (the baseline).
"""

import warnings

import keras
import numpy as np
import tensorflow as tf

from keras_parsec import _upstream, errors
from keras_parsec import distribution as dist_lib
from keras_parsec.search import algorithm, diagnostics, eager_updates
from keras_parsec.search import budget as budget_lib
from keras_parsec.search.recipe import SEARCH_RECIPE, CosineSchedule


class BaseSuperNet(_upstream.BuiltModelSkipsSymbolicBuild, keras.Model):
    """A weight-sharing network trained by Algorithm 1; subclasses say how a pass runs.

    Args:
        search_space: a `keras_parsec.SearchSpace`.
        num_classes: int, number of classes.
        distribution: an `ArchitectureDistribution` over `search_space`;
            uniform when None.
        num_samples: K, architectures sampled per step.
        seed: int seed of the architecture sampler, or None.
        auxiliary_weight: when positive, DARTS' auxiliary head reads cell
            `2 * num_cells // 3` and this weight times its loss joins the
            training loss (paper 4.2 fine-tunes with 0.4); the search batch's
            likelihoods use the main classifier only.
        budget: a `search.budget.Budget`, or None: its rule scales each
            sample's importance weight by its costs (`search.budget`).
        cost_tables: with a budget, dict from each of its cost names to a
            table with `cost(choices)` (`keras_parsec.final.costs.CostTable`).
        **kwargs: passed to `keras.Model`.

    Subclasses implement `build`, `architecture_logits(images, choices)`,
    `shared_variables()`, `train_step` and `test_step`.
    """

    def __init__(
        self,
        search_space,
        num_classes,
        distribution=None,
        num_samples=SEARCH_RECIPE.num_samples,
        seed=None,
        auxiliary_weight=0.0,
        budget=None,
        cost_tables=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.budget, self.cost_tables = budget, dict(cost_tables or {})
        missing = sorted(set(budget.limits) - set(self.cost_tables)) if budget is not None else []
        if missing:
            raise errors.invalid_argument(
                "cost_tables", f"a table for each limit of {budget}", sorted(self.cost_tables), f"add {missing}"
            )
        self.search_space = search_space
        self.num_classes = int(num_classes)
        self.num_samples = int(num_samples)
        self.distribution = distribution or dist_lib.ArchitectureDistribution(search_space)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.skip_zero_weights = True
        self.auxiliary_weight = float(auxiliary_weight)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        self.nonfinite_tracker = keras.metrics.Sum(name="nonfinite_samples")
        self.over_budget_tracker = keras.metrics.Mean(name="over_budget")
        self.ess_tracker = keras.metrics.Mean(name="effective_sample_size")
        self.architecture_frozen = False  # True while a warm-up holds pi (`ArchitectureWarmup`)

    def call(self, inputs, training=False):
        """Logits of the mode of the architecture distribution on `inputs`."""
        del training
        return self.architecture_logits(inputs, self.distribution.mode_choices().numpy())

    def compile(
        self,
        weight_optimizer=None,
        architecture_optimizer=None,
        weight_decay=SEARCH_RECIPE.weight_decay,
        gradient_clip_norm=SEARCH_RECIPE.gradient_clip_norm,
        **kwargs,
    ):
        """Configures Algorithm 1's two optimizers; the defaults are `SEARCH_RECIPE`'s (paper and DARTS).

        Args:
            weight_optimizer: optimizer of the shared weights; default
                `SEARCH_RECIPE.weight_optimizer()`: SGD with momentum 0.9 and
                cosine learning rate 0.025 -> 0.001.
            architecture_optimizer: optimizer of the logits pi; default
                `SEARCH_RECIPE.architecture_optimizer()`: Adam, learning rate
                0.02, betas (0.5, 0.999).
            weight_decay: L2 coefficient added to the weight gradients (DARTS).
            gradient_clip_norm: global norm the weight gradients are clipped to.
            **kwargs: passed to `keras.Model.compile`.
        """
        super().compile(run_eagerly=True, **kwargs)
        self.weight_optimizer = weight_optimizer or SEARCH_RECIPE.weight_optimizer()
        self.architecture_optimizer = architecture_optimizer or SEARCH_RECIPE.architecture_optimizer()
        self.weight_decay = float(weight_decay)
        self.gradient_clip_norm = gradient_clip_norm

    @property
    def metrics(self):
        trackers = [self.loss_tracker, self.accuracy_tracker, self.nonfinite_tracker, self.ess_tracker]
        return trackers + ([self.over_budget_tracker] if self.budget is not None else [])

    def fit(self, x=None, epochs=1, steps_per_epoch=None, callbacks=None, **kwargs):
        """`keras.Model.fit` that sizes the default cosine schedule to the run and logs pi's diagnostics.

        Every epoch's logs get `search.diagnostics.ArchitectureDiagnostics`'
        (log p(mode | pi), entropy per cell type, changed slots of the mode).
        """
        schedule = _upstream.optimizer_schedule(self.weight_optimizer)
        if isinstance(schedule, CosineSchedule) and schedule.total_steps is None:
            steps = steps_per_epoch
            if steps is None and isinstance(x, tf.data.Dataset):
                cardinality = int(x.cardinality())
                steps = cardinality if cardinality > 0 else None
            schedule.total_steps = epochs * steps if steps else None
        kwargs.setdefault("shuffle", False)  # the search dataset shuffles itself
        callbacks = list(callbacks or [])
        if not any(isinstance(c, diagnostics.ArchitectureDiagnostics) for c in callbacks):
            callbacks.insert(0, diagnostics.ArchitectureDiagnostics())
        return super().fit(x, epochs=epochs, steps_per_epoch=steps_per_epoch, callbacks=callbacks, **kwargs)

    def shared_variables(self):
        """The shared weights v, in the order the weight optimizer's state follows."""
        return self.trainable_variables

    def build_optimizers(self):
        """Creates both optimizers' state (once), so it can be saved or restored before a step."""
        variables = self.shared_variables()
        if not self.weight_optimizer.built:
            self.weight_optimizer.build(variables)
            self.architecture_optimizer.build([self.distribution.logits])
        if not hasattr(self, "_slot_index"):
            self._slot_index = {id(v): i for i, v in enumerate(variables)}

    def sample_choices(self):
        """K architectures from the current distribution, as an int array [K, 2, N, 2]."""
        seed = tf.cast(self.seed_generator.next(), tf.int32)
        dist = self.distribution
        return dist_lib.sample_choices(dist.logits, dist.mask, self.num_samples, seed).numpy()

    def budget_log_factors(self, choices, search_labels):
        """The budget's log factor of each sample (`Budget.log_factors`), or None without a budget.

        Also records the fraction of the K samples over budget (`over_budget`).

        Args:
            choices: `[K, 2, N, 2]` the step's samples.
            search_labels: the search batch's labels (per replica under a
                strategy): their count is the soft rule's `n`.
        """
        if self.budget is None:
            return None
        costs = budget_lib.architecture_costs(self.cost_tables, choices)
        self.over_budget_tracker.update_state(1.0 - np.mean(self.budget.fits(costs)))
        strategy = self.distribute_strategy
        local = tf.nest.flatten(strategy.experimental_local_results(search_labels))
        per_replica = int(sum(int(tf.shape(labels)[0]) for labels in local)) / len(local)
        return self.budget.log_factors(costs, per_replica * strategy.num_replicas_in_sync)

    def update_architecture(self, choices, weights):
        """Algorithm 1, line 11, unless a warm-up holds pi; logs the weights' effective sample size.

        Args:
            choices: `[K, 2, N, 2]` the step's samples.
            weights: `[K]` their importance weights, summing to 1.
        """
        self.ess_tracker.update_state(diagnostics.effective_sample_size(weights))
        if not self.architecture_frozen:
            algorithm.update_distribution(self.architecture_optimizer, self.distribution, choices, weights)

    def step_logs(self):
        """The logs a search step returns: every metric and the entropy of p(alpha | pi)."""
        return {m.name: m.result() for m in self.metrics} | {"entropy": self.distribution.entropy()}

    def _report_nonfinite(self, count, total, skipped):
        self.nonfinite_tracker.update_state(float(count))
        warnings.warn(
            f"{count} of the {total} architectures sampled in this step gave a NaN or infinite "
            "loss: they get weight 0 and change neither the weights nor pi"
            + ("; no architecture was finite, so the step is skipped." if skipped else ".")
            + " If this repeats, lower the learning rates or check the data.",
            RuntimeWarning,
            stacklevel=3,
        )

    def _update_weights(self, pairs):
        """Clips, adds weight decay and applies `(variable, gradient)` pairs of the used weights only.

        Weights no sampled architecture used are left alone (PyTorch's
        `grad=None` semantics). A plain SGD runs as one fused kernel per
        weight (`eager_updates`), any other optimizer through `apply`.
        """
        if not pairs:
            return
        variables = [v for v, _ in pairs]
        gradients = [g for _, g in pairs]
        if self.gradient_clip_norm:
            gradients, _ = tf.clip_by_global_norm(gradients, self.gradient_clip_norm)
        gradients = [g + self.weight_decay * tf.convert_to_tensor(v) for g, v in zip(gradients, variables)]
        if eager_updates.supports_fused_update(self.weight_optimizer, variables):
            eager_updates.apply_fused_sgd(self.weight_optimizer, gradients, variables, self._slot_index)
        else:
            self.weight_optimizer.apply(gradients, variables)
