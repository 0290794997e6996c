"""CellHyperModel: the DARTS cell space as `hp.Choice` values for any Keras Tuner oracle.

Every input slot of every intermediate node of the normal and the reduction
cell is one `hp.Choice`, named `"normal/node_0/slot_1"`, whose values read
`"sep_conv_3x3@1"`: operation `@` input index (0 and 1 are the cell inputs,
`k + 2` is node `k`). Node `n` offers `(n + 2) * P` values, input-major, in the
order of `search_space.operations`, the same numbering as
`SearchSpace.choice_index`. `RandomSearch`, `Hyperband` and
`BayesianOptimization` then search exactly the space PARSEC searches: these
are the baselines.
"""

import collections.abc
import inspect
import math
import numbers

import keras
import keras_tuner

from keras_parsec.errors import invalid_argument, invalid_type, is_int
from keras_parsec.final.networks import check_input_shape
from keras_parsec.genotype import Genotype, to_genotype
from keras_parsec.space import CELL_TYPES, NUM_CELL_INPUTS, OPERATIONS, SearchSpace

SLOTS_PER_NODE = 2
_SEPARATOR = "@"
# CellNetwork arguments that CellHyperModel sets itself.
_RESERVED_NETWORK_ARGUMENTS = ("genotype", "num_classes", "num_cells", "filters", "input_shape")


def _check_search_space(search_space):
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
    search_space = _check_search_space(search_space)
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
    search_space = _check_search_space(search_space)
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
    search_space = _check_search_space(search_space)
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


def _check_optimizer(optimizer):
    fix = 'pass an optimizer name such as "adam", its config dict, or a keras.optimizers.Optimizer'
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return optimizer
    if not isinstance(optimizer, (str, collections.abc.Mapping)):
        raise invalid_type("optimizer", "an optimizer name, config dict or keras.optimizers.Optimizer", optimizer, fix)
    try:
        keras.optimizers.get(optimizer)
    except (ValueError, TypeError, KeyError) as e:
        raise invalid_argument("optimizer", f"a Keras optimizer ({e})", optimizer, fix) from e
    return optimizer


def _check_learning_rate(learning_rate):
    fix = "pass a positive float, e.g. learning_rate=1e-3, or None for the optimizer's default"
    if learning_rate is None or isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        return learning_rate
    if not isinstance(learning_rate, numbers.Real) or isinstance(learning_rate, bool):
        raise invalid_type("learning_rate", "a float, a LearningRateSchedule or None", learning_rate, fix)
    if not (math.isfinite(learning_rate) and learning_rate > 0):
        raise invalid_argument("learning_rate", "a positive finite float", learning_rate, fix)
    return float(learning_rate)


def _check_network_kwargs(network_kwargs):
    from keras_parsec.final.networks import CellNetwork

    reserved = sorted(set(network_kwargs) & set(_RESERVED_NETWORK_ARGUMENTS))
    if reserved:
        raise invalid_argument(
            "network_kwargs",
            "no argument that the hypermodel sets itself (the genotype from hp, num_cells and filters "
            "from search_space, num_classes and input_shape from its own arguments)",
            sorted(network_kwargs),
            f"remove {reserved}",
        )
    parameters = inspect.signature(CellNetwork.__init__).parameters
    accepted = {name for name, p in parameters.items() if p.kind is p.POSITIONAL_OR_KEYWORD} - {"self"}
    accepted |= {"name", "dtype", "trainable"}  # keras.Model arguments CellNetwork forwards
    unknown = sorted(set(network_kwargs) - accepted)
    if unknown:
        raise invalid_argument(
            "network_kwargs",
            f"CellNetwork arguments, among {', '.join(sorted(accepted - set(_RESERVED_NETWORK_ARGUMENTS)))}",
            sorted(network_kwargs),
            f"remove or correct {unknown}",
        )
    return dict(network_kwargs)


