"""End-to-end tests of ParsecTuner: search, results, resume and input checks."""

import contextlib
import io
import json
import os
import re
import shutil
import types

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits

import keras_parsec as kp
from keras_parsec import errors
from keras_parsec.tuning.checkpoint import STATE_FILE, SearchStateError

OPS = ("max_pool_3x3", "skip_connect", "sep_conv_3x3")


def tiny_space(**overrides):
    config = {"num_cells": 2, "filters": 4, "num_nodes": 2, "operations": OPS}
    config.update(overrides)
    return kp.SearchSpace(**config)


SPACE = tiny_space()


def digits(n=256):
    """The first `n` scikit-learn digits as float32 images [n, 8, 8, 1] in [0, 1] and int labels."""
    data = load_digits()
    return (data.images[:n, ..., None] / 16.0).astype("float32"), data.target[:n].astype("int32")


def make_tuner(directory, space=SPACE, project_name="p", **kwargs):
    config = {"num_samples": 2, "max_trials": 2, "seed": 1}
    config.update(kwargs)
    return kp.ParsecTuner(space, directory=directory, project_name=project_name, **config)


class EpochRecorder(keras.callbacks.Callback):
    """Records the epochs a search trains and the logs they end with."""

    def __init__(self):
        super().__init__()
        self.begun = []
        self.ended = []
        self.logs = []
        self.test_batches = 0
        self.train_batches = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.begun.append(epoch)

    def on_epoch_end(self, epoch, logs=None):
        self.ended.append(epoch)
        self.logs.append(dict(logs or {}))

    def on_train_batch_end(self, batch, logs=None):
        self.train_batches += 1

    def on_test_batch_end(self, batch, logs=None):
        self.test_batches += 1


class Interrupt(BaseException):
    """Stands for Ctrl-C: like KeyboardInterrupt, Keras Tuner does not swallow it."""


