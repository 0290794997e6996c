"""Inputs of a search: the train/search split and the paired batches Algorithm 1 reads."""

import numpy as np
import tensorflow as tf

from keras_parsec import errors


def split_train_search(images, labels, search_fraction=0.5, seed=0):
    """Splits arrays into disjoint train and search halves (paper 4.1: 50/50).

    Args:
        images: array [N, H, W, C].
        labels: int array [N].
        search_fraction: fraction of the examples that go to the search half.
        seed: int, seed of the shuffle before the split.

    Returns:
        `((train_images, train_labels), (search_images, search_labels))`.
    """
    images, labels = np.asarray(images), np.asarray(labels)
    if len(images) != len(labels):
        raise errors.invalid_argument(
            "labels",
            f"one label per image ({len(images)} images)",
            f"{len(labels)} labels",
            "pass images and labels of the same length",
        )
    if not 0.0 < search_fraction < 1.0:
        raise errors.invalid_argument(
            "search_fraction", "a float strictly between 0 and 1", search_fraction, "use 0.5 as in the paper"
        )
    order = np.random.default_rng(seed).permutation(len(images))
    cut = len(images) - int(round(len(images) * search_fraction))
    if cut < 1 or cut >= len(images):
        raise errors.invalid_argument(
            "images", "at least one example in each half", f"{len(images)} examples", "pass more data"
        )
    train, search = order[:cut], order[cut:]
    return (images[train], labels[train]), (images[search], labels[search])


def search_dataset(train, search, batch_size, seed=0):
    """Pairs train and search batches as `((x_t, y_t), (x_s, y_s))` for `SuperNet.fit`.

    The search half is cycled, so one epoch is one pass over the train half.

    Args:
        train: `(images, labels)` arrays of the train half.
        search: `(images, labels)` arrays of the search half.
        batch_size: int, examples per batch of each half.
        seed: int, seed of the per-epoch shuffles.

    Returns:
        A `tf.data.Dataset` with full batches only.
    """
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise errors.invalid_argument("batch_size", "a positive integer", batch_size)
    for name, (images, _) in (("train", train), ("search", search)):
        if len(images) < batch_size:
            raise errors.invalid_argument(
                "batch_size",
                f"at most the size of the {name} half ({len(images)})",
                batch_size,
                "pass a smaller batch_size or more data",
            )

    def batches(arrays, offset):
        images, labels = arrays
        dataset = tf.data.Dataset.from_tensor_slices((np.asarray(images, np.float32), np.asarray(labels, np.int32)))
        return dataset.shuffle(len(images), seed=seed + offset, reshuffle_each_iteration=True).batch(
            batch_size, drop_remainder=True
        )

    return tf.data.Dataset.zip((batches(train, 0), batches(search, 1).repeat())).prefetch(tf.data.AUTOTUNE)
