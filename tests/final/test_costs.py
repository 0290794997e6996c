"""Tests for keras_parsec.final.costs: per-choice parameter and multiply-add tables of a final network."""

import itertools
import json

import numpy as np
import pytest

import keras_parsec as kp
from keras_parsec.errors import InvalidArgumentError, InvalidTypeError

SPACE = kp.SearchSpace(num_cells=5, filters=8)
NETWORK = {"num_cells": 5, "filters": 8, "input_shape": (16, 16, 3), "num_classes": 10}
TINY = kp.SearchSpace(num_cells=3, filters=4, num_nodes=1, operations=("max_pool_3x3", "sep_conv_3x3"))
TINY_NETWORK = {"num_cells": 3, "filters": 4, "input_shape": (8, 8, 3), "num_classes": 3}


@pytest.fixture(scope="module")
def tables():
    return {"params": kp.params_table(SPACE, **NETWORK), "flops": kp.flops_table(SPACE, **NETWORK)}


def genotypes(space, count, seed):
    return kp.ArchitectureDistribution(space).sample(count, seed=seed)


@pytest.mark.parametrize("name, count", (("params", kp.count_params), ("flops", kp.count_flops)))
def test_tables_are_exact_for_darts_and_random_genotypes(tables, name, count):
    table = tables[name]
    for genotype in [kp.DARTS_V2, kp.DARTS_V1, *genotypes(SPACE, 3, seed=int(name == "flops"))]:
        assert table.genotype_cost(genotype) == count(genotype, **NETWORK)


@pytest.mark.parametrize(
    "network",
    (
        {"num_cells": 4, "filters": 6, "input_shape": (15, 17, 3), "num_classes": 4},  # odd sides round up
        {"num_cells": 3, "filters": 4, "input_shape": (32, 32, 3), "num_classes": 5, "stem": "imagenet"},
    ),
)
def test_tables_are_exact_at_odd_sizes_and_with_the_imagenet_stem(network):
    genotype = genotypes(SPACE, 1, seed=3)[0]
    assert kp.params_table(SPACE, **network).genotype_cost(genotype) == kp.count_params(genotype, **network)
    assert kp.flops_table(SPACE, **network).genotype_cost(genotype) == kp.count_flops(genotype, **network)


def test_cost_of_one_and_of_a_batch_of_choices(tables):
    distribution = kp.ArchitectureDistribution(SPACE)
    choices = distribution.sample_choices(6, seed=0).numpy()
    table = tables["params"]
    batch = table.cost(choices)
    assert batch.shape == (6,) and batch.dtype == np.float64
    assert [table.cost(c) for c in choices] == list(batch)
    assert isinstance(table.cost(choices[0]), float)
    genotype = distribution.choices_to_genotype(choices[2])
    assert table.genotype_cost(genotype) == batch[2]


def test_padding_is_zero_and_the_network_arguments_are_kept(tables):
    table = tables["flops"]
    mask = kp.distribution.valid_choice_mask(SPACE)
    assert table.table.shape == mask.shape
    assert np.all(table.table[~mask] == 0)
    assert np.all(table.table[mask] >= 0)
    assert table.network["num_cells"] == 5 and table.network["input_shape"] == [16, 16, 3]


def test_min_and_max_cost_are_the_brute_force_extremes_and_the_counts_of_those_networks():
    table = kp.params_table(TINY, **TINY_NETWORK)
    limits = [TINY.num_choices(0)] * 4  # 2 cell types x 1 node x 2 slots
    everything = np.array(list(itertools.product(*map(range, limits))), np.int32).reshape(-1, 2, 1, 2)
    costs = table.cost(everything)
    assert table.min_cost() == costs.min() and table.max_cost() == costs.max()
    distribution = kp.ArchitectureDistribution(TINY)
    for extreme, index in ((table.min_cost(), costs.argmin()), (table.max_cost(), costs.argmax())):
        genotype = distribution.choices_to_genotype(everything[index])
        assert kp.count_params(genotype, **TINY_NETWORK) == extreme


def test_default_size_is_the_cifar10_setting():
    table = kp.params_table(TINY)
    assert {key: table.network[key] for key in ("num_cells", "filters", "num_classes")} == {
        "num_cells": 20,
        "filters": 36,
        "num_classes": 10,
    }


def test_json_round_trip(tables, tmp_path):
    table = tables["flops"]
    path = tmp_path / "tables" / "flops.json"
    table.save(path)
    loaded = kp.CostTable.load(path)
    assert loaded.get_config() == table.get_config()
    assert loaded.space == SPACE and loaded.name == "flops"
    assert loaded.genotype_cost(kp.DARTS_V2) == table.genotype_cost(kp.DARTS_V2)
    assert kp.CostTable.from_config(table.get_config()).base == table.base


def test_wrong_choices_are_typed_errors(tables):
    table = tables["params"]
    with pytest.raises(InvalidArgumentError, match="integer choices of shape"):
        table.cost(np.zeros((2, 3, 2), np.int32))
    with pytest.raises(InvalidArgumentError, match="integer choices"):
        table.cost(np.zeros((2, 4, 2)))
    too_large = np.zeros((2, 4, 2), np.int32)
    too_large[0, 0, 1] = 2 * SPACE.num_operations  # node 0 reads only inputs 0 and 1
    with pytest.raises(InvalidArgumentError, match=r"choices\[0, 0, 1\].*node 0"):
        table.cost(too_large)
    with pytest.raises(InvalidArgumentError, match="concatenate"):
        table.genotype_cost(kp.Genotype(kp.DARTS_V2.normal, [2, 3], kp.DARTS_V2.reduce, [2, 3, 4, 5]))
    with pytest.raises(InvalidArgumentError, match="num_nodes"):
        kp.params_table(TINY, **TINY_NETWORK).genotype_cost(kp.DARTS_V2)


def test_wrong_tables_and_files_are_typed_errors(tables, tmp_path):
    table = tables["params"]
    with pytest.raises(InvalidArgumentError, match="table.shape"):
        kp.CostTable("params", 0.0, np.zeros((2, 4, 2, 5)), SPACE)
    with pytest.raises(InvalidTypeError, match="space"):
        kp.CostTable("params", 0.0, table.table, SPACE.get_config())
    broken = table.table.copy()
    broken[1, 3, 0, 0] = np.nan
    with pytest.raises(InvalidArgumentError, match=r"table\[1, 3, 0, 0\]"):
        kp.CostTable("params", 0.0, broken, SPACE)
    with pytest.raises(InvalidArgumentError, match="base"):
        kp.CostTable("params", float("inf"), table.table, SPACE)
    with pytest.raises(InvalidArgumentError, match="check the path"):
        kp.CostTable.load(tmp_path / "missing.json")
    (tmp_path / "foreign.json").write_text('{"class_name": "ArchitectureDistribution", "config": {}}')
    with pytest.raises(InvalidArgumentError, match="something else"):
        kp.CostTable.load(tmp_path / "foreign.json")
    (tmp_path / "text.json").write_text("params: 3")
    with pytest.raises(InvalidArgumentError, match="not one"):
        kp.CostTable.load(tmp_path / "text.json")
    config = table.get_config()
    config["table"] = config["table"][:1]
    (tmp_path / "corrupt.json").write_text(json.dumps({"class_name": "CostTable", "config": config}))
    with pytest.raises(InvalidArgumentError, match="corrupt"):
        kp.CostTable.load(tmp_path / "corrupt.json")
    with pytest.raises(InvalidArgumentError, match="setting"):
        kp.params_table(SPACE, "mnist")
