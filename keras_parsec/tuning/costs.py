"""The cost tables a search's `Budget` is checked against, at the size of the network the user will train.

`search.budget` holds the rule; `final.costs` counts a final network's
parameters and multiply-adds per chosen operation. This module joins them for
`ParsecTuner`: it builds the tables a budget needs once, before any search
step, and refuses a budget that no architecture of the space can meet.
"""

from keras_parsec import errors
from keras_parsec.final import costs as costs_lib
from keras_parsec.search.budget import Budget

_COUNTERS = {"params": costs_lib.params_table, "flops": costs_lib.flops_table}


def check_budget(budget):
    """Returns `budget` if it is None or a `Budget`, else raises a typed error naming the fix."""
    if budget is None or isinstance(budget, Budget):
        return budget
    raise errors.invalid_type("budget", "a keras_parsec.Budget or None", budget, "pass kp.Budget(max_params=...)")


def network_arguments(overrides, space, input_shape, num_classes):
    """The `CellNetwork` arguments costs are counted at: the searched size and data, unless `overrides` say so."""
    network = {"num_cells": space.num_cells, "filters": space.filters}
    network.update(input_shape=tuple(input_shape), num_classes=int(num_classes))
    return {**network, **(overrides or {})}


def count_tables(names, space, network, latency_table=None):
    """Dict from each cost name of `names` to its `CostTable` at the `CellNetwork` size `network`.

    Args:
        names: cost names among "params", "flops", "latency_ms".
        space: the searched `SearchSpace`.
        network: `CellNetwork` arguments (`network_arguments`).
        latency_table: for "latency_ms", a `CostTable`, its config or its path.
    """
    unknown = [name for name in names if name not in (*_COUNTERS, "latency_ms")]
    if unknown:
        raise errors.invalid_argument("cost", '"params", "flops" or "latency_ms"', unknown[0], "pass one of those")
    return {
        name: _latency_table(latency_table, space) if name == "latency_ms" else _COUNTERS[name](space, **network)
        for name in names
    }


def cost_tables(budget, space, input_shape, num_classes):
    """The tables of every cost `budget` limits, checked to be reachable.

    Args:
        budget: a `Budget`.
        space: the searched `SearchSpace`.
        input_shape, num_classes: of the search data (the defaults of the
            counted network's, which `budget.network` may override).

    Returns:
        Dict from cost name ("params", "flops", "latency_ms") to its `CostTable`.

    Raises:
        InvalidArgumentError: for a latency table of another space, or a limit
            below the cheapest architecture of the space.
    """
    network = network_arguments(budget.network, space, input_shape, num_classes)
    tables = count_tables(budget.limits, space, network, budget.latency_table)
    for name, limit in budget.limits.items():
        cheapest = tables[name].min_cost()
        if cheapest > limit:
            raise errors.invalid_argument(
                f"budget's {name} limit",
                f"a limit some architecture meets (the cheapest of the space costs {cheapest:,.4g} {name})",
                limit,
                "raise the limit, or count a smaller network with Budget(network={'filters': ...})",
            )
    return tables


def _latency_table(table, space):
    if table is None:
        raise errors.invalid_argument(
            "latency_table", "a latency table", None, "measure one with kp.measure_latency_table(space, ...)"
        )
    if isinstance(table, str):
        table = costs_lib.CostTable.load(table)
    elif isinstance(table, dict):
        table = costs_lib.CostTable.from_config(table)
    if not isinstance(table, costs_lib.CostTable) or table.name != "latency_ms":
        raise errors.invalid_type(
            "latency_table",
            'a CostTable named "latency_ms" or its path',
            table,
            "measure one with kp.measure_latency_table(space, ...)",
        )
    if table.space != space:
        raise errors.invalid_argument(
            "latency_table", f"a table of the searched space {space}", table.space, "measure it for this space"
        )
    return table


def describe_costs(budget, tables, genotype):
    """One line such as "params 1.20M of 2.00M (within budget)" for `genotype`, or None without a budget."""
    if budget is None:
        return None
    return budget.describe({name: table.genotype_cost(genotype) for name, table in tables.items()})
