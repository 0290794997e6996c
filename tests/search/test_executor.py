"""The compiled pass against the eager composition: same logits, same gradients, one trace."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_parsec as kp
from keras_parsec.search import Executor, SharedWeights, operation_functions
from keras_parsec.search import eager_passes as supernet_lib

OPS = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "dil_conv_3x3")


def space(**overrides):
    config = {"num_cells": 3, "filters": 4, "num_nodes": 2, "operations": OPS}
    config.update(overrides)
    return kp.SearchSpace(**config)


def twins(search_space, recompute=False):
    """An eager SuperNet and an Executor over the same weight values."""
    keras.utils.set_random_seed(0)
    net = kp.search.EagerSuperNet(search_space, num_classes=3, seed=0, recompute=recompute)
    net.build((None, 8, 8, 1))
    weights = SharedWeights(search_space, num_classes=3, seed=0)
    weights.build((None, 8, 8, 1))
    weights.copy_from_supernet(net)
    return net, weights, Executor(weights)


def batch(size=4):
    rng = np.random.default_rng(0)
    return (
        tf.constant(rng.normal(size=(size, 8, 8, 1)).astype("float32")),
        tf.constant(rng.integers(0, 3, size=size).astype("int32")),
    )


def all_through(search_space, op):
    """Every slot of both cells runs `op`, reading inputs 0 and 1 then the newest node."""
    cells = []
    for _ in range(2):
        cells.append(
            [[search_space.choice_index(op, s) for s in ((0, 1) if node == 0 else (1, node + 1))] for node in range(2)]
        )
    return np.array(cells, np.int32)


def eager_gradients(net, x, y, choices, recompute):
    variables = net.architecture_variables(choices)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(supernet_lib.cross_entropy(y, net.architecture_logits(x, choices, recompute=recompute)))
    return loss, dict(zip([id(v) for v in variables], tape.gradient(loss, variables)))


def packed_pairs(net, weights, gradients):
    """(eager gradient, packed gradient slice) for every weight of every edge, stem and classifier."""
    by_variable = dict(zip([id(v) for v in weights.trainable_variables], gradients))
    yield net.stem_kernel, by_variable[id(weights.stem_kernel)]
    yield net.classifier_kernel, by_variable[id(weights.classifier_kernel)]
    for mine, theirs in zip(weights.cells, net.cells):
        for (node, op), variable in mine["edges"].items():
            row_gradients = by_variable[id(variable)]
            for source in range(node + 2):
                start = 0
                for w in theirs["edges"][node, source, op]:
                    size = int(np.prod(w.shape))
                    yield w, tf.reshape(row_gradients[source, start : start + size], w.shape)
                    start += size


@pytest.mark.parametrize("op", OPS)
def test_logits_equal_the_eager_engine_for_every_operation_in_both_cell_types(op):
    search_space = space()
    net, _, executor = twins(search_space)
    x, _ = batch()
    choices = all_through(search_space, op)
    np.testing.assert_allclose(
        executor.logits(x, choices).numpy(),
        net.architecture_logits(x, choices, recompute=False).numpy(),
        rtol=1e-4,  # the graphs fuse and order float32 sums differently
        atol=1e-5,
    )


@pytest.mark.parametrize("recompute", [False, True, "early_cells"])
def test_gradients_equal_the_eager_engine_under_every_recompute_policy(recompute):
    search_space = space()
    net, weights, executor = twins(search_space, recompute=recompute)
    x, y = batch()
    for seed in range(2):
        choices = kp.ArchitectureDistribution(search_space).sample_choices(1, seed=seed).numpy()[0]
        (
            loss,
            gradients,
        ) = executor.gradients(x, y, choices)[::2]
        eager_loss, eager = eager_gradients(net, x, y, choices, recompute)
        np.testing.assert_allclose(float(loss), float(eager_loss), rtol=1e-6)
        compared = 0
        for variable, packed in packed_pairs(net, weights, gradients):
            expected = eager.get(id(variable))
            if expected is None:  # an edge this architecture does not use: exact zeros
                np.testing.assert_array_equal(packed.numpy(), 0.0)
            else:
                np.testing.assert_allclose(
                    packed.numpy(), expected.numpy(), rtol=1e-4, atol=1e-5, err_msg=variable.path
                )
                compared += 1
        assert compared >= 4


def test_every_architecture_runs_through_one_trace():
    search_space = space()
    _, _, executor = twins(search_space)
    x, y = batch()
    for choices in kp.ArchitectureDistribution(search_space).sample_choices(4, seed=3).numpy():
        executor.logits(x, choices)
        executor.gradients(x, y, choices)
    assert executor.traces == {"logits": 1, "gradients": 1}


def test_cells_of_every_width_share_one_function_per_kind():
    search_space = space(num_cells=5)  # normal cells at three widths, reduce cells at two
    _, _, executor = twins(search_space)
    x, _ = batch()
    executor.logits(x, kp.ArchitectureDistribution(search_space).sample_choices(1, seed=0).numpy()[0])
    cells = [key for key in operation_functions.FUNCTIONS if key[0] == "cell" and key[1] == search_space]
    assert sorted(key[2] for key in cells) == [False, True]


def assert_same_passes(first, second, search_space, seed):
    """Two executors give the same logits and gradients on two sampled architectures."""
    x, y = batch()
    for choices in kp.ArchitectureDistribution(search_space).sample_choices(2, seed=seed).numpy():
        np.testing.assert_allclose(first.logits(x, choices).numpy(), second.logits(x, choices).numpy(), 1e-4, 1e-5)
        for a, b in zip(first.gradients(x, y, choices)[2], second.gradients(x, y, choices)[2]):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("lowered", [False, True])
def test_branches_that_call_shared_functions_compute_what_branches_holding_the_operations_do(lowered):
    search_space = space()
    net, weights, held = twins(search_space)
    calling = Executor(weights, operation_calls=True, lowered=lowered)
    held = Executor(weights, operation_calls=False, lowered=lowered)
    assert_same_passes(calling, held, search_space, seed=5)
    assert calling.options.operation_calls and not held.options.operation_calls


def test_switches_lowered_to_switch_merge_compute_what_functional_case_ops_do():
    search_space = space()
    _, weights, functional = twins(search_space)
    lowered = Executor(weights, operation_calls=True, lowered=True)
    functional = Executor(weights, operation_calls=True, lowered=False)
    assert_same_passes(lowered, functional, search_space, seed=7)
    assert lowered.options.lowered and not functional.options.lowered
    assert lowered.traces["logits"] == 1  # one trace for both architectures, lowered or not


@pytest.mark.parametrize("operation_calls", [True, False])
def test_saved_activations_compute_what_recomputation_does(operation_calls):
    search_space = space()  # pools, skip (recomputed), separable and dilated convolutions, at both strides
    _, weights, _ = twins(search_space)
    saving = Executor(weights, operation_calls=operation_calls, saved_activations=True)
    recomputing = Executor(weights, operation_calls=operation_calls, saved_activations=False)
    assert_same_passes(saving, recomputing, search_space, seed=11)
    assert saving.traces == {"logits": 1, "gradients": 1}


def test_the_defaults_follow_the_device_calls_and_lowered_switches_only_without_a_gpu():
    _, weights, executor = twins(space())
    on_cpu = not tf.config.list_physical_devices("GPU")
    assert executor.options.operation_calls == on_cpu and executor.options.lowered == on_cpu
    assert executor.options.saved_activations and executor.options.open_width
    assert not Executor(weights, lowered=False).options.lowered


def _called_functions(graph):
    """`{name: whether it is marked _noinline}` for every function the graph calls."""
    library = {f.signature.name: f for f in graph.as_graph_def().library.function}
    calls = [op.get_attr("f").name for op in graph.get_operations() if op.type.endswith("PartitionedCall")]
    return {name: "_noinline" in library[name].attr for name in calls}


def test_cells_inlined_in_the_train_pass_compute_what_cell_calls_do_and_only_that_pass_inlines():
    search_space = space()
    _, weights, calling = twins(search_space)
    inlining = Executor(weights, inline_cells=True)
    assert_same_passes(inlining, calling, search_space, seed=13)
    x, y = batch()
    choices = kp.ArchitectureDistribution(search_space).sample_choices(1, seed=0).numpy()[0]
    inlined = _called_functions(inlining.gradients.get_concrete_function(x, y, choices).graph)
    kept = _called_functions(inlining.logits.get_concrete_function(x, choices).graph)
    default = _called_functions(calling.gradients.get_concrete_function(x, y, choices).graph)
    # Both cell kinds, forward and backward, are inlinable in the train pass; forward-only passes keep their calls.
    assert len(inlined) == 4 and not any(inlined.values())
    assert len(kept) == 2 and all(kept.values())
    assert len(default) == 4 and all(default.values())
    assert inlining.traces == {"logits": 1, "gradients": 1}
