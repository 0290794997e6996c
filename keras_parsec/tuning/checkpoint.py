"""The resumable state of one search run: what a trial needs to continue after its last finished epoch."""

import io
import json
import zipfile

import keras
import keras_tuner
import numpy as np

from keras_parsec import errors, files
from keras_parsec.files import atomic_write, remove_temporaries

STATE_FILE = "search_state.npz"


class SearchStateError(errors.InvalidArgumentError, keras_tuner.errors.FatalError):
    """A saved search state that cannot be resumed; stops the search instead of failing a trial."""


# keras-parsec 0.1.0 saved no engine in a run's settings: it had only the eager one.
ENGINE_OF_UNMARKED_STATES = "eager"


class SearchCheckpoint(keras.callbacks.Callback):
    """Saves and restores everything a run needs to continue after its last finished epoch.

    One `.npz` file, written through a temporary file and a rename: the shared
    weights, both optimizers' state, the logits pi, the sampler's seed state,
    the finished epoch count and the per-epoch history.

    Args:
        net: the `SuperNet` of the run.
        path: the `.npz` file.
        settings: optional JSON-safe dict (epochs, batch size...) a resumed run
            must share with the saved one.
    """

    def __init__(self, net, path, settings=None):
        super().__init__()
        self.net = net
        self.path = path
        self.settings = dict(settings or {})
        self.history = {}

    def _variables(self):
        with self.net.distribute_strategy.scope():  # optimizer slots mirrored like the weights
            self.net.build_optimizers()
        net = self.net
        return (
            list(net.weights)
            + list(net.weight_optimizer.variables)
            + list(net.architecture_optimizer.variables)
            + [net.distribution.logits, net.seed_generator.state]
        )

    def restore(self, writer=True):
        """Loads the saved state if there is one; returns the number of finished epochs.

        Args:
            writer: whether this process is the run's only writer, so that
                the temporaries a killed save left behind can go.
        """
        if writer:
            remove_temporaries(self.path)  # left by a kill during a save
        if not files.exists(self.path):
            return 0
        variables = self._variables()
        try:
            with np.load(io.BytesIO(files.read_bytes(self.path))) as saved:
                meta = json.loads(str(saved["meta"]))
                arrays = [saved[f"v{i}"] for i in range(meta["num_variables"])]
                epoch, history = int(meta["epoch"]), dict(meta["history"])
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as e:
            raise errors.invalid_argument(
                "directory",
                "a readable search state",
                self.path,
                "the file is corrupt or foreign: move it away to restart this run, or pass overwrite=True",
            ) from e
        if "settings" in meta:  # 0.1.0 and later save them; anything else is refused below
            self._check_settings(dict(meta["settings"]))
        if len(arrays) != len(variables) or any(a.shape != tuple(v.shape) for a, v in zip(arrays, variables)):
            raise errors.invalid_argument(
                "directory",
                "a search state of this search space and data",
                self.path,
                "it was written by a different search: use another project_name or overwrite=True",
            )
        for variable, array in zip(variables, arrays):
            variable.assign(array)
        self.history = history
        return epoch

    def _check_settings(self, saved):
        """Raises if a setting of this run differs from the saved run's, naming the value that resumes it."""
        if "engine" in self.settings:
            saved.setdefault("engine", ENGINE_OF_UNMARKED_STATES)
        for name, value in self.settings.items():
            if saved.get(name, value) != value:
                why = " (keras-parsec 0.1.0 saved every search with it)" if name == "engine" else ""
                raise errors.invalid_argument(
                    name,
                    f"{saved[name]!r} as in the unfinished run saved in {self.path}{why}",
                    value,
                    f"pass {name}={saved[name]!r} to resume it, or overwrite=True to start again",
                )

    def on_epoch_end(self, epoch, logs=None):
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(float(value))
        variables = self._variables()
        meta = {"epoch": epoch + 1, "history": self.history, "num_variables": len(variables), "settings": self.settings}
        arrays = {f"v{i}": np.asarray(v) for i, v in enumerate(variables)}
        buffer = io.BytesIO()
        np.savez(buffer, meta=np.array(json.dumps(meta)), **arrays)
        atomic_write(self.path, buffer.getvalue())
