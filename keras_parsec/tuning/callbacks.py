"""Callbacks of a trial: reports to the oracle, a TensorBoard folder per trial with pi in it, a time estimate."""

import copy
import os
import time

import keras
import numpy as np
import tensorflow as tf

from keras_parsec.tuning.oracle import REMAINING_EPOCHS, STOPPED


class EpochReport(keras.callbacks.Callback):
    """Reports each epoch's logs to the oracle and stops the run when it answers STOPPED.

    Args:
        oracle: the `ParsecOracle`, or Keras Tuner's client of the chief's.
        trial_id: the run's trial id.
    """

    def __init__(self, oracle, trial_id):
        super().__init__()
        self.oracle = oracle
        self.trial_id = trial_id

    def on_epoch_end(self, epoch, logs=None):
        metrics = {name: float(value) for name, value in (logs or {}).items()}
        # Tells the oracle whether a stop would still save anything (no rung at the last epoch).
        metrics[REMAINING_EPOCHS] = float(self.params["epochs"] - epoch - 1)
        trial = self.oracle.update_trial(self.trial_id, metrics, step=epoch)
        if trial.status == STOPPED:
            self.model.stop_training = True


class TrialTime(keras.callbacks.Callback):
    """Prints, after a run's first epoch, its time per epoch and an estimate of what is left.

    Args:
        trial_id: the run's trial id.
    """

    def __init__(self, trial_id):
        super().__init__()
        self.trial_id = trial_id
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        if self._start is None:
            self._start, self._first = time.perf_counter(), epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch != self._first:
            return
        seconds = time.perf_counter() - self._start  # the first epoch includes building the passes
        left = self.params["epochs"] - epoch - 1
        print(
            f"Trial {self.trial_id}: first epoch {seconds:.1f} s (graph building included); "
            f"at most about {seconds * left / 60:.1f} min for the {left} epochs left."
        )


class DistributionSummary(keras.callbacks.Callback):
    """Writes p(alpha | pi) to TensorBoard each epoch: per cell type, an image and a histogram of its edges.

    The image is `visualize.edge_probabilities`' matrix (one row per edge, one
    column per operation, scaled so that 1 is white and 0 black); the scalars
    are the entropy and log p(mode | pi).

    Args:
        log_dir: the trial's TensorBoard folder (its `distribution` subfolder is written).
    """

    def __init__(self, log_dir):
        super().__init__()
        self.log_dir = log_dir
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        from keras_parsec.visualize import edge_probabilities

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "distribution"))
        distribution = self.model.distribution
        matrix, _ = edge_probabilities(distribution)
        with self._writer.as_default(step=epoch):
            for cell, values in zip(("normal", "reduce"), matrix):
                image = np.repeat(np.repeat(values / 2.0, 8, axis=0), 8, axis=1)  # a node's row sums to 2
                tf.summary.image(f"pi/{cell}", image[None, :, :, None].astype(np.float32))
                tf.summary.histogram(f"pi/{cell}", values)
            tf.summary.scalar("pi/entropy", distribution.entropy())
            tf.summary.scalar("pi/log_prob_of_mode", float(distribution.log_prob(distribution.mode())[0]))
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def trial_callbacks(callbacks, trial):
    """The user's callbacks for one trial, each `keras.callbacks.TensorBoard` pointed at the trial's own folder.

    A TensorBoard callback is copied and logs to `<log_dir>/<trial_id>` with
    the trial's hyperparameters (TensorBoard's HParams, as `keras_tuner.Tuner`
    writes them) and pi (`DistributionSummary`); the user's object is left
    as it was. Other callbacks are passed as they are, so one that records
    something across trials keeps it.

    Args:
        callbacks: the Keras callbacks given to `search`.
        trial: the `keras_tuner.engine.trial.Trial`.

    Returns:
        A new list of callbacks.
    """
    prepared = []
    for callback in callbacks:
        if isinstance(callback, keras.callbacks.TensorBoard):
            from tensorboard.plugins.hparams import api as hparams_api

            callback = copy.deepcopy(callback)  # as keras_tuner.Tuner does, per trial
            callback.log_dir = os.path.join(str(callback.log_dir), str(trial.trial_id))
            hparams = dict(trial.hyperparameters.values)
            prepared += [
                callback,
                hparams_api.KerasCallback(callback.log_dir, hparams, trial_id=trial.trial_id),
                DistributionSummary(callback.log_dir),
            ]
        else:
            prepared.append(callback)
    return prepared
