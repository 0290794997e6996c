"""Tests for keras_parsec.data.streaming: a tf.data.Dataset split and batched as it is read."""

import numpy as np
import pytest
import tensorflow as tf

import keras_parsec as kp
from keras_parsec import errors
from keras_parsec.data.arrays import as_arrays, resize, split_train_search
from keras_parsec.data.streaming import prepare_streamed_data, search_batches, split_stream

SPACE = kp.SearchSpace(num_cells=2, filters=4)


def labelled(n, size=8):
    """Images whose every pixel holds the example's id / n, and labels = ids."""
    labels = np.arange(n, dtype=np.int32)
    images = np.broadcast_to((labels / n)[:, None, None, None], (n, size, size, 1)).astype(np.float32)
    return images, labels


def unknown_size(dataset):
    """`dataset` with its cardinality hidden, as a TFRecord or generator source has it."""
    return dataset.filter(lambda image, label: True)


def prepare(x, batch_size=4, num_classes=None, seed=0, **kwargs):
    validation_data = kwargs.pop("validation_data", None)
    search_data = kwargs.pop("search_data", None)
    return prepare_streamed_data(x, None, validation_data, search_data, batch_size, num_classes, SPACE, seed, **kwargs)


def labels_of(dataset):
    return [int(label) for _, label in dataset.as_numpy_iterator()]


def train_ids(batches):
    """The train labels of each batch pair."""
    return [pair[0][1].tolist() for pair in batches.as_numpy_iterator()]


# ---------------------------------------------------------------- the split


@pytest.mark.parametrize("n, seed", ((10, 0), (37, 3), (200, 7)))
def test_a_dataset_of_known_size_splits_into_the_halves_of_its_arrays(n, seed):
    images, labels = labelled(n)
    train, search = split_stream(tf.data.Dataset.from_tensor_slices((images, labels)), n, seed)
    (_, train_labels), (_, search_labels) = split_train_search(images, labels, seed=seed)
    assert (train.num_examples, search.num_examples) == (len(train_labels), len(search_labels))
    # The same examples, in the dataset's order rather than the permutation's.
    assert labels_of(train.examples) == sorted(train_labels.tolist())
    assert labels_of(search.examples) == sorted(search_labels.tolist())


def test_a_dataset_of_unknown_size_splits_about_half_by_index_and_the_same_each_time():
    dataset = unknown_size(tf.data.Dataset.from_tensor_slices(labelled(400)))
    train, search = split_stream(dataset, None, seed=1)
    assert train.num_examples is None and search.num_examples is None
    train_labels, search_labels = labels_of(train.examples), labels_of(search.examples)
    assert sorted(train_labels + search_labels) == list(range(400))
    assert 160 < len(search_labels) < 240
    assert labels_of(split_stream(dataset, None, seed=1)[1].examples) == search_labels
    assert labels_of(split_stream(dataset, None, seed=2)[1].examples) != search_labels


@pytest.mark.parametrize(
    "make",
    (
        lambda x, y: tf.data.Dataset.from_tensor_slices((x, y)),
        lambda x, y: tf.data.Dataset.from_tensor_slices((x, y)).batch(7),  # a partial last batch: counted
        lambda x, y: tf.data.Dataset.from_tensor_slices((x, y)).batch(5, drop_remainder=True),
    ),
    ids=("unbatched", "batched", "batched without remainder"),
)
def test_prepared_halves_and_steps_are_the_arrays_ones(make):
    x, y = labelled(40)
    data = prepare(make(x, y), batch_size=4, num_classes=40)
    (_, train_labels), (_, search_labels) = split_train_search(x, y, seed=0)
    assert labels_of(data.train.examples) == sorted(train_labels.tolist())
    assert labels_of(data.search.examples) == sorted(search_labels.tolist())
    assert data.steps_per_epoch == len(train_labels) // 4 == 5
    assert data.input_shape == (8, 8, 1) and data.num_classes == 40
    # By default the mode is scored on the whole search half.
    assert sorted(np.concatenate([y for _, y in data.validation.as_numpy_iterator()]).tolist()) == sorted(
        search_labels.tolist()
    )


