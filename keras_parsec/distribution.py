"""ArchitectureDistribution: the learnable distribution p(alpha | pi) of PARSEC (paper eqs. 4-5).

`ArchitectureDistribution` holds the logits of the per-slot categoricals in a
`keras.Variable` and adds seeds, genotypes, serialisation, save/load and
transfer across network sizes (paper section 4.2). The math on the logits is
`keras_parsec.categorical`, pure graph-safe functions that a `train_step`
calls directly; they stay importable from here.
"""

import json
import os

import keras
import numpy as np
import tensorflow as tf

from keras_parsec.categorical import (  # noqa: F401  (all importable from here, where they were first)
    LOGIT_LIMIT,
    MASKED_LOGIT,
    check_choice_range,
    entropy,
    importance_weights,
    log_prob,
    masked_logits,
    mode_choices,
    probabilities,
    recentred_logits,
    sample_choices,
    score_gradient,
    valid_choice_mask,
)
from keras_parsec.errors import invalid_argument, invalid_type, is_int
from keras_parsec.files import atomic_write, read_text
from keras_parsec.genotype import Genotype
from keras_parsec.space import CELL_TYPES, SearchSpace

_CLASS_NAME = "ArchitectureDistribution"


def _seed_pair(seed):
    """Converts an int, a shape-[2] integer tensor or None to a stateless seed."""
    if seed is None:
        return np.random.randint(0, 2**31 - 1, size=2).astype(np.int64)
    if is_int(seed) and 0 <= seed < 2**63:
        return np.array([seed, 0], np.int64)
    if isinstance(seed, (tf.Tensor, tf.Variable, np.ndarray)) and seed.shape == (2,):
        return seed
    raise invalid_argument("seed", "an int in [0, 2**63), a shape-[2] integer tensor or None", seed)


def _abbreviate(text, limit=80):
    long = isinstance(text, str) and len(text) > limit
    return text[:limit] + "..." if long else text


