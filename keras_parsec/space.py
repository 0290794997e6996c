"""The DARTS cell search space as plain data (its architectures: `keras_parsec.genotype`).

A network is a stack of `num_cells` cells; the cells at one third and two thirds
of the depth halve the resolution ("reduce" cells), the others keep it ("normal"
cells). All cells of one type share an architecture. A cell has `num_nodes`
intermediate nodes; node `n` picks two (operation, input) pairs among the two
cell inputs (indices 0 and 1) and the earlier nodes (index `k + 2` is node `k`),
and the cell outputs the concatenation of its intermediate nodes.

Each pair is one categorical choice among `num_inputs(n) * num_operations`
options, numbered by `choice_index` as `input_index * P + operation_index`.
"""

import collections
import collections.abc

from keras_parsec.errors import invalid_argument, invalid_type, is_int

# What both the search engine (`search/ops.py`) and the final layers
# (`final/layers.py`) build each candidate operation from: its kind ("max_pool",
# "avg_pool", "skip", "sep_conv": two ReLU, depthwise, 1x1, BN blocks,
# "dil_conv": ReLU, dilated depthwise, 1x1, BN), kernel side and dilation.
OperationSpec = collections.namedtuple("OperationSpec", "kind kernel_size dilation")
OPERATION_SPECS = {
    "max_pool_3x3": OperationSpec("max_pool", 3, 1),
    "avg_pool_3x3": OperationSpec("avg_pool", 3, 1),
    "skip_connect": OperationSpec("skip", 1, 1),
    "sep_conv_3x3": OperationSpec("sep_conv", 3, 1),
    "sep_conv_5x5": OperationSpec("sep_conv", 5, 1),
    "dil_conv_3x3": OperationSpec("dil_conv", 3, 2),
    "dil_conv_5x5": OperationSpec("dil_conv", 5, 2),
}
OPERATIONS = tuple(OPERATION_SPECS)
# PyTorch's BatchNorm2d epsilon, which DARTS searches and trains with.
BATCH_NORM_EPSILON = 1e-5
CELL_TYPES = ("normal", "reduce")

# The two inputs of every cell: the outputs of the two cells before it.
NUM_CELL_INPUTS = 2
_CONFIG_KEYS = ("num_cells", "filters", "num_nodes", "operations", "stem_multiplier")
_GENOTYPE_FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")
# What `ast.literal_eval` raises on text that is not a plain literal.
_LITERAL_ERRORS = (ValueError, TypeError, SyntaxError, MemoryError, RecursionError)


def _is_sequence(value):
    return isinstance(value, collections.abc.Sequence) and not isinstance(value, (str, bytes))


def _check_positive_int(name, value, example):
    if not is_int(value):
        raise invalid_type(name, "an int", value, f"pass an int, e.g. {name}={example}")
    if value < 1:
        raise invalid_argument(
            name,
            "a positive integer",
            value,
            f"pass {name} >= 1, e.g. {name}={example}",
        )
    return int(value)


def _check_index(name, value, stop, what):
    if not is_int(value):
        raise invalid_type(name, "an int", value, f"pass an int in [0, {stop})")
    if not 0 <= value < stop:
        raise invalid_argument(
            name,
            f"{what} in [0, {stop})",
            value,
            f"pass {name} between 0 and {stop - 1}",
        )
    return int(value)


def _check_operations(operations):
    fix = f"pass a list or tuple of distinct names from {OPERATIONS}"
    if not _is_sequence(operations):
        raise invalid_type("operations", "a list or tuple of operation names", operations, fix)
    if not operations:
        raise invalid_argument("operations", "a non-empty sequence of operation names", operations, fix)
    for i, operation in enumerate(operations):
        if not isinstance(operation, str):
            raise invalid_type(f"operations[{i}]", "a str", operation, fix)
        if operation not in OPERATIONS:
            raise invalid_argument(
                f"operations[{i}]",
                f"one of {', '.join(OPERATIONS)}",
                operation,
                f"replace {operation!r} by one of the names above",
            )
    for operation in operations:
        if operations.count(operation) > 1:
            raise invalid_argument(
                "operations",
                "distinct operation names",
                operations,
                f"list {operation!r} only once",
            )
    return tuple(operations)


