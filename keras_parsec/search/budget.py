"""Budget-aware search: how a cost limit enters Algorithm 1's importance weights.

The paper's pi maximises the marginal likelihood of the search data,
`log sum_alpha p(y | X, v, alpha) p(alpha | pi)`. A `Budget` adds a factor
`g(c(alpha))` of the architecture's costs (parameters, multiply-adds,
latency) to each term:

    log sum_alpha p(y | X, v, alpha) g(c(alpha)) p(alpha | pi)

so a step's importance weights become `w_k ∝ p(y | X, v, alpha_k) g(c_k)`,
the weights and pi are trained with them as before, and no gradient of the
cost is needed (pi learns it through the score function).

- `rule="hard"`: `g = 1` within every limit, else 0. The objective is the
  likelihood of the data *and* of "within budget"; its posterior is the
  paper's posterior truncated to the budget, which the weights estimate
  exactly as the paper's estimate it. Over-budget samples get weight 0, so
  they train neither the weights nor pi (and their training pass is skipped).
  A step where no sample fits has no term of this objective; it instead moves
  pi and the weights towards the sample(s) closest to the budget (the limit
  of the soft rule as its exponent grows), so a search started outside the
  budget walks into it.
- `rule="soft"`: `g = prod_limits min(1, limit / c) ** (exponent * n)` for a
  search batch of `n` examples, i.e. each example's likelihood is multiplied
  by `min(1, limit / c) ** exponent` (MnasNet's `(c / target) ** w` with
  `w = -exponent`, applied only above the target). Over-budget architectures
  stay possible at a price; the objective is no longer the paper's.

Without a budget (or when every sample fits), the weights are the paper's.
Costs are those of the *final* network (`keras_parsec.final.costs`), looked
up per architecture from tables that `keras_parsec.tuning` builds.
"""

import math

import numpy as np

from keras_parsec.errors import invalid_argument, invalid_type

RULES = ("hard", "soft")
# Budget argument -> name of the cost table it limits.
LIMITS = {"max_params": "params", "max_flops": "flops", "max_latency_ms": "latency_ms"}
DEFAULT_SOFT_EXPONENT = 0.07  # MnasNet's w = -0.07


