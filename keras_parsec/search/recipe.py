"""`SearchRecipe`: the settings of Algorithm 1's two optimizers, with the paper's defaults.

PARSEC (section 4.1) learns the logits pi with Adam, learning rate 0.02 and
betas (0.5, 0.999), sampling K = 16 architectures per step; "all other
parameters and settings are identical" to DARTS, which trains the shared
weights with SGD, momentum 0.9, a cosine learning rate from 0.025 to 0.001,
weight decay 3e-4 and gradients clipped to norm 5. `SEARCH_RECIPE` holds these
values; `SuperNet`, `EagerSuperNet`, `ParsecTuner` and `ParsecOracle` take
their defaults from it, as `keras_parsec.Recipe` does for the final training.
"""

import dataclasses
import math
import numbers

import keras
import tensorflow as tf

from keras_parsec.errors import invalid_argument, invalid_type, is_int

_FRACTIONS = ("weight_momentum", "architecture_beta_1", "architecture_beta_2")


@dataclasses.dataclass(frozen=True)
class SearchRecipe:
    """Hyperparameters of a PARSEC search (defaults: paper 4.1 and DARTS).

    Attributes:
        num_samples: K, architectures sampled per step.
        weight_learning_rate: initial cosine learning rate of the shared weights.
        weight_learning_rate_min: learning rate the cosine schedule ends at.
        weight_momentum: SGD momentum of the shared weights.
        weight_decay: L2 coefficient added to the weight gradients.
        gradient_clip_norm: global norm the weight gradients are clipped to
            (0: no clipping).
        architecture_learning_rate: Adam learning rate of the logits pi.
        architecture_beta_1, architecture_beta_2: Adam's betas.

    Example:

    ```python
    recipe = SearchRecipe(num_samples=8)
    net = SuperNet(space, num_classes=10, num_samples=recipe.num_samples)
    net.compile(**recipe.compile_arguments())
    ```
    """

    num_samples: int = 16
    weight_learning_rate: float = 0.025
    weight_learning_rate_min: float = 0.001
    weight_momentum: float = 0.9
    weight_decay: float = 3e-4
    gradient_clip_norm: float = 5.0
    architecture_learning_rate: float = 0.02
    architecture_beta_1: float = 0.5
    architecture_beta_2: float = 0.999

    def __post_init__(self):
        if not is_int(self.num_samples):
            raise invalid_type("num_samples", "an int", self.num_samples, "pass e.g. num_samples=16")
        if self.num_samples < 1:
            raise invalid_argument("num_samples", "a positive int", self.num_samples, "pass e.g. num_samples=16")
        for field in dataclasses.fields(self)[1:]:
            value = getattr(self, field.name)
            if not isinstance(value, numbers.Real) or isinstance(value, bool):
                raise invalid_type(field.name, "a float", value, f"pass e.g. {field.name}={field.default}")
            upper = 1.0 if field.name in _FRACTIONS else math.inf
            if not 0.0 <= value < upper:
                expected = "a float in [0, 1)" if upper == 1.0 else "a finite float >= 0"
                raise invalid_argument(field.name, expected, value, f"pass e.g. {field.name}={field.default}")

    def weight_optimizer(self, learning_rate=None, total_steps=None):
        """SGD with momentum on a cosine schedule, the shared weights' optimizer.

        Args:
            learning_rate: initial learning rate; default `weight_learning_rate`.
            total_steps: length of the schedule; `fit` sets it when None.

        Returns:
            A `keras.optimizers.SGD`.
        """
        initial = self.weight_learning_rate if learning_rate is None else learning_rate
        schedule = CosineSchedule(initial, self.weight_learning_rate_min, total_steps)
        return keras.optimizers.SGD(learning_rate=schedule, momentum=self.weight_momentum)

    def architecture_optimizer(self, learning_rate=None, decay_steps=None):
        """Adam, the optimizer of the logits pi.

        Args:
            learning_rate: default `architecture_learning_rate`.
            decay_steps: None (the paper's constant rate), or the number of
                updates of pi over which its rate decays to 0 along a cosine
                (an option of issue 15, measured in BENCHMARKS.md).

        Returns:
            A `keras.optimizers.Adam`.
        """
        rate = self.architecture_learning_rate if learning_rate is None else learning_rate
        if decay_steps is not None:
            if not is_int(decay_steps) or decay_steps < 1:
                raise invalid_argument("decay_steps", "a positive int or None", decay_steps, "pass the updates of pi")
            rate = CosineSchedule(rate, 0.0, int(decay_steps))
        beta_1, beta_2 = self.architecture_beta_1, self.architecture_beta_2
        return keras.optimizers.Adam(learning_rate=rate, beta_1=beta_1, beta_2=beta_2)

    def compile_arguments(self, total_steps=None):
        """The arguments of `SuperNet.compile` that apply this recipe.

        Args:
            total_steps: length of the weights' cosine schedule; `fit` sets it when None.

        Returns:
            A dict: both optimizers, `weight_decay` and `gradient_clip_norm`.
        """
        return {
            "weight_optimizer": self.weight_optimizer(total_steps=total_steps),
            "architecture_optimizer": self.architecture_optimizer(),
            "weight_decay": self.weight_decay,
            "gradient_clip_norm": self.gradient_clip_norm,
        }


class CosineSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Cosine decay from `initial` to `final` over `total_steps` (DARTS' schedule).

    Args:
        initial: learning rate at step 0.
        final: learning rate from `total_steps` on.
        total_steps: length of the decay; `fit` sets it when None.
    """

    def __init__(
        self,
        initial=SearchRecipe.weight_learning_rate,
        final=SearchRecipe.weight_learning_rate_min,
        total_steps=None,
    ):
        self.initial = float(initial)
        self.final = float(final)
        self.total_steps = total_steps

    def __call__(self, step):
        total = float(self.total_steps or 1)
        progress = tf.minimum(tf.cast(step, tf.float32) / total, 1.0)
        cosine = 0.5 * (1.0 + tf.cos(math.pi * progress))
        return self.final + (self.initial - self.final) * cosine

    def get_config(self):
        return {"initial": self.initial, "final": self.final, "total_steps": self.total_steps}


SEARCH_RECIPE = SearchRecipe()
