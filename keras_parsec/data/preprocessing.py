"""Input pipelines of the paper's experiments: tfds loading, CIFAR and ImageNet preprocessing.

Everything returns `tf.data` pipelines (decoded lazily, cached where it fits,
prefetched), so ImageNet is never read into memory.

```python
train, test = kp.preprocessing.cifar10_datasets(batch_size=96)           # crop, flip, cutout 16
train, val = kp.preprocessing.imagenet_datasets(128, manual_dir="~/imagenet")
```

Augmentations follow DARTS' `_data_transforms_cifar10` and `train_imagenet.py`:
CIFAR-10 training is pad 4 + random 32x32 crop, horizontal flip, per-channel
normalisation, then cutout (zeros in normalised space); ImageNet training is a
random resized crop (8%-100% of the area, aspect 3/4-4/3) to 224, flip and
normalisation, evaluation a resize of the shorter side to 256 and a centre crop.
"""

import warnings

import numpy as np
import tensorflow as tf

from keras_parsec.errors import invalid_argument

CIFAR10_MEAN = (0.49139968, 0.48215827, 0.44653124)
CIFAR10_STD = (0.24703233, 0.24348505, 0.26158768)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
AUTOTUNE = tf.data.AUTOTUNE


def load(name, split="train", data_dir=None, manual_dir=None, shuffle_files=False):
    """A tfds dataset of `(image uint8 [H, W, 3], label int64)` in its stored order.

    Args:
        name: tfds name, e.g. "cifar10" or "imagenet2012".
        split: tfds split ("train", "test", "validation", or a slice).
        data_dir: tfds data directory (default: tfds' own).
        manual_dir: directory holding manually downloaded archives
            (imagenet2012: `ILSVRC2012_img_train.tar` and `ILSVRC2012_img_val.tar`).
        shuffle_files: read the split's files in a random order (large
            datasets); False keeps the stored order that `split_dataset` needs.

    Returns:
        A `tf.data.Dataset`.
    """
    import tensorflow_datasets as tfds

    if not isinstance(name, str) or not name:
        raise invalid_argument("name", "a tfds dataset name", name, 'pass e.g. "cifar10" or "imagenet2012"')
    prepare = {}
    if manual_dir is not None:
        prepare["download_config"] = tfds.download.DownloadConfig(manual_dir=str(manual_dir))
    return tfds.load(
        name,
        split=split,
        as_supervised=True,
        shuffle_files=shuffle_files,
        data_dir=data_dir,
        download_and_prepare_kwargs=prepare or None,
    )


def load_arrays(name, split="train", data_dir=None, manual_dir=None, num_examples=None):
    """A tfds split as NumPy arrays `(images uint8 [N, H, W, C], labels int32 [N])`, for datasets that fit in memory.

    Args:
        name, split, data_dir, manual_dir: as in `load`.
        num_examples: read only the first `num_examples` examples.

    Returns:
        `(images, labels)`.
    """
    dataset = load(name, split, data_dir, manual_dir)
    if num_examples is not None:
        dataset = dataset.take(int(num_examples))
    images, labels = [], []
    for x, y in dataset.batch(4096).as_numpy_iterator():
        images.append(x)
        labels.append(y)
    if not images:
        raise invalid_argument("split", "a non-empty split", split)
    return np.concatenate(images), np.concatenate(labels).astype(np.int32)


def split_dataset(dataset, search_fraction=0.5, num_examples=None):
    """Disjoint train and search halves of a `tf.data.Dataset` in a fixed order (paper 4.1: 50/50).

    The arrays' version is `keras_parsec.split_train_search`; this one was also
    called `split_train_search` before 0.3.0 (that name still works, with a
    `DeprecationWarning`).

    The first `1 - search_fraction` of the examples are the train half, the
    rest the search half; nothing is read until the pipelines run.

    Args:
        dataset: an unbatched `tf.data.Dataset` in a deterministic order.
        search_fraction: fraction of the examples in the search half.
        num_examples: number of examples, when the dataset's cardinality is unknown.

    Returns:
        `(train, search)` datasets.
    """
    if not 0.0 < search_fraction < 1.0:
        raise invalid_argument("search_fraction", "a float strictly between 0 and 1", search_fraction, "use 0.5")
    total = int(dataset.cardinality()) if num_examples is None else int(num_examples)
    if total < 2:
        raise invalid_argument(
            "num_examples", "a known count of at least 2 examples", total, "pass num_examples= for this dataset"
        )
    cut = total - int(round(total * search_fraction))
    cut = min(max(cut, 1), total - 1)
    return dataset.take(cut), dataset.skip(cut).take(total - cut)


