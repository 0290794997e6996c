"""Tests of CellHyperModel: the space as hp.Choice values for Keras Tuner's own searches."""

import itertools
import re
import warnings

import keras
import keras_tuner
import numpy as np
import pytest

import keras_parsec as kp
from keras_parsec import _upstream
from keras_parsec.errors import InvalidArgumentError, InvalidTypeError
from keras_parsec.tuning import hypermodel

TINY = kp.SearchSpace(num_cells=2, filters=4, num_nodes=2, operations=("max_pool_3x3", "skip_connect", "sep_conv_3x3"))
TINY_GENOTYPE = kp.Genotype(
    normal=[("sep_conv_3x3", 0), ("skip_connect", 1), ("max_pool_3x3", 2), ("sep_conv_3x3", 0)],
    normal_concat=[2, 3],
    reduce=[("max_pool_3x3", 1), ("max_pool_3x3", 1), ("skip_connect", 2), ("sep_conv_3x3", 1)],
    reduce_concat=[2, 3],
)


def _data(n=32):
    rng = np.random.default_rng(0)
    return rng.random((n, 8, 8, 1)).astype("float32"), rng.integers(0, 10, n)


def test_names_and_values_read_as_documented():
    assert hypermodel.hyperparameter_name("normal", 0, 1) == "normal/node_0/slot_1"
    assert hypermodel.choice_value("sep_conv_3x3", 1) == "sep_conv_3x3@1"
    assert hypermodel.parse_choice_value("dil_conv_5x5@12") == ("dil_conv_5x5", 12)
    assert hypermodel.genotype_to_values(kp.DARTS_V2)["normal/node_3/slot_1"] == "dil_conv_3x3@2"


@pytest.mark.parametrize(
    "genotype, space",
    [(kp.DARTS_V1, kp.SearchSpace()), (kp.DARTS_V2, kp.SearchSpace()), (TINY_GENOTYPE, TINY)],
)
def test_genotype_values_round_trip(genotype, space):
    values = hypermodel.genotype_to_values(genotype)
    assert len(values) == 2 * space.num_nodes * 2
    assert hypermodel.values_to_genotype(values, space) == genotype
    assert hypermodel.genotype_to_values(genotype.to_dict()) == values  # the dict form is accepted too


def test_every_declared_value_of_the_tiny_space_round_trips():
    for node, slot in itertools.product(range(TINY.num_nodes), range(2)):
        for value in hypermodel.node_choices(TINY, node):
            values = hypermodel.genotype_to_values(TINY_GENOTYPE)
            values[hypermodel.hyperparameter_name("reduce", node, slot)] = value
            genotype = hypermodel.values_to_genotype(values, TINY)
            assert hypermodel.genotype_to_values(genotype) == values


@pytest.mark.parametrize("space", [kp.SearchSpace(), TINY])
def test_declared_choices_cover_every_input_and_operation_of_each_node(space):
    hp = keras_tuner.HyperParameters()
    hypermodel.declare_hyperparameters(hp, space)
    assert len(hp.space) == 2 * space.num_nodes * 2
    for cell_type, node, slot in itertools.product(("normal", "reduce"), range(space.num_nodes), range(2)):
        choice = hp.get(hypermodel.hyperparameter_name(cell_type, node, slot))
        values = next(h for h in hp.space if h.name == hypermodel.hyperparameter_name(cell_type, node, slot)).values
        assert len(values) == (node + 2) * space.num_operations
        assert values[: space.num_operations] == [f"{op}@0" for op in space.operations]  # input-major
        # The position of a value is SearchSpace.choice_index of its pair.
        assert [space.choice_index(*hypermodel.parse_choice_value(v)) for v in values] == list(range(len(values)))
        assert choice == values[0]


@pytest.mark.parametrize(
    "value, error, match",
    [
        ("sep_conv_3x3", InvalidArgumentError, "operation@input_index"),
        ("@1", InvalidArgumentError, "operation@input_index"),
        ("sep_conv_3x3@x", InvalidArgumentError, "operation@input_index"),
        ("sep_conv_3x3@-1", InvalidArgumentError, "operation@input_index"),
        ("", InvalidArgumentError, "operation@input_index"),
        ("conv_7x7@1", InvalidArgumentError, "an operation name before '@'"),
        ("none@0", InvalidArgumentError, "an operation name before '@'"),
        (3, InvalidTypeError, "Expected a str"),
    ],
)
def test_malformed_choice_values_are_refused(value, error, match):
    with pytest.raises(error, match=match):
        hypermodel.parse_choice_value(value)