def input_stride(reduction: bool, source: int) -> int:
    """Stride of an operation reading input `source` of a cell: 2 on a reduce cell's cell inputs, else 1."""
    return 2 if reduction and source < NUM_CELL_INPUTS else 1


def _is_convolution_or_reduction(operation, stride):
    kind = OPERATION_SPECS[operation].kind
    return kind in ("sep_conv", "dil_conv") or (kind == "skip" and stride > 1)


def has_weights(operation: str, stride: int = 1) -> bool:
    """Whether `operation` at `stride` has weights.

    Pools have none, nor has `skip_connect` at stride 1 (the identity); at
    stride 2 it is a factorized reduction, two 1x1 convolutions.

    Args:
        operation: a name of `OPERATIONS`.
        stride: 1 or 2.

    Returns:
        A bool.
    """
    return _is_convolution_or_reduction(operation, stride)


def starts_with_relu(operation: str, stride: int = 1) -> bool:
    """Whether `operation` at `stride` begins with a ReLU of its input.

    The convolutions do, and `skip_connect` at stride 2 (a factorized
    reduction); pools and the identity do not.

    Args:
        operation: a name of `OPERATIONS`.
        stride: 1 or 2.

    Returns:
        A bool.
    """
    return _is_convolution_or_reduction(operation, stride)


