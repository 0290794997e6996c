"""Whether a search is learning or only walking: the per-epoch diagnostics of p(alpha | pi).

A falling entropy alone proves nothing (Adam walks every logit even when the
importance weights carry no information, as with K=1). These say more:

- `effective_sample_size` (a step metric, averaged over the epoch):
  `1 / sum_k w_k**2` of the step's importance weights. Near K the samples
  weigh alike (the shared weights cannot tell them apart yet); near 1 one
  sample takes all of the weight each step.
- `mode_log_prob`: log p(mode | pi), how much mass the most probable
  architecture holds (uniform: minus the log of the number of architectures).
- `entropy_normal`, `entropy_reduce`: the entropy of each cell type's part.
- `mode_changes`: slots (cell type, node, slot) whose most probable choice
  changed during the epoch; a search that settles drives it to 0.

`ArchitectureDiagnostics` adds the last four to each epoch's logs (so the
History, TensorBoard and `plot_search` see them); `BaseSuperNet.fit` installs it.
"""

import keras
import numpy as np
import tensorflow as tf

from keras_parsec import categorical
from keras_parsec.space import CELL_TYPES


def effective_sample_size(weights):
    """`1 / sum(w**2)` of importance weights that sum to 1 (0 when all are 0)."""
    weights = tf.convert_to_tensor(weights, tf.float32)
    return tf.math.divide_no_nan(1.0, tf.reduce_sum(tf.square(weights)))


def cell_entropies(logits, mask):
    """Entropy in nats of the normal and of the reduce cell's choices: dict name -> float."""
    p = categorical.probabilities(logits, mask)
    log_p = tf.math.log(tf.where(mask, p, tf.ones_like(p)))
    per_cell = -tf.reduce_sum(p * log_p, axis=[1, 2, 3]).numpy()
    return {f"entropy_{name}": float(value) for name, value in zip(CELL_TYPES, per_cell)}


class ArchitectureDiagnostics(keras.callbacks.Callback):
    """Adds log p(mode | pi), the entropy per cell type and the mode's changed slots to each epoch's logs."""

    def on_train_begin(self, logs=None):
        self._mode = self.model.distribution.mode_choices().numpy()

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        distribution = self.model.distribution
        mode = distribution.mode_choices().numpy()
        logs["mode_log_prob"] = float(distribution.log_prob(mode)[0])
        logs.update(cell_entropies(distribution.logits, distribution.mask))
        logs["mode_changes"] = float(np.sum(mode != self._mode))
        self._mode = mode