def test_an_input_index_its_node_cannot_read_is_refused():
    assert hypermodel.parse_choice_value("skip_connect@3", node=2) == ("skip_connect", 3)
    with pytest.raises(InvalidArgumentError, match=re.escape("an input index in [0, 4) for intermediate node 2")):
        hypermodel.parse_choice_value("skip_connect@4", node=2)
    values = hypermodel.genotype_to_values(kp.DARTS_V2)
    values["normal/node_0/slot_0"] = "sep_conv_3x3@4"  # node 0 reads inputs 0 and 1 only
    with pytest.raises(InvalidArgumentError, match=re.escape("`values['normal/node_0/slot_0']`")):
        hypermodel.values_to_genotype(values, kp.SearchSpace())


def test_values_missing_a_slot_or_outside_the_space_are_refused():
    values = hypermodel.genotype_to_values(kp.DARTS_V2)
    with pytest.raises(InvalidArgumentError, match="8 missing: 'reduce/node_0/slot_0'"):
        hypermodel.values_to_genotype({k: v for k, v in values.items() if "reduce" not in k}, kp.SearchSpace())
    with pytest.raises(InvalidArgumentError, match="an operation of the search space"):
        hypermodel.values_to_genotype(values, kp.SearchSpace(operations=("skip_connect", "sep_conv_3x3")))
    with pytest.raises(InvalidTypeError, match="argument `values`"):
        hypermodel.values_to_genotype(list(values.items()), kp.SearchSpace())


def test_other_hyperparameters_are_ignored_and_hyperparameters_objects_accepted():
    hp = keras_tuner.HyperParameters()
    hypermodel.declare_hyperparameters(hp, TINY)
    hp.Fixed("tuner/epochs", 2)
    hp.values.update(hypermodel.genotype_to_values(TINY_GENOTYPE))
    assert hypermodel.values_to_genotype(hp, TINY) == TINY_GENOTYPE


@pytest.mark.parametrize(
    "function, args, error, match",
    [
        (hypermodel.hyperparameter_name, ("both", 0, 0), InvalidArgumentError, "cell_type"),
        (hypermodel.hyperparameter_name, ("normal", -1, 0), InvalidArgumentError, "node"),
        (hypermodel.hyperparameter_name, ("normal", 0, 2), InvalidArgumentError, "slot"),
        (hypermodel.choice_value, ("conv", 0), InvalidArgumentError, "operation"),
        (hypermodel.choice_value, ("skip_connect", "1"), InvalidTypeError, "input_index"),
        (hypermodel.declare_hyperparameters, ({}, TINY), InvalidTypeError, "argument `hp`"),
        (hypermodel.declare_hyperparameters, (keras_tuner.HyperParameters(), None), InvalidTypeError, "search_space"),
        (hypermodel.genotype_to_values, ("DARTS_V2",), InvalidTypeError, "genotype"),
    ],
)
def test_helpers_check_their_arguments(function, args, error, match):
    with pytest.raises(error, match=match):
        function(*args)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"search_space": "darts"}, InvalidTypeError, "search_space"),
        ({"num_classes": 1}, InvalidArgumentError, "num_classes"),
        ({"num_classes": 2.0}, InvalidTypeError, "num_classes"),
        ({"input_shape": (8, 8)}, InvalidArgumentError, "input_shape"),
        ({"optimizer": "adamm"}, InvalidArgumentError, "optimizer"),
        ({"optimizer": 3}, InvalidTypeError, "optimizer"),
        ({"learning_rate": 0.0}, InvalidArgumentError, "learning_rate"),
        ({"learning_rate": "fast"}, InvalidTypeError, "learning_rate"),
        ({"filters": 8}, InvalidArgumentError, re.escape("remove ['filters']")),
        ({"drop_path": 0.2}, InvalidArgumentError, re.escape("correct ['drop_path']")),
    ],
)
def test_bad_arguments_raise_at_construction(kwargs, error, match):
    arguments = {"search_space": TINY, "num_classes": 10, "input_shape": (8, 8, 1), **kwargs}
    with pytest.raises(error, match=match):
        kp.CellHyperModel(**arguments)