class InterruptAt(EpochRecorder):
    """Interrupts the search when epoch `epoch` is about to begin (after the previous one was saved)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        if epoch == self.epoch:
            raise Interrupt()


def saved_meta(project, trial_id):
    return json.loads((project / f"trial_{trial_id}" / STATE_FILE).read_text())


def copy_project(finished, tmp_path):
    """A copy of the module's finished project, to change without touching the original."""
    shutil.copytree(finished.directory / "p", tmp_path / "p")
    return tmp_path / "p"


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One finished search of two runs of one epoch, shared by the read-only tests."""
    directory = tmp_path_factory.mktemp("finished")
    x, y = digits(256)
    recorder = EpochRecorder()
    tuner = make_tuner(directory)
    tuner.search(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[recorder])
    return types.SimpleNamespace(tuner=tuner, directory=directory, recorder=recorder, x=x, y=y)


# ---------------------------------------------------------------- the user path


def test_search_runs_every_trial_to_completion(finished):
    oracle = finished.tuner.oracle
    assert sorted(oracle.trials) == ["0", "1"]
    assert sorted(oracle.runs) == ["0", "1"]
    for trial_id, trial in oracle.trials.items():
        assert trial.status == "COMPLETED"
        assert 0.0 <= trial.score <= 1.0
        assert trial.score == pytest.approx(oracle.runs[trial_id]["history"]["val_accuracy"][-1])
        assert trial.hyperparameters.values["seed"] == 1 + int(trial_id)
        assert trial.hyperparameters.values["num_samples"] == 2
        history = oracle.runs[trial_id]["history"]
        assert {"loss", "accuracy", "entropy", "val_loss", "val_accuracy"} <= set(history)
        assert all(len(series) == 1 for series in history.values())
    for trial_id in ("0", "1"):
        assert saved_meta(finished.directory / "p", trial_id)["epoch"] == 1


def test_callbacks_receive_the_epochs_of_every_trial(finished):
    recorder = finished.recorder
    assert recorder.begun == [0, 0]
    assert recorder.ended == [0, 0]
    # 256 examples: train half 128, batch 32 -> 4 steps per epoch, in each of 2 trials.
    assert recorder.train_batches == 8
    for logs in recorder.logs:
        assert {"loss", "accuracy", "entropy", "val_accuracy"} <= set(logs)


def test_results_summary_prints_both_trials(finished, capsys):
    finished.tuner.results_summary()
    out = capsys.readouterr().out
    assert "Results summary" in out
    assert str(finished.directory / "p") in out
    for trial_id in ("0", "1"):
        assert f"Trial {trial_id}:" in out
        assert f"seed {1 + int(trial_id)}" in out
    assert out.count("genotype Genotype(") == 2
    assert out.count("entropy ") == 2


def test_search_writes_the_best_genotype_and_distribution_into_the_project(finished):
    project = finished.directory / "p"
    assert kp.Genotype.load(str(project / "best_genotype.json")) == finished.tuner.get_best_genotypes()[0]
    saved = kp.ArchitectureDistribution.load(project / "best_distribution.json")
    np.testing.assert_array_equal(saved.logits.numpy(), finished.tuner.get_best_distribution().logits.numpy())


def test_search_space_summary_describes_the_cell_space_not_an_empty_hyperparameter_space(finished, capsys):
    finished.tuner.search_space_summary()
    out = capsys.readouterr().out
    assert "size: 0" not in out
    assert f"Architectures: {SPACE.num_architectures():.3g}" in out
    assert "Operations (3): max_pool_3x3, skip_connect, sep_conv_3x3" in out
    assert "Cells: 2 (reduction cells at" in out and "2 nodes each" in out
    assert "Runs: 2, each learning p(alpha | pi) with K=[2]" in out


def test_results_summary_limits_the_number_of_trials(finished, capsys):
    finished.tuner.results_summary(num_trials=1)
    assert capsys.readouterr().out.count("\nTrial ") == 1


def test_best_genotypes_are_valid_and_ordered_by_score(finished):
    tuner = finished.tuner
    genotypes = tuner.get_best_genotypes(2)
    assert len(genotypes) == 2
    for genotype in genotypes:
        assert isinstance(genotype, kp.Genotype)
        genotype.validate(SPACE)
        assert genotype.num_nodes == SPACE.num_nodes
    best_trials = tuner.oracle.get_best_trials(2)
    scores = [t.score for t in best_trials]
    assert scores == sorted(scores, reverse=True)
    assert genotypes == [tuner.oracle.get_genotype(t.trial_id) for t in best_trials]
    assert tuner.get_best_genotypes() == genotypes[:1]


def test_best_distribution_is_the_best_runs_and_its_mode_the_best_genotype(finished):
    tuner = finished.tuner
    distribution = tuner.get_best_distribution()
    assert isinstance(distribution, kp.ArchitectureDistribution)
    assert distribution.space == SPACE
    assert distribution.mode() == tuner.get_best_genotypes()[0]
    best_id = tuner.oracle.get_best_trials(1)[0].trial_id
    np.testing.assert_allclose(distribution.logits.numpy(), np.array(tuner.oracle.runs[best_id]["logits"], np.float32))
    assert distribution.entropy() == pytest.approx(tuner.oracle.runs[best_id]["entropy"], rel=1e-5)
    # The search moved the logits away from the uniform start.
    assert np.abs(distribution.logits.numpy()).max() > 0


def test_best_distribution_is_a_prior_for_a_larger_search(finished):
    prior = finished.tuner.get_best_distribution()
    larger = tiny_space(num_cells=3, filters=8)
    distribution = kp.ArchitectureDistribution(larger, prior=prior)
    assert distribution.mode() == prior.mode()


def test_best_models_are_cell_networks_that_predict(finished):
    from keras_parsec.final.networks import CellNetwork

    tuner = finished.tuner
    with pytest.warns(UserWarning, match="untrained.*train_best_model"):
        models = tuner.get_best_models(2)
    assert len(models) == 2
    assert [m.genotype for m in models] == tuner.get_best_genotypes(2)
    model = models[0]
    assert isinstance(model, CellNetwork)
    assert tuple(model.image_shape) == (8, 8, 1)
    assert model.num_classes == 10
    assert model.num_cells == SPACE.num_cells
    assert model.filters == SPACE.filters
    predictions = model.predict(finished.x[:4], verbose=0)
    assert predictions.shape == (4, 10)
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0, rtol=1e-5)


def test_best_models_take_network_overrides(finished):
    model = finished.tuner.get_best_models(num_cells=3, filters=6, classifier_activation=None)[0]
    assert model.num_cells == 3
    assert model.filters == 6
    assert model(finished.x[:2]).shape == (2, 10)


def test_best_hyperparameters_build_the_best_genotype(finished):
    from keras_parsec.tuning import hypermodel

    tuner = finished.tuner
    hps = tuner.get_best_hyperparameters(2)
    assert len(hps) == 2
    for hp, genotype in zip(hps, tuner.get_best_genotypes(2)):
        assert hypermodel.values_to_genotype(hp.values, SPACE) == genotype
        assert hp.values == hypermodel.genotype_to_values(genotype)  # the cell choices only, no run settings
    model = hypermodel.CellHyperModel(SPACE, num_classes=10, input_shape=(8, 8, 1)).build(hps[0])
    assert model.genotype == tuner.get_best_genotypes()[0]
    assert model.predict(finished.x[:2], verbose=0).shape == (2, 10)


def test_the_best_genotype_trains_from_scratch_with_the_recipe_at_the_searched_size(finished, tmp_path):
    x, y = finished.x, finished.y
    keras.utils.set_random_seed(0)
    model = finished.tuner.train_best_model(x, y, validation_data=(x[:32], y[:32]), epochs=2, batch_size=32, verbose=0)
    assert model.genotype == finished.tuner.get_best_genotypes()[0]
    assert (model.num_cells, model.filters, model.num_classes) == (SPACE.num_cells, SPACE.filters, 10)
    assert model.auxiliary_weight == kp.CIFAR10_RECIPE.auxiliary_weight  # the paper's recipe by default
    assert len(model.history.history["val_accuracy"]) == 2
    assert model.history.history["loss"][-1] < model.history.history["loss"][0]
    recipe = kp.Recipe(num_cells=3, filters=6, epochs=1, batch_size=64, auxiliary_weight=0.0, image_size=8)
    other = finished.tuner.train_best_model(x, y, recipe=recipe, verbose=0)
    assert (other.num_cells, other.filters, other.auxiliary_head) == (3, 6, None)
    assert len(other.history.history["loss"]) == 1
    model.save(tmp_path / "best.keras")
    assert keras.models.load_model(tmp_path / "best.keras").genotype == model.genotype


def test_results_before_search_raise(tmp_path):
    tuner = make_tuner(tmp_path)
    with pytest.raises(errors.InvalidArgumentError, match=re.escape("search()")):
        tuner.get_best_genotypes()
    with pytest.raises(errors.InvalidArgumentError, match=re.escape("search()")):
        tuner.get_best_distribution()
    with pytest.raises(errors.InvalidArgumentError, match="num_classes"):
        tuner.get_best_models()
    with pytest.raises(errors.InvalidArgumentError, match=re.escape("search()")):
        tuner.train_best_model(np.zeros((4, 8, 8, 1), "float32"), np.zeros(4, "int32"))


# ---------------------------------------------------------------- other inputs


@pytest.mark.parametrize("batched", (True, False), ids=("batched", "unbatched"))
def test_search_on_a_dataset(tmp_path, batched):
    x, y = digits(128)
    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    if batched:
        dataset = dataset.batch(24)  # batches of the input need not match batch_size
    recorder = EpochRecorder()
    tuner = make_tuner(tmp_path, max_trials=1)
    tuner.search(dataset, epochs=1, batch_size=32, verbose=0, callbacks=[recorder])
    assert tuner.oracle.trials["0"].status == "COMPLETED"
    assert recorder.train_batches == 2  # train half: 64 examples
    model = tuner.get_best_models()[0]
    assert tuple(model.image_shape) == (8, 8, 1)
    assert model.num_classes == 10


def test_search_with_validation_split_one_hot_labels_and_a_new_image_size(tmp_path):
    x, y = digits(160)
    recorder = EpochRecorder()
    tuner = make_tuner(tmp_path, max_trials=1)
    one_hot = np.eye(10, dtype="float32")[y]
    tuner.search(
        x, one_hot, validation_split=0.2, image_size=12, epochs=1, batch_size=32, verbose=0, callbacks=[recorder]
    )
    assert recorder.train_batches == 2  # 128 kept: 64 train, 64 search
    assert tuner._search_summary == {"num_classes": 10, "input_shape": [12, 12, 1]}
    assert tuner.oracle.trials["0"].status == "COMPLETED"


def test_streamed_search_with_validation_split_scores_the_held_out_examples(tmp_path):
    x, y = digits(160)
    recorder = EpochRecorder()
    tuner = make_tuner(tmp_path, max_trials=1)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    tuner.search(dataset, validation_split=0.2, epochs=1, batch_size=32, verbose=0, callbacks=[recorder])
    assert recorder.train_batches == 2  # 128 kept: 64 train, 64 search, as with arrays
    assert recorder.test_batches == 1  # the 32 held out
    assert tuner._search_summary == {"num_classes": 10, "input_shape": [8, 8, 1]}


def test_streamed_search_of_a_dataset_too_large_to_read_reads_only_its_steps(tmp_path):
    reads = tf.Variable(0, dtype=tf.int64)

    def example(index):
        reads.assign_add(1)
        return tf.fill([8, 8, 3], tf.cast(index % 256, tf.float32) / 255.0), index % 3

    huge = tf.data.Dataset.range(10**7).map(example)  # 7.7 GB of float32 images if read whole
    x, y = digits(8)
    recorder = EpochRecorder()
    tuner = make_tuner(tmp_path, max_trials=1)
    tuner.search(
        huge,
        validation_data=(np.repeat(x, 3, axis=-1), y % 3),
        num_classes=3,
        steps_per_epoch=2,
        shuffle_buffer=16,
        epochs=2,
        batch_size=4,
        verbose=0,
        callbacks=[recorder],
    )
    assert tuner.oracle.trials["0"].status == "COMPLETED"
    assert recorder.train_batches == 4
    # Both halves walk the source for 2 epochs of 2 batches of 4, through buffers of 16 and the prefetch.
    assert 0 < int(reads.numpy()) < 1000


@pytest.mark.parametrize("hide_size", (False, True), ids=("known size", "unknown size"))
def test_interrupted_streamed_search_resumes_as_an_uninterrupted_one(tmp_path, hide_size):
    x, y = digits(128)
    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    if hide_size:
        dataset = dataset.filter(lambda image, label: True)
    # 3 batches of 16 an epoch: epochs end inside passes of the 64-example train half.
    arguments = {"epochs": 3, "batch_size": 16, "steps_per_epoch": 3, "num_classes": 10, "verbose": 0}
    with pytest.raises(Interrupt):
        make_tuner(tmp_path / "a", max_trials=1).search(dataset, callbacks=[InterruptAt(epoch=2)], **arguments)
    with pytest.raises(SearchStateError, match="shuffle_buffer"):  # other batches: refused
        make_tuner(tmp_path / "a", max_trials=1).search(dataset, shuffle_buffer=8, **arguments)
    recorder = EpochRecorder()
    resumed = make_tuner(tmp_path / "a", max_trials=1)
    resumed.search(dataset, callbacks=[recorder], **arguments)
    assert recorder.begun == [2]
    uninterrupted = make_tuner(tmp_path / "b", max_trials=1)
    uninterrupted.search(dataset, **arguments)
    run, expected = resumed.oracle.runs["0"], uninterrupted.oracle.runs["0"]
    assert run["history"] == expected["history"]
    np.testing.assert_array_equal(np.array(run["logits"]), np.array(expected["logits"]))


def test_executions_per_trial_other_than_one_is_refused_with_what_to_do(tmp_path):
    with pytest.raises(errors.InvalidArgumentError, match="executions_per_trial.*max_trials"):
        make_tuner(tmp_path, executions_per_trial=3)
    assert not list(tmp_path.iterdir())
    make_tuner(tmp_path / "one", executions_per_trial=1)  # Keras Tuner's default is accepted


def test_search_with_explicit_search_and_validation_data(tmp_path):
    x, y = digits(400)
    train, search, validation = (x[:128], y[:128]), (x[128:192], y[128:192]), (x[192:208], y[192:208])
    recorder = EpochRecorder()
    tuner = make_tuner(tmp_path, max_trials=1)
    tuner.search(
        *train,
        search_data=search,
        validation_data=tf.data.Dataset.from_tensor_slices(validation).batch(4),
        epochs=1,
        batch_size=32,
        verbose=0,
        callbacks=[recorder],
    )
    assert tuner.oracle.trials["0"].status == "COMPLETED"
    # All of x trains (128 / 32 steps): nothing was split off for the search set.
    assert recorder.train_batches == 4
    # The mode is scored on the 16 validation examples: one batch of 32, not two of the search half.
    assert recorder.test_batches == 1
    assert tuner.get_best_models()[0].num_classes == 10


def test_search_on_a_tfds_name(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    tuner = make_tuner(tmp_path, max_trials=1)
    with tfds.testing.mock_data(num_examples=128):  # never downloads
        tuner.search("mnist", epochs=1, batch_size=32, verbose=0)
    assert tuner.oracle.trials["0"].status == "COMPLETED"
    model = tuner.get_best_models()[0]
    assert tuple(model.image_shape) == (28, 28, 1)
    assert model.num_classes == 10


# ---------------------------------------------------------------- resume


def test_second_search_on_the_same_project_reruns_nothing(finished, capsys):
    recorder = EpochRecorder()
    tuner = make_tuner(finished.directory)
    assert "Reloading Tuner" in capsys.readouterr().out
    # Results are there before any search, from the saved state.
    assert tuner.get_best_genotypes(2) == finished.tuner.get_best_genotypes(2)
    assert tuple(tuner.get_best_models()[0].image_shape) == (8, 8, 1)
    tuner.search(finished.x, finished.y, epochs=1, batch_size=32, verbose=0, callbacks=[recorder])
    assert recorder.begun == []
    assert recorder.train_batches == 0
    assert tuner.get_best_genotypes(2) == finished.tuner.get_best_genotypes(2)
    assert [t.status for t in tuner.oracle.trials.values()] == ["COMPLETED", "COMPLETED"]


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    """A 3-epoch run interrupted as its third epoch begins, then resumed by a fresh tuner."""
    directory = tmp_path_factory.mktemp("resumed")
    x, y = digits(128)
    interrupt = InterruptAt(epoch=2)  # epochs 0 and 1 are finished and saved
    tuner = make_tuner(directory, max_trials=1)
    with pytest.raises(Interrupt):
        tuner.search(x, y, epochs=3, batch_size=32, verbose=0, callbacks=[interrupt])
    status = tuner.oracle.trials["0"].status
    meta = saved_meta(directory / "p", "0")
    recorder = EpochRecorder()
    resumed = make_tuner(directory, max_trials=1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        resumed.search(x, y, epochs=3, batch_size=32, verbose=2, callbacks=[recorder])
    return types.SimpleNamespace(
        interrupt=interrupt,
        status_when_interrupted=status,
        meta_when_interrupted=meta,
        recorder=recorder,
        out=out.getvalue(),
        tuner=resumed,
        directory=directory,
        x=x,
        y=y,
    )


def test_interrupted_run_continues_from_its_last_finished_epoch(resumed):
    assert resumed.interrupt.ended == [0, 1]
    assert resumed.status_when_interrupted == "RUNNING"
    meta = resumed.meta_when_interrupted
    assert meta["epoch"] == 2
    assert all(len(series) == 2 for series in meta["history"].values())

    assert "Resuming trial 0 from epoch 2/3" in resumed.out
    assert resumed.recorder.begun == [2]  # only the missing epoch
    assert resumed.tuner.oracle.trials["0"].status == "COMPLETED"
    run = resumed.tuner.oracle.runs["0"]
    # The run's history has every epoch: two from before the interruption, one after.
    assert all(len(series) == 3 for series in run["history"].values())
    assert run["history"]["val_accuracy"][:2] == meta["history"]["val_accuracy"]
    assert saved_meta(resumed.directory / "p", "0")["epoch"] == 3


def test_resumed_run_ends_as_an_uninterrupted_run(resumed, tmp_path):
    tuner = make_tuner(tmp_path, max_trials=1)
    tuner.search(resumed.x, resumed.y, epochs=3, batch_size=32, verbose=0)
    uninterrupted = tuner.oracle.runs["0"]
    run = resumed.tuner.oracle.runs["0"]
    assert run["history"]["val_accuracy"][:2] == uninterrupted["history"]["val_accuracy"][:2]
    np.testing.assert_array_equal(np.array(run["logits"]), np.array(uninterrupted["logits"]))
    assert run["history"] == uninterrupted["history"]


def test_interrupted_later_trial_resumes_after_a_reload(finished, tmp_path, capsys):
    project = copy_project(finished, tmp_path)
    x, y = finished.x[:128], finished.y[:128]
    tuner = make_tuner(tmp_path, max_trials=3)  # one more run than the finished project has
    with pytest.raises(Interrupt):
        tuner.search(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[InterruptAt(epoch=1)])
    assert saved_meta(project, "2")["epoch"] == 1

    capsys.readouterr()
    recorder = EpochRecorder()
    resumed = make_tuner(tmp_path, max_trials=3)
    resumed.search(x, y, epochs=2, batch_size=32, verbose=2, callbacks=[recorder])
    out = capsys.readouterr().out
    assert "Reloading Tuner" in out
    assert "Resuming trial 2 from epoch 1/2" in out
    assert recorder.begun == [1]  # runs 0 and 1 are not run again
    assert {t.trial_id: t.status for t in resumed.oracle.trials.values()} == {
        "0": "COMPLETED",
        "1": "COMPLETED",
        "2": "COMPLETED",
    }
    assert sorted(resumed.oracle.runs) == ["0", "1", "2"]
    assert resumed.oracle.trials["2"].hyperparameters.values["seed"] == 3


class Failing(EpochRecorder):
    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        raise RuntimeError("callback failure")


def test_error_in_a_callback_fails_the_run_and_a_reload_does_not_retry_it(tmp_path):
    # Keras Tuner catches every Exception of run_trial: the run ends FAILED (no retries by default).
    x, y = digits(128)
    tuner = make_tuner(tmp_path, max_trials=1)
    tuner.search(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[Failing()])
    trial = tuner.oracle.trials["0"]
    assert trial.status == "FAILED"
    assert "callback failure" in trial.message
    assert tuner.oracle.runs == {}
    with pytest.raises(errors.InvalidArgumentError, match=re.escape("search()")):
        tuner.get_best_genotypes()

    recorder = EpochRecorder()
    reloaded = make_tuner(tmp_path, max_trials=1)
    reloaded.search(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[recorder])
    assert recorder.begun == []
    assert reloaded.oracle.trials["0"].status == "FAILED"


def test_interrupted_first_run_of_another_search_space_raises(tmp_path):
    x, y = digits(128)
    tuner = make_tuner(tmp_path, max_trials=1)
    with pytest.raises(Interrupt):
        tuner.search(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[InterruptAt(epoch=1)])
    with pytest.raises(errors.InvalidArgumentError, match="search_space"):
        other = make_tuner(tmp_path, space=tiny_space(filters=8), max_trials=1)
        other.search(x, y, epochs=2, batch_size=32, verbose=0)


@pytest.mark.parametrize("garbage", (b"{not json", b"\xff\xfe\x00garbage"), ids=("text", "binary"))
@pytest.mark.parametrize("name", ("oracle.json", "tuner0.json", "trial_0/trial.json"))
def test_corrupt_state_file_raises_and_is_left_as_it_is(finished, tmp_path, name, garbage):
    project = copy_project(finished, tmp_path)
    (project / name).write_bytes(garbage)
    with pytest.raises(errors.InvalidArgumentError, match="`project_name`") as info:
        make_tuner(tmp_path)
    message = str(info.value)
    assert str(project) in message
    assert "overwrite=True" in message
    assert "corrupt" in message
    assert (project / name).read_bytes() == garbage
    assert isinstance(info.value.__cause__, (json.JSONDecodeError, UnicodeDecodeError))


def test_project_of_another_search_space_raises_before_any_training(finished, tmp_path):
    project = copy_project(finished, tmp_path)
    before = (project / "oracle.json").read_bytes()
    with pytest.raises(errors.InvalidArgumentError, match="`search_space`") as info:
        make_tuner(tmp_path, space=tiny_space(filters=8))
    assert "project_name" in str(info.value)
    assert "overwrite=True" in str(info.value)
    assert (project / "oracle.json").read_bytes() == before


def test_overwrite_replaces_the_project(finished, tmp_path):
    project = copy_project(finished, tmp_path)
    other = tiny_space(filters=8)
    tuner = make_tuner(tmp_path, space=other, overwrite=True)
    assert tuner.oracle.trials == {}
    assert tuner.oracle.runs == {}
    assert tuner.oracle.search_space == other
    assert not (project / "trial_0").exists()
    assert not (project / "tuner0.json").exists()
    # The old project is gone for good: a tuner of its space starts afresh too.
    assert make_tuner(tmp_path, space=other).oracle.trials == {}


# ---------------------------------------------------------------- bad input


def bad(**changes):
    """search() arguments: 64 digits, batch 16, one epoch, with `changes`."""

    def make():
        x, y = digits(64)
        kwargs = {"x": x, "y": y, "epochs": 1, "batch_size": 16}
        for key, value in changes.items():
            kwargs[key] = value(x, y) if callable(value) else value
        return kwargs

    return make


def with_nan(x, y):
    x = x.copy()
    x[3, 4, 5, 0] = np.nan
    return x


BAD_INPUTS = {
    "label above num_classes": (bad(y=lambda x, y: np.where(y == 9, 10, y), num_classes=10), "InvalidArgument", "`y`"),
    "negative label": (bad(y=lambda x, y: np.where(y == 0, -1, y)), "InvalidArgument", "`y`"),
    "fewer labels": (bad(y=lambda x, y: y[:-1]), "InvalidArgument", "`y`"),
    "more labels": (bad(y=lambda x, y: np.concatenate([y, y[:1]])), "InvalidArgument", "`y`"),
    "soft labels": (bad(y=lambda x, y: np.full((len(y), 10), 0.1, "float32")), "InvalidArgument", "`y`"),
    "class names": (bad(y=lambda x, y: np.array([f"digit {v}" for v in y])), "InvalidType", "`y`"),
    "fractional labels": (bad(y=lambda x, y: y + 0.5), "InvalidType", "`y`"),
    "no labels": (bad(y=None), "InvalidArgument", "`y`"),
    "dataset of unknown size without steps_per_epoch": (
        bad(x=lambda x, y: tf.data.Dataset.from_tensor_slices((x, y)).filter(lambda a, b: True), y=None),
        "InvalidArgument",
        "`steps_per_epoch`",
    ),
    "steps_per_epoch with arrays": (bad(steps_per_epoch=2), "InvalidArgument", "`steps_per_epoch`"),
    "labels with a dataset": (
        bad(x=lambda x, y: tf.data.Dataset.from_tensor_slices((x, y))),
        "InvalidArgument",
        "`y`",
    ),
    "NaN image": (bad(x=with_nan), "InvalidArgument", "`x`"),
    "infinite image": (bad(x=lambda x, y: np.where(x > 0.99, np.inf, x)), "InvalidArgument", "`x`"),
    # Two reduce cells halve the side twice: a side under 2**2 = 4 is too small.
    "3x3 images": (bad(x=lambda x, y: x[:, :3, :3]), "InvalidArgument", "`x`"),
    "2x2 images": (bad(x=lambda x, y: x[:, :2, :2]), "InvalidArgument", "`x`"),
    "rank-2 images": (bad(x=lambda x, y: x.reshape(len(x), -1)), "InvalidArgument", "`x`"),
    "rank-5 images": (bad(x=lambda x, y: x[..., None]), "InvalidArgument", "`x`"),
    "batch larger than the halves": (bad(batch_size=33), "InvalidArgument", "`batch_size`"),
    "batch size 0": (bad(batch_size=0), "InvalidArgument", "`batch_size`"),
    "float batch size": (bad(batch_size=16.0), "InvalidArgument", "`batch_size`"),
    "epochs 0": (bad(epochs=0), "InvalidArgument", "`epochs`"),
    "negative epochs": (bad(epochs=-1), "InvalidArgument", "`epochs`"),
    "float epochs": (bad(epochs=1.5), "InvalidArgument", "`epochs`"),
    "validation label out of range": (
        bad(validation_data=lambda x, y: (x[:8], np.full(8, 12)), num_classes=10),
        "InvalidArgument",
        "`validation_data`",
    ),
    "validation images of another shape": (
        bad(validation_data=lambda x, y: (x[:8, :6, :6], y[:8])),
        "InvalidArgument",
        "`validation_data`",
    ),
    "search images of another shape": (
        bad(search_data=lambda x, y: (x[:32, :, :6], y[:32])),
        "InvalidArgument",
        "`search_data`",
    ),
    "search data smaller than a batch": (
        bad(search_data=lambda x, y: (x[:8], y[:8])),
        "InvalidArgument",
        "`batch_size`",
    ),
}


BAD_INPUT_CASES = [pytest.param(*case, id=case_id) for case_id, case in BAD_INPUTS.items()] + [
    pytest.param(
        bad(validation_data=lambda x, y: x[:8]),
        "InvalidArgument",
        "`validation_data`",
        id="validation data an array, not a pair",
    ),
]


@pytest.mark.parametrize("make_arguments, kind, name", BAD_INPUT_CASES)
def test_bad_input_raises_before_any_training(tmp_path, make_arguments, kind, name):
    error = {"InvalidArgument": errors.InvalidArgumentError, "InvalidType": errors.InvalidTypeError}[kind]
    recorder = EpochRecorder()
    tuner = make_tuner(tmp_path)
    with pytest.raises(error, match=name):
        tuner.search(**make_arguments(), verbose=0, callbacks=[recorder])
    assert recorder.begun == []
    assert tuner.oracle.trials == {}
    assert not list((tmp_path / "p").glob("trial_*"))


@pytest.mark.parametrize(
    "kwargs, error, name",
    (
        ({"num_samples": 0}, errors.InvalidArgumentError, "`num_samples`"),
        ({"max_trials": 0}, errors.InvalidArgumentError, "`max_trials`"),
        ({"architecture_learning_rate": -1.0}, errors.InvalidArgumentError, "`architecture_learning_rate`"),
        ({"weight_learning_rate": [0.1, 0]}, errors.InvalidArgumentError, "`weight_learning_rate`"),
        ({"prior": "uniform"}, errors.InvalidTypeError, "`prior`"),
        (
            {"prior": kp.ArchitectureDistribution(tiny_space(num_nodes=3))},
            errors.InvalidArgumentError,
            "`prior.space.num_nodes`",
        ),
    ),
)
def test_bad_tuner_arguments_raise(tmp_path, kwargs, error, name):
    with pytest.raises(error, match=name):
        make_tuner(tmp_path, **kwargs)


def test_search_space_of_wrong_type_raises(tmp_path):
    with pytest.raises(errors.InvalidTypeError, match="`search_space`"):
        kp.ParsecTuner({"num_cells": 2}, directory=tmp_path, project_name="p")


def test_entropy_and_mode_accuracy_reach_keras_tensorboard_callback(tmp_path):
    import glob

    import keras
    import tensorflow as tf

    x, y = digits()
    logs = tmp_path / "logs"
    tuner = make_tuner(tmp_path, max_trials=1)
    tuner.search(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[keras.callbacks.TensorBoard(str(logs))])
    tags = {}
    for path in glob.glob(str(logs / "**" / "events.out.tfevents.*"), recursive=True):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                tags.setdefault(value.tag, 0)
                tags[value.tag] += 1
    assert tags.get("epoch_entropy") == 2
    assert tags.get("epoch_accuracy", 0) >= 2  # train accuracy and the mode's validation accuracy


def test_a_search_on_the_in_memory_filesystem_resumes_and_ends_as_a_local_uninterrupted_one(tmp_path, monkeypatch):
    """Every state file goes through tf.io.gfile: `ram://` here stands for `gs://` and other stores."""
    monkeypatch.chdir(tmp_path)
    directory = f"ram://parsec_tuner_{tmp_path.name}"
    x, y = digits(128)
    try:
        with pytest.raises(Interrupt):
            make_tuner(directory, max_trials=1).search(
                x, y, epochs=2, batch_size=32, verbose=0, callbacks=[InterruptAt(1)]
            )
        assert tf.io.gfile.exists(f"{directory}/p/trial_0/{STATE_FILE}")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            resumed = make_tuner(directory, max_trials=1)
            resumed.search(x, y, epochs=2, batch_size=32, verbose=1)
        assert "Resuming trial 0 from epoch 1/2" in out.getvalue()
        local = make_tuner(tmp_path / "local", max_trials=1)
        local.search(x, y, epochs=2, batch_size=32, verbose=0)
        run, reference = resumed.oracle.runs["0"], local.oracle.runs["0"]
        np.testing.assert_array_equal(np.array(run["logits"]), np.array(reference["logits"]))
        assert run["history"] == reference["history"]
        assert make_tuner(directory, max_trials=1).get_best_genotypes() == local.get_best_genotypes()
        assert sorted(os.listdir(tmp_path)) == ["local"]  # nothing written to a local "ram:" folder
    finally:
        if tf.io.gfile.exists(directory):
            tf.io.gfile.rmtree(directory)


# ---------------------------------------------------------------- ranking on the shared weights


def test_genotypes_are_scored_on_the_best_runs_shared_weights_without_training(finished):
    tuner = finished.tuner
    x, y = finished.x[:96], finished.y[:96]
    mode = tuner.get_best_genotypes()[0]
    others = tuner.get_best_distribution().sample(3, seed=0)
    net = tuner.load_supernet()
    before = [v.numpy().copy() for v in net.shared_variables()]
    scores = tuner.score_genotypes([mode] + list(others), x, y, batch_size=32)
    assert [s["genotype"] for s in scores] == [mode] + list(others)
    for score in scores:
        assert score["log_likelihood"] < 0 and 0.0 <= score["accuracy"] <= 1.0
    # The score is the run's own: the log-likelihood Algorithm 1 weighs by, on the weights it saved.
    expected = sum(
        float(net.log_likelihood(x[i : i + 32], y[i : i + 32], net.distribution.genotype_to_choices(mode)))
        for i in (0, 32, 64)
    )
    assert scores[0]["log_likelihood"] == pytest.approx(expected, rel=1e-5)
    untrained = make_tuner(finished.directory / "untouched", max_trials=1)._build_supernet(
        tuner.oracle.trials["0"].hyperparameters.values, 10, (8, 8, 1), None
    )
    assert not np.allclose(untrained.shared_variables()[0].numpy(), before[0])  # it did load trained weights
    for variable, value in zip(tuner.load_supernet().shared_variables(), before):
        np.testing.assert_array_equal(variable.numpy(), value)  # scoring trained nothing


def test_scoring_refuses_what_is_not_a_genotype_of_the_space_before_any_pass(finished):
    with pytest.raises(errors.InvalidTypeError, match="genotype"):
        finished.tuner.score_genotypes(["not a genotype"], finished.x, finished.y)
    with pytest.raises(errors.InvalidArgumentError):
        finished.tuner.score_genotypes([kp.DARTS_V2], finished.x, finished.y)  # operations outside this space
