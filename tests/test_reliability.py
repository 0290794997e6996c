"""Reliability: a search survives SIGKILL, refuses bad input, stays finite, repeats itself and holds its memory.

The kill test runs the search in child processes (this file, run as a script)
that SIGKILL themselves at a chosen point: a deterministic trigger instead of a
timer, so every run dies at exactly the same place.
"""

import json
import os
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_parsec as kp
from keras_parsec.tuner import STATE_FILE

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPS = ("max_pool_3x3", "skip_connect", "sep_conv_3x3")
SPACE = kp.SearchSpace(num_cells=2, filters=4, num_nodes=2, operations=OPS)
# Where a child kills itself: "batch:TRIAL:EPOCH:BATCH", "checkpoint:TRIAL:EPOCH",
# "state_write:TRIAL:EPOCH", "oracle_write:TRIAL", or "" to finish.
KILL = "PARSEC_TEST_KILL"
CHILD_SPACE = kp.SearchSpace(num_cells=1, filters=4, num_nodes=2, operations=OPS)  # one reduce cell
CHILD_EPOCHS, CHILD_TRIALS = 2, 2


def synthetic(n=64, size=8, seed=0, num_classes=4):
    """`n` random images [n, size, size, 1] in [0, 1] and labels in [0, num_classes)."""
    rng = np.random.default_rng(seed)
    return rng.random((n, size, size, 1)).astype("float32"), rng.integers(0, num_classes, n).astype("int32")


# ---------------------------------------------------------------- the child process


class Killer(keras.callbacks.Callback):
    """SIGKILLs its own process at the point `spec` names; logs each epoch begun to `events`."""

    def __init__(self, spec, events):
        super().__init__()
        kind, *where = spec.split(":") if spec else ("", "")
        self.kind, self.where = kind, where
        self.events = events
        self.trial, self.epoch, self.tuner = None, None, None

    def at(self, *where):
        return self.kind and list(map(str, where)) == self.where

    @staticmethod
    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        with open(self.events, "a") as f:
            f.write(json.dumps([self.trial, epoch]) + "\n")

    def on_train_batch_end(self, batch, logs=None):
        if self.kind == "batch" and self.at(self.trial, self.epoch, batch):
            self.die()

    def before_replace(self, destination):
        destination = str(destination)
        if self.kind == "state_write" and destination.endswith(STATE_FILE) and self.at(self.trial, self.epoch):
            self.die()  # the new state is complete in its temporary file, not yet renamed
        if (
            self.kind == "oracle_write"
            and destination.endswith("oracle.json")
            and self.where[0] in self.tuner.oracle.runs
        ):
            self.die()  # record_run's save of a finished run


def child_main(directory, result_path):
    """A search of `CHILD_TRIALS` runs of `CHILD_EPOCHS` epochs in `directory`, killed where $PARSEC_TEST_KILL says."""
    from keras_parsec import tuner as tuner_lib

    killer = Killer(os.environ.get(KILL, ""), os.path.join(directory, "events.jsonl"))

    class KillingTuner(kp.ParsecTuner):
        def run_trial(self, trial, *args, **kwargs):
            killer.trial = trial.trial_id
            return super().run_trial(trial, *args, **kwargs)

    replace = os.replace

    def replace_or_die(source, destination):
        killer.before_replace(destination)
        replace(source, destination)

    os.replace = replace_or_die
    save_checkpoint = tuner_lib.SearchCheckpoint.on_epoch_end

    def save_then_die(self, epoch, logs=None):
        save_checkpoint(self, epoch, logs)
        if killer.kind == "checkpoint" and killer.at(killer.trial, epoch):
            killer.die()

    tuner_lib.SearchCheckpoint.on_epoch_end = save_then_die
    tuner = KillingTuner(
        CHILD_SPACE, num_samples=2, max_trials=CHILD_TRIALS, seed=3, directory=directory, project_name="p"
    )
    killer.tuner = tuner
    x, y = synthetic()
    tuner.search(x, y, epochs=CHILD_EPOCHS, batch_size=16, verbose=0, callbacks=[killer])
    result = {
        "runs": tuner.oracle.runs,
        "status": {t: trial.status for t, trial in tuner.oracle.trials.items()},
        "genotypes": [g.to_dict() for g in tuner.get_best_genotypes(CHILD_TRIALS)],
    }
    with open(result_path, "w") as f:
        json.dump(result, f)


