"""A budget through ParsecTuner: counted at the trained size, refused when unreachable, reported, resumed."""

import contextlib
import io
import os

import numpy as np
import pytest
from sklearn.datasets import load_digits

import keras_parsec as kp
from keras_parsec.tuning import costs, pareto

SPACE = kp.SearchSpace(num_cells=2, filters=4, num_nodes=2, operations=("max_pool_3x3", "skip_connect", "sep_conv_3x3"))


def digits(n=128):
    data = load_digits()
    return (data.images[:n, ..., None] / 16.0).astype("float32"), data.target[:n].astype("int32")


def tuner(directory, budget, **kwargs):
    return kp.ParsecTuner(SPACE, num_samples=4, seed=1, directory=directory, project_name="p", budget=budget, **kwargs)


def test_the_tables_count_the_searched_size_unless_the_budget_names_another():
    budget = kp.Budget(max_params=1e9, network={"filters": 8})
    args = costs.network_arguments(budget.network, SPACE, (8, 8, 1), 10)
    assert args == {"num_cells": 2, "filters": 8, "input_shape": (8, 8, 1), "num_classes": 10}
    table = costs.cost_tables(budget, SPACE, (8, 8, 1), 10)["params"]
    genotype = kp.ArchitectureDistribution(SPACE).sample(1, seed=0)[0]
    assert table.genotype_cost(genotype) == kp.count_params(genotype, **args)


def test_a_limit_below_the_cheapest_architecture_is_refused_before_any_step(tmp_path):
    x, y = digits()
    with pytest.raises(kp.InvalidArgumentError, match="cheapest of the space costs"):
        tuner(str(tmp_path), kp.Budget(max_params=10)).search(x, y, epochs=1, batch_size=32, verbose=0)
    assert not [name for name in os.listdir(tmp_path / "p") if name.startswith("trial_")]


def test_a_budget_must_be_a_budget():
    with pytest.raises(kp.InvalidTypeError, match="budget"):
        tuner(None, {"max_params": 100})


def test_a_budgeted_search_logs_the_share_over_budget_reports_the_mode_and_resumes_only_with_it(tmp_path):
    x, y = digits()
    tables = costs.cost_tables(kp.Budget(max_params=1e9), SPACE, (8, 8, 1), 10)
    limit = float(np.median(tables["params"].cost(kp.ArchitectureDistribution(SPACE).sample_choices(64, seed=0))))
    budget = kp.Budget(max_params=limit)
    search = tuner(str(tmp_path), budget)
    search.search(x, y, epochs=2, batch_size=32, verbose=0)
    history = search.oracle.runs[search.oracle.get_best_trials(1)[0].trial_id]["history"]
    assert 0.0 < history["over_budget"][0] < 1.0
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        search.results_summary()
    mode_cost = search.cost_tables()["params"].genotype_cost(search.get_best_genotypes()[0])
    assert budget.describe({"params": mode_cost}) in printed.getvalue()
    points = search.plot_pareto(str(tmp_path / "pareto.png"), x[:64], y[:64], num_architectures=6)
    assert (tmp_path / "pareto.png").stat().st_size > 0
    assert points[0]["genotype"] == search.get_best_genotypes()[0]
    assert all(p["params"] == search.cost_tables()["params"].genotype_cost(p["genotype"]) for p in points)
    assert len({p["genotype"] for p in points}) == len(points)
    with pytest.raises(kp.InvalidArgumentError, match="same budget"):
        tuner(str(tmp_path), kp.Budget(max_params=2 * limit)).search(x, y, epochs=2, batch_size=32, verbose=0)


def test_the_pareto_front_keeps_exactly_the_points_no_other_beats():
    rng = np.random.default_rng(0)
    points_cost, accuracy = rng.integers(0, 6, 40), rng.integers(0, 6, 40)
    front = pareto.pareto_front(points_cost, accuracy)
    for i in range(40):
        beaten = any(
            points_cost[j] <= points_cost[i]
            and accuracy[j] >= accuracy[i]
            and (points_cost[j] < points_cost[i] or accuracy[j] > accuracy[i])
            for j in range(40)
        )
        assert front[i] == (not beaten)


def test_a_latency_budget_reads_a_saved_table_of_the_searched_space_only(tmp_path):
    table = kp.measure_latency_table(SPACE, (8, 8, 1), 10, repeats=3, calibration=1, num_cells=2, filters=4)
    path = str(tmp_path / "latency.json")
    table.save(path)
    budget = kp.Budget(max_latency_ms=table.max_cost(), latency_table=path)
    loaded = costs.cost_tables(budget, SPACE, (8, 8, 1), 10)["latency_ms"]
    choices = kp.ArchitectureDistribution(SPACE).sample_choices(5, seed=0).numpy()
    np.testing.assert_allclose(loaded.cost(choices), table.cost(choices))
    with pytest.raises(kp.InvalidArgumentError, match="searched space"):
        costs.cost_tables(budget, kp.SearchSpace(num_cells=2, filters=4), (8, 8, 1), 10)
    with pytest.raises(kp.InvalidArgumentError, match="measure_latency_table"):
        costs.count_tables(["latency_ms"], SPACE, {}, None)
    with pytest.raises(kp.InvalidArgumentError, match="cost"):
        costs.count_tables(["energy"], SPACE, {})
