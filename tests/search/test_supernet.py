"""The compiled engine runs Algorithm 1 exactly as the eager SuperNet does."""

import collections

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_parsec as kp
from keras_parsec.search import SuperNet

OPS = ("max_pool_3x3", "skip_connect", "sep_conv_3x3", "dil_conv_3x3")


def space(**overrides):
    config = {"num_cells": 3, "filters": 4, "num_nodes": 2, "operations": OPS}
    config.update(overrides)
    return kp.SearchSpace(**config)


def batch(size=4, seed=0):
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.normal(size=(size, 8, 8, 1)).astype("float32"))
    y = tf.constant(rng.integers(0, 3, size=size).astype("int32"))
    return x, y


def twin_networks(num_samples, auxiliary_weight=0.0, recompute=False, **compile_kwargs):
    """An EagerSuperNet and a SuperNet (with `recompute`) holding the same weights and pi."""
    keras.utils.set_random_seed(0)
    eager = kp.search.EagerSuperNet(
        space(), num_classes=3, num_samples=num_samples, seed=0, recompute=False, auxiliary_weight=auxiliary_weight
    )
    eager.build((None, 8, 8, 1))
    eager.compile(**compile_kwargs)
    compiled = SuperNet(
        space(), num_classes=3, num_samples=num_samples, seed=0, auxiliary_weight=auxiliary_weight, recompute=recompute
    )
    compiled.build((None, 8, 8, 1))
    compiled.compile(**compile_kwargs)
    compiled.shared.copy_from_supernet(eager)
    return eager, compiled


def edge_rows(eager, compiled):
    """Pairs (eager weights flattened, the compiled row's leading part) for every edge."""
    for mine, theirs in zip(compiled.shared.cells, eager.cells):
        for (node, op), variable in mine["edges"].items():
            for source in range(node + 2):
                flat = [np.reshape(w.numpy(), [-1]) for w in theirs["edges"][node, source, op]]
                if flat:
                    row = np.concatenate(flat)
                    yield row, variable.numpy()[source, : len(row)], f"cell {node} {source} {op}"


@pytest.mark.parametrize("recompute", [False, True])  # the backward from saved activations, or recomputing
def test_a_search_step_updates_weights_and_pi_as_the_eager_engine(recompute):
    eager, compiled = twin_networks(num_samples=3, recompute=recompute)
    assert compiled.executor.options.saved_activations is not recompute
    choices = eager.distribution.sample_choices(3, seed=4).numpy()
    eager.sample_choices = compiled.sample_choices = lambda: choices
    x, y = batch()
    for _ in range(2):  # the second step exercises momentum
        logs_eager = eager.train_step(((x, y), (x, y)))
        logs_compiled = compiled.train_step(((x, y), (x, y)))
    np.testing.assert_allclose(float(logs_compiled["loss"]), float(logs_eager["loss"]), rtol=1e-5)
    np.testing.assert_allclose(compiled.distribution.logits.numpy(), eager.distribution.logits.numpy(), atol=1e-5)
    for theirs, mine, where in edge_rows(eager, compiled):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5, err_msg=where)
    np.testing.assert_allclose(compiled.stem_kernel.numpy(), eager.stem_kernel.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(compiled.classifier_kernel.numpy(), eager.classifier_kernel.numpy(), atol=1e-5)


def test_rows_no_sampled_architecture_reads_get_neither_momentum_nor_decay():
    _, compiled = twin_networks(num_samples=2)
    choices = compiled.distribution.sample_choices(2, seed=1).numpy()
    compiled.sample_choices = lambda: choices
    used = {}
    for architecture in choices:
        for key, rows in compiled.shared.used_rows(architecture).items():
            used.setdefault(key, set()).update(rows)
    edges = [v for cell in compiled.shared.cells for v in cell["edges"].values()]
    before = {id(v): v.numpy().copy() for v in edges}
    x, y = batch()
    compiled.train_step(((x, y), (x, y)))
    untouched = 0
    for variable in edges:
        slot = compiled.weight_optimizer.momentums[compiled._slot_index[id(variable)]].numpy()
        for row in range(variable.shape[0]):
            if row not in used.get(id(variable), set()):
                np.testing.assert_array_equal(variable.numpy()[row], before[id(variable)][row])
                np.testing.assert_array_equal(slot[row], 0.0)
                untouched += 1
    assert untouched > 0


def test_every_architecture_runs_through_one_trace():
    _, compiled = twin_networks(num_samples=4)
    x, y = batch()
    for seed in range(3):
        choices = compiled.distribution.sample_choices(4, seed=seed).numpy()
        compiled.sample_choices = lambda choices=choices: choices
        compiled.train_step(((x, y), (x, y)))
    assert compiled._log_likelihoods.experimental_get_tracing_count() == 1
    assert compiled._accumulate.experimental_get_tracing_count() == 1
    assert compiled._prefix.experimental_get_tracing_count() == 1
    assert compiled._prefix_backward_pass.experimental_get_tracing_count() == 1


def test_a_recompute_policy_the_compiled_engine_lacks_is_refused_with_the_alternative():
    with pytest.raises(kp.InvalidArgumentError, match="recompute.*keras_parsec.search.EagerSuperNet"):
        SuperNet(space(), num_classes=3, recompute="early_cells")


def test_a_repeated_sample_runs_once_and_the_step_equals_the_eager_engines():
    eager, compiled = twin_networks(num_samples=3)
    a, b = eager.distribution.sample_choices(2, seed=7).numpy()
    choices = np.stack([a, b, a])
    eager.sample_choices = compiled.sample_choices = lambda: choices
    passes = []
    original = compiled._accumulate
    compiled._accumulate = lambda *args: passes.append(1) or original(*args)
    x, y = batch()
    eager.train_step(((x, y), (x, y)))
    compiled.train_step(((x, y), (x, y)))
    assert len(passes) == 2
    np.testing.assert_allclose(compiled.distribution.logits.numpy(), eager.distribution.logits.numpy(), atol=1e-5)
    for theirs, mine, where in edge_rows(eager, compiled):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5, err_msg=where)


