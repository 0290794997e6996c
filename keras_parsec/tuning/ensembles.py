"""Which genotypes of a learnt p(alpha | pi) go into an ensemble, and with what weights.

`ParsecTuner.get_best_ensemble` picks `num_models` genotypes of the best run's
distribution, trains each from scratch and averages their probabilities
(`keras_parsec.final.ensemble.EnsembleNetwork`). Two genotypes that differ
only in the order of some node's two (operation, input) pairs build the same
cells (a node sums its two inputs), so the ensembles take at most one of
them: the more probable.

Selections:
    "top"     the most probable genotypes, exactly (`most_probable_genotypes`), the mode first
    "sample"  distinct draws from p(alpha | pi), in the order drawn (`sample_distinct_genotypes`)
Weightings:
    "uniform"      1 / num_models each
    "probability"  p(alpha | pi), renormalised over the chosen genotypes
"""

import heapq
import math

import numpy as np

from keras_parsec.errors import invalid_argument, invalid_type, is_int
from keras_parsec.space import CELL_TYPES

SELECTIONS = ("top", "sample")
WEIGHTINGS = ("uniform", "probability")
_DRAWS_PER_MODEL = 1000  # "sample" gives up after this many draws per genotype asked for


def count_distinct_cells(space) -> int:
    """Genotypes of `space` that build different networks: per node, unordered pairs of choices, in both cells."""
    per_cell = 1
    for node in range(space.num_nodes):
        choices = space.num_choices(node)
        per_cell *= choices * (choices + 1) // 2
    return per_cell ** len(CELL_TYPES)


def cells_key(choices) -> tuple:
    """The same key for choices `[2, N, 2]` that differ only in the order of a node's two slots."""
    return tuple(tuple(sorted(int(j) for j in node)) for cell in np.asarray(choices) for node in cell)


def slot_log_probabilities(distribution) -> list:
    """Per slot (cell type, node, slot in that order) the float64 log-probabilities of its real choices."""
    logits = distribution.logits.numpy().astype(np.float64)
    result = []
    for index in np.ndindex(*distribution.mask.shape[:-1]):
        real = logits[index][distribution.mask[index]]
        largest = real.max()
        result.append(real - largest - np.log(np.sum(np.exp(real - largest))))
    return result


def most_probable_choices(slot_log_probs):
    """Yields every architecture as per-slot choice indices, most probable first, exactly.

    log p(alpha | pi) is a sum over slots, so a best-first search over ranks
    does it: each slot's choices sorted by probability, a heap of rank
    vectors starting from all zeros (the mode), and each popped vector's
    children raise one rank at or after its last non-zero one (every vector
    has one parent, so none comes twice; a child is never more probable).
    Ties keep the lower choice index first, as `mode()` does.

    Args:
        slot_log_probs: one 1-D array of log-probabilities per slot.

    Yields:
        `(log_prob, choices)`: a float and a tuple of one choice index per slot.
    """
    orders = [np.argsort(-values, kind="stable") for values in slot_log_probs]
    ranked = [values[order] for values, order in zip(slot_log_probs, orders)]
    start = (0,) * len(ranked)
    heap = [(-math.fsum(r[0] for r in ranked), start)]
    while heap:
        negative, ranks = heapq.heappop(heap)
        yield -negative, tuple(int(order[r]) for order, r in zip(orders, ranks))
        last = max((i for i, r in enumerate(ranks) if r), default=0)
        for i in range(last, len(ranks)):
            if ranks[i] + 1 < len(ranked[i]):
                child = ranks[:i] + (ranks[i] + 1,) + ranks[i + 1 :]
                score = math.fsum(values[r] for values, r in zip(ranked, child))  # exact: equal sums tie
                heapq.heappush(heap, (-score, child))


def most_probable_genotypes(distribution, num_models) -> list:
    """The `num_models` most probable genotypes of `distribution` that build different networks, the mode first."""
    shape = distribution.mask.shape[:-1]
    chosen, seen = [], set()
    for _, choices in most_probable_choices(slot_log_probabilities(distribution)):
        choices = np.array(choices, np.int32).reshape(shape)
        key = cells_key(choices)
        if key not in seen:
            seen.add(key)
            chosen.append(distribution.choices_to_genotype(choices))
            if len(chosen) == num_models:
                break
    return chosen


def sample_distinct_genotypes(distribution, num_models, seed=None) -> list:
    """`num_models` draws from `distribution` that build different networks, in the order drawn.

    Raises:
        InvalidArgumentError: when `_DRAWS_PER_MODEL * num_models` draws hold
            fewer distinct networks (a distribution too concentrated).
    """
    draws = _DRAWS_PER_MODEL * num_models
    samples = distribution.sample_choices(draws, seed).numpy()
    chosen, seen = [], set()
    for choices in samples:
        key = cells_key(choices)
        if key not in seen:
            seen.add(key)
            chosen.append(distribution.choices_to_genotype(choices))
            if len(chosen) == num_models:
                return chosen
    raise invalid_argument(
        "num_models",
        f"at most the {len(chosen)} distinct networks found in {draws} draws from the learnt distribution",
        num_models,
        'pass selection="top" (exact), or fewer models',
    )


def ensemble_weights(distribution, genotypes, weighting) -> list:
    """Member weights summing to 1: equal, or p(alpha | pi) renormalised over `genotypes`."""
    if weighting == "uniform":
        return [1.0 / len(genotypes)] * len(genotypes)
    log_p = np.asarray(distribution.log_prob(list(genotypes)), np.float64)
    weights = np.exp(log_p - log_p.max())
    return (weights / weights.sum()).tolist()


def check_ensemble_arguments(space, num_models, selection, weighting, seed):
    """Raises a typed error, naming the argument and the fix, for unusable `get_best_ensemble` arguments."""
    if not is_int(num_models):
        raise invalid_type("num_models", "a positive int", num_models, "pass num_models=3")
    limit = count_distinct_cells(space)
    if not 1 <= num_models <= limit:
        raise invalid_argument(
            "num_models",
            f"an int in [1, {limit}], the number of networks of the search space",
            num_models,
            "pass num_models=3",
        )
    for name, value, names in (("selection", selection, SELECTIONS), ("weighting", weighting, WEIGHTINGS)):
        if value not in names:
            raise invalid_argument(name, f"one of {names}", value, f'pass {name}="{names[0]}"')
    if seed is not None and not (is_int(seed) and 0 <= seed < 2**63):
        raise invalid_argument("seed", "an int in [0, 2**63) or None", seed, "pass seed=0")


def select_genotypes(distribution, num_models, selection, seed=None) -> list:
    """The genotypes of an ensemble: `most_probable_genotypes` ("top") or `sample_distinct_genotypes` ("sample")."""
    if selection == "top":
        return most_probable_genotypes(distribution, num_models)
    return sample_distinct_genotypes(distribution, num_models, seed)