class ArchitectureDistribution:
    """The learnable distribution p(alpha | pi) over the two cells of a space.

    Args:
        space: the `SearchSpace`.
        logits: optional initial logits `[2, N, 2, space.max_choices]`; padding
            entries are ignored and stored as 0. Uniform when neither this nor
            `prior` is given.
        prior: optional `ArchitectureDistribution` whose logits initialise this
            one; its space may differ from `space` in `num_cells` and `filters`.
        name: name of the logits variable.

    An optimizer that updates `logits` re-centres them per slot afterwards
    (`recentred_logits`), so they stay finite over any number of steps.

    Example:

    ```python
    distribution = ArchitectureDistribution(SearchSpace(num_cells=8))
    genotypes = distribution.sample(num_samples=4, seed=0)
    distribution.log_prob(genotypes)  # 4 equal values: the start is uniform
    ```
    """

    def __init__(self, space, logits=None, prior=None, name="architecture_distribution"):
        if not isinstance(space, SearchSpace):
            raise invalid_type("space", "a SearchSpace", space, "pass kp.SearchSpace()")
        if not isinstance(name, str) or not name or "/" in name:
            raise invalid_argument("name", "a non-empty str without '/'", name)
        if logits is not None and prior is not None:
            raise invalid_argument("prior", "None when `logits` is given", prior, "pass one of the two")
        self.space = space
        self.mask = valid_choice_mask(space)
        value = np.zeros(self.mask.shape, np.float32)
        if prior is not None:
            value = self._prior_logits(prior)
        elif logits is not None:
            value = np.where(self.mask, self._check_logits(logits), 0.0)
        self.logits = keras.Variable(value.astype(np.float32), dtype="float32", name=name)
        # Keras optimizers apply a variable's constraint after each update.
        self.logits.constraint = self._recentre

    def _recentre(self, logits):
        return recentred_logits(logits, self.mask)

    @property
    def name(self) -> str:
        """Name of the logits variable."""
        return self.logits.name

    def _check_logits(self, logits):
        shape = self.mask.shape
        fix = "pass an array of that shape, e.g. another distribution's logits"
        try:
            logits = np.asarray(logits, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise invalid_type("logits", f"an array of shape {shape}", logits, fix) from e
        if logits.shape != shape:
            raise invalid_argument(
                "logits.shape",
                f"{shape}: (cell types, nodes, slots, choices)",
                logits.shape,
                fix,
            )
        bad = np.argwhere(self.mask & ~np.isfinite(logits))
        if bad.size:
            index = tuple(int(i) for i in bad[0])
            raise invalid_argument(f"logits{list(index)}", "a finite float", logits[index])
        return logits

    def _prior_logits(self, prior):
        if not isinstance(prior, ArchitectureDistribution):
            raise invalid_type(
                "prior",
                "an ArchitectureDistribution",
                prior,
                "pass the distribution of an earlier search",
            )
        for attribute in ("num_nodes", "operations"):
            mine = getattr(self.space, attribute)
            theirs = getattr(prior.space, attribute)
            if mine != theirs:
                raise invalid_argument(
                    f"prior.space.{attribute}",
                    f"{mine!r} as in `space`: a cell distribution transfers across "
                    "num_cells and filters, not across different cells",
                    theirs,
                    f"search a space with {attribute}={theirs!r}, or drop the prior",
                )
        return prior.logits.numpy()

    def probabilities(self) -> np.ndarray:
        """Returns the choice probabilities `[2, N, 2, M]`, zero on padding."""
        return probabilities(self.logits, self.mask).numpy()

    def sample_choices(self, num_samples: int = 1, seed=None) -> tf.Tensor:
        """Draws K = `num_samples` architectures as int32 choices `[K, 2, N, 2]`.

        Args:
            num_samples: a positive int.
            seed: an int (same int, same samples), a shape-[2] integer tensor
                such as `keras.random.SeedGenerator().next()`, or None to take
                one from NumPy's global generator.
        """
        if not is_int(num_samples) or num_samples < 1:
            raise invalid_argument("num_samples", "a positive int", num_samples)
        seed = _seed_pair(seed)
        return sample_choices(self.logits, self.mask, int(num_samples), seed)

    def sample(self, num_samples: int = 1, seed=None) -> list:
        """Draws `num_samples` architectures as a list of `Genotype`s."""
        choices = self.sample_choices(num_samples, seed).numpy()
        return [self.choices_to_genotype(c) for c in choices]

    def log_prob(self, architectures) -> np.ndarray:
        """Returns log p(alpha | pi) `[K]` of a Genotype, a list of them or choices."""
        if isinstance(architectures, Genotype):
            architectures = [architectures]
        if isinstance(architectures, (list, tuple)) and all(isinstance(a, Genotype) for a in architectures):
            choices = [self.genotype_to_choices(a) for a in architectures]
            choices = np.stack(choices) if choices else np.zeros((0, 2), np.int32)
        else:
            choices = np.asarray(architectures)
            choices = choices[None] if choices.ndim == self.mask.ndim - 1 else choices
        self._check_choices("architectures", choices)
        return log_prob(self.logits, self.mask, choices.astype(np.int32)).numpy()

    def score_gradient(self, choices, weights) -> tf.Tensor:
        """Returns `sum_k w_k grad_logits log p(alpha_k | pi)` `[2, N, 2, M]`."""
        return score_gradient(self.logits, self.mask, choices, weights)

    def entropy(self) -> float:
        """Returns the total entropy of p(alpha | pi), in nats."""
        return float(entropy(self.logits, self.mask))

    def mode_choices(self) -> tf.Tensor:
        """Returns the most probable architecture as int32 choices `[2, N, 2]`."""
        return mode_choices(self.logits, self.mask)

    def mode(self) -> Genotype:
        """Returns the most probable architecture as a `Genotype`."""
        return self.choices_to_genotype(self.mode_choices().numpy())

    def _check_choices(self, name, choices):
        """Checks int choices `[K, 2, N, 2]` against this space's choice counts."""
        shape = self.mask.shape[:-1]
        if not np.issubdtype(choices.dtype, np.integer) or choices.shape[1:] != shape:
            raise invalid_argument(
                f"{name}.shape",
                f"integer choices of shape [K, *{shape}]",
                choices.shape,
                "pass the output of sample_choices()",
            )
        check_choice_range(name, choices, self.mask)

    def choices_to_genotype(self, choices) -> Genotype:
        """Converts int choices `[2, N, 2]` to a `Genotype` of this space."""
        choices = np.asarray(choices)
        self._check_choices("choices", choices[None])
        cells = [[self.space.choice(int(j)) for j in cell.reshape(-1)] for cell in choices]
        return Genotype(cells[0], self.space.concat, cells[1], self.space.concat)

    def genotype_to_choices(self, genotype) -> np.ndarray:
        """Converts a `Genotype` of this space to int32 choices `[2, N, 2]`."""
        if not isinstance(genotype, Genotype):
            raise invalid_type("genotype", "a Genotype", genotype)
        genotype.validate(self.space)
        pairs = [getattr(genotype, cell_type) for cell_type in CELL_TYPES]
        choices = [[self.space.choice_index(*pair) for pair in cell] for cell in pairs]
        return np.array(choices, np.int32).reshape(self.mask.shape[:-1])

    def get_config(self) -> dict:
        """Returns a JSON-safe dict: the space's config, the logits, the name."""
        return {
            "space": self.space.get_config(),
            "logits": self.logits.numpy().tolist(),
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict) -> "ArchitectureDistribution":
        """Builds a distribution from the output of `get_config`."""
        keys = ["logits", "name", "space"]
        if not isinstance(config, dict) or sorted(config) != keys:
            received = sorted(config) if isinstance(config, dict) else config
            raise invalid_argument(
                "config.keys()",
                f"exactly {keys}",
                received,
                "pass distribution.get_config()",
            )
        space = SearchSpace.from_config(config["space"])
        return cls(space, logits=config["logits"], name=config["name"])

    def to_json(self) -> str:
        """Returns the distribution as a JSON string."""
        return json.dumps({"class_name": _CLASS_NAME, "config": self.get_config()})

    @classmethod
    def from_json(cls, s: str) -> "ArchitectureDistribution":
        """Builds a distribution from the output of `to_json`."""
        expected, fix = f"JSON of an {_CLASS_NAME}", "pass distribution.to_json()"
        try:
            data = json.loads(s)
        except (TypeError, ValueError) as e:
            raise invalid_argument("s", f"{expected} ({e})", _abbreviate(s), fix) from e
        if not isinstance(data, dict) or data.get("class_name") != _CLASS_NAME:
            raise invalid_argument("s", expected, _abbreviate(s), fix)
        return cls.from_config(data.get("config"))

    def save(self, path):
        """Writes the distribution to the JSON file `path`, atomically.

        The text goes to a temporary file in the same folder, synced to disk,
        then renamed over `path`: a crash leaves the old file or the new one.
        """
        atomic_write(path, self.to_json())

    @classmethod
    def load(cls, path) -> "ArchitectureDistribution":
        """Reads a distribution written by `save`.

        Raises:
            InvalidArgumentError: naming `path`, if the file is missing, is not
                JSON, or does not hold a distribution.
        """
        path = os.fspath(path)
        expected = f"a file written by {_CLASS_NAME}.save"
        try:
            text = read_text(path)
        except OSError as e:
            raise invalid_argument("path", f"{expected} ({e.strerror})", path, "check the path") from e
        try:
            return cls.from_json(text)
        except (TypeError, ValueError) as e:
            raise invalid_argument(
                "path",
                f"{expected}; this file is corrupt or foreign ({e})",
                path,
                "point to the distribution file of a search, or save it again",
            ) from e

    def __repr__(self):
        return f"ArchitectureDistribution({self.space!r}, name={self.name!r})"
