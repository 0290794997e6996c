"""CellHyperModel: a compiled `CellNetwork` from the cell choices of any Keras Tuner oracle.

The choices are the `hp.Choice` values of `keras_parsec.tuning.hyperparameters`
(importable from here too). `RandomSearch`, `Hyperband` and
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
from keras_parsec.space import SearchSpace
from keras_parsec.tuning.hyperparameters import (  # noqa: F401  (all importable from here, where they were first)
    SLOTS_PER_NODE,
    check_search_space,
    choice_value,
    declare_hyperparameters,
    genotype_to_values,
    hyperparameter_name,
    node_choices,
    parse_choice_value,
    values_to_genotype,
)

# CellNetwork arguments that CellHyperModel sets itself.
_RESERVED_NETWORK_ARGUMENTS = ("genotype", "num_classes", "num_cells", "filters", "input_shape")


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
        self.search_space = check_search_space(search_space)
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
