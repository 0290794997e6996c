"""The resumable state of one search run: what a trial needs to continue after its last finished epoch.

A run's folder holds `search_state.json` and `search_state/epoch-<n>.*`, a
`tf.train.Checkpoint` of the shared weights, both optimizers' state, the
logits pi and the sampler's seed state, each saved under its own name (a
weight's name, a slot's weight and kind), so that a state written by another
search fails by name instead of loading by position. The JSON file is written
last, atomically, and names the checkpoint it belongs to: a save killed
halfway leaves the previous epoch's state in force. Every file goes through
`tf.io.gfile`, so a run folder can be any filesystem TensorFlow reads.

States written by keras-parsec 0.1.0 and 0.2.0 (one `search_state.npz` of
variables by position) still resume; the next save replaces them.
"""

import contextlib
import glob
import io
import json
import os
import zipfile

import keras
import keras_tuner
import numpy as np
import tensorflow as tf
from absl import logging as absl_logging

from keras_parsec import errors, files

STATE_FILE = "search_state.json"
CHECKPOINT_FOLDER = "search_state"
LEGACY_STATE_FILE = "search_state.npz"  # keras-parsec 0.1.0 and 0.2.0
FORMAT = "tf.train.Checkpoint by name (keras-parsec 0.3.0)"
# keras-parsec 0.1.0 saved no engine in a run's settings: it had only the eager one.
ENGINE_OF_UNMARKED_STATES = "eager"


class SearchStateError(errors.InvalidArgumentError, keras_tuner.errors.FatalError):
    """A saved search state that cannot be resumed; stops the search instead of failing a trial."""


@contextlib.contextmanager
def _quiet_absl():
    """absl's logging at WARNING inside the block, its previous level after."""
    level = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.WARNING)
    try:
        yield
    finally:
        absl_logging.set_verbosity(level)


def _unique(pairs, what):
    """`dict(pairs)`, refusing a name given twice (a checkpoint by name needs every name once)."""
    named = {}
    for name, variable in pairs:
        if name in named:
            raise ValueError(f"two {what} variables are both named {name!r}; a checkpoint by name needs unique names")
        named[name] = variable
    return named


def _slot_names(optimizer, variables):
    """An optimizer's variables by stable name: `iteration`, `learning_rate`, `<weight>_<slot kind>`.

    Keras names a slot after its weight's full path, which holds the model's
    process-unique name (`super_net_1/...`); that prefix is cut so a state
    saved by one model loads into another model of the same search.
    """
    prefixes = sorted({v.path.replace("/", "_")[: -len(v.name)] for v in variables}, key=len, reverse=True)

    def stable(name):
        return next((name[len(p) :] for p in prefixes if p and name.startswith(p)), name)

    return _unique(((stable(v.name), v) for v in optimizer.variables), "optimizer")


