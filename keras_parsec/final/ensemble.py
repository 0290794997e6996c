"""EnsembleNetwork: trained networks whose class probabilities are averaged, as one Keras model.

`ParsecTuner.get_best_ensemble` fills it with networks of several genotypes
of a learnt p(alpha | pi), each trained from scratch; any Keras models with
the same input and the same probabilities as output will do.
"""

import math
import numbers

import keras

from keras_parsec.errors import invalid_argument, invalid_type


def normalise_member_weights(member_weights, num_members):
    """Returns `member_weights` as floats summing to 1 (uniform when None), or an error that says the fix."""
    if member_weights is None:
        return [1.0 / num_members] * num_members
    fix = f"pass {num_members} finite floats >= 0 with a positive sum, or None for equal weights"
    if isinstance(member_weights, (str, bytes)) or not hasattr(member_weights, "__len__"):
        raise invalid_type("member_weights", "a list of floats, one per member", member_weights, fix)
    weights = list(member_weights)
    if len(weights) != num_members:
        raise invalid_argument("len(member_weights)", f"{num_members}, one per member", len(weights), fix)
    for i, weight in enumerate(weights):
        if not isinstance(weight, numbers.Real) or isinstance(weight, bool):
            raise invalid_type(f"member_weights[{i}]", "a float", weight, fix)
        if not (math.isfinite(weight) and weight >= 0):
            raise invalid_argument(f"member_weights[{i}]", "a finite float >= 0", weight, fix)
    total = math.fsum(float(w) for w in weights)
    if total <= 0:
        raise invalid_argument("member_weights", "weights with a positive sum", weights, fix)
    return [float(w) / total for w in weights]


def check_probability_output(name, classifier_activation):
    """Raises unless `classifier_activation` makes a network output class probabilities."""
    if classifier_activation != "softmax":
        raise invalid_argument(
            name,
            '"softmax": an ensemble averages class probabilities, not logits',
            classifier_activation,
            'leave classifier_activation at "softmax"',
        )


@keras.saving.register_keras_serializable(package="keras_parsec")
class EnsembleNetwork(keras.Model):
    """A weighted average of trained networks' class probabilities, as one Keras model.

    `predict(x)` returns `sum_i w_i * members[i](x)`; with softmax members
    each row sums to 1. The members keep their own weights and batch
    statistics: the ensemble is for inference (`predict`, `evaluate` after
    `compile`, `save`, `export`), not for training as a whole.

    Args:
        members: a non-empty list of built Keras models with one input of
            shape `(batch, *input_shape)` and class probabilities
            `(batch, num_classes)` as output, e.g. trained `CellNetwork`s.
        member_weights: one float >= 0 per member, renormalised to sum to 1;
            None for equal weights.
        input_shape: `(height, width, channels)` of the images; default the
            first member's `image_shape` (a `CellNetwork`'s).
        **kwargs: base model arguments (`name`, ...).

    Call arguments:
        inputs: images of shape `(batch, *input_shape)`.
        training: passed to every member.

    Returns:
        The weighted average of the members' outputs, `(batch, num_classes)`.

    Raises:
        InvalidTypeError, InvalidArgumentError: for no members, members that
            disagree on classes or image shape or output logits, or unusable
            weights.

    Example:

    ```python
    ensemble = EnsembleNetwork([model_a, model_b, model_c], member_weights=[0.5, 0.3, 0.2])
    ensemble.save("ensemble.keras")          # keras.saving.load_model reloads it
    ensemble.export("exported/ensemble")     # one SavedModel, one `serve` endpoint
    ```
    """

    def __init__(self, members, member_weights=None, input_shape=None, **kwargs):
        fix = "pass a list of trained CellNetworks (or Keras models of the same input and classes)"
        if isinstance(members, keras.Model) or not isinstance(members, (list, tuple)):
            raise invalid_type("members", "a list of Keras models", members, fix)
        if not members:
            raise invalid_argument("members", "at least one model", members, fix)
        for i, member in enumerate(members):
            if not isinstance(member, keras.Model):
                raise invalid_type(f"members[{i}]", "a keras.Model", member, fix)
            check_probability_output(
                f"members[{i}].classifier_activation", getattr(member, "classifier_activation", "softmax")
            )
        for attribute in ("num_classes", "image_shape"):
            values = [tuple(getattr(m, attribute)) if attribute == "image_shape" else getattr(m, attribute)
                      for m in members if hasattr(m, attribute)]  # fmt: skip
            if len(set(values)) > 1:
                raise invalid_argument(
                    f"members[*].{attribute}",
                    "the same value for every member",
                    values,
                    "ensemble networks of one task",
                )
        if input_shape is None:
            input_shape = getattr(members[0], "image_shape", None)
        if input_shape is None:
            raise invalid_argument(
                "input_shape", "the members' (height, width, channels)", None, "pass input_shape=(32, 32, 3)"
            )
        weights = normalise_member_weights(member_weights, len(members))
        super().__init__(**kwargs)
        self.members = list(members)
        self.member_weights = weights
        self.image_shape = tuple(int(side) for side in input_shape)
        self.build((None, *self.image_shape))

    def build(self, input_shape):
        for member in self.members:
            if not member.built:
                member.build(input_shape)
        self.built = True

    def call(self, inputs, training=None):
        total = None
        for weight, member in zip(self.member_weights, self.members):
            term = keras.ops.multiply(member(inputs, training=training), weight)
            total = term if total is None else keras.ops.add(total, term)
        return total

    def compute_output_shape(self, input_shape):
        return self.members[0].compute_output_shape(input_shape)

    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs):
        """`keras.Model.export`, with the signature `(None, *input_shape)` by default: one `serve` endpoint."""
        if input_signature is None:
            input_signature = [keras.InputSpec(shape=(None, *self.image_shape), dtype=self.input_dtype)]
        return super().export(filepath, format=format, verbose=verbose, input_signature=input_signature, **kwargs)

    def get_config(self):
        config = {
            "members": [keras.saving.serialize_keras_object(member) for member in self.members],
            "member_weights": list(self.member_weights),
            "input_shape": list(self.image_shape),
        }
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        members = [
            keras.saving.deserialize_keras_object(m, custom_objects=custom_objects) for m in config.pop("members")
        ]
        return cls(members, **config)