def test_a_steps_train_passes_share_one_prefix_forward_and_backward_and_update_it_as_the_eager_engine():
    eager, compiled = twin_networks(num_samples=3)
    choices = eager.distribution.sample_choices(3, seed=3).numpy()
    assert len(np.unique(choices.reshape(3, -1), axis=0)) == 3
    eager.sample_choices = compiled.sample_choices = lambda: choices
    calls = collections.Counter()
    for name in ("_prefix", "_accumulate", "_prefix_backward_pass"):
        original = getattr(compiled, name)
        setattr(compiled, name, lambda *args, original=original, name=name: calls.update([name]) or original(*args))
    x, y = batch()
    before = compiled.stem_kernel.numpy()
    eager.train_step(((x, y), (x, y)))
    compiled.train_step(((x, y), (x, y)))
    assert calls == {"_prefix": 1, "_accumulate": 3, "_prefix_backward_pass": 1}
    assert not np.allclose(compiled.stem_kernel.numpy(), before)
    pairs = [(compiled.stem_kernel, eager.stem_kernel)]
    pairs += [
        (a, b) for mine, theirs in zip(compiled.cells[:2], eager.cells) for a, b in zip(mine["pre0"], theirs["pre0"])
    ]
    pairs += list(zip(compiled.cells[0]["pre1"], eager.cells[0]["pre1"]))
    for mine, theirs in pairs:
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-4, atol=1e-5, err_msg=mine.path)


