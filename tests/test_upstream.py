"""The private Keras and Keras Tuner APIs `keras_parsec._upstream` relies on still exist and still work.

A failure here names the private API that an upgrade changed: adapt
`keras_parsec/_upstream.py` and the version pins of `setup.py` together.
"""

import contextlib
import inspect

import keras
import numpy as np
import pytest

from keras_parsec import _upstream


@contextlib.contextmanager
def private(name):
    """Turns any failure inside into one that names the private upstream API `name`."""
    try:
        yield
    except Exception as e:
        pytest.fail(f"private upstream API {name}, used by keras_parsec._upstream, changed: {type(e).__name__}: {e}")


def parameters(function):
    return list(inspect.signature(function).parameters)


# ------------------------------------------------------------------ Keras


def test_keras_optimizer_keeps_its_schedule_in_learning_rate():
    with private("keras BaseOptimizer._learning_rate"):
        schedule = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=10)
        assert _upstream.optimizer_schedule(keras.optimizers.SGD(learning_rate=schedule)) is schedule


def test_keras_compile_loss_is_the_compiled_loss_alone():
    with private("keras Trainer._compile_loss"):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, kernel_regularizer="l2")])
        assert _upstream.compiled_loss(model) is None
        model.compile(loss="mse")
        y, y_pred = np.ones((4, 1), "float32"), np.zeros((4, 1), "float32")
        model(np.zeros((4, 2), "float32"))  # the regulariser's loss, which `compute_loss` would add, exists
        assert model.losses
        assert float(_upstream.compiled_loss(model)(y, y_pred, None)) == pytest.approx(1.0)
        loss = _upstream.compiled_loss(model)
        assert parameters(type(loss).__call__) == ["self", "y_true", "y_pred", "sample_weight"]


def test_keras_flatten_layers_finds_layers_inside_plain_layers():
    class Holder(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.inner = keras.Sequential([keras.layers.Dropout(0.5)])

        def call(self, x):
            return self.inner(x)

    with private("keras Layer._flatten_layers"):
        assert parameters(keras.layers.Layer._flatten_layers) == ["self", "include_self", "recursive"]
        holder = Holder()
        model = keras.Sequential([keras.Input((2,)), holder])
        found = _upstream.sublayers(model)
        assert holder in found and holder.inner in found and holder.inner.layers[0] in found
        assert model not in found


def test_keras_fit_builds_through_maybe_symbolic_build_which_a_built_model_skips(monkeypatch):
    calls = []

    class Net(_upstream.BuiltModelSkipsSymbolicBuild, keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1)

        def call(self, x):
            return self.dense(x)

    with private("keras TensorFlowTrainer._maybe_symbolic_build"):
        assert parameters(keras.Model._maybe_symbolic_build) == ["self", "iterator", "data_batch"]
        original = keras.Model._maybe_symbolic_build
        monkeypatch.setattr(
            keras.Model, "_maybe_symbolic_build", lambda self, **kwargs: calls.append(1) or original(self, **kwargs)
        )
        net = Net()
        net.compile(loss="mse")
        x = np.ones((4, 2), "float32")
        net.fit(x, x[:, :1], epochs=1, verbose=0)  # unbuilt: Keras' own hook runs
        assert calls == [1]
        net.fit(x, x[:, :1], epochs=1, verbose=0)  # built: skipped
        assert calls == [1]
