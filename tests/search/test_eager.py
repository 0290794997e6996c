"""Tests of the supernet: single-path execution and Algorithm 1's updates."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_parsec as kp
from keras_parsec.search import eager_passes as supernet_lib

OPS = ("max_pool_3x3", "skip_connect", "sep_conv_3x3")


def tiny_space(**overrides):
    config = {"num_cells": 2, "filters": 4, "num_nodes": 2, "operations": OPS}
    config.update(overrides)
    return kp.SearchSpace(**config)


def tiny_net(num_samples=2, seed=0, space=None):
    keras.utils.set_random_seed(seed)
    net = kp.search.EagerSuperNet(space or tiny_space(), num_classes=3, num_samples=num_samples, seed=seed)
    net.build((None, 8, 8, 1))
    net.compile()
    return net


def tiny_batch(batch=4, seed=0):
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.normal(size=(batch, 8, 8, 1)).astype("float32"))
    y = tf.constant(rng.integers(0, 3, size=batch).astype("int32"))
    return x, y


def choices_for(space, normal, reduce):
    """[2, N, 2] choices from two lists of (operation, input) pairs."""
    cells = [[space.choice_index(op, i) for op, i in cell] for cell in (normal, reduce)]
    return np.array(cells, np.int32).reshape(2, space.num_nodes, 2)


@pytest.mark.parametrize("operation", kp.OPERATIONS)
def test_every_operation_runs_in_both_cell_types(operation):
    space = tiny_space(operations=(operation,))
    net = tiny_net(space=space)
    x, _ = tiny_batch()
    logits = net.architecture_logits(x, np.zeros((2, 2, 2), np.int32) + np.array([0, 1])[None, None])
    assert logits.shape == (4, 3)
    assert np.all(np.isfinite(logits.numpy()))


def test_only_the_sampled_edges_receive_gradients():
    net = tiny_net(space=tiny_space(num_cells=3))  # cell 0 normal, cells 1 and 2 reduction
    space = net.search_space
    choices = choices_for(
        space,
        normal=[("sep_conv_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("sep_conv_3x3", 1)],
        reduce=[("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("max_pool_3x3", 2), ("sep_conv_3x3", 0)],
    )
    x, y = tiny_batch()
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(supernet_lib.cross_entropy(y, net.architecture_logits(x, choices)))
    gradients = tape.gradient(loss, net.trainable_variables)
    used = {id(v) for v in net.architecture_variables(choices)}
    for variable, gradient in zip(net.trainable_variables, gradients):
        if id(variable) not in used:
            assert gradient is None, variable.path
    edge_names = {v.path for v in net.architecture_variables(choices) if "node" in v.path}
    # Normal cell 0, node 0: sep_conv_3x3 from input 0 (4 weights), max_pool from input 1 (none).
    assert sum("cell_0_node0_from0_sep_conv_3x3" in name for name in edge_names) == 4
    assert not any("cell_0_node0_from1" in name for name in edge_names)
    # Reduction cell 1, node 0: sep_conv_3x3 from inputs 1 and 0.
    assert sum("cell_1_node0_from1_sep_conv_3x3" in name for name in edge_names) == 4


def test_fixed_and_eager_execution_agree():
    net = tiny_net()
    x, _ = tiny_batch()
    choices = net.sample_choices()[0]
    eager = net.architecture_logits(x, choices)
    compiled = tf.function(lambda: net.architecture_logits(x, choices))()
    np.testing.assert_allclose(eager.numpy(), compiled.numpy(), rtol=1e-5, atol=1e-5)


def run_step_with(net, choices):
    """One train_step with the sampler fixed to `choices`; returns (logits before, after)."""
    net.sample_choices = lambda: choices
    x, y = tiny_batch()
    before = net.distribution.logits.numpy().copy()
    net.train_step(((x, y), (x, y)))
    return before, net.distribution.logits.numpy()


def test_pi_update_is_adam_on_the_importance_weighted_score():
    net = tiny_net(num_samples=3)
    choices = net.distribution.sample_choices(3, seed=1).numpy()
    x, y = tiny_batch()
    log_likelihoods = np.array([float(net.log_likelihood(x, y, c)) for c in choices])
    shifted = np.exp(log_likelihoods - log_likelihoods.max())
    weights = shifted / shifted.sum()
    probabilities = net.distribution.probabilities()
    expected_gradient = np.zeros_like(probabilities)
    for weight, choice in zip(weights, choices):
        one_hot = np.zeros_like(probabilities)
        for cell in range(2):
            for node in range(net.search_space.num_nodes):
                for slot in range(2):
                    one_hot[cell, node, slot, choice[cell, node, slot]] = 1.0
        expected_gradient += weight * (one_hot - probabilities)
    before, after = run_step_with(net, choices)
    # Adam's first step moves every coordinate by lr * sign(gradient) (ascent on log p); the logits are then
    # re-centred per slot, which shifts a whole slot: compare the moves within each slot, up to that shift.
    significant = np.abs(expected_gradient) > 1e-4
    step, expected = after - before, 0.02 * np.sign(expected_gradient)
    compared = 0
    for slot in np.ndindex(*step.shape[:-1]):
        moved, wanted = step[slot][significant[slot]], expected[slot][significant[slot]]
        if len(moved) >= 2:
            np.testing.assert_allclose(moved - moved[0], wanted - wanted[0], atol=4e-4)
            compared += 1
    assert compared >= step.size // step.shape[-1] // 2
    assert np.all(np.abs((after - before)[~net.distribution.mask]) == 0)


def test_an_architecture_with_weight_zero_changes_no_weights_of_its_own():
    net = tiny_net(num_samples=2)
    net.compile(weight_decay=0.0)  # decay alone would move every weight a little
    space = net.search_space
    kept = choices_for(
        space,
        normal=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("max_pool_3x3", 0), ("max_pool_3x3", 1)],
        reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("max_pool_3x3", 0), ("max_pool_3x3", 1)],
    )
    dropped = choices_for(
        space,
        normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 2), ("sep_conv_3x3", 2)],
        reduce=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 2), ("sep_conv_3x3", 2)],
    )
    net.log_likelihood = lambda x, y, c, prefix=None: tf.constant(0.0 if np.array_equal(c, kept) else -1e4)
    own = [v for v in net.architecture_variables(dropped) if "sep_conv" in v.path]
    values = [v.numpy().copy() for v in own]
    shared = net.classifier_kernel.numpy().copy()
    run_step_with(net, np.stack([kept, dropped]))
    for variable, value in zip(own, values):
        np.testing.assert_array_equal(variable.numpy(), value)
    assert not np.array_equal(net.classifier_kernel.numpy(), shared)


def test_peak_activations_do_not_depend_on_k_because_samples_run_one_by_one():
    net = tiny_net(num_samples=4)
    calls = []
    original = net.architecture_logits

    def recording(images, choices, recompute=None, prefix=None):
        calls.append((np.asarray(choices).shape, recompute))
        return original(images, choices, recompute, prefix)

    net.architecture_logits = recording
    run_step_with(net, net.sample_choices())
    # K search forwards (nothing kept for a gradient, so nothing to recompute)
    # then K train passes, each on one architecture [2, N, 2].
    assert calls == [((2, 2, 2), False)] * 4 + [((2, 2, 2), None)] * 4


def test_short_search_on_digits_lowers_the_entropy():
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images[..., None] / 16.0).astype("float32")[:768]
    labels = digits.target[:768]
    train, search = kp.split_train_search(images, labels, seed=0)
    net = kp.search.EagerSuperNet(tiny_space(filters=8), num_classes=10, num_samples=4, seed=0)
    keras.utils.set_random_seed(0)
    net.build((None, 8, 8, 1))
    net.compile()
    start = net.distribution.entropy()
    history = net.fit(
        kp.search_dataset(train, search, batch_size=64, seed=0),
        validation_data=search,
        epochs=3,
        verbose=0,
    )
    entropies = history.history["entropy"]
    assert entropies[-1] < start
    assert set(history.history) >= {"loss", "entropy", "val_accuracy"}
    assert history.history["val_accuracy"][-1] > 0.3  # 10 classes: chance is 0.1
    assert history.history["loss"][-1] < history.history["loss"][0]


@pytest.mark.parametrize("policy", [True, "early_cells"])
def test_recomputed_gradients_equal_stored_ones(policy):
    net = tiny_net(space=tiny_space(num_cells=3))
    x, y = tiny_batch()
    choices = net.sample_choices()[0]
    variables = net.architecture_variables(choices)

    def gradients(recompute):
        with tf.GradientTape() as tape:
            logits = net.architecture_logits(x, choices, recompute=recompute)
            loss = tf.reduce_mean(supernet_lib.cross_entropy(y, logits))
        return [g for g in tape.gradient(loss, variables)]

    for kept, recomputed in zip(gradients(False), gradients(policy)):
        assert (kept is None) == (recomputed is None)
        if kept is not None:
            np.testing.assert_allclose(tf.convert_to_tensor(kept), tf.convert_to_tensor(recomputed), atol=1e-5)


@pytest.mark.parametrize("policy", ["all", 1, None, "early"])
def test_unknown_recompute_policy_is_refused_with_the_choices(policy):
    with pytest.raises(kp.InvalidArgumentError, match="recompute.*early_cells"):
        kp.search.EagerSuperNet(tiny_space(), num_classes=3, recompute=policy)


def test_early_cells_recompute_only_the_stem_and_the_cells_before_the_first_reduction(monkeypatch):
    net = tiny_net(space=tiny_space(num_cells=3))  # reduction cells 1 and 2
    x, y = tiny_batch()
    recomputed = []
    original = net._apply

    def recording(key, function, inputs, weights):
        operation, x = key, inputs
        if isinstance(key, tuple) and key[-1] == "plus":  # an operation plus the node's other operand
            operation, x = key[0], inputs[0]
        if operation[0] == "recompute" and operation[1] != "relu":  # the shared ReLUs follow their operations
            recomputed.append(tuple(x.shape))
        return original(key, function, inputs, weights)

    monkeypatch.setattr(net, "_apply", recording)
    choices = net.sample_choices()[0]
    # Max pooling is recomputed under every policy: sep_conv_3x3 from the same input instead.
    choices[choices % len(OPS) == OPS.index("max_pool_3x3")] += OPS.index("sep_conv_3x3") - OPS.index("max_pool_3x3")
    with tf.GradientTape():
        net.architecture_logits(x, choices, recompute="early_cells")
    # stem + cell 0's two preprocessings and 2 nodes x 2 operations, all at 8x8.
    assert len(recomputed) == 1 + 2 + 4
    assert all(shape[1:3] == (8, 8) for shape in recomputed)
    recomputed.clear()
    with tf.GradientTape():
        net.architecture_logits(x, choices, recompute=True)
    assert len(recomputed) == 1 + 3 * (2 + 4)


def test_max_pooling_is_recomputed_under_every_policy_with_the_gradients_of_one_graph(monkeypatch):
    net = tiny_net(space=tiny_space(num_cells=3))
    x, y = tiny_batch()
    choices = net.sample_choices()[0]
    choices += OPS.index("max_pool_3x3") - choices % len(OPS)  # every slot: max_pool_3x3, from the same input
    variables = net.architecture_variables(choices)

    def gradients(recompute=None):
        with tf.GradientTape() as tape:
            logits = net.architecture_logits(x, choices, recompute=recompute)
            loss = tf.reduce_mean(supernet_lib.cross_entropy(y, logits))
        return tape.gradient(loss, variables)

    keys = []
    original = net._apply
    monkeypatch.setattr(net, "_apply", lambda key, *args: keys.append(key) or original(key, *args))
    eager = gradients(recompute=False)
    pools = [key for key in keys if "max_pool_3x3" in str(key)]
    assert pools and all("recompute" in str(key) for key in pools)
    in_one_graph = tf.function(gradients)()  # inside a function nothing is recomputed
    for a, b in zip(eager, in_one_graph):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)


def unshared_preprocessing(run):
    """`SuperNet._run` that gives every preprocessing its own ReLU, as it was before sharing."""

    def unshared(self, key, function, x, weights, recompute, addend=None):
        if key == "relu":
            return x  # the preprocessing below applies the ReLU itself
        if isinstance(key, tuple) and key[0] in ("preprocess", "reduce_input") and key[1]:
            key, function = (key[0], False), supernet_lib.PREPROCESS[key[0] == "reduce_input", False]
        return run(self, key, function, x, weights, recompute, addend)

    return unshared


@pytest.mark.parametrize("recompute", [False, "early_cells"])  # recomputed cells share nothing
def test_sharing_one_relu_per_state_changes_neither_logits_nor_gradients(monkeypatch, recompute):
    space = tiny_space(num_cells=3, operations=("sep_conv_3x3", "dil_conv_3x3", "skip_connect"))
    net = tiny_net(space=space)
    x, y = tiny_batch()
    # Every slot reads input 1 or node 0 with a ReLU-first operation: two per state.
    choices = choices_for(
        space,
        normal=[("sep_conv_3x3", 1), ("dil_conv_3x3", 1), ("sep_conv_3x3", 2), ("dil_conv_3x3", 2)],
        reduce=[("skip_connect", 0), ("sep_conv_3x3", 0), ("dil_conv_3x3", 2), ("sep_conv_3x3", 2)],
    )
    variables = net.architecture_variables(choices)

    def logits_and_gradients():
        with tf.GradientTape() as tape:
            logits = net.architecture_logits(x, choices, recompute=recompute)
            loss = tf.reduce_mean(supernet_lib.cross_entropy(y, logits))
        return [logits] + tape.gradient(loss, variables)

    shared = logits_and_gradients()
    assert any(signature[0] == "relu" for signature in net._compiled)
    monkeypatch.setattr(supernet_lib.ops, "starts_with_relu", lambda op, stride: False)
    monkeypatch.setattr(kp.search.EagerSuperNet, "_run", unshared_preprocessing(kp.search.EagerSuperNet._run))
    separate = logits_and_gradients()
    for a, b in zip(shared, separate):
        assert (a is None) == (b is None)  # None: a cell input no node reads
        if a is not None:
            np.testing.assert_allclose(tf.convert_to_tensor(a), tf.convert_to_tensor(b), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("recompute", [False, "early_cells", True])
@pytest.mark.parametrize("num_cells", [1, 3])
def test_sharing_the_prefix_across_architectures_changes_no_gradient_or_likelihood(recompute, num_cells):
    net = tiny_net(num_samples=3, space=tiny_space(num_cells=num_cells))
    net.recompute = recompute
    x, y = tiny_batch()
    choices = net.sample_choices()
    weights = tf.constant([0.5, 0.2, 0.3])
    pairs, weighted_loss, _, _ = net.weighted_gradients(x, y, choices, weights)
    expected, expected_loss = {}, 0.0
    for k, architecture in enumerate(choices):  # each architecture alone, nothing shared
        variables = net.architecture_variables(architecture)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(supernet_lib.cross_entropy(y, net.architecture_logits(x, architecture)))
        for variable, gradient in zip(variables, tape.gradient(loss, variables)):
            if gradient is not None:
                total = expected.get(id(variable), 0.0) + float(weights[k]) * tf.convert_to_tensor(gradient)
                expected[id(variable)] = total
        expected_loss += float(weights[k]) * float(loss)
    assert {id(v) for v, _ in pairs} == set(expected)
    assert {id(v) for v in net.prefix_variables()} <= set(expected)
    for variable, gradient in pairs:
        np.testing.assert_allclose(gradient, expected[id(variable)], rtol=1e-4, atol=1e-6, err_msg=variable.path)
    np.testing.assert_allclose(float(weighted_loss), expected_loss, rtol=1e-5)
    alone = [float(net.log_likelihood(x, y, architecture)) for architecture in choices]
    np.testing.assert_allclose(net.search_log_likelihoods(x, y, choices), alone, rtol=1e-5)


def test_an_architecture_sampled_twice_runs_once_with_both_weights():
    net = tiny_net(num_samples=4)
    reference = tiny_net(num_samples=4)
    a, b, c = net.sample_choices()[:3]
    choices = np.stack([a, b, a, c])
    calls = []
    original = net.architecture_logits

    def counting(images, architecture, recompute=None, prefix=None):
        calls.append(recompute)
        return original(images, architecture, recompute, prefix)

    net.architecture_logits = counting
    x, y = tiny_batch()
    net.sample_choices = lambda: choices
    net.train_step(((x, y), (x, y)))
    assert len(calls) == 3 + 3  # three distinct architectures: search forward and train pass each
    # Against Algorithm 1 over all four samples, duplicates included.
    reference.build_optimizers()
    weights = kp.distribution.importance_weights(reference.search_log_likelihoods(x, y, choices))
    pairs, _, _, _ = reference.weighted_gradients(x, y, choices, weights)
    reference.apply_step(pairs, choices, weights)
    for mine, theirs in zip(net.trainable_variables, reference.trainable_variables):
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6, err_msg=mine.path)
    np.testing.assert_allclose(net.distribution.logits.numpy(), reference.distribution.logits.numpy(), atol=1e-6)
