"""The DARTS cell space as Keras Tuner hyperparameters: one `hp.Choice` per input slot.

Every input slot of every intermediate node of the normal and the reduction
cell is one `hp.Choice`, named `"normal/node_0/slot_1"`, whose values read
`"sep_conv_3x3@1"`: operation `@` input index (0 and 1 are the cell inputs,
`k + 2` is node `k`). Node `n` offers `(n + 2) * P` values, input-major, in the
order of `search_space.operations`, the same numbering as
`SearchSpace.choice_index`. `CellHyperModel` (`hypermodel.py`) builds the
network the values describe, and `ParsecTuner.get_best_hyperparameters` hands
back its genotypes in these names.
"""

import collections.abc

import keras_tuner

from keras_parsec.errors import invalid_argument, invalid_type, is_int
from keras_parsec.genotype import Genotype, to_genotype
from keras_parsec.space import CELL_TYPES, NUM_CELL_INPUTS, OPERATIONS, SearchSpace

SLOTS_PER_NODE = 2
_SEPARATOR = "@"


def check_search_space(search_space):
    """Returns `search_space` if it is a `SearchSpace`, else raises naming it."""
    if not isinstance(search_space, SearchSpace):
        raise invalid_type(
            "search_space",
            "a keras_parsec.SearchSpace",
            search_space,
            "pass e.g. keras_parsec.SearchSpace(num_cells=8)",
        )
    return search_space


def hyperparameter_name(cell_type: str, node: int, slot: int) -> str:
    """Returns the name of the choice of one input slot, e.g. `"normal/node_0/slot_1"`.

    Args:
        cell_type: `"normal"` or `"reduce"`.
        node: intermediate node index, >= 0.
        slot: input slot of the node, 0 or 1.

    Raises:
        InvalidArgumentError, InvalidTypeError: for an unusable argument.
    """
    if cell_type not in CELL_TYPES:
        raise invalid_argument("cell_type", f"one of {CELL_TYPES}", cell_type, 'pass "normal" or "reduce"')
    if not is_int(node):
        raise invalid_type("node", "an int", node, "pass an intermediate node index, e.g. node=0")
    if node < 0:
        raise invalid_argument("node", "an intermediate node index >= 0", node, "pass e.g. node=0")
    if not is_int(slot) or slot not in range(SLOTS_PER_NODE):
        raise invalid_argument("slot", "0 or 1 (every node has two input slots)", slot, "pass slot=0 or slot=1")
    return f"{cell_type}/node_{int(node)}/slot_{int(slot)}"


def choice_value(operation: str, input_index: int) -> str:
    """Returns the value of one choice, e.g. `"sep_conv_3x3@1"`.

    Args:
        operation: an operation name, one of `OPERATIONS`.
        input_index: 0 and 1 for the cell inputs, `k + 2` for node `k`.

    Raises:
        InvalidArgumentError, InvalidTypeError: for an unusable argument.
    """
    if operation not in OPERATIONS:
        raise invalid_argument(
            "operation", f"an operation name, one of {', '.join(OPERATIONS)}", operation, "use a name from OPERATIONS"
        )
    if not is_int(input_index):
        raise invalid_type("input_index", "an int", input_index, "pass e.g. input_index=1")
    if input_index < 0:
        raise invalid_argument(
            "input_index", "an input index >= 0 (0 and 1 are the cell inputs, k + 2 is node k)", input_index
        )
    return f"{operation}{_SEPARATOR}{int(input_index)}"


def parse_choice_value(value: str, node: int | None = None, name: str = "value") -> tuple:
    """Parses `"sep_conv_3x3@1"` into `("sep_conv_3x3", 1)`.

    Args:
        value: a choice value, as made by `choice_value`.
        node: optional intermediate node the value belongs to; its input index
            must then be in `[0, node + 2)`.
        name: how error messages name the value, e.g. the hyperparameter name.

    Returns:
        The `(operation, input_index)` pair.

    Raises:
        InvalidTypeError: if `value` is not a str.
        InvalidArgumentError: if `value` is not `"operation@input_index"`, names
            an unknown operation, or an input `node` cannot read.

    Example:

    ```python
    parse_choice_value("dil_conv_3x3@2")  # ("dil_conv_3x3", 2)
    ```
    """
    fix = 'write "operation@input_index", e.g. "sep_conv_3x3@1"'
    if not isinstance(value, str):
        raise invalid_type(name, "a str", value, fix)
    operation, separator, index = value.partition(_SEPARATOR)
    if not separator or not operation or not index.isascii() or not index.isdigit():
        raise invalid_argument(name, 'a choice value "operation@input_index"', value, fix)
    if operation not in OPERATIONS:
        raise invalid_argument(
            name,
            f"an operation name before '@', one of {', '.join(OPERATIONS)}",
            value,
            "use an operation of the search space",
        )
    input_index = int(index)
    if node is not None:
        stop = node + NUM_CELL_INPUTS
        if input_index >= stop:
            raise invalid_argument(
                name,
                f"an input index in [0, {stop}) for intermediate node {node} "
                "(0 and 1 are the cell inputs, k + 2 is node k)",
                value,
                f"point the choice at a cell input or at a node before node {node}",
            )
    return operation, input_index