class SearchSpace:
    """The DARTS cell search space: network shape and candidate operations.

    Args:
        num_cells: number of stacked cells (DARTS searches with 8).
        filters: channels of the first cells; reduce cells double it.
        num_nodes: intermediate nodes per cell (DARTS: 4).
        operations: candidate operation names, a subset of `OPERATIONS`; the
            order given fixes the operation part of every choice index.
        stem_multiplier: the stem convolution outputs `stem_multiplier * filters`
            channels (DARTS: 3).

    Raises:
        InvalidTypeError, InvalidArgumentError: for an unusable argument.

    Example:

    ```python
    space = SearchSpace(num_cells=8)
    space.reduction_indices  # (2, 5)
    space.choice(space.choice_index("sep_conv_3x3", 1))  # ("sep_conv_3x3", 1)
    ```
    """

    def __init__(
        self,
        num_cells: int = 8,
        filters: int = 16,
        num_nodes: int = 4,
        operations=OPERATIONS,
        stem_multiplier: int = 3,
    ):
        self._num_cells = _check_positive_int("num_cells", num_cells, 8)
        self._filters = _check_positive_int("filters", filters, 16)
        self._num_nodes = _check_positive_int("num_nodes", num_nodes, 4)
        self._operations = _check_operations(operations)
        self._stem_multiplier = _check_positive_int("stem_multiplier", stem_multiplier, 3)

    # Read-only, so that equal spaces keep equal hashes.
    num_cells = property(lambda self: self._num_cells, doc="Number of cells.")
    filters = property(lambda self: self._filters, doc="Channels of the first cells.")
    num_nodes = property(lambda self: self._num_nodes, doc="Intermediate nodes per cell.")
    operations = property(lambda self: self._operations, doc="Candidate operation names.")
    stem_multiplier = property(lambda self: self._stem_multiplier, doc="Stem width factor.")

    @property
    def num_operations(self) -> int:
        """Number of candidate operations, P."""
        return len(self._operations)

    @property
    def reduction_indices(self) -> tuple:
        """Indices of the reduce cells, at 1/3 and 2/3 of the depth (DARTS rule)."""
        n = self._num_cells
        return tuple(sorted({n // 3, 2 * n // 3}))

    def is_reduction(self, cell_index: int) -> bool:
        """Returns whether cell `cell_index` (in [0, num_cells)) is a reduce cell."""
        cell_index = _check_index("cell_index", cell_index, self._num_cells, "a cell index")
        return cell_index in self.reduction_indices

    def num_inputs(self, node: int) -> int:
        """Returns the number of inputs of `node`: 2 cell inputs + `node` nodes."""
        node = _check_index("node", node, self._num_nodes, "an intermediate node index")
        return node + NUM_CELL_INPUTS

    def num_choices(self, node: int) -> int:
        """Returns the number of (operation, input) options of one pair of `node`."""
        return self.num_inputs(node) * self.num_operations

    @property
    def max_choices(self) -> int:
        """Number of options of the last node, the largest of any node."""
        return (self._num_nodes + 1) * self.num_operations

    def choice_index(self, operation: str, input_index: int) -> int:
        """Returns the flat index `input_index * P + operations.index(operation)`.

        Args:
            operation: an operation name of this space.
            input_index: 0 and 1 for the cell inputs, `k + 2` for node `k`.

        Returns:
            An int in [0, max_choices).
        """
        if not isinstance(operation, str):
            raise invalid_type("operation", "a str", operation, f"pass one of {self._operations}")
        if operation not in self._operations:
            raise invalid_argument(
                "operation",
                f"an operation of this space, one of {', '.join(self._operations)}",
                operation,
                "pick a name from space.operations",
            )
        input_index = _check_index("input_index", input_index, self._num_nodes + 1, "an input index")
        return input_index * self.num_operations + self._operations.index(operation)

    def choice(self, index: int) -> tuple:
        """Returns the `(operation, input_index)` pair of flat index `index`."""
        index = _check_index("index", index, self.max_choices, "a choice index")
        input_index, operation_index = divmod(index, self.num_operations)
        return self._operations[operation_index], input_index

    @property
    def concat(self) -> tuple:
        """Node indices concatenated into the cell output: all intermediate nodes."""
        return tuple(range(NUM_CELL_INPUTS, self._num_nodes + NUM_CELL_INPUTS))

    def num_architectures(self) -> int:
        """Returns the number of distinct genotypes (normal and reduce cell).

        Pairs are ordered, as in a `Genotype`: every node has two slots, each
        with `num_choices(node)` options, in each of the two cell types.
        """
        per_cell = 1
        for node in range(self._num_nodes):
            per_cell *= self.num_choices(node) ** 2
        return per_cell ** len(CELL_TYPES)

    def get_config(self) -> dict:
        """Returns the constructor arguments as a JSON-safe dict."""
        return {
            "num_cells": self._num_cells,
            "filters": self._filters,
            "num_nodes": self._num_nodes,
            "operations": list(self._operations),
            "stem_multiplier": self._stem_multiplier,
        }

    @classmethod
    def from_config(cls, config: dict) -> "SearchSpace":
        """Builds a space from the output of `get_config`."""
        if not isinstance(config, collections.abc.Mapping):
            raise invalid_type("config", "a dict", config, "pass space.get_config()")
        unknown = sorted(set(config) - set(_CONFIG_KEYS))
        if unknown:
            raise invalid_argument(
                "config",
                "only SearchSpace constructor arguments as keys",
                config,
                f"remove the keys {unknown}",
            )
        return cls(**config)

    def __eq__(self, other):
        if not isinstance(other, SearchSpace):
            return NotImplemented
        return self.get_config() == other.get_config()

    def __hash__(self):
        config = self.get_config()
        config["operations"] = self._operations
        return hash(tuple(config.items()))

    def __repr__(self):
        config = self.get_config()
        config["operations"] = self._operations
        args = ", ".join(f"{k}={v!r}" for k, v in config.items())
        return f"SearchSpace({args})"


CellPlan = collections.namedtuple("CellPlan", "name reduction reduction_prev channels prev_prev_channels prev_channels")


def cell_plans(space):
    """Each cell's kind and widths in a network of `space`, as both supernets build it.

    Args:
        space: a `SearchSpace`.

    Returns:
        `(plans, output_channels)`: one `CellPlan` per cell (its name, whether
        it and the cell before it reduce, its width and the widths of its two
        inputs), and the width of the last cell's output.
    """
    stem_channels = space.stem_multiplier * space.filters
    prev_prev, prev, channels = stem_channels, stem_channels, space.filters
    reduction_prev, plans = False, []
    for index in range(space.num_cells):
        reduction = space.is_reduction(index)
        channels *= 2 if reduction else 1
        plans.append(CellPlan(f"cell_{index}", reduction, reduction_prev, channels, prev_prev, prev))
        prev_prev, prev, reduction_prev = prev, channels * space.num_nodes, reduction
    return plans, prev


def __getattr__(name):
    """`Genotype`, `to_genotype`, `DARTS_V1` and `DARTS_V2` live in `keras_parsec.genotype` since 0.3.0."""
    if name in ("Genotype", "to_genotype", "DARTS_V1", "DARTS_V2"):
        from keras_parsec import genotype

        return getattr(genotype, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