class CellHyperModel(keras_tuner.HyperModel):
    """Builds a compiled `CellNetwork` from the slot choices of `search_space`.

    `build(hp)` declares one `hp.Choice` per input slot (see
    `declare_hyperparameters`), turns `hp.values` into a `Genotype` and returns
    `CellNetwork(genotype, num_classes, num_cells=search_space.num_cells,
    filters=search_space.filters, input_shape=input_shape,
    stem_multiplier=search_space.stem_multiplier, **network_kwargs)`, compiled
    with a fresh optimizer, sparse categorical cross-entropy (from logits when
    `classifier_activation=None`) and accuracy. Any Keras Tuner oracle can
    then search the PARSEC space unchanged.

    Args:
        search_space: the `SearchSpace`; its `num_cells`, `filters` and
            `stem_multiplier` size the network.
        num_classes: number of classes, at least 2.
        input_shape: image shape `(height, width, channels)`.
        optimizer: Keras optimizer name, config dict or instance; every model
            gets its own copy.
        learning_rate: optional learning rate (float or schedule) replacing the
            optimizer's.
        name: optional name of the hypermodel.
        tunable: as in `keras_tuner.HyperModel`.
        **network_kwargs: further `CellNetwork` arguments (`auxiliary_weight`,
            `drop_path_rate`, `classifier_activation`, `stem`, ...).

    Raises:
        InvalidTypeError, InvalidArgumentError: for an unusable argument, at
            construction.

    Example:

    ```python
    space = keras_parsec.SearchSpace(num_cells=8, filters=16)
    tuner = keras_tuner.RandomSearch(CellHyperModel(space, 10, (32, 32, 3)),
                                     objective="val_accuracy", max_trials=20)
    tuner.search(x, y, validation_data=(x_val, y_val), epochs=10)
    genotype = values_to_genotype(tuner.get_best_hyperparameters()[0].values, space)
    ```
    """

    def __init__(
        self,
        search_space: SearchSpace,
        num_classes: int,
        input_shape,
        optimizer="adam",
        learning_rate=None,
        name: str | None = None,
        tunable: bool = True,
        **network_kwargs,
    ):
        self.search_space = _check_search_space(search_space)
        if not is_int(num_classes):
            raise invalid_type("num_classes", "an int", num_classes, "pass e.g. num_classes=10")
        if num_classes < 2:
            raise invalid_argument("num_classes", "an integer >= 2", num_classes, "pass e.g. num_classes=10")
        self.num_classes = int(num_classes)
        self.input_shape = check_input_shape(input_shape)
        self.optimizer = _check_optimizer(optimizer)
        self.learning_rate = _check_learning_rate(learning_rate)
        self.network_kwargs = _check_network_kwargs(network_kwargs)
        self.network_kwargs.setdefault("stem_multiplier", self.search_space.stem_multiplier)
        super().__init__(name=name, tunable=tunable)

    def _make_optimizer(self):
        """A new optimizer per model: a Keras optimizer is bound to one model's variables."""
        if isinstance(self.optimizer, keras.optimizers.Optimizer):
            optimizer = self.optimizer.__class__.from_config(self.optimizer.get_config())
        else:
            optimizer = keras.optimizers.get(self.optimizer)
        if self.learning_rate is not None:
            config = optimizer.get_config()
            config["learning_rate"] = self.learning_rate
            optimizer = optimizer.__class__.from_config(config)
        return optimizer

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        """Declares the choices and returns the compiled `CellNetwork` they describe."""
        from keras_parsec.final.networks import CellNetwork

        declare_hyperparameters(hp, self.search_space)
        genotype = values_to_genotype(hp.values, self.search_space)
        model = CellNetwork(
            genotype,
            num_classes=self.num_classes,
            num_cells=self.search_space.num_cells,
            filters=self.search_space.filters,
            input_shape=self.input_shape,
            **self.network_kwargs,
        )
        from_logits = self.network_kwargs.get("classifier_activation", "softmax") is None
        model.compile(
            optimizer=self._make_optimizer(),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits),
            metrics=["accuracy"],
        )
        # Built now, so that a checkpoint (Hyperband's next round, get_best_models)
        # restores the optimizer's state along with the weights.
        model.optimizer.build(model.trainable_variables)
        return model
