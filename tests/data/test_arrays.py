"""Tests for keras_parsec.data.arrays."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_parsec as kp
from keras_parsec import errors
from keras_parsec.data.arrays import as_arrays, prepare_search_data, search_dataset, split_train_search


def labelled(n, size=2, channels=1):
    """Images whose every pixel holds the example's id, and labels = ids."""
    labels = np.arange(n)
    images = np.broadcast_to(labels[:, None, None, None], (n, size, size, channels)).astype(np.float32)
    return images, labels


def split_arrays(num_train, num_search, size=2, channels=1):
    """Train ids 0..num_train-1 and search ids num_train..num_train+num_search-1."""
    images, labels = labelled(num_train + num_search, size, channels)
    return (images[:num_train], labels[:num_train]), (images[num_train:], labels[num_train:])


def one_epoch(dataset):
    return [((x_t.numpy(), y_t.numpy()), (x_s.numpy(), y_s.numpy())) for (x_t, y_t), (x_s, y_s) in dataset]


# ------------------------------------------------------------------ split_train_search


@pytest.mark.parametrize(
    "n, fraction, num_search",
    (
        (10, 0.5, 5),
        (10, 0.3, 3),
        (10, 0.9, 9),
        (10, 0.1, 1),
        (100, 0.2, 20),
        (6, 1 / 3, 2),
        (3, 0.5, 2),
        (2, 0.5, 1),
    ),
)
def test_split_sizes(n, fraction, num_search):
    images, labels = labelled(n)
    (train_x, train_y), (search_x, search_y) = split_train_search(images, labels, fraction)
    assert len(search_x) == len(search_y) == num_search
    assert len(train_x) == len(train_y) == n - num_search
    assert train_x.shape[1:] == search_x.shape[1:] == images.shape[1:]


@pytest.mark.parametrize("fraction", (0.5, 0.3, 0.9))
@pytest.mark.parametrize("seed", (0, 7))
def test_split_is_disjoint_permutation_of_input(fraction, seed):
    images, labels = labelled(20)
    (train_x, train_y), (search_x, search_y) = split_train_search(images, labels, fraction, seed)
    assert not set(train_y) & set(search_y)
    np.testing.assert_array_equal(np.sort(np.concatenate([train_y, search_y])), labels)
    # Images stay with their labels.
    np.testing.assert_array_equal(train_x[:, 0, 0, 0], train_y)
    np.testing.assert_array_equal(search_x[:, 0, 0, 0], search_y)


def test_split_shuffles():
    images, labels = labelled(50)
    (_, train_y), (_, search_y) = split_train_search(images, labels)
    assert not np.array_equal(np.concatenate([train_y, search_y]), labels)


def test_split_accepts_lists():
    (train_x, train_y), (search_x, search_y) = split_train_search([[1.0], [2.0], [3.0], [4.0]], [0, 1, 2, 3])
    assert isinstance(train_x, np.ndarray) and isinstance(search_y, np.ndarray)
    assert sorted(np.concatenate([train_y, search_y])) == [0, 1, 2, 3]


def test_split_is_deterministic_for_a_seed():
    images, labels = labelled(30)
    first = split_train_search(images, labels, 0.5, seed=3)
    second = split_train_search(images, labels, 0.5, seed=3)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


def test_split_differs_between_seeds():
    images, labels = labelled(30)
    (_, train_a), _ = split_train_search(images, labels, 0.5, seed=0)
    (_, train_b), _ = split_train_search(images, labels, 0.5, seed=1)
    assert set(train_a) != set(train_b)


def test_split_does_not_modify_inputs():
    images, labels = labelled(10)
    images, labels = images.copy(), labels.copy()
    split_train_search(images, labels)
    np.testing.assert_array_equal(labels, np.arange(10))


@pytest.mark.parametrize(
    "num_images, num_labels, fraction, name",
    (
        (10, 9, 0.5, "labels"),
        (9, 10, 0.5, "labels"),
        (10, 0, 0.5, "labels"),
        (10, 10, 0.0, "search_fraction"),
        (10, 10, 1.0, "search_fraction"),
        (10, 10, -0.5, "search_fraction"),
        (10, 10, 1.5, "search_fraction"),
        (10, 10, float("nan"), "search_fraction"),
        (0, 0, 0.5, "images"),
        (1, 1, 0.5, "images"),
        (2, 2, 0.1, "images"),
        (2, 2, 0.9, "images"),
        (10, 10, 0.01, "images"),
        (10, 10, 0.99, "images"),
    ),
)
def test_split_errors(num_images, num_labels, fraction, name):
    images = np.zeros((num_images, 2, 2, 1), np.float32)
    labels = np.zeros(num_labels, np.int64)
    with pytest.raises(errors.InvalidArgumentError, match=f"argument `{name}`"):
        split_train_search(images, labels, fraction)


def test_split_error_is_a_value_error_with_a_fix():
    with pytest.raises(ValueError, match=r"search_fraction=1\.5.*Fix: use 0\.5"):
        split_train_search(np.zeros((4, 1)), np.zeros(4), 1.5)


# ------------------------------------------------------------------ search_dataset


