"""Tests for keras_parsec.space."""

import copy
import itertools
import json
import pickle
import re

import pytest

from keras_parsec.errors import InvalidArgumentError, InvalidTypeError
from keras_parsec.genotype import DARTS_V1, DARTS_V2, Genotype, to_genotype
from keras_parsec.space import CELL_TYPES, NUM_CELL_INPUTS, OPERATIONS, SearchSpace, input_stride

DARTS_V2_TEXT = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), "
    "('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
    "normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), "
    "('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], "
    "reduce_concat=range(2, 6))"
)
TINY = Genotype(
    [("skip_connect", 1), ("max_pool_3x3", 0)],
    [2],
    [("avg_pool_3x3", 0), ("avg_pool_3x3", 1)],
    [2],
)


def error_pattern(name, fix):
    """Regex pinning the argument name and the fix in an error message."""
    return rf"argument `{re.escape(name)}`.*Fix: .*{re.escape(fix)}"


def cell(num_nodes, operation="sep_conv_3x3"):
    return [(operation, i % 2) for i in range(2 * num_nodes)]


# ------------------------------------------------------------------ SearchSpace


@pytest.mark.parametrize(
    "attribute, expected",
    (
        ("num_cells", 8),
        ("filters", 16),
        ("num_nodes", 4),
        ("operations", OPERATIONS),
        ("num_operations", 7),
        ("stem_multiplier", 3),
        ("reduction_indices", (2, 5)),
        ("max_choices", 35),
        ("concat", (2, 3, 4, 5)),
    ),
)
def test_defaults_match_darts(attribute, expected):
    assert getattr(SearchSpace(), attribute) == expected


def test_operations_are_darts_primitives_without_none():
    assert OPERATIONS == (
        "max_pool_3x3",
        "avg_pool_3x3",
        "skip_connect",
        "sep_conv_3x3",
        "sep_conv_5x5",
        "dil_conv_3x3",
        "dil_conv_5x5",
    )
    assert CELL_TYPES == ("normal", "reduce")


@pytest.mark.parametrize(
    "num_cells, expected",
    ((1, (0,)), (2, (0, 1)), (3, (1, 2)), (5, (1, 3)), (8, (2, 5)), (20, (6, 13))),
)
def test_reduction_indices(num_cells, expected):
    space = SearchSpace(num_cells=num_cells)
    assert space.reduction_indices == expected
    assert [i for i in range(num_cells) if space.is_reduction(i)] == list(expected)


@pytest.mark.parametrize("node, num_inputs, num_choices", ((0, 2, 14), (1, 3, 21), (2, 4, 28), (3, 5, 35)))
def test_node_sizes(node, num_inputs, num_choices):
    space = SearchSpace()
    assert space.num_inputs(node) == num_inputs
    assert space.num_choices(node) == num_choices
    assert space.num_choices(node) <= space.max_choices


SPACES = (
    SearchSpace(),
    SearchSpace(num_cells=2, filters=4, num_nodes=1, operations=["skip_connect"]),
    SearchSpace(
        num_cells=5,
        num_nodes=3,
        operations=("sep_conv_5x5", "max_pool_3x3"),
        stem_multiplier=1,
    ),
)


@pytest.mark.parametrize("space", SPACES, ids=repr)
def test_config_round_trip(space):
    config = json.loads(json.dumps(space.get_config()))
    restored = SearchSpace.from_config(config)
    assert restored == space
    assert hash(restored) == hash(space)
    assert restored.operations == space.operations
    assert isinstance(restored.operations, tuple)


@pytest.mark.parametrize("space", SPACES, ids=repr)
def test_choice_index_and_choice_are_inverse(space):
    indices = range(space.max_choices)
    pairs = [space.choice(index) for index in indices]
    assert [space.choice_index(*pair) for pair in pairs] == list(indices)
    assert len(set(pairs)) == space.max_choices
    assert space.choice_index(space.operations[-1], 1) == 2 * space.num_operations - 1


