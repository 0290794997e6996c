"""Per-trial callbacks: a TensorBoard folder per trial with its HParams and pi, a time estimate."""

import contextlib
import io

import keras
import numpy as np
import tensorflow as tf
from sklearn.datasets import load_digits

import keras_parsec as kp

OPS = ("max_pool_3x3", "skip_connect", "sep_conv_3x3")
SPACE = kp.SearchSpace(num_cells=2, filters=4, num_nodes=2, operations=OPS)


def digits(n=128):
    data = load_digits()
    return (data.images[:n, ..., None] / 16.0).astype("float32"), data.target[:n].astype("int32")


def summaries(folder):
    """{tag: [(step, kind)]} of every event file under `folder`."""
    found = {}
    for path in tf.io.gfile.glob(f"{folder}/**/events.out.tfevents.*") + tf.io.gfile.glob(
        f"{folder}/events.out.tfevents.*"
    ):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                kind = value.metadata.plugin_data.plugin_name or value.WhichOneof("value")
                found.setdefault(value.tag, []).append((event.step, kind))
    return found


def test_each_trial_logs_to_its_own_tensorboard_folder_with_its_hyperparameters_and_pi(tmp_path):
    x, y = digits()
    board = keras.callbacks.TensorBoard(log_dir=str(tmp_path / "logs"))
    tuner = kp.ParsecTuner(SPACE, num_samples=2, max_trials=2, seed=3, directory=tmp_path, project_name="p")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        tuner.search(x, y, epochs=2, batch_size=32, verbose=1, callbacks=[board])
    assert board.log_dir == str(tmp_path / "logs")  # the user's callback is copied per trial, not changed
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == ["0", "1"]
    for trial_id in ("0", "1"):
        found = summaries(str(tmp_path / "logs" / trial_id))
        assert "_hparams_/session_start_info" in found  # TensorBoard's HParams plugin, as keras_tuner.Tuner writes
        distribution = summaries(str(tmp_path / "logs" / trial_id / "distribution"))
        for tag in ("pi/normal", "pi/reduce"):
            assert sorted(kind for step, kind in distribution[tag]) == ["histograms", "histograms", "images", "images"]
        assert [step for step, _ in distribution["pi/entropy"]] == [0, 1]
        assert f"Trial {trial_id}: first epoch" in out.getvalue()


def test_the_pi_image_shows_each_edges_probability(tmp_path):
    from keras_parsec.tuning.callbacks import DistributionSummary
    from keras_parsec.visualize import edge_probabilities

    net = kp.SuperNet(SPACE, num_classes=3, num_samples=2, seed=0)
    net.build((None, 8, 8, 1))
    summary = DistributionSummary(str(tmp_path))
    summary.set_model(net)
    summary.on_epoch_end(0)
    summary.on_train_end()
    (path,) = tf.io.gfile.glob(str(tmp_path / "distribution" / "events.out.tfevents.*"))
    images = [
        tf.image.decode_png(v.tensor.string_val[2]).numpy()
        for e in tf.compat.v1.train.summary_iterator(path)
        for v in e.summary.value
        if v.tag == "pi/normal" and v.metadata.plugin_data.plugin_name == "images"
    ]
    matrix, _ = edge_probabilities(net.distribution)
    expected = np.repeat(np.repeat(matrix[0] / 2.0, 8, axis=0), 8, axis=1)
    np.testing.assert_allclose(images[0][..., 0] / 255.0, expected, atol=1 / 255)
