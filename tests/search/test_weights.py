"""Packed shared weights: layout, the rows an architecture reads, the update mask, the copy from the eager engine."""

import keras
import numpy as np
import pytest

import keras_parsec as kp
from keras_parsec.search import SharedWeights, ops
from keras_parsec.search import weights as weights_lib

OPS = ("max_pool_3x3", "skip_connect", "sep_conv_3x3")


def built(num_cells=3):
    search_space = kp.SearchSpace(num_cells=num_cells, filters=4, num_nodes=2, operations=OPS)
    weights = SharedWeights(search_space, num_classes=3, seed=0)
    weights.build((None, 8, 8, 1))
    return search_space, weights


@pytest.mark.parametrize("op", kp.OPERATIONS)
@pytest.mark.parametrize("stride", [1, 2])
def test_a_row_holds_each_weight_of_the_operation_once_in_order(op, stride):
    layout = weights_lib.weight_layout(op, 8, stride)
    shapes = ops.operation_weight_shapes(op, 8, stride)
    assert [shape for shape, _, _ in layout] == shapes
    starts = ([0] + [stop for _, _, stop in layout[:-1]]) if layout else []
    assert [start for _, start, _ in layout] == starts
    assert weights_lib.row_size(op, 8, stride) == sum(int(np.prod(s)) for s in shapes)


def test_edge_variables_have_a_row_per_input_and_skip_weights_only_in_reduce_cells():
    _, weights = built()
    normal, reduce = weights.cells[0], weights.cells[1]
    assert "skip_connect" not in {op for _, op in normal["edges"]}  # identity at stride 1
    assert reduce["edges"][1, "skip_connect"].shape[0] == 3  # rows for inputs 0, 1 (stride 2) and node 0
    assert normal["edges"][1, "sep_conv_3x3"].shape == (3, weights_lib.row_size("sep_conv_3x3", 4, 1))


def test_used_rows_and_the_mask_name_exactly_what_an_architecture_reads():
    search_space, weights = built()
    sep = lambda s: search_space.choice_index("sep_conv_3x3", s)  # noqa: E731
    pool = lambda s: search_space.choice_index("max_pool_3x3", s)  # noqa: E731
    choices = np.array([[[sep(0), pool(1)], [sep(2), sep(0)]], [[pool(0), pool(1)], [pool(2), pool(2)]]])
    used = weights.used_rows(choices)
    for cell in weights.cells:
        if cell["reduction"]:
            assert all(id(v) not in used for v in cell["edges"].values())
        else:
            assert used[id(cell["edges"][0, "sep_conv_3x3"])] == {0}
            assert used[id(cell["edges"][1, "sep_conv_3x3"])] == {0, 2}
    variables = weights.trainable_variables
    mask = weights.row_mask(used, variables)
    assert len(mask) == sum(weights.mask_sizes(variables))
    pieces = np.split(mask, np.cumsum(weights.mask_sizes(variables))[:-1])
    for variable, piece in zip(variables, pieces):
        expected = (
            [1.0 if r in used[id(variable)] else 0.0 for r in range(variable.shape[0])]
            if id(variable) in used
            else None
        )
        if expected is not None:
            np.testing.assert_array_equal(piece, expected)
    assert mask.sum() == 3 + len([v for v in variables if len(v.shape) != 2 or "_node" not in v.path])


def test_copy_from_supernet_puts_every_edge_weight_in_its_row():
    search_space, weights = built()
    keras.utils.set_random_seed(1)
    net = kp.search.EagerSuperNet(search_space, num_classes=3)
    net.build((None, 8, 8, 1))
    weights.copy_from_supernet(net)
    for mine, theirs in zip(weights.cells, net.cells):
        for (node, op), variable in mine["edges"].items():
            for source in range(node + 2):
                expected = [np.reshape(w.numpy(), [-1]) for w in theirs["edges"][node, source, op]]
                if expected:
                    flat = np.concatenate(expected)
                    np.testing.assert_array_equal(variable.numpy()[source, : len(flat)], flat)
    np.testing.assert_array_equal(weights.stem_kernel.numpy(), net.stem_kernel.numpy())
