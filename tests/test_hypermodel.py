"""Tests of CellHyperModel: the space as hp.Choice values for Keras Tuner's own searches."""

import keras_tuner
import numpy as np
import pytest

import keras_parsec as kp
from keras_parsec import hypermodel
from keras_parsec.errors import InvalidArgumentError, InvalidTypeError

TINY = kp.SearchSpace(num_cells=2, filters=4, num_nodes=2, operations=("max_pool_3x3", "skip_connect", "sep_conv_3x3"))


@pytest.mark.parametrize("genotype, space", [(kp.DARTS_V1, kp.SearchSpace()), (kp.DARTS_V2, kp.SearchSpace())])
def test_genotype_values_round_trip(genotype, space):
    values = hypermodel.genotype_to_values(genotype)
    assert len(values) == 2 * space.num_nodes * 2
    assert hypermodel.values_to_genotype(values, space) == genotype


def test_declared_choices_cover_every_input_and_operation_of_each_node():
    hp = keras_tuner.HyperParameters()
    hypermodel.declare_hyperparameters(hp, kp.SearchSpace())
    for cell_type in ("normal", "reduce"):
        for node in range(4):
            for slot in range(2):
                values = hp._hps[hypermodel.hyperparameter_name(cell_type, node, slot)][0].values
                assert len(values) == (node + 2) * 7


@pytest.mark.parametrize("value", ["sep_conv_3x3", "@1", "sep_conv_3x3@x", ""])
def test_malformed_choice_values_are_refused(value):
    with pytest.raises(InvalidArgumentError, match="argument `value`"):
        hypermodel.parse_choice_value(value)


def test_values_naming_an_impossible_input_or_missing_a_slot_are_refused():
    values = hypermodel.genotype_to_values(kp.DARTS_V2)
    with pytest.raises(InvalidArgumentError, match="argument `values`"):
        hypermodel.values_to_genotype({k: v for k, v in values.items() if "reduce" not in k}, kp.SearchSpace())
    values["normal/node_0/slot_0"] = "sep_conv_3x3@4"  # node 0 reads inputs 0 and 1 only
    with pytest.raises(InvalidArgumentError):
        hypermodel.values_to_genotype(values, kp.SearchSpace())


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"search_space": "darts"}, InvalidTypeError),
        ({"num_classes": 1}, InvalidArgumentError),
        ({"input_shape": (8, 8)}, InvalidArgumentError),
    ],
)
def test_bad_arguments_raise_before_building(kwargs, error):
    arguments = {"search_space": TINY, "num_classes": 10, "input_shape": (8, 8, 1), **kwargs}
    with pytest.raises(error):
        kp.CellHyperModel(**arguments)


def test_random_search_explores_the_same_space(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((32, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 10, 32)
    tuner = keras_tuner.RandomSearch(
        kp.CellHyperModel(TINY, 10, (8, 8, 1)), objective="val_accuracy", max_trials=2, directory=tmp_path, seed=0
    )
    tuner.search(x, y, validation_data=(x, y), epochs=1, batch_size=16, verbose=0)
    best = tuner.get_best_hyperparameters()[0]
    genotype = hypermodel.values_to_genotype(best.values, TINY)
    assert genotype.validate(TINY) == genotype
    assert len(tuner.oracle.trials) == 2