def test_equality_and_hash():
    assert SearchSpace() == SearchSpace(operations=list(OPERATIONS))
    assert len({SearchSpace(), SearchSpace(), SearchSpace(num_cells=5)}) == 2
    assert SearchSpace() != SearchSpace(operations=OPERATIONS[::-1])
    assert SearchSpace() != "SearchSpace()"
    assert repr(SearchSpace(num_cells=5)).startswith("SearchSpace(num_cells=5, filters=16")


def test_attributes_are_read_only():
    with pytest.raises(AttributeError):
        SearchSpace().num_cells = 3


@pytest.mark.parametrize(
    "kwargs, error, name, fix",
    (
        ({"num_cells": 0}, InvalidArgumentError, "num_cells", "pass num_cells >= 1"),
        ({"num_cells": -3}, InvalidArgumentError, "num_cells", "pass num_cells >= 1"),
        ({"num_cells": 2.0}, InvalidTypeError, "num_cells", "pass an int"),
        ({"num_cells": True}, InvalidTypeError, "num_cells", "pass an int"),
        (
            {"filters": "16"},
            InvalidTypeError,
            "filters",
            "pass an int, e.g. filters=16",
        ),
        ({"filters": 0}, InvalidArgumentError, "filters", "pass filters >= 1"),
        ({"num_nodes": 0}, InvalidArgumentError, "num_nodes", "pass num_nodes >= 1"),
        ({"num_nodes": None}, InvalidTypeError, "num_nodes", "pass an int"),
        ({"stem_multiplier": 0}, InvalidArgumentError, "stem_multiplier", ">= 1"),
        (
            {"stem_multiplier": False},
            InvalidTypeError,
            "stem_multiplier",
            "pass an int",
        ),
        (
            {"operations": ()},
            InvalidArgumentError,
            "operations",
            "pass a list or tuple",
        ),
        ({"operations": "skip_connect"}, InvalidTypeError, "operations", "pass a list"),
        (
            {"operations": {"skip_connect"}},
            InvalidTypeError,
            "operations",
            "pass a list",
        ),
        (
            {"operations": ["none"]},
            InvalidArgumentError,
            "operations[0]",
            "replace 'none'",
        ),
        (
            {"operations": ["skip_connect", 3]},
            InvalidTypeError,
            "operations[1]",
            "pass a",
        ),
        (
            {"operations": ["skip_connect", "skip_connect"]},
            InvalidArgumentError,
            "operations",
            "list 'skip_connect' only once",
        ),
    ),
)
def test_invalid_space(kwargs, error, name, fix):
    with pytest.raises(error, match=error_pattern(name, fix)):
        SearchSpace(**kwargs)


@pytest.mark.parametrize(
    "method, args, error, name, fix",
    (
        ("is_reduction", (8,), InvalidArgumentError, "cell_index", "between 0 and 7"),
        ("is_reduction", (-1,), InvalidArgumentError, "cell_index", "between 0 and 7"),
        ("is_reduction", (True,), InvalidTypeError, "cell_index", "pass an int"),
        ("num_inputs", (4,), InvalidArgumentError, "node", "between 0 and 3"),
        ("num_choices", ("0",), InvalidTypeError, "node", "pass an int"),
        (
            "choice_index",
            ("conv", 0),
            InvalidArgumentError,
            "operation",
            "space.operations",
        ),
        ("choice_index", (None, 0), InvalidTypeError, "operation", "pass one of"),
        (
            "choice_index",
            ("skip_connect", 5),
            InvalidArgumentError,
            "input_index",
            "0 and 4",
        ),
        ("choice", (35,), InvalidArgumentError, "index", "between 0 and 34"),
        ("choice", (1.0,), InvalidTypeError, "index", "pass an int"),
    ),
)
def test_invalid_method_arguments(method, args, error, name, fix):
    with pytest.raises(error, match=error_pattern(name, fix)):
        getattr(SearchSpace(), method)(*args)


@pytest.mark.parametrize("config", ({"num_cell": 8}, ["num_cells", 8]))
def test_invalid_config(config):
    with pytest.raises((InvalidArgumentError, InvalidTypeError), match="`config`.*Fix:"):
        SearchSpace.from_config(config)


