"""A genotype trained from scratch with a recipe in one call, on arrays, tf.data and PyDataset."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits

import keras_parsec as kp
from keras_parsec.final.train import train_final_network

RECIPE = kp.Recipe(num_cells=3, filters=4, epochs=2, batch_size=32, image_size=8)


def digits(n=128):
    data = load_digits()
    return (data.images[:n, ..., None] / 16.0).astype("float32"), data.target[:n].astype("int32")


class Batches(keras.utils.PyDataset):
    def __init__(self, x, y, batch_size):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self):
        return len(self.x) // self.batch_size

    def __getitem__(self, index):
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.x[part], self.y[part]


def train(x, y=None, **kwargs):
    keras.utils.set_random_seed(0)
    return train_final_network(
        kp.DARTS_V2, x, y, num_classes=10, input_shape=(8, 8, 1), recipe=RECIPE, verbose=0, **kwargs
    )


def test_arrays_train_the_recipes_network_and_the_model_exports_what_it_predicts(tmp_path):
    x, y = digits()
    model = train(x, y, validation_data=(x[:32], y[:32]))
    assert (model.num_cells, model.auxiliary_weight) == (3, 0.4)  # the recipe's size and auxiliary head
    history = model.history.history
    assert len(history["loss"]) == RECIPE.epochs and len(history["val_accuracy"]) == RECIPE.epochs
    assert history["loss"][-1] < history["loss"][0]
    untrained = kp.build_final_network(kp.DARTS_V2, RECIPE, 10, (8, 8, 1))
    assert not np.allclose(model.predict(x[:4], verbose=0), untrained.predict(x[:4], verbose=0))
    model.export(str(tmp_path / "exported"))
    loaded = tf.saved_model.load(str(tmp_path / "exported"))  # kept: its variables live as long as it does
    served = loaded.serve(tf.constant(x[:4]))
    np.testing.assert_allclose(served.numpy(), model.predict(x[:4], verbose=0), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", ["tf.data", "PyDataset"])
def test_datasets_train_as_arrays_do(kind):
    x, y = digits()
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(32) if kind == "tf.data" else Batches(x, y, 32)
    model = train(data, epochs=1)
    assert len(model.history.history["loss"]) == 1
    assert np.isfinite(model.history.history["loss"][0])


@pytest.mark.parametrize(
    "x, y, kwargs, name",
    [
        (digits()[0], None, {}, "`y`"),
        (tf.data.Dataset.from_tensor_slices(digits()).batch(32).repeat(), None, {}, "`x`.*finite"),
        (*digits(), {"epochs": 0}, "`epochs`"),
        (*digits(), {"batch_size": 2.5}, "`batch_size`"),
    ],
)
def test_bad_input_is_refused_before_a_network_is_built(x, y, kwargs, name, monkeypatch):
    def no_build(*args, **kw):
        raise AssertionError("built a network before checking the input")

    monkeypatch.setattr(kp.final.recipes, "build_final_network", no_build)
    with pytest.raises(kp.InvalidArgumentError, match=name):
        train(x, y, **kwargs)
