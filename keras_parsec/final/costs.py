"""Per-choice cost tables of a final network: parameters, multiply-adds, latency.

In a final network (`CellNetwork`) every cell of a type runs the same genotype,
and each chosen (input, operation) pair is one operation layer whose cost
depends only on the operation, the cell's filters, its stride and the size of
the map it reads. The stem, the cells' preprocessing and the classifier do not
depend on the genotype. So a cost is additive over an architecture's choices:

    cost(choices) = base + sum over cell type t, node n, slot s of table[t, n, s, choices[t, n, s]]

`CostTable` holds `base` and `table` (float64 `[2, N, 2, M]`, indexed like the
logits of `ArchitectureDistribution`, 0 on padding). `params_table` and
`flops_table` are exact: `params_table(space).genotype_cost(g) ==
count_params(g)` for every genotype `g` of `space`. `latency.py` measures one.
"""

import functools
import json
import math
import numbers
import os

import numpy as np
import tensorflow as tf

from keras_parsec.categorical import check_choice_range, valid_choice_mask
from keras_parsec.distribution import ArchitectureDistribution
from keras_parsec.errors import invalid_argument, invalid_type
from keras_parsec.files import atomic_write, read_text
from keras_parsec.final import counting
from keras_parsec.final.operations import operation_layer
from keras_parsec.genotype import to_genotype
from keras_parsec.space import CELL_TYPES, NUM_CELL_INPUTS, SearchSpace, input_stride

_CLASS_NAME = "CostTable"
_CONFIG_KEYS = ["base", "measurement", "name", "network", "space", "table"]


def _json_safe(mapping, name):
    """`mapping` as a JSON-safe dict (tuples become lists), or an error naming `name`."""
    if mapping is None:
        return {}
    if not isinstance(mapping, dict):
        raise invalid_type(name, "a dict or None", mapping, f"pass e.g. {name}={{'num_cells': 8}}")
    try:
        return json.loads(json.dumps(mapping))
    except (TypeError, ValueError) as e:
        raise invalid_argument(name, "a JSON-safe dict (str keys; numbers, str, lists)", mapping) from e


