"""CellHyperModel: the DARTS cell space as `hp.Choice` values for any Keras Tuner oracle.

Every input slot of every node of the normal and the reduction cell is one
`hp.Choice` named like `"normal/node_0/slot_1"`, whose values read
`"sep_conv_3x3@1"` (operation @ input node). `RandomSearch`, `Hyperband` and
`BayesianOptimization` then search exactly the space PARSEC searches: these are
the baselines.
"""

import keras
import keras_tuner

from keras_parsec import errors
from keras_parsec.space import CELL_TYPES, Genotype, SearchSpace


def hyperparameter_name(cell_type, node, slot):
    """Name of the choice of one input slot, e.g. `"normal/node_0/slot_1"`."""
    return f"{cell_type}/node_{node}/slot_{slot}"


def choice_value(operation, input_index):
    """The value of one choice, e.g. `"sep_conv_3x3@1"`."""
    return f"{operation}@{input_index}"


def parse_choice_value(value):
    """`"sep_conv_3x3@1"` -> `("sep_conv_3x3", 1)`.

    Raises:
        InvalidArgumentError: if `value` is not `"operation@input"`.
    """
    operation, separator, index = str(value).partition("@")
    if not separator or not index.isdigit() or not operation:
        raise errors.invalid_argument("value", 'a choice like "sep_conv_3x3@1"', value)
    return operation, int(index)


def declare_hyperparameters(hp, search_space):
    """Declares one `hp.Choice` per (cell type, node, slot) of `search_space`.

    Args:
        hp: a `keras_tuner.HyperParameters`.
        search_space: the `SearchSpace`.
    """
    for cell_type in CELL_TYPES:
        for node in range(search_space.num_nodes):
            values = [choice_value(op, source) for source in range(node + 2) for op in search_space.operations]
            for slot in range(2):
                hp.Choice(hyperparameter_name(cell_type, node, slot), values)


def genotype_to_values(genotype):
    """`{hyperparameter name: choice value}` of every slot of `genotype`."""
    values = {}
    for cell_type, pairs in (("normal", genotype.normal), ("reduce", genotype.reduce)):
        for position, (operation, source) in enumerate(pairs):
            values[hyperparameter_name(cell_type, position // 2, position % 2)] = choice_value(operation, source)
    return values


def values_to_genotype(values, search_space):
    """The `Genotype` that hyperparameter `values` describe in `search_space`.

    Raises:
        InvalidArgumentError: if a slot is missing or its choice is not in the space.
    """
    cells = {}
    for cell_type in CELL_TYPES:
        pairs = []
        for node in range(search_space.num_nodes):
            for slot in range(2):
                name = hyperparameter_name(cell_type, node, slot)
                if name not in values:
                    raise errors.invalid_argument(
                        "values", f"a choice for every slot of the space, including {name!r}", sorted(values)
                    )
                pairs.append(parse_choice_value(values[name]))
        cells[cell_type] = pairs
    genotype = Genotype(
        normal=cells["normal"],
        normal_concat=search_space.concat,
        reduce=cells["reduce"],
        reduce_concat=search_space.concat,
    )
    return genotype.validate(search_space)


class CellHyperModel(keras_tuner.HyperModel):
    """Builds a compiled `CellNetwork` from the slot choices of `search_space`.

    Args:
        search_space: the `SearchSpace`; its `num_cells` and `filters` size the network.
        num_classes: number of classes.
        input_shape: image shape `(height, width, channels)`.
        optimizer: Keras optimizer or its name.
        name: optional name of the hypermodel.
        tunable: as in `keras_tuner.HyperModel`.
        **network_kwargs: more `CellNetwork` arguments (auxiliary_weight, ...).

    Example:

    ```python
    tuner = keras_tuner.RandomSearch(CellHyperModel(space, 10, (32, 32, 3)),
                                     objective="val_accuracy", max_trials=20)
    ```
    """

    def __init__(
        self, search_space, num_classes, input_shape, optimizer="adam", name=None, tunable=True, **network_kwargs
    ):
        super().__init__(name=name, tunable=tunable)
        if not isinstance(search_space, SearchSpace):
            raise errors.invalid_type("search_space", "a keras_parsec.SearchSpace", search_space)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise errors.invalid_argument("num_classes", "an integer >= 2", num_classes)
        if len(tuple(input_shape)) != 3:
            raise errors.invalid_argument("input_shape", "(height, width, channels)", input_shape)
        self.search_space = search_space
        self.num_classes = num_classes
        self.input_shape = tuple(input_shape)
        self.optimizer = optimizer
        self.network_kwargs = network_kwargs

    def build(self, hp):
        """Declares the choices and returns the compiled network they describe."""
        from keras_parsec.networks import CellNetwork

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
        model.compile(
            optimizer=keras.optimizers.get(self.optimizer),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        return model