def node_choices(search_space: SearchSpace, node: int) -> list:
    """Returns the choice values of one slot of `node`, in `choice_index` order.

    Input-major: every operation of `search_space.operations` for input 0,
    then for input 1, ..., up to input `node + 1`; `(node + 2) * P` values.
    """
    search_space = check_search_space(search_space)
    return [
        choice_value(operation, input_index)
        for input_index in range(search_space.num_inputs(node))
        for operation in search_space.operations
    ]


def declare_hyperparameters(hp: keras_tuner.HyperParameters, search_space: SearchSpace) -> None:
    """Declares one `hp.Choice` per (cell type, node, slot) of `search_space`.

    Args:
        hp: a `keras_tuner.HyperParameters`.
        search_space: the `SearchSpace`.

    Raises:
        InvalidTypeError: for an unusable argument.
    """
    if not isinstance(hp, keras_tuner.HyperParameters):
        raise invalid_type("hp", "a keras_tuner.HyperParameters", hp, "pass the hp given to HyperModel.build")
    search_space = check_search_space(search_space)
    for cell_type in CELL_TYPES:
        for node in range(search_space.num_nodes):
            values = node_choices(search_space, node)
            for slot in range(SLOTS_PER_NODE):
                hp.Choice(hyperparameter_name(cell_type, node, slot), values)


def genotype_to_values(genotype: Genotype) -> dict:
    """Returns `{hyperparameter name: choice value}` for every slot of `genotype`.

    Args:
        genotype: a `Genotype` or its `to_dict()`.

    Example:

    ```python
    genotype_to_values(DARTS_V2)["normal/node_3/slot_1"]  # "dil_conv_3x3@2"
    ```
    """
    genotype = to_genotype(genotype)
    values = {}
    for cell_type in CELL_TYPES:
        for position, (operation, input_index) in enumerate(getattr(genotype, cell_type)):
            node, slot = divmod(position, SLOTS_PER_NODE)
            values[hyperparameter_name(cell_type, node, slot)] = choice_value(operation, input_index)
    return values


def values_to_genotype(values, search_space: SearchSpace) -> Genotype:
    """Returns the `Genotype` that hyperparameter `values` describe in `search_space`.

    The inverse of `genotype_to_values`; both concat lists are
    `search_space.concat`. Values of other hyperparameters (Hyperband's
    `tuner/epochs`, a learning rate...) are ignored.

    Args:
        values: a dict of hyperparameter values such as `hp.values`, or a
            `keras_tuner.HyperParameters`.
        search_space: the `SearchSpace` the values were declared for.

    Returns:
        The `Genotype`, validated against `search_space`.

    Raises:
        InvalidArgumentError: if a slot is missing, or its value is malformed,
            reads an input its node cannot read, or names an operation
            outside `search_space.operations`.
    """
    if isinstance(values, keras_tuner.HyperParameters):
        values = values.values
    if not isinstance(values, collections.abc.Mapping):
        raise invalid_type("values", "a dict of hyperparameter values", values, "pass hp.values")
    search_space = check_search_space(search_space)
    slots = [
        (cell_type, node, hyperparameter_name(cell_type, node, slot))
        for cell_type in CELL_TYPES
        for node in range(search_space.num_nodes)
        for slot in range(SLOTS_PER_NODE)
    ]
    names = [name for _, _, name in slots]
    missing = [name for name in names if name not in values]
    if missing:
        shown = ", ".join(repr(name) for name in missing[:4]) + (", ..." if len(missing) > 4 else "")
        raise invalid_argument(
            "values",
            f"a choice for every slot of the space ({len(names)} names); {len(missing)} missing: {shown}",
            sorted(values),
            "declare the choices with declare_hyperparameters(hp, search_space) and pass hp.values",
        )
    cells = {cell_type: [] for cell_type in CELL_TYPES}
    for cell_type, node, name in slots:
        operation, input_index = parse_choice_value(values[name], node=node, name=f"values[{name!r}]")
        if operation not in search_space.operations:
            raise invalid_argument(
                f"values[{name!r}]",
                f"an operation of the search space, one of {', '.join(search_space.operations)}",
                values[name],
                "pass values declared for this search space",
            )
        cells[cell_type].append((operation, input_index))
    return Genotype(
        normal=cells["normal"],
        normal_concat=search_space.concat,
        reduce=cells["reduce"],
        reduce_concat=search_space.concat,
    ).validate(search_space)
