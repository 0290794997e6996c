"""An architecture warm-up: pi held still while the shared weights learn, then Algorithm 1 unchanged.

Early in a search the shared weights are untrained, so the importance weights
mostly reward what trains fastest (often parameter-free operations), and pi
locks onto it. Holding the policy for a first share of the search is what
TuNAS (25% of the steps), ProxylessNAS (40 of 120 epochs) and P-DARTS (10 of
25) do. During the warm-up every step still samples K architectures from pi and
trains the shared weights with their importance weights (Algorithm 1, line 10);
only line 11, the update of pi (and its optimizer's state), waits. Off by
default; BENCHMARKS.md measures it against the default.
"""

import keras

from keras_parsec.errors import invalid_argument, is_int


def check_warmup_epochs(epochs):
    """Returns `epochs` as an int if it is a non-negative integer, else raises naming the fix."""
    if not is_int(epochs) or epochs < 0:
        raise invalid_argument(
            "architecture_warmup_epochs", "a non-negative integer", epochs, "pass e.g. architecture_warmup_epochs=5"
        )
    return int(epochs)


class ArchitectureWarmup(keras.callbacks.Callback):
    """Freezes the model's pi for the first `epochs` epochs of `fit` (counted from epoch 0, so resumes agree).

    Args:
        epochs: epochs during which pi does not move.
    """

    def __init__(self, epochs):
        super().__init__()
        self.epochs = check_warmup_epochs(epochs)

    def on_epoch_begin(self, epoch, logs=None):
        self.model.architecture_frozen = epoch < self.epochs

    def on_train_end(self, logs=None):
        self.model.architecture_frozen = False
