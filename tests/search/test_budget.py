"""The budget rule in Algorithm 1's importance weights, against NumPy references and an exact gradient."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_parsec as kp
from keras_parsec import distribution as dist_lib
from keras_parsec.search import algorithm
from keras_parsec.search.budget import Budget


class AdditiveTable:
    """The shape of a `final.costs.CostTable`: base plus one entry per (cell type, node, slot, choice)."""

    def __init__(self, base, table):
        self.base, self.table = base, np.asarray(table, np.float64)

    def cost(self, choices):
        choices = np.asarray(choices)
        cells, nodes, slots = np.indices(choices.shape[-3:])
        return self.base + self.table[cells, nodes, slots, choices].sum(axis=(-3, -2, -1))


def tiny_space():
    return kp.SearchSpace(num_cells=3, filters=4, num_nodes=1, operations=("max_pool_3x3", "sep_conv_3x3"))


def all_architectures(space):
    """Every architecture of a space with one node: `[A, 2, 1, 2]`."""
    options = range(space.num_choices(0))
    return np.array(list(itertools.product(options, repeat=4)), np.int32).reshape(-1, 2, 1, 2)


@pytest.mark.parametrize(
    "costs, factors",
    (
        # Within the limit: factor 1; above it: 0.
        ([50.0, 100.0, 150.0], [0.0, 0.0, -np.inf]),
        # No sample fits: only the one closest to the budget counts.
        ([300.0, 120.0, 200.0], [-np.inf, 0.0, -np.inf]),
        ([120.0, 120.0, 200.0], [0.0, 0.0, -np.inf]),
    ),
)
def test_the_hard_rule_zeroes_over_budget_samples_or_keeps_the_closest(costs, factors):
    got = Budget(max_params=100).log_factors({"params": np.array(costs)}, num_examples=8)
    np.testing.assert_array_equal(got, factors)


def test_the_soft_rule_scales_each_examples_likelihood_above_every_limit():
    budget = Budget(max_params=100, max_flops=10, rule="soft", exponent=0.5)
    costs = {"params": np.array([50.0, 200.0, 200.0]), "flops": np.array([5.0, 5.0, 40.0])}
    reference = -0.5 * 8 * np.array([0.0, np.log(2.0), np.log(2.0) + np.log(4.0)])
    np.testing.assert_allclose(budget.log_factors(costs, num_examples=8), reference)


def test_merged_weights_with_a_budget_zero_the_over_budget_samples_without_calling_them_not_finite():
    log_likelihoods = np.array([-1.0, -2.0, -0.5, -3.0])
    costs = {"params": np.array([10.0, 30.0, 50.0, 20.0])}
    factors = Budget(max_params=35).log_factors(costs, num_examples=4)
    inverse = np.arange(4)
    weights, merged, skip = algorithm.merged_weights(
        tf.constant(log_likelihoods, tf.float32), inverse, inverse, factors
    )
    reference = np.exp(log_likelihoods) * (costs["params"] <= 35)
    np.testing.assert_allclose(weights.numpy(), reference / reference.sum(), rtol=1e-6)
    np.testing.assert_allclose(merged.numpy(), weights.numpy())
    assert not skip.any()


def test_the_weighted_score_estimates_the_gradient_of_the_budgeted_marginal_likelihood():
    """Monte Carlo over samples of p(alpha | pi) against the exact gradient by enumeration."""
    space = tiny_space()
    rng = np.random.default_rng(0)
    distribution = kp.ArchitectureDistribution(space, logits=rng.normal(size=(2, 1, 2, space.max_choices)))
    table = AdditiveTable(10.0, rng.uniform(1, 5, size=(2, 1, 2, space.max_choices)))
    architectures = all_architectures(space)
    likelihood = {a.tobytes(): v for a, v in zip(architectures, rng.normal(size=len(architectures)))}
    for budget in (Budget(max_params=np.median(table.cost(architectures))), Budget(max_params=20.0, rule="soft")):
        costs = {"params": table.cost(architectures)}
        log_g = tf.constant(budget.log_factors(costs, num_examples=1), tf.float64)
        logits = tf.Variable(tf.cast(distribution.logits, tf.float64))
        with tf.GradientTape() as tape:
            log_p = dist_lib.log_prob(tf.cast(logits, tf.float32), distribution.mask, architectures)
            ll = tf.constant([likelihood[a.tobytes()] for a in architectures], tf.float64)
            objective = tf.reduce_logsumexp(ll + log_g + tf.cast(log_p, tf.float64))
        exact = tape.gradient(objective, logits).numpy()

        samples = distribution.sample_choices(40_000, seed=1).numpy()
        ll = tf.constant([likelihood[a.tobytes()] for a in samples], tf.float32)
        factors = budget.log_factors({"params": table.cost(samples)}, num_examples=1)
        weights, _, _ = algorithm.merged_weights(ll, np.arange(len(samples)), np.arange(len(samples)), factors)
        estimate = distribution.score_gradient(samples, weights).numpy()
        np.testing.assert_allclose(estimate, exact, atol=0.02, err_msg=budget.rule)


def test_a_budget_needs_a_limit_a_known_rule_and_a_latency_table_for_latency():
    with pytest.raises(kp.InvalidArgumentError, match="at least one limit"):
        Budget()
    with pytest.raises(kp.InvalidArgumentError, match="rule"):
        Budget(max_params=10, rule="strict")
    with pytest.raises(kp.InvalidArgumentError, match="positive"):
        Budget(max_flops=-1)
    with pytest.raises(kp.InvalidTypeError, match="max_params"):
        Budget(max_params="1M")
    with pytest.raises(kp.InvalidArgumentError, match="measure_latency_table"):
        Budget(max_latency_ms=5)


def test_a_budget_round_trips_through_its_config_and_describes_a_cost():
    budget = Budget(max_params=2_000_000, max_flops=600e6, rule="soft", exponent=0.1, network={"filters": 36})
    assert Budget.from_config(budget.get_config()) == budget
    assert (
        budget.describe({"params": 1.2e6, "flops": 7e8})
        == "params 1.20M of 2.00M, flops 700.00M of 600.00M (OVER budget)"
    )
    assert budget.fits({"params": 1.2e6, "flops": 5e8})


def budgeted_step(engine, budget, table):
    """One search step of `engine` on a tiny space; returns its logs and the weights pi was updated with."""
    keras.utils.set_random_seed(0)
    space = kp.SearchSpace(num_cells=2, filters=4, num_nodes=1, operations=("max_pool_3x3", "sep_conv_3x3"))
    kwargs = {"budget": budget, "cost_tables": {"params": table}} if budget else {}
    net = engine(space, num_classes=3, num_samples=6, seed=0, **kwargs)
    net.build((None, 8, 8, 1))
    net.compile()
    x = tf.constant(np.random.default_rng(0).normal(size=(4, 8, 8, 1)).astype("float32"))
    y = tf.constant([0, 1, 2, 0])
    seen = {}
    update = algorithm.update_distribution

    def recording(optimizer, distribution, choices, weights):
        seen.update(choices=np.asarray(choices), weights=np.asarray(weights))
        return update(optimizer, distribution, choices, weights)

    algorithm.update_distribution = recording
    try:
        logs = net.train_step(((x, y), (x, y)))
    finally:
        algorithm.update_distribution = update
    return logs, seen, net


@pytest.mark.parametrize("engine", (kp.SuperNet, kp.search.EagerSuperNet))
def test_a_search_step_under_a_hard_budget_gives_over_budget_samples_weight_zero(engine):
    rng = np.random.default_rng(3)
    table = AdditiveTable(0.0, rng.uniform(0, 10, size=(2, 1, 2, 4)))
    _, seen, _ = budgeted_step(engine, None, table)
    limit = float(np.median(table.cost(seen["choices"])))
    logs, seen, _ = budgeted_step(engine, Budget(max_params=limit), table)
    over = table.cost(seen["choices"]) > limit
    assert over.any() and not over.all()
    np.testing.assert_array_equal(seen["weights"][over], 0.0)
    np.testing.assert_allclose(seen["weights"].sum(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(float(logs["over_budget"]), over.mean())


def test_a_budget_every_sample_meets_leaves_the_step_as_the_papers():
    table = AdditiveTable(0.0, np.ones((2, 1, 2, 4)))
    _, plain, plain_net = budgeted_step(kp.SuperNet, None, table)
    _, budgeted, budgeted_net = budgeted_step(kp.SuperNet, Budget(max_params=1e9), table)
    np.testing.assert_allclose(budgeted["weights"], plain["weights"], rtol=1e-6)
    np.testing.assert_allclose(
        budgeted_net.distribution.logits.numpy(), plain_net.distribution.logits.numpy(), atol=1e-7
    )


def test_a_supernet_refuses_a_budget_without_the_table_it_limits():
    with pytest.raises(kp.InvalidArgumentError, match="flops"):
        kp.SuperNet(tiny_space(), num_classes=3, budget=Budget(max_flops=10), cost_tables={})