def start_child(directory, kill=""):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3", **{KILL: kill})
    command = [sys.executable, os.path.abspath(__file__), str(directory), str(directory / "result.json")]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(child, timeout=240):
    output, _ = child.communicate(timeout=timeout)
    return child.returncode, output


def saved_epoch(project, trial_id):
    """The finished-epoch count in a run's state file (None when there is none)."""
    path = project / f"trial_{trial_id}" / STATE_FILE
    if not path.exists():
        return None
    with np.load(path) as saved:
        return json.loads(str(saved["meta"]))["epoch"]


def oracle_state(project):
    with open(project / "oracle.json") as f:
        return json.load(f)


@pytest.mark.slow
def test_search_killed_at_any_point_resumes_and_ends_as_an_uninterrupted_one(tmp_path):
    reference_dir, killed_dir = tmp_path / "reference", tmp_path / "killed"
    reference_dir.mkdir()
    killed_dir.mkdir()
    reference = start_child(reference_dir)  # runs beside the killed ones
    project, events = killed_dir / "p", killed_dir / "events.jsonl"

    def run(kill, killed=True):
        events.write_text("")
        code, output = finish(start_child(killed_dir, kill))
        assert code == (-signal.SIGKILL if killed else 0), output[-3000:]
        return [tuple(json.loads(line)) for line in events.read_text().splitlines()]

    # Mid-epoch: epoch 1 of run 0 is lost, epoch 0 is saved.
    assert run("batch:0:1:0") == [("0", 0), ("0", 1)]
    assert saved_epoch(project, "0") == 1
    # During the write of epoch 1's state: the old file stays whole, the new one never lands.
    assert run("state_write:0:1") == [("0", 1)]
    assert saved_epoch(project, "0") == 1
    assert list((project / "trial_0").glob(f".{STATE_FILE}.*.tmp"))  # what the kill left
    # Right after the last epoch's state was saved, before the oracle heard of it.
    assert run("checkpoint:0:1") == [("0", 1)]
    assert saved_epoch(project, "0") == CHILD_EPOCHS
    assert oracle_state(project)["parsec"]["runs"] == {}
    # During the oracle's write of the finished run: nothing is trained again.
    assert run("oracle_write:0") == []
    assert oracle_state(project)["parsec"]["runs"] == {}
    # Mid-epoch in the second run: the first is finished and kept.
    assert run("batch:1:0:1") == [("1", 0)]
    state = oracle_state(project)
    assert list(state["parsec"]["runs"]) == ["0"]
    with open(project / "trial_0" / "trial.json") as f:
        assert json.load(f)["status"] == "COMPLETED"
    assert saved_epoch(project, "1") is None
    # The last start finishes: run 1 from its beginning, run 0 untouched.
    assert run("", killed=False) == [("1", 0), ("1", 1)]

    code, output = finish(reference)
    assert code == 0, output[-3000:]
    with open(killed_dir / "result.json") as f:
        resumed = json.load(f)
    with open(reference_dir / "result.json") as f:
        expected = json.load(f)
    assert resumed["status"] == {"0": "COMPLETED", "1": "COMPLETED"}
    assert resumed["genotypes"] == expected["genotypes"]
    for trial_id in ("0", "1"):
        np.testing.assert_array_equal(resumed["runs"][trial_id]["logits"], expected["runs"][trial_id]["logits"])
        assert resumed["runs"][trial_id]["history"] == expected["runs"][trial_id]["history"]
    # Every state file is whole JSON; the kill inside a write left at most its temporary file behind.
    for path in project.rglob("*.json"):
        json.loads(path.read_text())


if __name__ == "__main__":
    child_main(sys.argv[1], sys.argv[2])