def test_build_returns_the_compiled_network_of_the_values():
    hp = keras_tuner.HyperParameters()
    hypermodel.declare_hyperparameters(hp, TINY)
    hp.values.update(hypermodel.genotype_to_values(TINY_GENOTYPE))
    optimizer = keras.optimizers.SGD(learning_rate=0.5, momentum=0.9)
    model = kp.CellHyperModel(
        TINY, 10, (8, 8, 1), optimizer=optimizer, learning_rate=0.01, classifier_activation=None, drop_path_rate=0.1
    ).build(hp)
    assert isinstance(model, kp.CellNetwork)
    assert model.genotype == TINY_GENOTYPE
    assert (model.num_cells, model.filters, model.drop_path_rate) == (2, 4, 0.1)
    assert model.optimizer is not optimizer  # every model gets its own optimizer
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)
    assert model.loss.get_config()["from_logits"] is True  # classifier_activation=None gives logits
    x, y = _data(4)
    assert model.predict(x, verbose=0).shape == (4, 10)


def test_random_search_explores_the_same_space(tmp_path):
    x, y = _data()
    tuner = keras_tuner.RandomSearch(
        kp.CellHyperModel(TINY, 10, (8, 8, 1)), objective="val_accuracy", max_trials=2, directory=tmp_path, seed=0
    )
    tuner.search(x, y, validation_data=(x, y), epochs=1, batch_size=16, verbose=0)
    assert len(tuner.oracle.trials) == 2
    best = tuner.get_best_hyperparameters()[0]
    genotype = hypermodel.values_to_genotype(best.values, TINY)
    assert genotype.validate(TINY) == genotype
    assert tuner.get_best_models()[0].genotype == genotype


def test_hyperband_searches_the_same_space_unchanged(tmp_path):
    # One cell keeps the five trials of two brackets fast; the second round of
    # the first bracket goes on from a checkpoint of the first.
    space = kp.SearchSpace(num_cells=1, filters=4, num_nodes=2, operations=TINY.operations)
    x, y = _data()
    tuner = keras_tuner.Hyperband(
        kp.CellHyperModel(space, 10, (8, 8, 1)),
        objective="val_accuracy",
        max_epochs=2,
        factor=2,
        hyperband_iterations=1,
        directory=tmp_path,
        seed=0,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Gradients do not exist")  # a genotype may skip c_{k-2}
        tuner.search(x, y, validation_data=(x, y), batch_size=16, verbose=0)
    trials = list(tuner.oracle.trials.values())
    assert any(trial.hyperparameters.values.get("tuner/trial_id") for trial in trials)
    for trial in trials:  # Hyperband's own values ride along and are ignored
        assert hypermodel.values_to_genotype(trial.hyperparameters.values, space).validate(space)


def test_bayesian_optimization_oracle_proposes_genotypes_of_the_space(tmp_path):
    oracle = keras_tuner.oracles.BayesianOptimizationOracle(
        objective="val_accuracy", max_trials=3, num_initial_points=2, seed=0
    )
    _upstream.set_oracle_project_dir(oracle, str(tmp_path), "bayesian")
    hp = keras_tuner.HyperParameters()
    hypermodel.declare_hyperparameters(hp, TINY)
    oracle.update_space(hp)
    for _ in range(3):  # two random points, then one from the Gaussian process
        trial = oracle.create_trial("tuner0")
        genotype = hypermodel.values_to_genotype(trial.hyperparameters.values, TINY)
        score = sum(TINY.choice_index(*pair) for pair in genotype.normal + genotype.reduce) / 100
        oracle.update_trial(trial.trial_id, {"val_accuracy": score})
        trial.status = keras_tuner.engine.trial.TrialStatus.COMPLETED
        oracle.end_trial(trial)
    assert len(oracle.trials) == 3
