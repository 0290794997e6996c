"""Inputs of a search: the train/search split and the paired batches Algorithm 1 reads."""

import collections.abc

import keras
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


def check_batch_size(batch_size, train, search):
    """Raises unless `batch_size` is a positive int no larger than either half."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise errors.invalid_argument("batch_size", "a positive integer", batch_size, "pass e.g. batch_size=64")
    for name, (images, _) in (("train", train), ("search", search)):
        if len(images) < batch_size:
            raise errors.invalid_argument(
                "batch_size",
                f"at most the size of the {name} half ({len(images)})",
                batch_size,
                "pass a smaller batch_size or more data",
            )


def search_dataset(train, search, batch_size, seed=0, epochs=None, initial_epoch=0, augment=None):
    """Pairs train and search batches as `((x_t, y_t), (x_s, y_s))` for `SuperNet.fit`.

    The search half is cycled, so one epoch is one pass over the train half.
    With `epochs`, each epoch's order depends only on `seed` and the epoch
    number, so a run resumed at `initial_epoch` sees exactly the batches an
    uninterrupted run would.

    Args:
        train: `(images, labels)` arrays of the train half.
        search: `(images, labels)` arrays of the search half.
        batch_size: int, examples per batch of each half.
        seed: int, seed of the per-epoch shuffles.
        epochs: if given, the dataset holds epochs `initial_epoch..epochs-1`
            back to back (pass `steps_per_epoch=len(train) // batch_size` to fit);
            if None, one epoch that reshuffles on every iteration.
        initial_epoch: first epoch held when `epochs` is given.
        augment: optional per-example `(image, label) -> (image, label)` applied
            to both halves after the shuffle (e.g.
            `keras_parsec.data.preprocessing.search_augment(cutout_size=16)`); its
            random draws are not replayed on resume.

    Returns:
        A `tf.data.Dataset` with full batches only.
    """
    check_batch_size(batch_size, train, search)

    def examples(arrays):
        images, labels = arrays
        return tf.data.Dataset.from_tensor_slices((np.asarray(images, np.float32), np.asarray(labels, np.int32)))

    train_examples, search_examples = examples(train), examples(search)

    def one_epoch(epoch_seed, reshuffle):
        def batches(dataset, size, offset):
            shuffled = dataset.shuffle(size, seed=epoch_seed * 2 + offset, reshuffle_each_iteration=reshuffle)
            if augment is not None:
                shuffled = shuffled.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
            return shuffled.batch(batch_size, drop_remainder=True)

        return tf.data.Dataset.zip(
            (batches(train_examples, len(train[0]), 0), batches(search_examples, len(search[0]), 1).repeat())
        )

    if epochs is None:
        return one_epoch(seed, True).prefetch(tf.data.AUTOTUNE)
    if not 0 <= initial_epoch < epochs:
        raise errors.invalid_argument(
            "initial_epoch", f"an epoch in [0, {epochs})", initial_epoch, "pass an epoch before `epochs`"
        )
    # Python-int seeds per epoch: tf.data refuses tensor seeds when no global seed is set.
    dataset = one_epoch(seed * 100003 + initial_epoch, False)
    for epoch in range(initial_epoch + 1, epochs):
        dataset = dataset.concatenate(one_epoch(seed * 100003 + epoch, False))
    return dataset.prefetch(tf.data.AUTOTUNE)


def as_arrays(images, labels=None, name="x"):
    """Images and labels as NumPy arrays from arrays, a `tf.data.Dataset` or a tfds name.

    Args:
        images: array [N, H, W(, C)], a dataset of `(image, label)` (batched or
            not), or the name of a tfds dataset (its "train" split).
        labels: labels [N] when `images` is an array; None otherwise.
        name: argument name used in error messages.

    Returns:
        `(images float32 [N, H, W, C], labels int32 [N])`; uint8 images scaled to [0, 1].
    """
    if isinstance(images, str):
        import tensorflow_datasets as tfds

        images = tfds.load(images, split="train", as_supervised=True)
    if isinstance(images, keras.utils.PyDataset) or _is_iterator(images):
        images, labels = _collect_pairs(images, labels, name)
    if isinstance(images, tf.data.Dataset):
        if labels is not None:
            raise errors.invalid_argument(
                "y", "None when x is a dataset of (image, label)", labels, "drop y: the dataset holds the labels"
            )
        spec = images.element_spec
        if not isinstance(spec, tuple) or len(spec) != 2:
            raise errors.invalid_argument(
                name, "a dataset of (image, label) pairs", spec, "map the dataset to (image, label) tuples"
            )
        if spec[0].shape.rank == 4:
            images = images.unbatch()
        pairs = list(images.as_numpy_iterator())
        if not pairs:
            raise errors.invalid_argument(
                name, "a non-empty dataset", "an empty dataset", "pass a dataset with examples"
            )
        if len({p[0].shape for p in pairs}) > 1:
            shapes = sorted({p[0].shape for p in pairs})[:3]
            raise errors.invalid_argument(name, "images of one shape", f"images of shapes {shapes}", "resize them")
        images, labels = np.stack([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    if labels is None:
        raise errors.invalid_argument("y", "labels for the images", None, f"pass y=, or a dataset of pairs as {name}")
    label_name = "y" if name == "x" else f"{name}[1]"
    images, labels = _array(images, name), _array(labels, label_name)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or min(images.shape, default=0) == 0:
        raise errors.invalid_argument(
            name,
            "a non-empty array of images of shape [N, height, width, channels]",
            images,
            "pass images as [N, H, W, C] (or [N, H, W] for one channel)",
        )
    if not (
        images.dtype == bool or np.issubdtype(images.dtype, np.integer) or np.issubdtype(images.dtype, np.floating)
    ):
        raise errors.invalid_type(name, "real-valued pixels (uint8 or float)", images.dtype, "convert the images")
    if labels.dtype.kind in "USO":
        raise errors.invalid_type(
            label_name,
            "integer class indices",
            f"labels of dtype {labels.dtype} (e.g. {labels.flat[0]!r})",
            "convert names to indices: classes, y = np.unique(labels, return_inverse=True)",
        )
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    elif labels.ndim == 2 and labels.shape[1] > 1 and len(labels) == len(images):
        labels = _from_one_hot(labels, label_name)
    if labels.ndim != 1 or len(labels) != len(images):
        raise errors.invalid_argument(
            label_name,
            f"one integer label per image ({len(images)} images)",
            labels,
            "pass one class index per image, in the order of the images",
        )
    if not np.issubdtype(labels.dtype, np.integer):
        if np.issubdtype(labels.dtype, np.floating) and not np.all(np.isfinite(labels)):
            raise errors.invalid_argument(
                label_name, "finite class labels", "NaN or infinite labels", "drop the unlabelled examples"
            )
        if not (np.issubdtype(labels.dtype, np.floating) and np.all(np.mod(labels, 1) == 0)):
            raise errors.invalid_type(
                label_name, "integer class labels", labels.dtype, "pass class indices, not one-hot or names"
            )
    if images.dtype == np.uint8:
        images = images.astype(np.float32) / 255.0
    images = images.astype(np.float32)
    if not np.all(np.isfinite(images)):
        raise errors.invalid_argument(
            name, "finite pixel values", "NaN or infinite values", "replace or drop the examples that hold them"
        )
    return images, labels.astype(np.int32)


def _is_iterator(value):
    """A Python generator or iterator (not an array, a string or a dataset)."""
    return isinstance(value, collections.abc.Iterator) and not isinstance(value, (np.ndarray, str, tf.data.Dataset))


def _collect_pairs(source, labels, name):
    """The `(images, labels)` batches or examples of a `PyDataset` or generator, as two arrays."""
    if labels is not None:
        raise errors.invalid_argument(
            "y", f"None when x is a {type(source).__name__} of (images, labels)", labels, "drop y"
        )
    batches = (source[i] for i in range(len(source))) if isinstance(source, keras.utils.PyDataset) else source
    pairs = []
    for item in batches:
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            raise errors.invalid_argument(
                name, "(images, labels) pairs", type(item).__name__, "yield (images, labels) from each step"
            )
        pairs.append((np.asarray(item[0]), np.asarray(item[1])))
    if not pairs:
        raise errors.invalid_argument(name, "a non-empty source of (images, labels)", "nothing", "pass examples")
    rank = pairs[0][0].ndim
    images = np.concatenate([p[0] for p in pairs]) if rank == 4 else np.stack([p[0] for p in pairs])
    labels = np.concatenate([p[1] for p in pairs]) if rank == 4 else np.stack([p[1] for p in pairs])
    return images, labels


def _from_one_hot(labels, name):
    """Class indices of one-hot rows; a typed error for soft or multi-hot labels."""
    if not (np.isin(labels, (0, 1)).all() and (labels.sum(axis=1) == 1).all()):
        raise errors.invalid_argument(
            name,
            "one class per example: indices, or one-hot rows",
            "rows that are not one-hot (soft or multi-label targets)",
            "pass y.argmax(axis=1) if each example has one class",
        )
    return labels.argmax(axis=1)


def resize(images, image_size, name="image_size"):
    """`images` [N, H, W, C] resized to `image_size` (an int side or `(height, width)`), bilinear."""
    size = image_size_pair(image_size, name)
    if tuple(images.shape[1:3]) == size:
        return images
    return tf.image.resize(images, size).numpy().astype(np.float32)


def image_size_pair(image_size, name="image_size"):
    """`(height, width)` of `image_size` (an int side or a pair); a typed error for anything else."""
    size = (image_size, image_size) if isinstance(image_size, (int, np.integer)) else tuple(image_size or ())
    if len(size) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in size):
        raise errors.invalid_argument(name, "a positive int or (height, width)", image_size, "pass image_size=32")
    return tuple(int(v) for v in size)


def _array(value, name):
    """`np.asarray(value)`, or a typed error for ragged or unconvertible input."""
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as e:
        raise errors.invalid_type(name, "an array (equal-length rows)", value, "pass a NumPy array") from e


def check_split_and_classes(validation_split, validation_data, num_classes):
    """Raises unless `validation_split` is None or a fraction (without `validation_data`) and `num_classes` >= 2."""
    if validation_split is not None:
        if validation_data is not None:
            raise errors.invalid_argument(
                "validation_split", "None when validation_data is given", validation_split, "pass only one of them"
            )
        if isinstance(validation_split, bool) or not isinstance(validation_split, (float, int)):
            raise errors.invalid_type("validation_split", "a float in (0, 1)", validation_split, "e.g. 0.1")
        if not 0 < validation_split < 1:
            raise errors.invalid_argument("validation_split", "a float in (0, 1)", validation_split, "e.g. 0.1")
    if num_classes is not None and (
        isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 2
    ):
        raise errors.invalid_argument(
            "num_classes", "an integer of at least 2, or None", num_classes, "pass the number of classes, or None"
        )


def prepare_search_data(
    x, y, validation_data, search_data, batch_size, num_classes, space, seed, validation_split=None, image_size=None
):
    """Checks and splits a search's inputs before any expensive work.

    `validation_split` holds out the last fraction of `x` (as Keras' `fit`
    does) before the train/search split; `image_size` resizes every part.

    Returns:
        `(train, search, validation, num_classes)`, each part an `(images, labels)` pair.
    """
    check_split_and_classes(validation_split, validation_data, num_classes)
    images, labels = as_arrays(x, y, "x")
    if image_size is not None:
        images = resize(images, image_size)
    if validation_split is not None:
        held = int(len(images) * validation_split)
        if held < 1 or held >= len(images):
            raise errors.invalid_argument(
                "validation_split", f"a fraction that holds out 1 to {len(images) - 1} examples", validation_split
            )
        validation_data = (images[-held:], labels[-held:])
        images, labels = images[:-held], labels[:-held]
    if search_data is None:
        train, search = split_train_search(images, labels, seed=seed)
    else:
        train, search = (images, labels), as_arrays(*as_pair(search_data, "search_data"), name="search_data")
    validation = (
        as_arrays(*as_pair(validation_data, "validation_data"), "validation_data")
        if validation_data is not None
        else search
    )
    if image_size is not None:
        search = resize(search[0], image_size, "image_size"), search[1]  # unchanged where already resized
        validation = resize(validation[0], image_size, "image_size"), validation[1]
    parts = {"x": train, "search_data": search, "validation_data": validation}
    largest = max(int(p[1].max()) for p in parts.values())
    if num_classes is None:
        num_classes = max(largest + 1, 2)
    for part, (images, labels) in parts.items():
        if labels.min() < 0 or labels.max() >= num_classes:
            raise errors.invalid_argument(
                "y" if part == "x" else part,
                f"labels in [0, {num_classes})",
                f"labels in [{labels.min()}, {labels.max()}]",
                "pass num_classes= or fix the labels",
            )
        if images.shape[1:] != train[0].shape[1:]:
            raise errors.invalid_argument(
                part, f"images of shape {train[0].shape[1:]} like x", images, "resize them to the shape of x"
            )
    smallest = min(train[0].shape[1:3])
    needed = 2 ** len(space.reduction_indices)
    if smallest < needed:
        raise errors.invalid_argument(
            "x",
            f"images of at least {needed}x{needed} pixels for {len(space.reduction_indices)} reduction cells",
            f"{train[0].shape[1]}x{train[0].shape[2]} images",
            "resize the images or use fewer cells",
        )
    check_batch_size(batch_size, train, search)
    return train, search, validation, num_classes


def as_pair(value, name):
    """`(images, labels)` of a `search_data=`/`validation_data=` value: a pair, or `(dataset or tfds name, None)`."""
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return value
    if isinstance(value, (tf.data.Dataset, str)):
        return value, None
    raise errors.invalid_argument(
        name, "an (images, labels) pair or a dataset of pairs", value, f"pass {name}=(images, labels)"
    )


def load_digits_images():
    """scikit-learn's 8x8 digits (offline) as float32 images [1797, 8, 8, 1] in [0, 1] and int labels.

    Returns:
        `(images, labels)`.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise ImportError(
            "The digits dataset comes from scikit-learn: `pip install scikit-learn` "
            "(or `pip install keras-parsec[examples]`)."
        ) from e
    digits = load_digits()
    return (digits.images[..., None] / 16.0).astype(np.float32), digits.target.astype(np.int32)