def split_train_search(dataset, search_fraction=0.5, num_examples=None):
    """Deprecated name of `split_dataset` (the arrays' `keras_parsec.split_train_search` is another function)."""
    warnings.warn(
        "keras_parsec.preprocessing.split_train_search is now split_dataset (keras-parsec 0.3.0); "
        "the old name goes in 0.4.0",
        DeprecationWarning,
        stacklevel=2,
    )
    return split_dataset(dataset, search_fraction, num_examples)


def normalize(image, mean=CIFAR10_MEAN, std=CIFAR10_STD):
    """uint8 (or [0, 1] float) image to float32 with zero mean and unit variance per channel."""
    image = tf.image.convert_image_dtype(image, tf.float32) if image.dtype == tf.uint8 else tf.cast(image, tf.float32)
    return (image - tf.constant(mean, tf.float32)) / tf.constant(std, tf.float32)


def random_crop_flip(image, padding=4):
    """Zero-pads `padding` pixels on each side, crops back to the original size at random, flips half."""
    shape = tf.shape(image)
    padded = tf.pad(image, [[padding, padding], [padding, padding], [0, 0]])
    image = tf.image.random_crop(padded, shape)
    return tf.image.random_flip_left_right(image)


def cutout(image, size=16):
    """Zeros a `size` x `size` square (clipped at the borders) centred at a uniform random pixel (DeVries 2017)."""
    if size <= 0:
        return image
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    y = tf.random.uniform([], 0, height, tf.int32)
    x = tf.random.uniform([], 0, width, tf.int32)
    rows = tf.range(height)[:, None]
    cols = tf.range(width)[None, :]
    # DARTS' window [y - size/2, y + size/2), clipped by the image borders.
    inside_rows = (rows >= y - size // 2) & (rows < y + size - size // 2)
    inside_cols = (cols >= x - size // 2) & (cols < x + size - size // 2)
    mask = tf.cast(~(inside_rows & inside_cols), image.dtype)
    return image * mask[:, :, None]


def cifar_train_preprocess(cutout_size=16, mean=CIFAR10_MEAN, std=CIFAR10_STD):
    """Per-example training transform `(image, label) -> (image, label)`: crop, flip, normalise, cutout."""

    def preprocess(image, label):
        image = random_crop_flip(normalize(image, mean, std))
        return cutout(image, cutout_size), tf.cast(label, tf.int32)

    return preprocess


def cifar_eval_preprocess(mean=CIFAR10_MEAN, std=CIFAR10_STD):
    """Per-example evaluation transform: normalisation only."""

    def preprocess(image, label):
        return normalize(image, mean, std), tf.cast(label, tf.int32)

    return preprocess


def search_augment(cutout_size=0, padding=4):
    """Per-example augmentation of already normalised search batches (crop, flip, optional cutout).

    For `ParsecTuner.search(..., augment=...)` / `search_dataset(..., augment=...)`:
    the arrays a search reads are normalised once, and each epoch augments them anew.
    """

    def augment(image, label):
        return cutout(random_crop_flip(image, padding), cutout_size), label

    return augment


def random_resized_crop(image, size=224, area=(0.08, 1.0), aspect_ratio=(3 / 4, 4 / 3)):
    """A random crop of 8%-100% of the area and aspect 3/4-4/3, resized to `size` x `size`."""
    begin, crop_size, _ = tf.image.sample_distorted_bounding_box(
        tf.shape(image),
        bounding_boxes=tf.zeros([1, 0, 4]),
        min_object_covered=0.0,
        aspect_ratio_range=aspect_ratio,
        area_range=area,
        max_attempts=10,
        use_image_if_no_bounding_boxes=True,
    )
    crop = tf.slice(image, begin, crop_size)
    return tf.image.resize(crop, (size, size), antialias=True)


def center_crop(image, size=224, resize_to=None):
    """Resizes the shorter side to `resize_to` (default `size / 0.875`, 256 for 224) and crops the centre."""
    resize_to = resize_to or int(round(size / 0.875))
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = resize_to / tf.reduce_min(shape)
    new_shape = tf.cast(tf.round(shape * scale), tf.int32)
    image = tf.image.resize(image, new_shape, antialias=True)
    return tf.image.resize_with_crop_or_pad(image, size, size)


def imagenet_train_preprocess(size=224):
    """Per-example ImageNet training transform: random resized crop, flip, normalisation."""

    def preprocess(image, label):
        image = random_resized_crop(tf.image.convert_image_dtype(image, tf.float32), size)
        image = tf.image.random_flip_left_right(image)
        return normalize(image, IMAGENET_MEAN, IMAGENET_STD), tf.cast(label, tf.int32)

    return preprocess


def imagenet_eval_preprocess(size=224):
    """Per-example ImageNet evaluation transform: resize, centre crop, normalisation."""

    def preprocess(image, label):
        image = center_crop(tf.image.convert_image_dtype(image, tf.float32), size)
        return normalize(image, IMAGENET_MEAN, IMAGENET_STD), tf.cast(label, tf.int32)

    return preprocess


def pipeline(dataset, batch_size, preprocess, training, cache=False, shuffle_buffer=10_000, seed=None):
    """Batches `dataset` through `preprocess` for `model.fit`: cache, shuffle, map, batch, prefetch.

    Args:
        dataset: an unbatched dataset of `(image, label)`.
        batch_size: examples per batch.
        preprocess: per-example `(image, label) -> (image, label)`.
        training: shuffle and drop the last partial batch when True.
        cache: False, True (in memory) or a file path; the cache holds the
            decoded examples before augmentation, so each epoch augments anew.
        shuffle_buffer: examples in the shuffle buffer.
        seed: seed of the shuffle.

    Returns:
        A batched, prefetched `tf.data.Dataset`.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise invalid_argument("batch_size", "a positive int", batch_size)
    if cache:
        dataset = dataset.cache("" if cache is True else str(cache))
    if training:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(preprocess, num_parallel_calls=AUTOTUNE)
    return dataset.batch(int(batch_size), drop_remainder=training).prefetch(AUTOTUNE)


def cifar10_datasets(batch_size=96, cutout_size=16, data_dir=None, seed=None, name="cifar10"):
    """CIFAR-10 train (augmented, cached) and test pipelines for the final training.

    Returns:
        `(train, test)` batched datasets of normalised images and int32 labels.
    """
    train = load(name, "train", data_dir)
    test = load(name, "test", data_dir)
    return (
        pipeline(train, batch_size, cifar_train_preprocess(cutout_size), True, cache=True, seed=seed),
        pipeline(test, batch_size, cifar_eval_preprocess(), False, cache=True),
    )


def imagenet_datasets(
    batch_size=128, image_size=224, data_dir=None, manual_dir=None, seed=None, cache=False, shuffle_buffer=1_000
):
    """ImageNet (tfds `imagenet2012`) train and validation pipelines, read from disk as they run.

    Args:
        batch_size: examples per batch.
        image_size: side of the crops (224).
        data_dir: tfds data directory.
        manual_dir: folder with the ImageNet archives (tfds cannot download them).
        seed: seed of the shuffle.
        cache: cache the decoded validation images (a path for a file cache).
        shuffle_buffer: decoded training images held for shuffling (about
            0.5 MB each), on top of reading the files in a random order.

    Returns:
        `(train, validation)` batched datasets.
    """
    train = load("imagenet2012", "train", data_dir, manual_dir, shuffle_files=True)
    validation = load("imagenet2012", "validation", data_dir, manual_dir)
    return (
        pipeline(
            train, batch_size, imagenet_train_preprocess(image_size), True, shuffle_buffer=shuffle_buffer, seed=seed
        ),
        pipeline(validation, batch_size, imagenet_eval_preprocess(image_size), False, cache=cache),
    )