def test_validation_split_holds_out_the_last_examples_as_the_arrays_do():
    x, y = labelled(40)
    data = prepare(tf.data.Dataset.from_tensor_slices((x, y)), validation_split=0.25)
    validation = np.concatenate([labels for _, labels in data.validation.as_numpy_iterator()])
    np.testing.assert_array_equal(validation, y[-10:])
    assert data.train.num_examples + data.search.num_examples == 30
    (_, train_labels), _ = split_train_search(x[:30], y[:30], seed=0)
    assert labels_of(data.train.examples) == sorted(train_labels.tolist())


def test_validation_and_search_data_are_streamed_and_counted():
    x, y = labelled(40)
    data = prepare(
        tf.data.Dataset.from_tensor_slices((x[:20], y[:20])),
        search_data=tf.data.Dataset.from_tensor_slices((x[20:32], y[20:32])).batch(5),
        validation_data=tf.data.Dataset.from_tensor_slices((x[32:], y[32:])).batch(3),  # a partial last batch
        num_classes=40,
    )
    assert (data.train.num_examples, data.search.num_examples) == (20, 12)
    assert int(data.validation.cardinality()) == 2  # 8 examples in batches of 4
    assert labels_of(data.search.examples) == list(range(20, 32))


# ---------------------------------------------------------------- the examples


def test_examples_are_normalised_as_as_arrays_normalises_them():
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (12, 6, 6), dtype=np.uint8)  # uint8, no channel axis
    classes = np.arange(12) % 3
    one_hot = np.eye(3, dtype=np.float32)[classes]
    data = prepare(tf.data.Dataset.from_tensor_slices((grey, one_hot)), image_size=8)
    assert data.num_classes == 3  # the width of the one-hot rows
    images, labels = as_arrays(grey, one_hot)
    expected = resize(images, 8)
    got = [data.normalize(image, label) for image, label in tf.data.Dataset.from_tensor_slices((grey, one_hot))]
    np.testing.assert_allclose(np.stack([g[0] for g in got]), expected, atol=1e-6)
    np.testing.assert_array_equal([int(g[1]) for g in got], labels)


def test_num_classes_comes_from_one_pass_over_the_labels_when_nothing_says_it():
    x, y = labelled(20)
    assert prepare(tf.data.Dataset.from_tensor_slices((x, y % 7))).num_classes == 7
    assert prepare(tf.data.Dataset.from_tensor_slices((x, y % 7)), num_classes=12).num_classes == 12


@pytest.mark.parametrize(
    "labels, message",
    ((np.full(8, 5), "outside"), (np.full((8, 3), 0.5, np.float32), "one-hot"), (np.full(8, 0.5), "fractional")),
    ids=("above num_classes", "soft rows", "fractional"),
)
def test_bad_labels_fail_when_they_are_read(labels, message):
    x, _ = labelled(8)
    data = prepare(tf.data.Dataset.from_tensor_slices((x, labels)), num_classes=3)
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        next(iter(search_batches(data, 4)))


# ---------------------------------------------------------------- the batches


def test_an_epoch_is_one_pass_over_the_train_half_in_a_new_order():
    x, y = labelled(40)
    data = prepare(tf.data.Dataset.from_tensor_slices((x, y)), batch_size=4)
    batches = train_ids(search_batches(data, 4, seed=3, epochs=2))
    assert len(batches) == 2 * data.steps_per_epoch
    first, second = batches[:5], batches[5:]
    expected = sorted(labels_of(data.train.examples))
    assert sorted(sum(first, [])) == expected and sorted(sum(second, [])) == expected
    assert first != second
    search = [pair[1][1].tolist() for pair in search_batches(data, 4, seed=3, epochs=2).as_numpy_iterator()]
    assert not set(sum(search, [])) & set(expected)


