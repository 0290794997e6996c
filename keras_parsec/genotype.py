"""Genotypes: one architecture of the DARTS space in DARTS' own format, and the two DARTS published.

A genotype lists, per cell type, each node's two (operation, input) pairs and
the nodes the cell concatenates; `Genotype.validate(space)` checks it against a
`SearchSpace`.
"""

import ast
import collections
import collections.abc
import json

from keras_parsec import files
from keras_parsec.errors import invalid_argument, invalid_type, is_int
from keras_parsec.space import (
    _GENOTYPE_FIELDS,
    _LITERAL_ERRORS,
    CELL_TYPES,
    NUM_CELL_INPUTS,
    OPERATIONS,
    SearchSpace,
    _is_sequence,
)


def _normalise_cell(field, cell):
    """Checks one cell's pairs and returns them as a tuple of (str, int) tuples."""
    example = "e.g. [('sep_conv_3x3', 0), ('skip_connect', 1), ...]"
    if not _is_sequence(cell):
        raise invalid_type(field, "a list of (operation, input_index) pairs", cell, f"pass {example}")
    if not cell:
        raise invalid_argument(
            field,
            "at least one intermediate node, i.e. two (operation, input_index) pairs",
            cell,
            f"pass two pairs per intermediate node, {example}",
        )
    if len(cell) % 2:
        raise invalid_argument(
            f"len({field})",
            "an even number of (operation, input_index) pairs, two per intermediate node",
            len(cell),
            "give every intermediate node exactly two pairs",
        )
    pairs = []
    for i, pair in enumerate(cell):
        name = f"{field}[{i}]"
        if not _is_sequence(pair) or len(pair) != 2:
            raise invalid_type(name, "an (operation, input_index) pair", pair, f"pass {example}")
        operation, input_index = pair
        if not isinstance(operation, str) or not is_int(input_index):
            raise invalid_type(name, "a (str, int) pair", pair, "write the pair as ('sep_conv_3x3', 0)")
        if operation not in OPERATIONS:
            fix = "use one of the DARTS operations above"
            if operation == "none":
                fix += " ('none' is not a choice: every node takes exactly two inputs)"
            raise invalid_argument(name, f"an operation name, one of {', '.join(OPERATIONS)}", pair, fix)
        node = i // 2
        stop = node + NUM_CELL_INPUTS
        if not 0 <= input_index < stop:
            raise invalid_argument(
                name,
                f"an input index in [0, {stop}) for intermediate node {node} "
                "(0 and 1 are the cell inputs, k + 2 is node k)",
                pair,
                f"point the pair at a cell input or at a node before node {node}",
            )
        pairs.append((operation, int(input_index)))
    return tuple(pairs)


def _normalise_concat(field, concat, num_nodes):
    """Checks a concat list and returns it as a tuple of ints."""
    stop = num_nodes + NUM_CELL_INPUTS
    fix = f"pass node indices from range(2, {stop}), e.g. {field}=range(2, {stop})"
    if not _is_sequence(concat):
        raise invalid_type(field, "a list, tuple or range of node indices", concat, fix)
    if len(concat) == 0:
        raise invalid_argument(field, "at least one node index", concat, fix)
    indices = []
    for i, index in enumerate(concat):
        if not is_int(index):
            raise invalid_type(f"{field}[{i}]", "an int", index, fix)
        if not NUM_CELL_INPUTS <= index < stop:
            raise invalid_argument(
                f"{field}[{i}]",
                f"an intermediate node index in [2, {stop}) for a cell of {num_nodes} nodes",
                index,
                fix,
            )
        if index in indices:
            raise invalid_argument(field, "distinct node indices", concat, f"list node {index} only once")
        indices.append(int(index))
    return tuple(indices)


