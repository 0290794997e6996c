"""Tests for keras_parsec.search.recipe: the search's defaults, in one place, are the paper's."""

import dataclasses
import inspect

import pytest

import keras_parsec as kp
from keras_parsec import errors
from keras_parsec.search import SEARCH_RECIPE, CosineSchedule, EagerSuperNet, SearchRecipe, SuperNet
from keras_parsec.tuning.oracle import ParsecOracle

# PARSEC 4.1 (Adam 0.02, betas (0.5, 0.999), K = 16) and DARTS for the rest.
PAPER = {
    "num_samples": 16,
    "weight_learning_rate": 0.025,
    "weight_learning_rate_min": 0.001,
    "weight_momentum": 0.9,
    "weight_decay": 3e-4,
    "gradient_clip_norm": 5.0,
    "architecture_learning_rate": 0.02,
    "architecture_beta_1": 0.5,
    "architecture_beta_2": 0.999,
}
SPACE = kp.SearchSpace(num_cells=2, filters=4, num_nodes=2, operations=("max_pool_3x3", "skip_connect"))


def schedule_config(optimizer):
    """The config of `optimizer`'s learning rate schedule, which must be a `CosineSchedule`."""
    schedule = optimizer.get_config()["learning_rate"]
    assert schedule["class_name"] == "CosineSchedule"
    return schedule["config"]


def test_the_defaults_are_the_paper_s():
    assert dataclasses.asdict(SearchRecipe()) == PAPER
    assert SEARCH_RECIPE == SearchRecipe()
    assert kp.SearchRecipe is SearchRecipe and "SearchRecipe" in kp.__all__


def test_the_recipe_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        SEARCH_RECIPE.num_samples = 8


@pytest.mark.parametrize(
    "overrides, error",
    [
        ({"num_samples": 0}, errors.InvalidArgumentError),
        ({"num_samples": 2.0}, errors.InvalidTypeError),
        ({"weight_momentum": 1.0}, errors.InvalidArgumentError),
        ({"architecture_beta_2": -0.1}, errors.InvalidArgumentError),
        ({"weight_decay": float("nan")}, errors.InvalidArgumentError),
        ({"weight_learning_rate": "0.1"}, errors.InvalidTypeError),
    ],
)
def test_an_unusable_value_is_refused_naming_the_field(overrides, error):
    (name,) = overrides
    with pytest.raises(error, match=f"`{name}`"):
        SearchRecipe(**overrides)


def test_the_optimizers_carry_the_recipe_s_settings():
    recipe = SearchRecipe(weight_momentum=0.8, architecture_beta_1=0.6)
    weights = recipe.weight_optimizer(learning_rate=0.1, total_steps=7)
    assert schedule_config(weights) == {"initial": 0.1, "final": 0.001, "total_steps": 7}
    assert float(weights.momentum) == 0.8
    architecture = recipe.architecture_optimizer()
    assert float(architecture.learning_rate) == pytest.approx(0.02)
    assert (architecture.beta_1, architecture.beta_2) == (0.6, 0.999)
    assert CosineSchedule().get_config() == {"initial": 0.025, "final": 0.001, "total_steps": None}


@pytest.mark.parametrize("engine", [SuperNet, EagerSuperNet])
def test_both_engines_take_their_defaults_from_the_recipe(engine):
    assert inspect.signature(engine).parameters["num_samples"].default == SEARCH_RECIPE.num_samples
    net = engine(SPACE, 3)
    assert net.num_samples == SEARCH_RECIPE.num_samples
    net.compile()
    assert net.weight_decay == SEARCH_RECIPE.weight_decay
    assert net.gradient_clip_norm == SEARCH_RECIPE.gradient_clip_norm
    assert float(net.weight_optimizer.momentum) == SEARCH_RECIPE.weight_momentum
    assert float(net.architecture_optimizer.learning_rate) == pytest.approx(SEARCH_RECIPE.architecture_learning_rate)
    assert net.architecture_optimizer.beta_1 == SEARCH_RECIPE.architecture_beta_1


def test_compile_arguments_apply_a_recipe():
    recipe = SearchRecipe(weight_decay=0.0, gradient_clip_norm=1.0, architecture_learning_rate=0.01)
    net = SuperNet(SPACE, 3, num_samples=2)
    net.compile(**recipe.compile_arguments(total_steps=5))
    assert (net.weight_decay, net.gradient_clip_norm) == (0.0, 1.0)
    assert float(net.architecture_optimizer.learning_rate) == pytest.approx(0.01)


@pytest.mark.parametrize("cls", [kp.ParsecTuner, ParsecOracle])
def test_the_tuner_and_the_oracle_default_to_the_recipe(cls):
    parameters = inspect.signature(cls).parameters
    assert parameters["num_samples"].default == SEARCH_RECIPE.num_samples
    assert parameters["weight_learning_rate"].default == SEARCH_RECIPE.weight_learning_rate
    assert parameters["architecture_learning_rate"].default == SEARCH_RECIPE.architecture_learning_rate


def test_the_tuner_builds_each_run_s_optimizers_from_the_recipe(tmp_path):
    tuner = kp.ParsecTuner(SPACE, directory=str(tmp_path), project_name="p", seed=0)
    values = {"seed": 0, "num_samples": 2, "weight_learning_rate": 0.05, "architecture_learning_rate": 0.03}
    net = tuner._build_supernet(values, 3, (8, 8, 1), total_steps=4)
    final = SEARCH_RECIPE.weight_learning_rate_min
    assert schedule_config(net.weight_optimizer) == {"initial": 0.05, "final": final, "total_steps": 4}
    assert float(net.weight_optimizer.momentum) == SEARCH_RECIPE.weight_momentum
    assert float(net.architecture_optimizer.learning_rate) == pytest.approx(0.03)
    assert net.architecture_optimizer.beta_2 == SEARCH_RECIPE.architecture_beta_2
    assert (net.weight_decay, net.gradient_clip_norm) == (SEARCH_RECIPE.weight_decay, SEARCH_RECIPE.gradient_clip_norm)