class SearchCheckpoint(keras.callbacks.Callback):
    """Saves a run's state after every epoch and restores it, by name.

    Args:
        net: the `SuperNet` (or `EagerSuperNet`) of the run.
        directory: the run's folder (a local path or a `tf.io.gfile` URL).
        settings: optional JSON-safe dict (epochs, batch size...) a resumed run
            must share with the saved one.
    """

    def __init__(self, net, directory, settings=None):
        super().__init__()
        self.net = net
        self.directory = directory
        self.settings = dict(settings or {})
        self.history = {}
        self._state = None

    @property
    def state_path(self):
        return os.path.join(self.directory, STATE_FILE)

    def _variables(self):
        """Every variable of the state, in the order of the 0.1.0-0.2.0 `.npz` files."""
        net = self._built_net()
        return (
            list(net.weights)
            + list(net.weight_optimizer.variables)
            + list(net.architecture_optimizer.variables)
            + [net.distribution.logits, net.seed_generator.state]
        )

    def _built_net(self):
        with self.net.distribute_strategy.scope():  # optimizer slots mirrored like the weights
            self.net.build_optimizers()
        return self.net

    def _checkpoint(self):
        if self._state is None:
            net = self._built_net()
            self._state = tf.train.Checkpoint(
                weights=_unique(((v.name, v) for v in net.weights), "network"),
                weight_optimizer=_slot_names(net.weight_optimizer, net.weights),
                architecture_optimizer=_slot_names(net.architecture_optimizer, [net.distribution.logits]),
                logits=net.distribution.logits,
                sampler=net.seed_generator.state,
            )
        return self._state

    def restore(self, writer=True):
        """Loads the saved state if there is one; returns the number of finished epochs.

        Args:
            writer: whether this process is the run's only writer, so that
                the temporaries a killed save left behind can go.

        Raises:
            InvalidArgumentError: for a corrupt or foreign state, or one saved
                with other settings (naming the value that resumes it).
        """
        if writer:
            files.remove_temporaries(self.state_path)  # left by a kill during a save
        if files.exists(self.state_path):
            return self._restore_checkpoint()
        legacy = os.path.join(self.directory, LEGACY_STATE_FILE)
        if files.exists(legacy):
            return self._restore_npz(legacy)
        return 0

    def _foreign(self, path):
        return errors.invalid_argument(
            "directory",
            "a search state of this search space and data",
            path,
            "it was written by a different search: use another project_name or overwrite=True",
        )

    def _restore_checkpoint(self):
        try:
            meta = json.loads(files.read_text(self.state_path))
            prefix = os.path.join(self.directory, meta["checkpoint"])
            epoch, history, settings = int(meta["epoch"]), dict(meta["history"]), dict(meta["settings"])
        except (ValueError, KeyError, TypeError) as e:
            raise self._unreadable(self.state_path) from e
        self._check_settings(settings)
        checkpoint = self._checkpoint()
        try:
            checkpoint.read(prefix).assert_consumed()
        except (AssertionError, ValueError) as e:  # a name missing on either side, or another shape
            raise self._foreign(prefix) from e
        except (tf.errors.OpError, OSError, IndexError) as e:  # IndexError: a data file cut short
            raise self._unreadable(prefix) from e
        self.history = history
        return epoch

    def _restore_npz(self, path):
        """A state saved by keras-parsec 0.1.0 or 0.2.0: variables by position, checked by count and shape."""
        variables = self._variables()
        try:
            with np.load(io.BytesIO(files.read_bytes(path))) as saved:
                meta = json.loads(str(saved["meta"]))
                arrays = [saved[f"v{i}"] for i in range(meta["num_variables"])]
                epoch, history = int(meta["epoch"]), dict(meta["history"])
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as e:
            raise self._unreadable(path) from e
        if "settings" in meta:  # 0.1.0 and later save them; anything else is refused below
            self._check_settings(dict(meta["settings"]))
        if len(arrays) != len(variables) or any(a.shape != tuple(v.shape) for a, v in zip(arrays, variables)):
            raise self._foreign(path)
        for variable, array in zip(variables, arrays):
            variable.assign(array)
        self.history = history
        return epoch

    def _unreadable(self, path):
        return errors.invalid_argument(
            "directory",
            "a readable search state",
            path,
            "the file is corrupt or foreign: move it away to restart this run, or pass overwrite=True",
        )

    def _check_settings(self, saved):
        """Raises if a setting of this run differs from the saved run's, naming the value that resumes it."""
        if "engine" in self.settings:
            saved.setdefault("engine", ENGINE_OF_UNMARKED_STATES)
        for name, value in self.settings.items():
            if saved.get(name, value) != value:
                why = " (keras-parsec 0.1.0 saved every search with it)" if name == "engine" else ""
                raise errors.invalid_argument(
                    name,
                    f"{saved[name]!r} as in the unfinished run saved in {self.directory}{why}",
                    value,
                    f"pass {name}={saved[name]!r} to resume it, or overwrite=True to start again",
                )

    def on_epoch_end(self, epoch, logs=None):
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(float(value))
        name = f"{CHECKPOINT_FOLDER}/epoch-{epoch + 1}"
        with _quiet_absl():  # TensorFlow's saver logs an INFO line per save, which absl's app.run shows
            self._checkpoint().write(os.path.join(self.directory, name))
        meta = {"format": FORMAT, "checkpoint": name, "epoch": epoch + 1, "history": self.history}
        files.atomic_write(self.state_path, json.dumps(dict(meta, settings=self.settings)))
        self._remove_stale(name)

    def _remove_stale(self, current):
        """Removes earlier epochs' checkpoints, a killed save's leftovers and a 0.1.0-0.2.0 `.npz`, once superseded."""
        keep = os.path.join(self.directory, current) + "."
        # glob, not listdir: ram:// lists by prefix, which would take search_state.json for an entry of search_state/
        folder = glob.escape(os.path.join(self.directory, CHECKPOINT_FOLDER))
        for path in files.glob_files(os.path.join(folder, "epoch-*")):
            if not path.startswith(keep):
                (tf.io.gfile.rmtree if tf.io.gfile.isdir(path) else tf.io.gfile.remove)(path)
        legacy = os.path.join(self.directory, LEGACY_STATE_FILE)
        if files.exists(legacy):
            tf.io.gfile.remove(legacy)