def test_an_architecture_with_a_nan_likelihood_gets_weight_zero_and_changes_nothing_of_its_own():
    _, compiled = twin_networks(num_samples=2)
    compiled.compile(weight_decay=0.0)
    search_space = compiled.search_space
    sep = lambda s: search_space.choice_index("sep_conv_3x3", s)  # noqa: E731
    pool = lambda s: search_space.choice_index("max_pool_3x3", s)  # noqa: E731
    poisoned = np.array([[[sep(0), pool(1)], [pool(0), pool(1)]], [[pool(0), pool(1)], [pool(0), pool(1)]]])
    clean = np.array([[[pool(0), pool(1)], [pool(0), pool(1)]], [[pool(0), pool(1)], [pool(0), pool(1)]]])
    row = compiled.shared.cells[0]["edges"][0, "sep_conv_3x3"]
    value = row.numpy()
    value[0] = np.nan  # the poisoned architecture alone reads this row
    row.assign(value)
    compiled.sample_choices = lambda: np.stack([poisoned, clean])
    classifier = compiled.classifier_kernel.numpy().copy()
    x, y = batch()
    with pytest.warns(RuntimeWarning, match="1 of the 2 architectures"):
        logs = compiled.train_step(((x, y), (x, y)))
    assert float(logs["nonfinite_samples"]) == 1.0
    assert not np.array_equal(compiled.classifier_kernel.numpy(), classifier)  # the clean one trained
    for variable in compiled.executor.variables:
        finite = np.isfinite(variable.numpy())
        assert finite.all() or variable is row, variable.path
    np.testing.assert_array_equal(row.numpy()[1:], value[1:])
    assert np.isfinite(compiled.distribution.logits.numpy()).all()


def test_another_weight_optimizer_updates_only_variables_some_architecture_read():
    _, compiled = twin_networks(num_samples=2, weight_optimizer=keras.optimizers.Adam(0.01))
    choices = compiled.distribution.sample_choices(2, seed=2).numpy()
    compiled.sample_choices = lambda: choices
    read = {id(v) for architecture in choices for v in compiled.architecture_variables(architecture)}
    unread = [v for v in compiled.executor.variables if id(v) not in read]
    values = [v.numpy().copy() for v in unread]
    x, y = batch()
    compiled.train_step(((x, y), (x, y)))
    assert unread
    for variable, value in zip(unread, values):
        np.testing.assert_array_equal(variable.numpy(), value, err_msg=variable.path)
    assert any(not np.array_equal(v.numpy(), 0) for v in compiled.weight_optimizer.variables[2:])


def test_the_auxiliary_head_trains_as_in_the_eager_engine():
    eager, compiled = twin_networks(num_samples=2, auxiliary_weight=0.4)
    assert len(compiled.auxiliary_weights) == 4
    assert all(id(w) in {id(v) for v in compiled.executor.variables} for w in compiled.auxiliary_weights)
    choices = eager.distribution.sample_choices(2, seed=3).numpy()
    eager.sample_choices = compiled.sample_choices = lambda: choices
    before = [w.numpy().copy() for w in compiled.auxiliary_weights]
    x, y = batch()
    logs_eager = eager.train_step(((x, y), (x, y)))
    logs_compiled = compiled.train_step(((x, y), (x, y)))
    np.testing.assert_allclose(float(logs_compiled["loss"]), float(logs_eager["loss"]), rtol=1e-5)
    for mine, theirs, old in zip(compiled.auxiliary_weights, eager.auxiliary_weights, before):
        assert not np.array_equal(mine.numpy(), old)
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-4, atol=1e-5)
    for theirs, mine, where in edge_rows(eager, compiled):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5, err_msg=where)


def test_under_mixed_precision_passes_run_in_float16_and_weights_pi_and_updates_stay_float32(mixed_precision):
    net = SuperNet(space(), num_classes=3, num_samples=2, seed=0, auxiliary_weight=0.4)
    net.build((None, 8, 8, 1))
    net.compile()
    x, y = batch()
    assert net.architecture_logits(x, net.sample_choices()[0]).dtype == tf.float16
    before = [v.numpy().copy() for v in net.executor.variables]
    logs = net.train_step(((x, y), (x, y)))
    assert np.isfinite(float(logs["loss"])) and float(logs["nonfinite_samples"]) == 0.0
    assert {v.dtype for v in net.executor.variables} == {"float32"}
    assert {a.dtype for a in net._accumulators} == {tf.float32}
    assert net.distribution.logits.dtype == "float32"
    assert not np.allclose(net.distribution.logits.numpy(), 0.0)
    changed = [not np.array_equal(v.numpy(), b) for v, b in zip(net.executor.variables, before)]
    assert changed[0] and all(np.isfinite(v.numpy()).all() for v in net.executor.variables)
