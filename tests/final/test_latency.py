"""Tests for keras_parsec.final.latency: measured inference latency, per choice and end to end."""

import numpy as np
import pytest

import keras_parsec as kp
from keras_parsec.errors import InvalidArgumentError, InvalidTypeError

SPACE = kp.SearchSpace(num_cells=3, filters=4, num_nodes=2, operations=("max_pool_3x3", "skip_connect", "sep_conv_3x3"))
NETWORK = {"num_cells": 3, "filters": 4}
TIMING = {"device": "/CPU:0", "repeats": 2}


@pytest.fixture(scope="module")
def table():
    return kp.measure_latency_table(SPACE, (8, 8, 3), 3, calibration=1, **TIMING, **NETWORK)


def test_table_shape_positivity_and_what_was_measured(table):
    mask = kp.distribution.valid_choice_mask(SPACE)
    assert table.name == "latency_ms" and table.table.shape == mask.shape
    assert np.all(table.table[mask] >= 0) and np.all(table.table[~mask] == 0)
    sep_conv = SPACE.choice_index("sep_conv_3x3", 0)
    assert np.all(table.table[:, :, :, sep_conv] > 0)  # a convolution always takes time
    assert table.measurement["device"] == "/CPU:0" and table.measurement["batch_size"] == 1
    assert len(table.measurement["calibration_ms"]) == 2  # the first choices and one sample
    assert table.network["num_cells"] == 3 and table.network["input_shape"] == [8, 8, 3]
    assert table.max_cost() > table.min_cost()


def test_genotype_cost_is_base_plus_the_sum_of_its_entries(table):
    distribution = kp.ArchitectureDistribution(SPACE)
    choices = distribution.sample_choices(1, seed=0).numpy()[0]
    entries = [table.table[t, n, s, choices[t, n, s]] for t in range(2) for n in range(2) for s in range(2)]
    expected = table.base + sum(entries)
    assert table.genotype_cost(distribution.choices_to_genotype(choices)) == pytest.approx(expected)
    assert table.cost(choices) == pytest.approx(expected)


def test_json_round_trip(table, tmp_path):
    table.save(tmp_path / "latency.json")
    loaded = kp.CostTable.load(tmp_path / "latency.json")
    assert loaded.get_config() == table.get_config()
    assert loaded.measurement["repeats"] == 2


def test_measure_latency_of_a_genotype_a_model_and_a_list():
    genotype = kp.ArchitectureDistribution(SPACE).sample(1, seed=0)[0]
    one = kp.measure_latency(genotype, (8, 8, 3), 3, **TIMING, **NETWORK)
    assert isinstance(one, float) and one > 0
    model = kp.CellNetwork(genotype, 3, input_shape=(8, 8, 3), **NETWORK)
    many = kp.measure_latency([model, model], statistic="min", **TIMING)
    assert many.shape == (2,) and np.all(many > 0)


def test_bad_arguments_are_typed_errors():
    model = kp.CellNetwork(kp.DARTS_V2, 3, input_shape=(8, 8, 3), **NETWORK)
    with pytest.raises(InvalidArgumentError, match="built CellNetwork"):
        kp.measure_latency(model, (16, 16, 3), **TIMING)
    with pytest.raises(InvalidArgumentError, match="device"):
        kp.measure_latency(model, device="/TPU:7", repeats=1)
    with pytest.raises(InvalidTypeError, match="device"):
        kp.measure_latency(model, device=0, repeats=1)
    with pytest.raises(InvalidArgumentError, match="repeats"):
        kp.measure_latency(model, device="/CPU:0", repeats=0)
    with pytest.raises(InvalidArgumentError, match="statistic"):
        kp.measure_latency(model, device="/CPU:0", repeats=1, statistic="mean")
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        kp.measure_latency_table(SPACE, (8, 8, 3), 3, batch_size=0, **TIMING, **NETWORK)