def _literal(node):
    """Evaluates a literal AST node, also accepting `range(...)` of int literals."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "range"
        and not node.keywords
        and 1 <= len(node.args) <= 3
    ):
        args = [ast.literal_eval(arg) for arg in node.args]
        if all(is_int(arg) for arg in args):
            return range(*args)
        raise ValueError("range() takes int literals only")
    return ast.literal_eval(node)


class Genotype(collections.namedtuple("Genotype", "normal normal_concat reduce reduce_concat")):
    """One architecture of the DARTS space, in DARTS' own genotype format.

    Immutable, hashable and JSON-safe; arguments are validated and normalised
    to tuples, so two genotypes with the same content compare equal.

    Args:
        normal: the normal cell: `2 * num_nodes` pairs `(operation, input_index)`,
            two per intermediate node in order; node `n` takes inputs in
            `[0, n + 2)` (0 and 1 are the cell inputs, `k + 2` is node `k`).
        normal_concat: node indices concatenated into the normal cell output,
            e.g. `[2, 3, 4, 5]` or `range(2, 6)`.
        reduce: the reduce cell, same format and node count as `normal`.
        reduce_concat: node indices concatenated into the reduce cell output.

    Raises:
        InvalidTypeError, InvalidArgumentError: for a malformed genotype.

    Example:

    ```python
    genotype = Genotype.from_string(str(DARTS_V2))
    genotype == Genotype.from_json(genotype.to_json())  # True
    ```
    """

    __slots__ = ()

    def __new__(cls, normal, normal_concat, reduce, reduce_concat):
        normal = _normalise_cell("normal", normal)
        reduce = _normalise_cell("reduce", reduce)
        if len(reduce) != len(normal):
            raise invalid_argument(
                "len(reduce)",
                f"{len(normal)} pairs, the same number of intermediate nodes ({len(normal) // 2}) as the normal cell",
                len(reduce),
                "give both cells two pairs per node and the same number of nodes",
            )
        num_nodes = len(normal) // 2
        normal_concat = _normalise_concat("normal_concat", normal_concat, num_nodes)
        reduce_concat = _normalise_concat("reduce_concat", reduce_concat, num_nodes)
        return super().__new__(cls, normal, normal_concat, reduce, reduce_concat)

    @classmethod
    def _make(cls, iterable):
        # namedtuple's `_make` (and so `_replace`) would skip the validation.
        return cls(*iterable)

    @property
    def num_nodes(self) -> int:
        """Number of intermediate nodes per cell."""
        return len(self.normal) // 2

    def validate(self, space: SearchSpace) -> "Genotype":
        """Checks that this genotype belongs to `space`.

        Args:
            space: a `SearchSpace`.

        Returns:
            This genotype.

        Raises:
            InvalidArgumentError: if the node count differs from `space.num_nodes`
                or an operation is not in `space.operations`.
        """
        if not isinstance(space, SearchSpace):
            raise invalid_type("space", "a SearchSpace", space, "pass a keras_parsec SearchSpace")
        if self.num_nodes != space.num_nodes:
            raise invalid_argument(
                "genotype.num_nodes",
                f"{space.num_nodes}, the num_nodes of the search space",
                self.num_nodes,
                f"use a genotype of {space.num_nodes} nodes or a SearchSpace with num_nodes={self.num_nodes}",
            )
        for field in CELL_TYPES:
            for i, pair in enumerate(getattr(self, field)):
                if pair[0] not in space.operations:
                    raise invalid_argument(
                        f"genotype.{field}[{i}]",
                        f"an operation of the search space, one of {', '.join(space.operations)}",
                        pair,
                        f"use a SearchSpace whose operations include {pair[0]!r}",
                    )
        return self

    def to_dict(self) -> dict:
        """Returns a JSON-safe dict of lists, the input of `from_dict`."""
        return {
            field: [list(item) if isinstance(item, tuple) else item for item in value]
            for field, value in zip(self._fields, self, strict=True)
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Genotype":
        """Builds a genotype from the output of `to_dict`."""
        if not isinstance(d, collections.abc.Mapping):
            raise invalid_type("d", "a dict", d, "pass genotype.to_dict()")
        missing = [field for field in _GENOTYPE_FIELDS if field not in d]
        unknown = sorted(set(d) - set(_GENOTYPE_FIELDS))
        if missing or unknown:
            fixes = [
                f"add {missing}" if missing else "",
                f"remove {unknown}" if unknown else "",
            ]
            raise invalid_argument(
                "d",
                f"exactly the keys {list(_GENOTYPE_FIELDS)}",
                d,
                " and ".join(fix for fix in fixes if fix),
            )
        return cls(**d)

    def to_json(self) -> str:
        """Returns the genotype as a JSON string."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, s: str) -> "Genotype":
        """Builds a genotype from the output of `to_json`."""
        if not isinstance(s, (str, bytes)):
            raise invalid_type("s", "a JSON string", s, "pass genotype.to_json()")
        try:
            d = json.loads(s)
        except json.JSONDecodeError as e:
            raise invalid_argument("s", f"a JSON string ({e})", s, "pass the output of genotype.to_json()") from e
        return cls.from_dict(d)

    @classmethod
    def load(cls, path_or_name: str) -> "Genotype":
        """Reads a genotype from a `to_json` file, or returns a published one by name.

        Args:
            path_or_name: a JSON file path, or "DARTS_V1" / "DARTS_V2".

        Returns:
            The `Genotype`.
        """
        published = {"DARTS_V1": DARTS_V1, "DARTS_V2": DARTS_V2}
        if path_or_name in published:
            return published[path_or_name]
        try:
            return cls.from_json(files.read_text(path_or_name))
        except OSError as e:
            raise invalid_argument(
                "path_or_name",
                f"a genotype JSON file or one of {sorted(published)}",
                path_or_name,
                f"the file cannot be read ({e.strerror})",
            ) from e

    @classmethod
    def from_string(cls, s: str) -> "Genotype":
        """Parses a genotype as printed by Python, e.g. by the DARTS code.

        Only literals and `range(...)` are accepted; nothing is evaluated.

        Args:
            s: text such as `"Genotype(normal=[('sep_conv_3x3', 0), ...],
                normal_concat=range(2, 6), reduce=[...], reduce_concat=[2, 3, 4, 5])"`.

        Returns:
            The `Genotype`.
        """
        expected = f"a genotype as printed by Python: Genotype({', '.join(_GENOTYPE_FIELDS)})"
        fix = "paste the whole Genotype(...) expression, with literals and range(a, b)"
        if not isinstance(s, str):
            raise invalid_type("s", "a str", s, fix)
        try:
            call = ast.parse(s.strip(), mode="eval").body
        except SyntaxError as e:
            raise invalid_argument("s", expected, s, fix) from e
        func = getattr(call, "func", None)
        name = getattr(func, "id", None) or getattr(func, "attr", None)
        if not isinstance(call, ast.Call) or name != "Genotype" or len(call.args) > 4:
            raise invalid_argument("s", expected, s, fix)
        nodes = dict(zip(_GENOTYPE_FIELDS, call.args, strict=False))
        for keyword in call.keywords:
            if keyword.arg not in _GENOTYPE_FIELDS or keyword.arg in nodes:
                raise invalid_argument(
                    "s",
                    f"each of the fields {', '.join(_GENOTYPE_FIELDS)} once",
                    s,
                    fix,
                )
            nodes[keyword.arg] = keyword.value
        if len(nodes) != len(_GENOTYPE_FIELDS):
            missing = [f for f in _GENOTYPE_FIELDS if f not in nodes]
            raise invalid_argument("s", f"the fields {', '.join(missing)} too", s, fix)
        values = {}
        for field, node in nodes.items():
            try:
                values[field] = _literal(node)
            except _LITERAL_ERRORS as e:
                raise invalid_argument("s", f"a literal list or range(a, b) for `{field}`", s, fix) from e
        return cls(**values)

    def __repr__(self):
        fields = ", ".join(f"{field}={list(value)!r}" for field, value in zip(self._fields, self, strict=True))
        return f"Genotype({fields})"

    __str__ = __repr__