def test_element_structure_shapes_and_dtypes():
    train, search = split_arrays(8, 6, size=3, channels=2)
    train = (train[0].astype(np.uint8), train[1].astype(np.int64))
    dataset = search_dataset(train, search, batch_size=4)
    (x_t, y_t), (x_s, y_s) = dataset.element_spec
    assert x_t.shape == x_s.shape == (4, 3, 3, 2)
    assert y_t.shape == y_s.shape == (4,)
    assert x_t.dtype == x_s.dtype == tf.float32
    assert y_t.dtype == y_s.dtype == tf.int32
    ((x_t, y_t), (x_s, y_s)) = next(iter(dataset))
    assert x_t.shape == x_s.shape == (4, 3, 3, 2)
    assert x_t.dtype == tf.float32 and y_s.dtype == tf.int32


@pytest.mark.parametrize(
    "num_train, num_search, batch_size, num_batches",
    (
        (8, 8, 2, 4),
        (9, 8, 2, 4),
        (10, 3, 3, 3),
        (7, 7, 7, 1),
        (5, 20, 2, 2),
        (12, 4, 4, 3),
    ),
)
def test_number_of_batches_is_full_train_batches(num_train, num_search, batch_size, num_batches):
    train, search = split_arrays(num_train, num_search)
    batches = one_epoch(search_dataset(train, search, batch_size))
    assert len(batches) == num_batches
    for (x_t, y_t), (x_s, y_s) in batches:
        assert len(x_t) == len(y_t) == len(x_s) == len(y_s) == batch_size


@pytest.mark.parametrize(
    "num_train, num_search, batch_size",
    ((12, 4, 2), (10, 3, 1), (12, 5, 2), (20, 6, 3)),
)
def test_search_half_cycles(num_train, num_search, batch_size):
    train, search = split_arrays(num_train, num_search)
    batches = one_epoch(search_dataset(train, search, batch_size))
    search_ids = set(search[1])
    per_pass = num_search // batch_size
    assert len(batches) > per_pass  # More train batches than one pass over search.
    search_batches = [y_s for _, (_, y_s) in batches]
    for start in range(0, len(search_batches), per_pass):
        one_pass = np.concatenate(search_batches[start : start + per_pass])
        assert set(one_pass) <= search_ids
        assert len(set(one_pass)) == len(one_pass)  # No repeat within a pass.
    if num_search % batch_size == 0:
        full_pass = np.concatenate(search_batches[:per_pass])
        assert set(full_pass) == search_ids


@pytest.mark.parametrize("num_train, num_search, batch_size", ((8, 4, 2), (9, 6, 3), (10, 10, 5)))
def test_train_batches_hold_no_search_example(num_train, num_search, batch_size):
    train, search = split_arrays(num_train, num_search)
    batches = one_epoch(search_dataset(train, search, batch_size))
    train_ids, search_ids = set(train[1]), set(search[1])
    seen = []
    for (x_t, y_t), (x_s, y_s) in batches:
        assert not set(y_t) & search_ids
        assert set(y_s) <= search_ids
        # Images travel with their labels.
        np.testing.assert_array_equal(x_t[:, 0, 0, 0], y_t)
        np.testing.assert_array_equal(x_s[:, 0, 0, 0], y_s)
        seen.extend(y_t)
    assert len(seen) == len(set(seen))  # Each train example at most once per epoch.
    assert set(seen) <= train_ids
    if num_train % batch_size == 0:
        assert set(seen) == train_ids


def test_train_batches_are_shuffled_and_seeded():
    train, search = split_arrays(16, 8)

    def order(seed):
        return np.concatenate([y_t for (_, y_t), _ in one_epoch(search_dataset(train, search, 4, seed))])

    assert not np.array_equal(order(0), np.arange(16))
    np.testing.assert_array_equal(order(5), order(5))
    assert not np.array_equal(order(0), order(1))


@pytest.mark.parametrize("batch_size", (0, -1, -8))
def test_batch_size_below_one(batch_size):
    train, search = split_arrays(4, 4)
    with pytest.raises(errors.InvalidArgumentError, match=rf"batch_size={batch_size}"):
        search_dataset(train, search, batch_size)


@pytest.mark.parametrize("batch_size", (2.0, "2", None, 1.5, [2]))
def test_batch_size_not_an_int(batch_size):
    train, search = split_arrays(4, 4)
    with pytest.raises(errors.ParsecError, match="argument `batch_size`"):
        search_dataset(train, search, batch_size)


def test_batch_size_numpy_integer_is_accepted():
    train, search = split_arrays(4, 4)
    assert len(one_epoch(search_dataset(train, search, np.int64(2)))) == 2


def test_batch_size_bool_is_refused():
    train, search = split_arrays(4, 4)
    with pytest.raises(errors.ParsecError, match="argument `batch_size`"):
        search_dataset(train, search, True)


