"""Tests for keras_parsec.final.recipes: the final-network recipe over plain `model.fit`."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_parsec as kp
from keras_parsec.errors import InvalidArgumentError, InvalidTypeError
from keras_parsec.final import drop_path
from keras_parsec.final import recipes as training
from keras_parsec.final.layers import DropPath

TINY = dataclasses.replace(kp.CIFAR10_RECIPE, num_cells=3, filters=4, epochs=3, batch_size=4, image_size=8)


@pytest.fixture(autouse=True)
def keras_seed():
    keras.utils.set_random_seed(0)


def data(n=8, side=8, classes=3):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, side, side, 3)).astype("float32"), rng.integers(0, classes, n).astype("int32")


# ------------------------------------------------------------------ the recipes


def test_recipes_hold_the_paper_settings():
    cifar, imagenet = kp.CIFAR10_RECIPE, kp.IMAGENET_RECIPE
    assert (cifar.num_cells, cifar.filters, cifar.epochs, cifar.batch_size) == (20, 36, 600, 96)
    assert (cifar.learning_rate, cifar.schedule, cifar.momentum, cifar.weight_decay) == (0.025, "cosine", 0.9, 3e-4)
    assert (cifar.gradient_clip_norm, cifar.auxiliary_weight, cifar.drop_path_rate, cifar.cutout_size) == (
        5,
        0.4,
        0.4,
        16,
    )
    assert (imagenet.num_cells, imagenet.filters, imagenet.label_smoothing, imagenet.epochs) == (14, 48, 0.1, 600)
    assert (imagenet.stem, imagenet.image_size) == ("imagenet", 224)


@pytest.mark.parametrize(
    "overrides, match",
    (({"schedule": "step"}, "schedule"), ({"epochs": 0}, "epochs"), ({"label_smoothing": 1.0}, "label_smoothing")),
)
def test_recipe_rejects_bad_values(overrides, match):
    with pytest.raises(InvalidArgumentError, match=match):
        dataclasses.replace(kp.CIFAR10_RECIPE, **overrides)


def test_functions_reject_a_non_recipe():
    with pytest.raises(InvalidTypeError, match="recipe"):
        kp.final_callbacks({"epochs": 3})


# ------------------------------------------------------------------ optimizer and loss


def test_l2sgd_adds_l2_after_clipping_like_pytorch():
    variable = keras.Variable([1.0])
    optimizer = kp.L2SGD(l2=1.0, learning_rate=1.0, momentum=0.0, global_clipnorm=5.0)
    optimizer.apply([tf.constant([100.0])], [variable])
    # The gradient 100 is clipped to 5, then 1.0 * w is added: w = 1 - (5 + 1).
    np.testing.assert_allclose(variable.numpy(), [-5.0])


def test_l2sgd_with_momentum_matches_the_coupled_update():
    variable, l2, lr, momentum = keras.Variable([2.0]), 0.1, 0.5, 0.9
    optimizer = kp.L2SGD(l2=l2, learning_rate=lr, momentum=momentum)
    w, velocity = 2.0, 0.0
    for gradient in (1.0, -0.5, 0.25):
        optimizer.apply([tf.constant([gradient])], [variable])
        velocity = momentum * velocity + gradient + l2 * w  # PyTorch: buf = m * buf + (g + wd * w)
        w -= lr * velocity
    np.testing.assert_allclose(variable.numpy(), [w], rtol=1e-6)


def test_l2sgd_config_round_trip():
    optimizer = kp.L2SGD(l2=3e-5, learning_rate=0.1, momentum=0.9)
    copy = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(copy, kp.L2SGD) and copy.l2 == 3e-5 and copy.momentum == 0.9


@pytest.mark.parametrize("from_logits", (False, True))
def test_label_smoothing_loss_matches_categorical_on_one_hot(from_logits):
    y_true = np.array([0, 2, 1])
    y_pred = np.array([[2.0, 1.0, 0.1], [0.3, 0.3, 3.0], [1.0, 1.0, 1.0]], "float32")
    if not from_logits:
        y_pred = keras.ops.softmax(y_pred)
    ours = kp.SparseLabelSmoothingCrossentropy(0.1, from_logits=from_logits)(y_true, y_pred)
    reference = keras.losses.CategoricalCrossentropy(label_smoothing=0.1, from_logits=from_logits)(
        keras.ops.one_hot(y_true, 3), y_pred
    )
    np.testing.assert_allclose(float(ours), float(reference), rtol=1e-6)
    unsmoothed = kp.SparseLabelSmoothingCrossentropy(0.0, from_logits=from_logits)(y_true, y_pred)
    sparse = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)(y_true, y_pred)
    assert float(ours) > float(unsmoothed)
    np.testing.assert_allclose(float(unsmoothed), float(sparse), rtol=1e-6)


def test_schedules():
    cosine = training.learning_rate_schedule(kp.CIFAR10_RECIPE, steps_per_epoch=10)
    assert float(cosine(0)) == pytest.approx(0.025)
    assert float(cosine(300 * 10)) == pytest.approx(0.0125, rel=1e-4)  # half way
    assert float(cosine(600 * 10)) == pytest.approx(0.0, abs=1e-7)
    exponential = training.learning_rate_schedule(kp.IMAGENET_RECIPE, steps_per_epoch=10)
    assert float(exponential(25)) == pytest.approx(0.1 * 0.97**2)  # staircase per epoch
    with pytest.raises(InvalidArgumentError, match="steps_per_epoch"):
        training.learning_rate_schedule(kp.CIFAR10_RECIPE, 0)


# ------------------------------------------------------------------ drop path schedule


def test_drop_path_rate_changes_reach_a_compiled_function():
    layer = DropPath(0.9, seed=0)
    apply = tf.function(lambda x: layer(x, training=True))
    x = tf.ones((64, 2, 2, 1))
    assert np.mean(apply(x).numpy() == 0) > 0.5
    layer.set_rate(0.0)
    np.testing.assert_array_equal(apply(x), x)  # same trace, new rate
    assert apply.experimental_get_tracing_count() == 1
    assert layer.get_config()["rate"] == 0.9  # the configured rate is kept


def small_model(drop_path_rate=0.4):
    """A few layers around one DropPath: fits in a second where a CellNetwork takes a minute here."""
    return keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(4, 3),
            DropPath(drop_path_rate),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )


def test_drop_path_ramps_linearly_over_the_epochs():
    model = small_model()
    kp.compile_final_network(model, TINY, steps_per_epoch=2)
    (layer,) = drop_path.drop_path_layers(model)
    seen = []
    probe = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(float(layer.current_rate)))
    x, y = data()
    history = model.fit(x, y, batch_size=4, epochs=3, callbacks=kp.final_callbacks(TINY) + [probe], verbose=0)
    np.testing.assert_allclose(seen, [0.0, 0.4 / 3, 0.8 / 3], rtol=1e-6)
    assert all(np.isfinite(history.history["loss"]))
    assert kp.final_callbacks(dataclasses.replace(TINY, drop_path_ramp=False)) == []


# ------------------------------------------------------------------ the final network


def test_final_network_drop_path_and_auxiliary_head_only_in_training():
    model = kp.build_final_network(kp.DARTS_V2, TINY, num_classes=3)
    assert model.auxiliary_head is not None and model.auxiliary_weight == 0.4 and model.drop_path_rate == 0.4
    x, _ = data(4)
    np.testing.assert_array_equal(model(x, training=False), model(x, training=False))
    assert not np.allclose(model(x, training=True), model(x, training=True))  # drop path draws anew


def test_final_network_has_one_drop_path_per_cell_and_compiles_with_the_recipe():
    recipe = dataclasses.replace(TINY, label_smoothing=0.1)
    model = kp.build_final_network(kp.DARTS_V1, recipe, num_classes=3)
    assert len(drop_path.drop_path_layers(model)) == recipe.num_cells
    optimizer = kp.compile_final_network(model, recipe, steps_per_epoch=2)
    assert isinstance(model.loss, kp.SparseLabelSmoothingCrossentropy) and model.loss.label_smoothing == 0.1
    assert optimizer.l2 == recipe.weight_decay and optimizer.global_clipnorm == 5.0


def test_recipe_trained_model_saves_and_reloads(tmp_path):
    recipe = dataclasses.replace(TINY, label_smoothing=0.1, epochs=1)
    model = small_model()
    kp.compile_final_network(model, recipe, steps_per_epoch=2)
    x, y = data()
    model.fit(x, y, batch_size=4, epochs=1, callbacks=kp.final_callbacks(recipe), verbose=0)
    path = tmp_path / "final.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.optimizer, kp.L2SGD) and isinstance(loaded.loss, kp.SparseLabelSmoothingCrossentropy)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
