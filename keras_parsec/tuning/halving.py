"""Successive halving across search runs (asynchronous, ASHA's stopping rule).

Runs report their objective after every epoch. At each rung, `min_epochs *
rate**i` finished epochs, a run goes on only if its value is among the best
`ceil(n / rate)` of the n runs that have reached that rung so far; the others
stop there, and the epochs they would have spent are not spent. Decisions need
no synchronisation, so they work the same with one process and with parallel
workers on Keras Tuner's distributed mode (the chief decides, the status travels
back in `UpdateTrial`). The first run at a rung always goes on, so a search is
never left without a run that reaches the end.
"""

import math

from keras_parsec import errors

STRATEGIES = (None, "halving")


def check_options(early_stopping, halving_rate, halving_min_epochs):
    """Raises a typed error, naming the argument, on invalid halving options."""
    if early_stopping not in STRATEGIES:
        raise errors.invalid_argument(
            "early_stopping", "None or 'halving'", early_stopping, "pass early_stopping='halving' to stop weak runs"
        )
    if isinstance(halving_rate, bool) or not isinstance(halving_rate, (int, float)) or halving_rate <= 1:
        raise errors.invalid_argument(
            "halving_rate", "a number greater than 1 (ASHA's eta)", halving_rate, "use 2 or 3"
        )
    if isinstance(halving_min_epochs, bool) or not isinstance(halving_min_epochs, int) or halving_min_epochs < 1:
        raise errors.invalid_argument("halving_min_epochs", "a positive integer", halving_min_epochs)


def is_rung(epochs_done, rate, min_epochs):
    """True when `epochs_done` finished epochs is a rung: `min_epochs * rate**i`, i >= 0."""
    rung = min_epochs
    while rung < epochs_done:
        rung = max(rung + 1, int(round(rung * rate)))
    return rung == epochs_done


def keeps_going(value, values_at_rung, rate, direction="max"):
    """Whether a run with `value` at a rung continues, given every value recorded there.

    Args:
        value: the run's objective at the rung.
        values_at_rung: all values recorded at the rung, this run's included.
        rate: the halving rate (eta): about `1 / rate` of the runs continue.
        direction: "max" or "min", the objective's direction.

    Returns:
        True if fewer than `ceil(n / rate)` recorded values are strictly better.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    better = sum(1 for v in values_at_rung if (v > value if direction == "max" else v < value))
    return better < max(1, math.ceil(len(values_at_rung) / rate))