def enumerate_genotypes(space):
    """Every genotype of `space`, by brute force over each slot's options."""
    slots = [
        list(itertools.product(space.operations, range(space.num_inputs(node))))
        for node in range(space.num_nodes)
        for _ in range(2)
    ]
    cells = list(itertools.product(*slots))
    return [
        Genotype(normal, space.concat, reduce, space.concat) for normal, reduce in itertools.product(cells, repeat=2)
    ]


@pytest.mark.parametrize(
    "num_nodes, operations",
    (
        (1, ("skip_connect",)),
        (1, ("skip_connect", "max_pool_3x3")),
        (2, ("sep_conv_3x3",)),
    ),
)
def test_num_architectures_by_enumeration(num_nodes, operations):
    space = SearchSpace(num_nodes=num_nodes, operations=operations)
    genotypes = enumerate_genotypes(space)
    assert len(set(genotypes)) == len(genotypes) == space.num_architectures()
    for genotype in genotypes[:: max(1, len(genotypes) // 20)]:
        assert genotype.validate(space) is genotype


def test_num_architectures_default():
    assert SearchSpace().num_architectures() == (14 * 21 * 28 * 35) ** 4


# --------------------------------------------------------------------- Genotype


@pytest.mark.parametrize("genotype", (DARTS_V1, DARTS_V2))
def test_published_genotypes(genotype):
    assert genotype.num_nodes == 4
    assert genotype.normal_concat == genotype.reduce_concat == (2, 3, 4, 5)
    assert genotype.validate(SearchSpace()) is genotype
    assert DARTS_V1 != DARTS_V2


def test_normalises_to_tuples():
    genotype = Genotype(
        normal=[["skip_connect", 1], ("max_pool_3x3", 0)],
        normal_concat=range(2, 3),
        reduce=(("avg_pool_3x3", 0), ["avg_pool_3x3", 1]),
        reduce_concat=[2],
    )
    assert genotype == TINY
    assert hash(genotype) == hash(TINY)
    assert genotype.normal == (("skip_connect", 1), ("max_pool_3x3", 0))
    assert genotype.normal_concat == (2,)
    assert all(isinstance(field, tuple) for field in genotype)


@pytest.mark.parametrize("genotype", (DARTS_V1, DARTS_V2, TINY), ids=("v1", "v2", "tiny"))
def test_round_trips(genotype):
    assert Genotype.from_json(genotype.to_json()) == genotype
    assert Genotype.from_dict(json.loads(json.dumps(genotype.to_dict()))) == genotype
    assert Genotype.from_string(str(genotype)) == genotype
    assert Genotype.from_string(repr(genotype)) == genotype
    assert pickle.loads(pickle.dumps(genotype)) == genotype
    assert copy.deepcopy(genotype) == genotype
    assert json.loads(genotype.to_json())["normal"][0] == list(genotype.normal[0])


def test_from_string_darts_v2_with_range():
    assert Genotype.from_string(DARTS_V2_TEXT) == DARTS_V2
    assert Genotype.from_string("genotypes." + DARTS_V2_TEXT) == DARTS_V2


def test_from_string_positional():
    text = (
        "Genotype([('skip_connect', 1), ('max_pool_3x3', 0)], [2], "
        "[('avg_pool_3x3', 0), ('avg_pool_3x3', 1)], reduce_concat=range(2, 3))"
    )
    assert Genotype.from_string(text) == TINY


@pytest.mark.parametrize(
    "text",
    (
        "__import__('os').system('true')",
        "Genotype(__import__('os').system('true'), [2], [], [2])",
        "Genotype(normal=PRIMITIVES, normal_concat=[2], reduce=[], reduce_concat=[2])",
        "Genotype(normal=[('skip_connect', 0)], normal_concat=[2])",
        DARTS_V2_TEXT.replace("reduce_concat", "output"),
        DARTS_V2_TEXT.replace("range(2, 6))", "range('2', 6))"),
        "Genotype(normal=[",
        "NotAGenotype(normal=[], normal_concat=[], reduce=[], reduce_concat=[])",
    ),
)
def test_from_string_rejects(text):
    with pytest.raises(InvalidArgumentError, match="argument `s`.*Fix: paste the whole"):
        Genotype.from_string(text)


@pytest.mark.parametrize("attribute", ("normal", "normal_concat", "reduce", "reduce_concat", "extra"))
def test_immutable(attribute):
    with pytest.raises(AttributeError):
        setattr(DARTS_V2, attribute, ())
    with pytest.raises(TypeError):
        DARTS_V2.normal[0] = ("skip_connect", 0)


def test_replace_is_validated():
    assert DARTS_V2._replace(normal_concat=[2, 5]).normal_concat == (2, 5)
    with pytest.raises(InvalidArgumentError, match=error_pattern("normal_concat[0]", "range")):
        DARTS_V2._replace(normal_concat=[6])


V2 = DARTS_V2.to_dict()


def with_cell(
    normal=V2["normal"],
    reduce=V2["reduce"],
    normal_concat=(2, 3, 4, 5),
    reduce_concat=(2, 3, 4, 5),
):
    return {
        "normal": normal,
        "normal_concat": normal_concat,
        "reduce": reduce,
        "reduce_concat": reduce_concat,
    }


@pytest.mark.parametrize(
    "kwargs, error, name, fix",
    (
        (
            with_cell(normal=[("conv_7x7", 0)] + V2["normal"][1:]),
            InvalidArgumentError,
            "normal[0]",
            "use one of the DARTS operations",
        ),
        (
            with_cell(reduce=V2["reduce"][:5] + [("none", 0)] + V2["reduce"][6:]),
            InvalidArgumentError,
            "reduce[5]",
            "'none' is not a choice",
        ),
        (
            with_cell(normal=[("skip_connect", 2)] + V2["normal"][1:]),
            InvalidArgumentError,
            "normal[0]",
            "before node 0",
        ),
        (
            with_cell(normal=V2["normal"][:7] + [("skip_connect", 5)]),
            InvalidArgumentError,
            "normal[7]",
            "before node 3",
        ),
        (
            with_cell(normal=V2["normal"][:2] + [("skip_connect", -1)] + V2["normal"][3:]),
            InvalidArgumentError,
            "normal[2]",
            "before node 1",
        ),
        (
            with_cell(normal=V2["normal"][:7]),
            InvalidArgumentError,
            "len(normal)",
            "exactly two pairs",
        ),
        (with_cell(reduce=[]), InvalidArgumentError, "reduce", "two pairs per"),
        (
            with_cell(reduce=V2["reduce"][:6]),
            InvalidArgumentError,
            "len(reduce)",
            "same number of nodes",
        ),
        (
            with_cell(normal_concat=[1, 2]),
            InvalidArgumentError,
            "normal_concat[0]",
            "range(2, 6)",
        ),
        (
            with_cell(reduce_concat=[2, 6]),
            InvalidArgumentError,
            "reduce_concat[1]",
            "range(2, 6)",
        ),
        (
            with_cell(normal_concat=[2, 2]),
            InvalidArgumentError,
            "normal_concat",
            "list node 2 only once",
        ),
        (
            with_cell(normal_concat=[]),
            InvalidArgumentError,
            "normal_concat",
            "range(2, 6)",
        ),
        (
            with_cell(normal_concat="2345"),
            InvalidTypeError,
            "normal_concat",
            "range(2, 6)",
        ),
        (
            with_cell(reduce_concat=[2, 3.0]),
            InvalidTypeError,
            "reduce_concat[1]",
            "range",
        ),
        (with_cell(normal="sep_conv_3x3"), InvalidTypeError, "normal", "pass e.g."),
        (
            with_cell(normal=[("skip_connect", 0, 1)] * 8),
            InvalidTypeError,
            "normal[0]",
            "pass e.g.",
        ),
        (
            with_cell(normal=[("skip_connect", "0")] * 8),
            InvalidTypeError,
            "normal[0]",
            "write the pair as",
        ),
        (
            with_cell(normal=[("skip_connect", True)] * 8),
            InvalidTypeError,
            "normal[0]",
            "write the pair as",
        ),
    ),
)
def test_invalid_genotype(kwargs, error, name, fix):
    with pytest.raises(error, match=error_pattern(name, fix)):
        Genotype(**kwargs)


@pytest.mark.parametrize(
    "space, name, fix",
    (
        (SearchSpace(num_nodes=3), "genotype.num_nodes", "num_nodes=4"),
        (
            SearchSpace(operations=OPERATIONS[:4]),
            "genotype.normal[7]",
            "operations include 'dil_conv_3x3'",
        ),
    ),
)
def test_validate_rejects_other_space(space, name, fix):
    with pytest.raises(InvalidArgumentError, match=error_pattern(name, fix)):
        DARTS_V2.validate(space)


def test_validate_rejects_non_space():
    with pytest.raises(InvalidTypeError, match=error_pattern("space", "SearchSpace")):
        DARTS_V2.validate({"num_nodes": 4})


@pytest.mark.parametrize(
    "method, arg, error, name",
    (
        ("from_json", "{not json", InvalidArgumentError, "s"),
        ("from_json", 3, InvalidTypeError, "s"),
        ("from_dict", {"normal": V2["normal"]}, InvalidArgumentError, "d"),
        ("from_dict", [1, 2], InvalidTypeError, "d"),
        ("from_string", None, InvalidTypeError, "s"),
    ),
)
def test_invalid_serialised_input(method, arg, error, name):
    with pytest.raises(error, match=rf"argument `{name}`.*Fix:"):
        getattr(Genotype, method)(arg)


@pytest.mark.parametrize("name", ["DARTS_V1", "DARTS_V2"])
def test_load_returns_a_published_genotype_by_name(name):
    assert Genotype.load(name) == {"DARTS_V1": DARTS_V1, "DARTS_V2": DARTS_V2}[name]


def test_load_reads_a_json_file_and_names_an_unreadable_one(tmp_path):
    path = tmp_path / "g.json"
    path.write_text(DARTS_V2.to_json())
    assert Genotype.load(str(path)) == DARTS_V2
    with pytest.raises(InvalidArgumentError, match="path_or_name.*DARTS_V1"):
        Genotype.load(str(tmp_path / "missing.json"))


def test_to_genotype_takes_a_genotype_or_its_dict_and_names_the_argument_otherwise():
    assert to_genotype(DARTS_V2) is DARTS_V2
    assert to_genotype(DARTS_V2.to_dict()) == DARTS_V2
    with pytest.raises(InvalidTypeError, match="`cell_genotype`.*DARTS_V2"):
        to_genotype("DARTS_V2", name="cell_genotype")


def test_the_final_layers_and_the_hypermodel_s_choices_read_the_space_s_to_genotype_and_cell_inputs():
    from keras_parsec import cell_drawing
    from keras_parsec.final import layers
    from keras_parsec.search import weights
    from keras_parsec.tuning import hyperparameters

    assert layers.to_genotype is hyperparameters.to_genotype is to_genotype
    for module in (layers, hyperparameters, cell_drawing, weights):
        assert module.NUM_CELL_INPUTS is NUM_CELL_INPUTS == 2
    assert SearchSpace(num_nodes=3).concat == tuple(range(NUM_CELL_INPUTS, 3 + NUM_CELL_INPUTS))


def test_a_reduce_cell_reads_its_cell_inputs_at_stride_two_and_its_nodes_at_stride_one():
    from keras_parsec.final import layers
    from keras_parsec.search import weights

    assert [input_stride(True, source) for source in range(4)] == [2, 2, 1, 1]
    assert [input_stride(False, source) for source in range(4)] == [1, 1, 1, 1]
    assert weights.input_stride is input_stride
    assert layers.Cell(DARTS_V2, "reduce", filters=4).strides == tuple(
        input_stride(True, source) for _, source in DARTS_V2.reduce
    )
