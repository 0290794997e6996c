"""Tests for keras_parsec.data.preprocessing: pipelines on tfds mock data, augmentation statistics, splits."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from keras_parsec.data import arrays as data
from keras_parsec.data import preprocessing
from keras_parsec.errors import InvalidArgumentError


@pytest.fixture(autouse=True)
def tf_seed():
    tf.random.set_seed(0)


def mock(num_examples=20):
    """tfds' mock data from the builders' code: random examples, no download, no metadata."""
    return tfds.testing.mock_data(num_examples=num_examples, policy=tfds.testing.MockPolicy.USE_CODE)


def draws(function, image, n):
    """`n` independent draws of `function(image)`, run as one tf.data graph (fast)."""
    image = tf.convert_to_tensor(image)
    return next(iter(tf.data.Dataset.from_tensors(image).repeat(n).map(function).batch(n))).numpy()


def arrays(dataset):
    pairs = list(dataset.as_numpy_iterator())
    return np.stack([p[0] for p in pairs]), np.array([p[1] for p in pairs])


# ------------------------------------------------------------------ loading and pipelines


def test_cifar10_pipelines_from_tfds_mock_data():
    with mock(20):
        train, test = preprocessing.cifar10_datasets(batch_size=8)
        train_batches = list(train.as_numpy_iterator())
        test_batches = list(test.as_numpy_iterator())
    assert [x.shape for x, _ in train_batches] == [(8, 32, 32, 3)] * 2  # the partial batch is dropped
    assert [x.shape[0] for x, _ in test_batches] == [8, 8, 4]  # evaluation keeps every example
    for x, y in train_batches + test_batches:
        assert x.dtype == np.float32 and y.dtype == np.int32
        assert y.min() >= 0 and y.max() < 10
    test_images = np.concatenate([x for x, _ in test_batches])
    # Normalised uint8 noise: mean near (0.5 - mean) / std per channel, values within [-mean/std, (1-mean)/std].
    low = -np.array(preprocessing.CIFAR10_MEAN) / np.array(preprocessing.CIFAR10_STD)
    high = (1 - np.array(preprocessing.CIFAR10_MEAN)) / np.array(preprocessing.CIFAR10_STD)
    assert np.all(test_images >= low - 1e-5) and np.all(test_images <= high + 1e-5)


def test_imagenet_pipelines_with_a_manual_dir(tmp_path):
    with mock(6):
        train, validation = preprocessing.imagenet_datasets(batch_size=3, image_size=32, manual_dir=tmp_path)
        (x, y), (xv, yv) = next(iter(train)), next(iter(validation))
    assert x.shape == (3, 32, 32, 3) and xv.shape == (3, 32, 32, 3)
    assert x.dtype == tf.float32 and y.dtype == tf.int32
    assert np.all((yv.numpy() >= 0) & (yv.numpy() < 1000))


def test_load_rejects_a_non_name():
    with pytest.raises(InvalidArgumentError, match="name"):
        preprocessing.load(3)


def test_pipeline_caches_before_augmenting():
    images = np.arange(6 * 8 * 8 * 3, dtype=np.float32).reshape(6, 8, 8, 3)
    dataset = tf.data.Dataset.from_tensor_slices((images, np.arange(6)))
    augment = preprocessing.search_augment(cutout_size=4)
    batched = preprocessing.pipeline(dataset, 6, augment, training=True, cache=True, seed=0)
    (first, labels_1), (second, labels_2) = [next(iter(batched)) for _ in range(2)]
    assert sorted(labels_1.numpy()) == sorted(labels_2.numpy()) == list(range(6))
    assert not np.array_equal(first.numpy(), second.numpy())  # new augmentation each epoch


def test_pipeline_rejects_a_bad_batch_size():
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        preprocessing.pipeline(tf.data.Dataset.range(3), 0, lambda x: x, training=False)


# ------------------------------------------------------------------ the train/search split


@pytest.mark.parametrize("total, fraction, sizes", ((101, 0.5, (51, 50)), (20, 0.5, (10, 10)), (10, 0.2, (8, 2))))
def test_split_sizes_and_no_overlap(total, fraction, sizes):
    train, search = preprocessing.split_dataset(tf.data.Dataset.range(total), fraction)
    train, search = list(train.as_numpy_iterator()), list(search.as_numpy_iterator())
    assert (len(train), len(search)) == sizes
    assert not set(train) & set(search)
    assert sorted(train + search) == list(range(total))


def test_split_of_tfds_mock_data_has_disjoint_halves():
    with mock(20):
        dataset = preprocessing.load("cifar10", "train")
        train, search = preprocessing.split_dataset(dataset, num_examples=20)
        (train_x, _), (search_x, _) = arrays(train), arrays(search)
    assert len(train_x) == len(search_x) == 10
    train_keys = {x.tobytes() for x in train_x}
    assert len(train_keys) == 10 and not train_keys & {x.tobytes() for x in search_x}


@pytest.mark.parametrize("fraction", (0.0, 1.0, 1.5))
def test_split_rejects_bad_fractions(fraction):
    with pytest.raises(InvalidArgumentError, match="search_fraction"):
        preprocessing.split_dataset(tf.data.Dataset.range(10), fraction)


def test_split_needs_a_known_size():
    unknown = tf.data.Dataset.range(10).filter(lambda x: x > 2)
    with pytest.raises(InvalidArgumentError, match="num_examples"):
        preprocessing.split_dataset(unknown)


# ------------------------------------------------------------------ augmentation statistics


def test_normalize_is_per_channel():
    mean = np.array(preprocessing.CIFAR10_MEAN, np.float32)
    image = np.broadcast_to(mean, (4, 4, 3)).copy()
    np.testing.assert_allclose(preprocessing.normalize(image).numpy(), 0.0, atol=1e-6)
    shifted = image + np.array(preprocessing.CIFAR10_STD, np.float32)
    np.testing.assert_allclose(preprocessing.normalize(shifted).numpy(), 1.0, atol=1e-5)
    white = preprocessing.normalize(np.full((2, 2, 3), 255, np.uint8)).numpy()[0, 0]
    np.testing.assert_allclose(white, (1 - mean) / np.array(preprocessing.CIFAR10_STD), rtol=1e-5)


def test_cutout_zeros_one_clipped_square_of_the_expected_mean_area():
    size, side, count = 16, 32, 400
    areas = []
    for image in draws(lambda x: preprocessing.cutout(x, size), tf.ones((side, side, 3)), count):
        zeros = image[:, :, 0] == 0
        rows, cols = np.nonzero(zeros)
        assert len(rows) > 0
        height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert height <= size and width <= size and len(rows) == height * width  # one rectangle
        areas.append(len(rows))
    # Uniform centres, window [c - 8, c + 8) clipped: E[area] = E[clipped length]^2.
    lengths = [min(c + size // 2, side) - max(c - size // 2, 0) for c in range(side)]
    expected = np.mean(lengths) ** 2
    assert np.mean(areas) == pytest.approx(expected, rel=0.08)
    assert max(areas) == size * size


def test_cutout_of_size_zero_is_the_identity():
    image = tf.random.normal((8, 8, 3))
    np.testing.assert_array_equal(preprocessing.cutout(image, 0), image)


def test_random_crop_flip_is_a_shifted_or_mirrored_crop_of_the_padded_image():
    image = np.random.default_rng(0).uniform(1, 2, (8, 8, 3)).astype(np.float32)
    padded = np.pad(image, ((4, 4), (4, 4), (0, 0)))
    crops = {}
    for dy in range(9):
        for dx in range(9):
            crop = padded[dy : dy + 8, dx : dx + 8, :]
            crops[dy, dx, 0], crops[dy, dx, 1] = crop, crop[:, ::-1]
    seen = []
    for out in draws(preprocessing.random_crop_flip, image, 200):
        matches = [key for key, crop in crops.items() if np.array_equal(out, crop)]
        assert len(matches) == 1
        seen.append(matches[0])
    flips = np.mean([flip for _, _, flip in seen])
    assert 0.38 < flips < 0.62
    assert len({(dy, dx) for dy, dx, _ in seen}) > 40  # of 81 offsets


def test_imagenet_train_crop_statistics_and_eval_centre_crop():
    image = tf.cast(tf.random.uniform((60, 80, 3), 0, 256, tf.int32), tf.uint8)
    preprocess = preprocessing.imagenet_train_preprocess(size=24)
    outputs = [preprocess(image, 3) for _ in range(20)]
    assert all(x.shape == (24, 24, 3) and int(y) == 3 for x, y in outputs)
    assert len({x.numpy().tobytes() for x, _ in outputs}) == 20  # random crops
    # Evaluation: resize of the shorter side (here to itself) and the exact centre.
    pattern = np.arange(60 * 80 * 3, dtype=np.float32).reshape(60, 80, 3)
    centre = preprocessing.center_crop(pattern, size=40, resize_to=60).numpy()
    np.testing.assert_allclose(centre, pattern[10:50, 20:60], rtol=1e-5)
    evaluated, _ = preprocessing.imagenet_eval_preprocess(size=24)(image, 0)
    assert evaluated.shape == (24, 24, 3)


def test_random_resized_crop_covers_between_8_and_100_percent():
    # A gradient image: the crop's value range tells which rows it spans.
    rows = np.repeat(np.arange(100, dtype=np.float32)[:, None, None], 100, axis=1).repeat(3, axis=2)
    crops = draws(lambda x: preprocessing.random_resized_crop(x, size=16), rows, 30)
    spans = [crop.max() - crop.min() for crop in crops]
    assert min(spans) > 10 and max(spans) <= 100  # height >= sqrt(0.08 * 3/4) * 100 ~ 24 rows


# ------------------------------------------------------------------ augmentation in a search


def test_search_dataset_augments_both_halves():
    rng = np.random.default_rng(0)
    train = (rng.normal(size=(8, 8, 8, 3)).astype(np.float32), np.arange(8) % 2)
    search = (rng.normal(size=(8, 8, 8, 3)).astype(np.float32), np.arange(8) % 2)
    marked = data.search_dataset(train, search, 4, augment=lambda x, y: (x + 100.0, y))
    for (x_t, _), (x_s, _) in marked.as_numpy_iterator():
        assert x_t.min() > 90 and x_s.min() > 90
    augmented = data.search_dataset(train, search, 4, augment=preprocessing.search_augment(cutout_size=4))
    (x_t, y_t), (x_s, y_s) = next(iter(augmented))
    assert x_t.shape == x_s.shape == (4, 8, 8, 3)
    assert np.any(x_t.numpy() == 0)  # padding or cutout reached the batch


def test_the_old_name_of_split_dataset_still_works_and_warns():
    with pytest.warns(DeprecationWarning, match="split_dataset"):
        train, search = preprocessing.split_train_search(tf.data.Dataset.range(10), 0.5)
    assert [int(v) for v in train] == [0, 1, 2, 3, 4] and [int(v) for v in search] == [5, 6, 7, 8, 9]
