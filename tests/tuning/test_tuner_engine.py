"""ParsecTuner on engine v2 (the default): a whole search resumed exactly; the other engine's states refused."""

import json
import shutil

import keras
import numpy as np
import pytest
from sklearn.datasets import load_digits

import keras_parsec as kp
from keras_parsec.search import SuperNet
from keras_parsec.tuning.checkpoint import CHECKPOINT_FOLDER, LEGACY_STATE_FILE, STATE_FILE, SearchCheckpoint

OPS = ("max_pool_3x3", "skip_connect", "sep_conv_3x3")
SPACE = kp.SearchSpace(num_cells=2, filters=4, num_nodes=2, operations=OPS)


def digits(n=128):
    data = load_digits()
    return (data.images[:n, ..., None] / 16.0).astype("float32"), data.target[:n].astype("int32")


class Interrupt(BaseException):
    """Stands for Ctrl-C: Keras Tuner does not swallow it."""


class StopAt(keras.callbacks.Callback):
    """Interrupts a search as its second epoch begins, after the first was saved."""

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            raise Interrupt()


def tuner(directory, **kwargs):
    config = {"num_samples": 2, "max_trials": 1, "seed": 3, "project_name": "p"}
    config.update(kwargs)
    return kp.ParsecTuner(SPACE, directory=directory, **config)


def resume_beside_a_straight_run(tmp_path, x, y):
    """Resumes the search interrupted in `tmp_path/a`, runs it straight in `tmp_path/b`; asserts they agree."""
    resumed = tuner(tmp_path / "a")
    resumed.search(x, y, epochs=2, batch_size=32, verbose=0)
    straight = tuner(tmp_path / "b")
    straight.search(x, y, epochs=2, batch_size=32, verbose=0)
    run, reference = resumed.oracle.runs["0"], straight.oracle.runs["0"]
    np.testing.assert_allclose(np.array(run["logits"]), np.array(reference["logits"]), atol=1e-6)
    assert run["history"]["val_accuracy"] == pytest.approx(reference["history"]["val_accuracy"])
    return resumed, straight


def test_a_search_on_the_compiled_engine_resumes_exactly(tmp_path):
    x, y = digits()
    interrupted = tuner(tmp_path / "a")
    with pytest.raises(Interrupt):
        interrupted.search(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[StopAt()])
    resumed, straight = resume_beside_a_straight_run(tmp_path, x, y)
    assert resumed.get_best_genotypes()[0] == straight.get_best_genotypes()[0]


def test_the_tuner_builds_a_compiled_supernet_by_default(tmp_path, monkeypatch):
    built = []
    original = SuperNet.build

    def recording(self, input_shape):
        built.append(type(self))
        return original(self, input_shape)

    monkeypatch.setattr(SuperNet, "build", recording)
    x, y = digits(64)
    tuner(tmp_path).search(x, y, epochs=1, batch_size=32, verbose=0)
    assert built == [SuperNet]


def saved_states(directory):
    """Every file of the runs' saved states, by path, with its bytes."""
    return {p: p.read_bytes() for p in directory.rglob("*") if p.is_file() and "search_state" in str(p)}


def test_a_project_saved_by_one_engine_is_not_resumed_by_the_other(tmp_path):
    x, y = digits(64)
    with pytest.raises(Interrupt):
        tuner(tmp_path).search(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[StopAt()])
    saved = saved_states(tmp_path)
    assert len(saved) == 3  # search_state.json and the checkpoint's index and data
    with pytest.raises(kp.InvalidArgumentError, match="overwrite=True"):
        tuner(tmp_path, engine="eager").search(x, y, epochs=2, batch_size=32, verbose=0)
    assert saved_states(tmp_path) == saved  # nothing overwritten


def test_an_unknown_engine_is_refused_before_any_work(tmp_path):
    with pytest.raises(kp.InvalidArgumentError, match="engine.*compiled.*eager.*graph"):
        tuner(tmp_path, engine="graph")
    assert not list(tmp_path.iterdir())