class CostTable:
    """A cost additive over the choices of an architecture: `base` + one table entry per slot.

    Args:
        name: what is counted, e.g. "params", "flops" or "latency_ms".
        base: the cost of everything that does not depend on the architecture.
        table: float `[2, N, 2, space.max_choices]`, the cost of each choice
            of each (cell type, node, slot), indexed like the distribution's
            logits; padding entries are ignored and stored as 0.
        space: the `SearchSpace` whose choices index `table`.
        network: JSON-safe dict of the `CellNetwork` arguments the costs
            were computed at.
        measurement: JSON-safe dict of how a measured table was measured
            (device, batch size, repeats...).

    Example:

    ```python
    table = params_table(space, num_cells=8, filters=16)
    table.cost(distribution.sample_choices(64))  # 64 parameter counts
    table.genotype_cost(DARTS_V2), table.min_cost()
    ```
    """

    def __init__(self, name: str, base: float, table, space, network=None, measurement=None):
        if not isinstance(space, SearchSpace):
            raise invalid_type("space", "a SearchSpace", space, "pass the space the table's choices index")
        if not isinstance(name, str) or not name:
            raise invalid_argument("name", "a non-empty str", name, 'pass e.g. name="params"')
        if not isinstance(base, numbers.Real) or isinstance(base, bool) or not math.isfinite(base):
            raise invalid_argument("base", "a finite float", base, "pass the architecture-independent cost")
        self.mask = valid_choice_mask(space)
        fix = "pass an array of that shape, e.g. from params_table(space)"
        try:
            table = np.asarray(table, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise invalid_type("table", f"a float array of shape {self.mask.shape}", table, fix) from e
        if table.shape != self.mask.shape:
            raise invalid_argument("table.shape", f"{self.mask.shape}: (cell types, nodes, slots, choices)", table, fix)
        bad = np.argwhere(self.mask & ~np.isfinite(table))
        if bad.size:
            index = [int(i) for i in bad[0]]
            raise invalid_argument(f"table{index}", "a finite float", float(table[tuple(index)]), fix)
        self.name = name
        self.base = float(base)
        self.table = np.where(self.mask, table, 0.0)
        self.space = space
        self.network = _json_safe(network, "network")
        self.measurement = _json_safe(measurement, "measurement")

    def _check_choices(self, choices):
        shape = self.mask.shape[:-1]
        try:
            choices = np.asarray(choices)
        except (TypeError, ValueError) as e:
            raise invalid_type("choices", f"an int array of shape {shape} or [K, *{shape}]", choices) from e
        if not np.issubdtype(choices.dtype, np.integer) or choices.shape[-3:] != shape or choices.ndim not in (3, 4):
            raise invalid_argument(
                "choices",
                f"integer choices of shape {shape} or [K, *{shape}] for this table's space",
                choices,
                "pass distribution.sample_choices() or genotype_to_choices() of the same space",
            )
        check_choice_range("choices", choices, self.mask)
        return choices

    def cost(self, choices):
        """The cost of one architecture `[2, N, 2]` (a float) or of K of them `[K, 2, N, 2]` (float64 `[K]`)."""
        choices = self._check_choices(choices)
        batch = choices.reshape((-1, *self.mask.shape[:-1]))
        table = np.broadcast_to(self.table, (len(batch), *self.table.shape))
        costs = self.base + np.take_along_axis(table, batch[..., None], axis=-1).sum(axis=(1, 2, 3, 4))
        return float(costs[0]) if choices.ndim == 3 else costs

    def genotype_cost(self, genotype) -> float:
        """The cost of a `Genotype` (or its dict) of this table's space, concatenating all nodes."""
        genotype = to_genotype(genotype).validate(self.space)
        for cell_type in CELL_TYPES:
            concat = getattr(genotype, f"{cell_type}_concat")
            if tuple(concat) != self.space.concat:
                raise invalid_argument(
                    f"genotype.{cell_type}_concat",
                    f"{list(self.space.concat)}: a table's costs hold for cells that concatenate every node",
                    list(concat),
                    "count this genotype with count_params/count_flops, or concatenate all nodes",
                )
        return self.cost(ArchitectureDistribution(self.space).genotype_to_choices(genotype))

    def _extreme(self, reduce):
        filled = np.where(self.mask, self.table, np.inf if reduce is np.min else -np.inf)
        return float(self.base + reduce(filled, axis=-1).sum())

    def min_cost(self) -> float:
        """The cost of the cheapest architecture: `base` plus each slot's cheapest valid choice."""
        return self._extreme(np.min)

    def max_cost(self) -> float:
        """The cost of the costliest architecture: `base` plus each slot's costliest valid choice."""
        return self._extreme(np.max)

    def get_config(self) -> dict:
        """A JSON-safe dict, the input of `from_config`."""
        return {
            "name": self.name,
            "base": self.base,
            "table": self.table.tolist(),
            "space": self.space.get_config(),
            "network": self.network,
            "measurement": self.measurement,
        }

    @classmethod
    def from_config(cls, config: dict) -> "CostTable":
        """Builds a table from the output of `get_config`."""
        if not isinstance(config, dict) or sorted(config) != _CONFIG_KEYS:
            received = sorted(config) if isinstance(config, dict) else config
            raise invalid_argument("config.keys()", f"exactly {_CONFIG_KEYS}", received, "pass table.get_config()")
        space = SearchSpace.from_config(config["space"])
        arguments = {key: config[key] for key in ("name", "base", "table", "network", "measurement")}
        return cls(space=space, **arguments)

    def save(self, path):
        """Writes the table as JSON to `path` (local or any `tf.io.gfile` URL), atomically."""
        atomic_write(path, json.dumps({"class_name": _CLASS_NAME, "config": self.get_config()}))

    @classmethod
    def load(cls, path) -> "CostTable":
        """Reads a table written by `save`.

        Raises:
            InvalidArgumentError: naming `path`, if the file is missing, is not
                JSON, or does not hold a cost table.
        """
        path = os.fspath(path)
        expected = f"a file written by {_CLASS_NAME}.save"
        try:
            text = read_text(path)
        except OSError as e:
            raise invalid_argument("path", f"{expected} ({e.strerror})", path, "check the path") from e
        fix = "point to a file of CostTable.save, or compute the table again"
        try:
            data = json.loads(text)
            config = data["config"] if data.get("class_name") == _CLASS_NAME else None
        except (AttributeError, KeyError, TypeError, ValueError) as e:
            raise invalid_argument("path", f"{expected}; this file is not one ({e})", path, fix) from e
        if config is None:
            raise invalid_argument("path", f"{expected}; this file holds something else", path, fix)
        try:
            return cls.from_config(config)
        except (TypeError, ValueError) as e:
            raise invalid_argument("path", f"{expected}; this file is corrupt ({e})", path, fix) from e

    def __repr__(self):
        return f"CostTable({self.name!r}, base={self.base:g}, min={self.min_cost():g}, max={self.max_cost():g})"


# ------------------------------------------------------------------ tables of a network


def reference_network(space, network_kwargs):
    """The `CellNetwork` of `space`'s first choice in every slot, built with `network_kwargs`."""
    from keras_parsec.final.networks import CellNetwork

    if not isinstance(space, SearchSpace):
        raise invalid_type("space", "a SearchSpace", space, "pass the space the table's choices index")
    choices = np.zeros(valid_choice_mask(space).shape[:-1], np.int32)
    genotype = ArchitectureDistribution(space).choices_to_genotype(choices)
    return CellNetwork(genotype, **network_kwargs), choices


def tabulate(space, model, operation_cost) -> np.ndarray:
    """The table `[2, N, 2, M]` of a network: each choice's cost summed over the cells of its type.

    Args:
        space: the `SearchSpace` whose choices index the table.
        model: a built `CellNetwork` of the size to tabulate (its genotype does not matter).
        operation_cost: `f(operation, filters, strides, height, width) -> float`, the
            cost of one operation layer reading a `(height, width, filters)` map.

    Returns:
        float64 `[2, N, 2, space.max_choices]`, 0 on padding.
    """
    table = np.zeros(valid_choice_mask(space).shape)
    num_operations = space.num_operations
    for cell, (_, s1) in zip(model.cells, model.cell_input_shapes(batch_size=1)):
        reduction = cell.cell_type == "reduce"
        state = cell.preprocess_1.compute_output_shape(s1)[1:3]
        node = tuple(-(-side // 2) for side in state) if reduction else tuple(state)
        t = CELL_TYPES.index(cell.cell_type)
        for n in range(space.num_nodes):
            for source in range(space.num_inputs(n)):
                strides = input_stride(reduction, source)
                height, width = state if source < NUM_CELL_INPUTS else node
                for p, operation in enumerate(space.operations):
                    cost = operation_cost(operation, cell.filters, strides, int(height), int(width))
                    table[t, n, :, source * num_operations + p] += cost
    return table


@functools.lru_cache(maxsize=None)
def _operation_counts(operation, filters, strides, height, width):
    """(trainable parameters, multiply-adds of one image) of one operation layer."""
    layer = operation_layer(operation, filters, strides)
    shape = (1, height, width, filters)
    layer.build(shape)
    params = sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
    graph = tf.function(lambda x: layer(x, training=False)).get_concrete_function(tf.TensorSpec(shape)).graph
    return params, sum(counting._multiply_adds(op) for op in graph.get_operations())


def _count_table(name, index, count, space, setting, network_kwargs):
    arguments = counting.network_arguments(setting, network_kwargs)
    model, choices = reference_network(space, arguments)
    table = tabulate(space, model, lambda *key: _operation_counts(*key)[index])
    base = count(model) - float(np.take_along_axis(table, choices[..., None], axis=-1).sum())
    return CostTable(name, base, table, space, network=arguments)


def params_table(space, setting=None, **network_kwargs) -> CostTable:
    """The exact parameter count of every architecture of `space`, as a `CostTable` named "params".

    `table.genotype_cost(g) == count_params(g, setting, **network_kwargs)` for
    every genotype `g` of `space`: trainable weights, auxiliary head excluded.
    The network's size comes from `setting` and `network_kwargs`, not from
    `space` (whose nodes and operations only index the table).

    Args:
        space: the `SearchSpace`.
        setting: "cifar10" (default: 20 cells, 36 filters, 32x32) or "imagenet".
        **network_kwargs: `CellNetwork` arguments that override the setting's
            (num_cells, filters, input_shape, num_classes, stem, stem_multiplier).

    Returns:
        A `CostTable`; `network` holds the `CellNetwork` arguments used.
    """
    return _count_table("params", 0, counting.count_params, space, setting, network_kwargs)


def flops_table(space, setting=None, **network_kwargs) -> CostTable:
    """The exact multiply-adds (one image, inference) of every architecture of `space`, named "flops".

    `table.genotype_cost(g) == count_flops(g, setting, **network_kwargs)` for
    every genotype `g` of `space`. Arguments as in `params_table`.

    Returns:
        A `CostTable`; `network` holds the `CellNetwork` arguments used.
    """
    return _count_table("flops", 1, counting.count_flops, space, setting, network_kwargs)