def _check_limit(name, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise invalid_type(name, "a positive number or None", value, f"pass e.g. {name}=1_000_000")
    if not math.isfinite(value) or value <= 0:
        raise invalid_argument(name, "a positive finite number or None", value, f"pass e.g. {name}=1_000_000")
    return float(value)


class Budget:
    """Limits on the found architecture's costs, and how they weigh samples in Algorithm 1.

    Args:
        max_params: most trainable parameters of the final network (auxiliary
            head excluded, as `kp.count_params`).
        max_flops: most multiply-adds of one image in inference (`kp.count_flops`).
        max_latency_ms: most inference latency in milliseconds, predicted from
            `latency_table` (`kp.measure_latency_table` on the target device).
        rule: "hard" (default): over-budget samples get importance weight 0;
            "soft": their weight is scaled by `(limit / cost) ** (exponent * n)`
            for `n` search examples. The module docstring gives the objective.
        exponent: the soft rule's exponent per search example (default 0.07,
            MnasNet's); ignored by the hard rule.
        network: `CellNetwork` arguments of the network the costs are counted
            in (num_cells, filters, input_shape, num_classes, stem...): the size
            you will train. Default: the searched space's cells and filters and
            the search data's image shape and classes.
        latency_table: a `CostTable` named "latency_ms", or the path of one
            saved with `.save()`; required with `max_latency_ms`.

    Example:

    ```python
    budget = kp.Budget(max_params=2_000_000, network={"num_cells": 20, "filters": 36})
    tuner = kp.ParsecTuner(space, budget=budget, directory="runs")
    ```
    """

    def __init__(
        self,
        max_params=None,
        max_flops=None,
        max_latency_ms=None,
        rule="hard",
        exponent=DEFAULT_SOFT_EXPONENT,
        network=None,
        latency_table=None,
    ):
        values = {"max_params": max_params, "max_flops": max_flops, "max_latency_ms": max_latency_ms}
        self.limits = {LIMITS[k]: _check_limit(k, v) for k, v in values.items() if v is not None}
        if not self.limits:
            raise invalid_argument(
                "Budget", "at least one limit", "no limit", "pass max_params=, max_flops= or max_latency_ms="
            )
        if rule not in RULES:
            raise invalid_argument("rule", f"one of {RULES}", rule, 'pass rule="hard" or rule="soft"')
        self.rule = rule
        self.exponent = _check_limit("exponent", exponent)
        if network is not None and not isinstance(network, dict):
            raise invalid_type(
                "network", "a dict of CellNetwork arguments or None", network, 'pass e.g. {"filters": 36}'
            )
        self.network = dict(network or {})
        if max_latency_ms is not None and latency_table is None:
            raise invalid_argument(
                "latency_table",
                "a latency table with max_latency_ms",
                None,
                "measure one with kp.measure_latency_table(space, ...) on the target device and pass it or its path",
            )
        self.latency_table = latency_table

    def log_factors(self, costs, num_examples):
        """Log of each sample's budget factor `g(c_k)`, added to its search log-likelihood.

        Args:
            costs: dict from cost name (`self.limits`' keys) to `[K]` costs of the samples.
            num_examples: examples in the search batch (the soft rule's `n`).

        Returns:
            float64 `[K]`: 0 where every limit holds; for the hard rule `-inf`
            above a limit (or, when no sample fits, 0 for the samples of least
            excess); for the soft rule `-exponent * n * sum(log(cost / limit))`
            over the exceeded limits.
        """
        excess = self.log_excess(costs)
        if self.rule == "soft":
            return -self.exponent * float(num_examples) * excess.sum(axis=0)
        worst = excess.max(axis=0)
        fits = worst <= 0.0
        allowed = fits if fits.any() else worst == worst.min()
        return np.where(allowed, 0.0, -np.inf)

    def log_excess(self, costs):
        """`[L, K]` `max(0, log(cost / limit))` of each limit and sample (0 within the limit)."""
        missing = sorted(set(self.limits) - set(costs))
        if missing:
            raise invalid_argument("costs", f"costs for {sorted(self.limits)}", sorted(costs), f"add {missing}")
        rows = [np.log(np.asarray(costs[name], np.float64) / limit) for name, limit in self.limits.items()]
        return np.maximum(np.stack(rows), 0.0)

    def fits(self, costs):
        """Whether each architecture is within every limit: bool `[K]` (or a bool for scalar costs)."""
        fits = self.log_excess({k: np.atleast_1d(v) for k, v in costs.items()}).max(axis=0) <= 0.0
        return bool(fits[0]) if all(np.ndim(v) == 0 for v in costs.values()) else fits

    def describe(self, costs):
        """Text such as "params 1.20M of 2.00M, flops 0.31G of 0.60G (within budget)" for one architecture."""
        parts = [f"{name} {_short(costs[name])} of {_short(limit)}" for name, limit in self.limits.items()]
        return ", ".join(parts) + (" (within budget)" if self.fits(costs) else " (OVER budget)")

    def get_config(self):
        table = self.latency_table
        if table is not None and not isinstance(table, str):
            table = table.get_config()
        names = {v: k for k, v in LIMITS.items()}
        limits = {names[name]: limit for name, limit in self.limits.items()}
        return {**limits, "rule": self.rule, "exponent": self.exponent, "network": self.network, "latency_table": table}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return isinstance(other, Budget) and self.get_config() == other.get_config()

    def __repr__(self):
        limits = ", ".join(f"{name}={_short(limit)}" for name, limit in self.limits.items())
        return f"Budget({limits}, rule={self.rule!r})"


def _short(value):
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.2f}{suffix}"
    return f"{value:.3g}"


def architecture_costs(tables, choices):
    """Costs of `[K, 2, N, 2]` architectures: dict name -> `[K]`, from tables with a `cost(choices)` method."""
    return {name: np.asarray(table.cost(choices), np.float64) for name, table in tables.items()}