def as_saved_by_release(trial_dir, net, release):
    """Rewrites a run's saved state as keras-parsec 0.1.0 or 0.2.0 wrote it: one `.npz` of variables by position.

    0.1.0 saved no engine in the settings. `net` holds the state (`load_supernet`).
    """
    state = trial_dir / STATE_FILE
    meta = json.loads(state.read_text())
    if release == "0.1.0":
        del meta["settings"]["engine"]
    variables = SearchCheckpoint(net, str(trial_dir))._variables()
    old_meta = {"epoch": meta["epoch"], "history": meta["history"], "num_variables": len(variables)}
    arrays = {f"v{i}": np.asarray(v) for i, v in enumerate(variables)}
    np.savez(
        trial_dir / LEGACY_STATE_FILE, meta=np.array(json.dumps(dict(old_meta, settings=meta["settings"]))), **arrays
    )
    state.unlink()
    shutil.rmtree(trial_dir / CHECKPOINT_FOLDER)
    return trial_dir / LEGACY_STATE_FILE


def test_a_search_saved_by_release_0_1_0_resumes_on_the_eager_engine_and_the_default_names_the_release(tmp_path):
    x, y = digits(64)
    interrupted = tuner(tmp_path, engine="eager")
    with pytest.raises(Interrupt):
        interrupted.search(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[StopAt()])
    state = as_saved_by_release(tmp_path / "p" / "trial_0", interrupted.load_supernet("0"), "0.1.0")
    saved = state.read_bytes()
    with pytest.raises(kp.InvalidArgumentError, match=r"'eager'.*0\.1\.0.*engine='eager' to resume"):
        tuner(tmp_path).search(x, y, epochs=2, batch_size=32, verbose=0)
    assert state.read_bytes() == saved
    resumed = tuner(tmp_path, engine="eager")
    resumed.search(x, y, epochs=2, batch_size=32, verbose=0)
    assert len(resumed.oracle.runs["0"]["history"]["val_accuracy"]) == 2


def test_a_search_saved_by_release_0_2_0_resumes_exactly_and_its_file_is_replaced_by_a_checkpoint_by_name(tmp_path):
    x, y = digits()
    interrupted = tuner(tmp_path / "a")
    with pytest.raises(Interrupt):
        interrupted.search(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[StopAt()])
    trial_dir = tmp_path / "a" / "p" / "trial_0"
    as_saved_by_release(trial_dir, interrupted.load_supernet("0"), "0.2.0")
    resumed, straight = resume_beside_a_straight_run(tmp_path, x, y)
    assert not (trial_dir / LEGACY_STATE_FILE).exists()
    assert json.loads((trial_dir / STATE_FILE).read_text())["epoch"] == 2


def test_a_search_resumed_with_cells_inlined_finds_what_a_straight_run_with_cell_calls_finds(tmp_path, monkeypatch):
    x, y = digits()
    with pytest.raises(Interrupt):
        tuner(tmp_path / "a").search(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[StopAt()])
    inlined, original = [], SuperNet.build

    def recording(self, input_shape):
        original(self, input_shape)
        inlined.append(self.executor.options.inline_cells)

    monkeypatch.setattr(SuperNet, "build", recording)
    resumed = tuner(tmp_path / "a", inline_cells=True)
    resumed.search(x, y, epochs=2, batch_size=32, verbose=0)
    straight = tuner(tmp_path / "b")
    straight.search(x, y, epochs=2, batch_size=32, verbose=0)
    assert inlined == [True, False]
    run, reference = resumed.oracle.runs["0"], straight.oracle.runs["0"]
    np.testing.assert_allclose(np.array(run["logits"]), np.array(reference["logits"]), atol=1e-5)
    assert resumed.get_best_genotypes()[0] == straight.get_best_genotypes()[0]


def test_inline_cells_is_refused_before_any_work_unless_true_or_false_on_the_compiled_engine(tmp_path):
    with pytest.raises(kp.InvalidTypeError, match="inline_cells.*True or False"):
        tuner(tmp_path, inline_cells="yes")
    with pytest.raises(kp.InvalidArgumentError, match='inline_cells.*engine="compiled"'):
        tuner(tmp_path, engine="eager", inline_cells=True)
    with pytest.raises(kp.InvalidTypeError, match="inline_cells"):
        SuperNet(SPACE, num_classes=10, inline_cells=None)
    assert not list(tmp_path.iterdir())