@pytest.mark.parametrize(
    "make, steps_per_epoch",
    (
        (lambda d: d, None),
        (lambda d: d, 3),  # epochs end inside a pass: a resume starts mid-pass
        (unknown_size, 3),
        (lambda d: d.repeat(), 3),  # infinite
    ),
    ids=("known size", "known size, short epochs", "unknown size", "infinite"),
)
def test_batches_resumed_at_an_epoch_are_the_uninterrupted_ones(make, steps_per_epoch):
    x, y = labelled(40)
    data = prepare(make(tf.data.Dataset.from_tensor_slices((x, y))), num_classes=40, steps_per_epoch=steps_per_epoch)
    steps = data.steps_per_epoch
    full = list(search_batches(data, 4, seed=5, epochs=4).as_numpy_iterator())
    resumed = list(search_batches(data, 4, seed=5, epochs=4, initial_epoch=3).as_numpy_iterator())
    assert len(full) == 4 * steps and len(resumed) == steps
    for a, b in zip(full[3 * steps :], resumed):
        np.testing.assert_array_equal(a[0][1], b[0][1])
        np.testing.assert_array_equal(a[1][1], b[1][1])
    assert int(search_batches(data, 4, epochs=4, initial_epoch=1).cardinality()) == 3 * steps


def test_a_dataset_larger_than_memory_is_read_only_as_far_as_the_batches_go():
    size = 10**7  # 10 million 8x8x3 float32 images: 7.7 GB if read whole
    reads = tf.Variable(0, dtype=tf.int64)

    def image(index):
        reads.assign_add(1)
        pixels = tf.fill([8, 8, 3], tf.cast(index % 255, tf.float32) / 255.0)
        return pixels, index % 3

    data = prepare(tf.data.Dataset.range(size).map(image), batch_size=4, num_classes=3, steps_per_epoch=2)
    assert data.train.num_examples + data.search.num_examples == size
    assert int(reads.numpy()) == 0  # preparing reads nothing
    assert len(list(search_batches(data, 4, epochs=2, initial_epoch=1).as_numpy_iterator())) == 2
    # Each half walks the source: a few buffers' and batches' worth, not 10 million.
    assert 0 < int(reads.numpy()) < 4 * (data.shuffle_buffer + 4 * 4 * 2)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "make, kwargs, name, fix",
    (
        (unknown_size, {"num_classes": 40}, "`steps_per_epoch`", "assert_cardinality"),
        (lambda d: d.repeat(), {"num_classes": 40}, "`steps_per_epoch`", "steps_per_epoch="),
        (unknown_size, {"steps_per_epoch": 2}, "`num_classes`", "num_classes="),
        (unknown_size, {"steps_per_epoch": 2, "num_classes": 40, "validation_split": 0.2}, "`validation_split`", ""),
        (lambda d: d, {"steps_per_epoch": 0}, "`steps_per_epoch`", ""),
        (lambda d: d, {"shuffle_buffer": -1}, "`shuffle_buffer`", ""),
        (lambda d: d, {"batch_size": 21}, "`batch_size`", "smaller batch_size"),
        (lambda d: d.map(lambda x, y: (x, tf.strings.as_string(y))), {}, "`y`", "class indices"),
        (lambda d: d.map(lambda x, y: (x[0], y)), {}, "`x`", "reduction cells"),
        (lambda d: d.map(lambda x, y: x), {}, "`x`", "pairs"),
    ),
    ids=(
        "unknown size",
        "infinite",
        "unknown size, no num_classes",
        "unknown size, validation_split",
        "steps_per_epoch 0",
        "negative shuffle buffer",
        "batch larger than a half",
        "string labels",
        "1-pixel-wide images",
        "no labels",
    ),
)
def test_what_a_stream_cannot_give_is_refused_with_the_fix(make, kwargs, name, fix):
    kwargs = {"batch_size": 4, **kwargs}
    with pytest.raises(errors.ParsecError, match=f"(?s){name}.*{fix}"):
        prepare(make(tf.data.Dataset.from_tensor_slices(labelled(40))), **kwargs)


def test_images_of_varying_sides_need_image_size():
    ragged = tf.data.Dataset.from_generator(
        lambda: ((np.zeros((8 + i % 2, 8, 1), np.float32), i % 2) for i in range(10)),
        output_signature=(tf.TensorSpec((None, 8, 1), tf.float32), tf.TensorSpec((), tf.int32)),
    )
    with pytest.raises(errors.InvalidArgumentError, match="`image_size`"):
        prepare(ragged, num_classes=2, steps_per_epoch=1)
    assert prepare(ragged, num_classes=2, steps_per_epoch=1, image_size=8).input_shape == (8, 8, 1)