def to_genotype(genotype, name: str = "genotype") -> Genotype:
    """Returns `genotype` as a `Genotype`, accepting a Genotype or its `to_dict()`.

    Args:
        genotype: a `Genotype` or the dict of its `to_dict()`.
        name: the argument's name in the error messages.

    Returns:
        The `Genotype`.

    Raises:
        InvalidTypeError: for anything else.
        InvalidArgumentError: for a malformed dict.
    """
    if isinstance(genotype, Genotype):
        return genotype
    if isinstance(genotype, collections.abc.Mapping):
        return Genotype.from_dict(genotype)
    raise invalid_type(name, "a keras_parsec.Genotype or its to_dict()", genotype, "pass e.g. keras_parsec.DARTS_V2")


# The two cells published with DARTS (Liu et al., 2019): first and second order.
# fmt: off
DARTS_V1 = Genotype(
    normal=[
        ("sep_conv_3x3", 1), ("sep_conv_3x3", 0),  # node 0
        ("skip_connect", 0), ("sep_conv_3x3", 1),  # node 1
        ("skip_connect", 0), ("sep_conv_3x3", 1),  # node 2
        ("sep_conv_3x3", 0), ("skip_connect", 2),  # node 3
    ],
    normal_concat=[2, 3, 4, 5],
    reduce=[
        ("max_pool_3x3", 0), ("max_pool_3x3", 1),
        ("skip_connect", 2), ("max_pool_3x3", 0),
        ("max_pool_3x3", 0), ("skip_connect", 2),
        ("skip_connect", 2), ("avg_pool_3x3", 0),
    ],
    reduce_concat=[2, 3, 4, 5],
)
DARTS_V2 = Genotype(
    normal=[
        ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 1), ("skip_connect", 0),
        ("skip_connect", 0), ("dil_conv_3x3", 2),
    ],
    normal_concat=[2, 3, 4, 5],
    reduce=[
        ("max_pool_3x3", 0), ("max_pool_3x3", 1),
        ("skip_connect", 2), ("max_pool_3x3", 1),
        ("max_pool_3x3", 0), ("skip_connect", 2),
        ("skip_connect", 2), ("max_pool_3x3", 1),
    ],
    reduce_concat=[2, 3, 4, 5],
)
# fmt: on
