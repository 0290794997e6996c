"""A cell of the compiled pass and its hand-written backward, against TensorFlow differentiating the same cell."""

import numpy as np
import pytest
import tensorflow as tf

import keras_parsec as kp
from keras_parsec.search import cells, executor, ops
from keras_parsec.search import operation_functions as functions
from keras_parsec.search import weights as weights_lib
from keras_parsec.space import input_stride

OPS = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "dil_conv_3x3")
WIDTH = 4


def _space():
    return kp.SearchSpace(num_cells=3, filters=WIDTH, num_nodes=3, operations=OPS)


def _edges(space, reduction, rng):
    """`{(node, op): packed matrix}` for every operation with weights at some input of the node."""
    edges = {}
    for node in range(space.num_nodes):
        for op in space.operations:
            sizes = [weights_lib.row_size(op, WIDTH, input_stride(reduction, s)) for s in range(node + 2)]
            if max(sizes):
                edges[node, op] = tf.constant(rng.normal(size=(node + 2, max(sizes))).astype("float32"))
    return edges


def _reference_cell(space, reduction, p0, p1, choices, edges):
    """The cell of `choices` composed from `ops`, each slot's weights unpacked from its row."""
    states = [p0, p1]
    for node in range(space.num_nodes):
        total = 0.0
        for choice in choices[node]:
            source, op = divmod(int(choice), len(space.operations))
            op = space.operations[op]
            stride = input_stride(reduction, source)
            weights = []
            if (node, op) in edges:
                row = functions.leading_row(edges[node, op][source], op, WIDTH, stride)
                weights = functions.unpack(row, op, WIDTH, stride)
            total += ops.apply_operation(op, states[source], weights, stride)
        states.append(total)
    return tf.concat(states[2:], axis=-1)


# Slots reading the same state twice, a node read by both slots of a later node, every input of a node.
CHOICES = {
    "shared inputs": [[(0, 3), (0, 4)], [(2, 3), (2, 4)], [(1, 0), (3, 1)]],
    "every input": [[(1, 2), (0, 1)], [(1, 4), (2, 0)], [(3, 3), (0, 2)]],
}


@pytest.mark.parametrize("saved_activations", [True, False])
@pytest.mark.parametrize("reduction", [False, True])
@pytest.mark.parametrize("name", sorted(CHOICES))
def test_the_cell_backward_matches_tensorflows_gradient_of_the_same_cell(name, reduction, saved_activations):
    space, rng = _space(), np.random.default_rng(0)
    choices = np.array([[s * len(OPS) + o for s, o in node] for node in CHOICES[name]], np.int32)
    p0, p1 = (tf.constant(rng.normal(size=(2, 6, 6, WIDTH)).astype("float32")) for _ in range(2))
    edges = _edges(space, reduction, rng)
    keys = sorted(edges)
    d_output = tf.constant(rng.normal(size=(2, 3 if reduction else 6, 3 if reduction else 6, 3 * WIDTH)), tf.float32)
    options = executor.Options(True, True, False, saved_activations, False)
    body = cells._cell_body(space, reduction, tf.float32, options)

    @tf.function(autograph=False)
    def gradients(cell_function):
        inputs = [p0, p1, *[edges[k] for k in keys]]
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            output = cell_function(inputs[0], inputs[1], dict(zip(keys, inputs[2:])))
        return output, tape.gradient(output, inputs, output_gradients=d_output)

    got, got_gradients = gradients(lambda a, b, e: body(a, b, tf.constant(choices), e))
    want, want_gradients = gradients(lambda a, b, e: _reference_cell(space, reduction, a, b, choices, e))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-5)
    for a, b, what in zip(got_gradients, want_gradients, ["p0", "p1", *keys]):
        expected = np.zeros(a.shape) if b is None else b.numpy()  # weights no slot read: exact zeros
        np.testing.assert_allclose(a.numpy(), expected, rtol=1e-4, atol=1e-4, err_msg=str(what))


@pytest.mark.parametrize("lowered", [False, True])
def test_add_at_adds_to_the_one_entry_read_and_passes_the_others_on(lowered):
    gradients = [tf.fill([1, 2, 2, 1], float(i)) for i in range(4)]
    groups = cells.input_groups(True, 4)  # inputs 0 and 1 at stride 2, the nodes at stride 1
    increments = [tf.fill([1, 2, 2, 1], 10.0), tf.fill([1, 2, 2, 1], 100.0)]
    run = tf.function(lambda i: cells._add_at(i, gradients, increments, groups, lowered), autograph=False)
    for source in range(4):
        added = [float(t.numpy()[0, 0, 0, 0]) for t in run(tf.constant(source))]
        expected = [float(i) + (0.0 if i != source else 10.0 if i < 2 else 100.0) for i in range(4)]
        assert added == expected


def test_the_private_case_builder_the_cells_rely_on_still_exists():
    # keras_parsec.search.cells builds its switches with TensorFlow's private
    # cond_v2.indexed_case(lower_using_switch_merge=False); if an upgrade moves it, say so here.
    from tensorflow.python.ops import cond_v2

    pick = tf.function(lambda i: cells.switch_case(i, [lambda: tf.constant(1.0), lambda: tf.constant(2.0)]))
    assert float(pick(tf.constant(1))) == 2.0
    assert "lower_using_switch_merge" in cond_v2.indexed_case.__code__.co_varnames