@pytest.mark.parametrize(
    "num_train, num_search, batch_size, half",
    ((3, 8, 4, "train"), (8, 3, 4, "search"), (2, 2, 3, "train"), (0, 4, 1, "train")),
)
def test_batch_size_larger_than_a_half(num_train, num_search, batch_size, half):
    train, search = split_arrays(num_train, num_search)
    with pytest.raises(errors.InvalidArgumentError, match=rf"argument `batch_size`.*{half} half"):
        search_dataset(train, search, batch_size)


def test_split_feeds_search_dataset():
    images, labels = labelled(20, size=4, channels=3)
    train, search = split_train_search(images, labels, 0.5, seed=1)
    batches = one_epoch(search_dataset(train, search, 5))
    assert len(batches) == 2
    train_ids = set(train[1])
    for (_, y_t), (_, y_s) in batches:
        assert set(y_t) <= train_ids and not set(y_s) & train_ids


def test_epochs_resumed_at_initial_epoch_see_the_same_batches():
    train, search = split_arrays(10, 10)
    full = [b[0][1].numpy().tolist() for b in search_dataset(train, search, 2, seed=3, epochs=3)]
    resumed = [b[0][1].numpy().tolist() for b in search_dataset(train, search, 2, seed=3, epochs=3, initial_epoch=1)]
    assert len(full) == 15 and resumed == full[5:]
    assert full[:5] != full[5:10]  # every epoch has its own order


def test_initial_epoch_outside_the_run_is_refused():
    train, search = split_arrays(4, 4)
    with pytest.raises(errors.InvalidArgumentError, match="argument `initial_epoch`"):
        search_dataset(train, search, 2, epochs=2, initial_epoch=2)


# ---------------------------------------------------------------- the inputs a Keras user passes


def images_and_labels(n=12, size=8):
    rng = np.random.default_rng(0)
    return rng.random((n, size, size, 1)).astype("float32"), (np.arange(n) % 3).astype("int32")


class Batches(keras.utils.PyDataset):
    def __init__(self, x, y, batch_size):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, index):
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.x[part], self.y[part]


@pytest.mark.parametrize(
    "make",
    [
        lambda x, y: (Batches(x, y, 5), None),
        lambda x, y: (((x[i : i + 4], y[i : i + 4]) for i in range(0, len(x), 4)), None),  # a generator of batches
        lambda x, y: (iter(list(zip(x, y))), None),  # an iterator of single examples
        lambda x, y: (x, np.eye(3, dtype="float32")[y]),  # one-hot labels
    ],
    ids=["PyDataset", "generator of batches", "iterator of examples", "one-hot"],
)
def test_every_keras_input_gives_the_arrays_it_holds(make):
    x, y = images_and_labels()
    images, labels = as_arrays(*make(x, y))
    np.testing.assert_array_equal(images, x)
    np.testing.assert_array_equal(labels, y)


@pytest.mark.parametrize(
    "x, y, name, fix",
    [
        (images_and_labels()[0], np.array(["cat", "dog", "owl"] * 4), "`y`", "np.unique"),
        (images_and_labels()[0], np.full((12, 3), 1 / 3, "float32"), "`y`", "argmax"),
        (Batches(*images_and_labels(), 5), images_and_labels()[1], "`y`", "drop y"),
        (iter([1, 2, 3]), None, "`x`", "yield"),
        (iter([]), None, "`x`", "pass examples"),
    ],
    ids=["string labels", "soft labels", "labels beside a PyDataset", "not pairs", "empty generator"],
)
def test_inputs_that_cannot_be_read_say_how_to_convert_them(x, y, name, fix):
    with pytest.raises(errors.ParsecError, match=f"(?s){name}.*{fix}"):
        as_arrays(x, y)


def test_validation_split_holds_out_the_last_examples_and_image_size_resizes_every_part():
    x, y = images_and_labels(40)
    space = kp.SearchSpace(num_cells=2, filters=4)
    train, search, validation, num_classes = prepare_search_data(
        x, y, None, None, 4, None, space, seed=0, validation_split=0.25, image_size=16
    )
    assert num_classes == 3
    assert len(validation[0]) == 10 and len(train[0]) + len(search[0]) == 30
    np.testing.assert_array_equal(validation[1], y[-10:])
    assert {part[0].shape[1:] for part in (train, search, validation)} == {(16, 16, 1)}
    np.testing.assert_allclose(validation[0], tf.image.resize(x[-10:], (16, 16)).numpy(), atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"validation_split": 1.5}, "`validation_split`"),
        ({"validation_split": True}, "`validation_split`"),
        ({"validation_split": 0.01}, "`validation_split`"),  # holds out no example of 40
        ({"validation_split": 0.2, "validation_data": images_and_labels()}, "`validation_split`"),
        ({"image_size": 0}, "`image_size`"),
        ({"image_size": (8, 8, 1)}, "`image_size`"),
    ],
)
def test_bad_validation_split_or_image_size_is_refused(kwargs, name):
    x, y = images_and_labels(40)
    validation_data = kwargs.pop("validation_data", None)
    with pytest.raises(errors.ParsecError, match=name):  # InvalidArgumentError, or InvalidTypeError for a bool
        prepare_search_data(x, y, validation_data, None, 4, None, kp.SearchSpace(num_cells=2, filters=4), 0, **kwargs)
