"""Streamed inputs of a search: a `tf.data.Dataset` split, normalised and batched as it is read.

`ParsecTuner.search` takes this path for a `tf.data.Dataset` (or a tfds name)
instead of reading it into arrays (`arrays.as_arrays`), so the memory a search
holds is its shuffle buffers and prefetched batches, whatever the dataset's
size. The pieces mirror the arrays' path:

- the split: with a known number of examples N, example i goes to the search
  half exactly when `split_train_search` would put it there for the same N and
  seed (a boolean mask of N bytes is the only thing that grows with N); with an
  unknown or infinite size, a hash of `(seed, i)` picks about half of them;
- the batches: each half is read in passes, each shuffled through a buffer of
  `shuffle_buffer` examples: pass p of a half of known size with a seed of
  `(seed, p)`, so a resumed run reads the same batches as an uninterrupted one
  (a half of unknown size is reshuffled at each pass from one seed);
- the examples: uint8 images scaled to [0, 1], grey images given a channel,
  `image_size` resizing, labels as class indices or one-hot rows, as
  `as_arrays` does; what `as_arrays` checks on every example before the search
  (labels in range, one-hot rows, finite pixels) is checked as each is read.
"""

from typing import NamedTuple

import numpy as np
import tensorflow as tf

from keras_parsec import errors
from keras_parsec.data import arrays, examples

DEFAULT_SHUFFLE_BUFFER = 1024
_SEARCH_FRACTION = 0.5  # paper 4.1, as prepare_search_data


class StreamedHalf(NamedTuple):
    """One half of a streamed split: unbatched `(image, label)` as the user gave them, and their count.

    `num_examples` is None for a dataset of unknown or infinite size.
    """

    examples: tf.data.Dataset
    num_examples: int | None


class StreamedData(NamedTuple):
    """A streamed search's inputs, checked: what `search_batches` and the tuner read."""

    train: StreamedHalf
    search: StreamedHalf
    validation: tf.data.Dataset
    num_classes: int
    input_shape: tuple
    steps_per_epoch: int
    shuffle_buffer: int
    normalize: object  # per-example `(image, label) -> (float32 image, int32 label)`


def is_stream(x) -> bool:
    """Whether `search(x)` streams `x`: a `tf.data.Dataset` or a tfds name."""
    return isinstance(x, (tf.data.Dataset, str))


def prepare_streamed_data(
    x,
    y,
    validation_data,
    search_data,
    batch_size,
    num_classes,
    space,
    seed,
    validation_split=None,
    image_size=None,
    steps_per_epoch=None,
    shuffle_buffer=DEFAULT_SHUFFLE_BUFFER,
):
    """Checks and splits a streamed search's inputs; reads at most a few examples, or one label scan.

    Arguments as `arrays.prepare_search_data`, plus:
        steps_per_epoch: batches per epoch; default: the train half's full
            batches, which needs a known size. Required for a dataset of
            unknown or infinite cardinality (or declare its size with
            `dataset.apply(tf.data.experimental.assert_cardinality(n))`).
        shuffle_buffer: examples held by each half's shuffle buffer.

    The number of classes comes from `num_classes`, the width of one-hot
    labels, or a tfds dataset's info; failing those, one pass over the labels
    (streamed, nothing kept) finds the largest; a dataset of unknown size then
    needs `num_classes=`. A batched dataset whose last batch may be partial is
    counted by one such pass too. The mode is scored on `validation_data`,
    the held-out `validation_split`, or the search half: all of it, or for a
    dataset of unknown size its first `steps_per_epoch * batch_size` examples.

    Returns:
        A `StreamedData`.
    """
    arrays.check_split_and_classes(validation_split, validation_data, num_classes)
    steps_per_epoch = _check_positive("steps_per_epoch", steps_per_epoch, "e.g. steps_per_epoch=1000", optional=True)
    shuffle_buffer = _check_positive("shuffle_buffer", shuffle_buffer, "e.g. shuffle_buffer=1024")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise errors.invalid_argument("batch_size", "a positive integer", batch_size, "pass e.g. batch_size=64")
    source, info_classes = _load(x, y)
    source, image_spec, label_spec, num_examples = examples.unbatched(source, "x")
    if num_examples is None and steps_per_epoch is None:
        raise errors.invalid_argument(
            "steps_per_epoch",
            "a positive integer for a dataset of unknown or infinite cardinality",
            None,
            "pass steps_per_epoch=, or declare the size with "
            "dataset.apply(tf.data.experimental.assert_cardinality(num_examples))",
        )
    one_hot = examples.is_one_hot(label_spec)
    num_classes = examples.num_classes_of(num_classes, one_hot and int(label_spec.shape[0]), info_classes)
    if num_classes is None or num_examples == "scan":
        if num_examples is None:
            raise errors.invalid_argument(
                "num_classes",
                "the number of classes for a dataset of unknown or infinite size (its labels cannot be scanned)",
                None,
                "pass num_classes=",
            )
        num_examples, largest = examples.scan_labels(source)
        num_classes = num_classes or max(largest + 1, 2)
    input_shape = examples.input_shape_of(image_spec, image_size, "x")
    normalize = examples.normalizer(input_shape, num_classes, image_size)

    validation = None
    if validation_split is not None:
        if num_examples is None:
            raise errors.invalid_argument(
                "validation_split",
                "None for a dataset of unknown or infinite size (the last examples cannot be found)",
                validation_split,
                "pass validation_data=, or declare the size with tf.data.experimental.assert_cardinality",
            )
        held = int(num_examples * validation_split)
        if held < 1 or held >= num_examples:
            raise errors.invalid_argument(
                "validation_split", f"a fraction that holds out 1 to {num_examples - 1} examples", validation_split
            )
        validation = StreamedHalf(source.skip(num_examples - held), held)
        source, num_examples = source.take(num_examples - held), num_examples - held
    if search_data is None:
        train, search = split_stream(source, num_examples, seed)
    else:
        train = StreamedHalf(source, num_examples)
        search = _other_part(search_data, "search_data", input_shape, image_size, num_classes)
    for name, half in (("train", train), ("search", search)):
        if half.num_examples is not None and half.num_examples < batch_size:
            raise errors.invalid_argument(
                "batch_size",
                f"at most the size of the {name} half ({half.num_examples})",
                batch_size,
                "pass a smaller batch_size or more data",
            )
        if half.num_examples is None:
            _peek(half.examples, name)
    steps_per_epoch = steps_per_epoch or train.num_examples // batch_size
    if validation_data is not None:
        validation = _other_part(validation_data, "validation_data", input_shape, image_size, num_classes)
    elif validation is None:
        validation = search
        if search.num_examples is None:  # maybe endless: the same first examples every epoch, cycled if fewer
            scored = steps_per_epoch * batch_size
            validation = StreamedHalf(search.examples.repeat().take(scored), scored)
    needed = 2 ** len(space.reduction_indices)
    if min(input_shape[:2]) < needed:
        raise errors.invalid_argument(
            "x",
            f"images of at least {needed}x{needed} pixels for {len(space.reduction_indices)} reduction cells",
            f"{input_shape[0]}x{input_shape[1]} images",
            "resize the images or use fewer cells",
        )
    return StreamedData(
        train,
        search,
        _validation_batches(validation, normalize, batch_size),
        int(num_classes),
        input_shape,
        steps_per_epoch,
        shuffle_buffer,
        normalize,
    )


def _validation_batches(half, normalize, batch_size):
    """The batches the mode is scored on, of known number where the half's size is (Keras warns otherwise)."""
    batches = half.examples.map(normalize, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size)
    if half.num_examples is not None:
        batches = batches.apply(tf.data.experimental.assert_cardinality(-(-half.num_examples // batch_size)))
    return batches.prefetch(tf.data.AUTOTUNE)


def split_stream(dataset, num_examples, seed=0):
    """The train and search halves of an unbatched dataset, by example index, without reading it.

    With `num_examples` known, the halves hold the examples `split_train_search`
    puts in them for the same count and seed (in the dataset's order, not the
    permutation's); with `num_examples=None`, example i is in the search half
    when a uniform draw seeded by `(seed, i)` is below one half.

    Returns:
        `(train, search)` `StreamedHalf`s.
    """
    if num_examples is None:
        key = tf.constant(int(seed), tf.int64)

        def in_search(index, example):
            del example
            return tf.random.stateless_uniform([], seed=tf.stack([key, index])) < _SEARCH_FRACTION

        def half(wanted):
            kept = dataset.enumerate().filter(lambda i, e: tf.equal(in_search(i, e), wanted))
            return StreamedHalf(kept.map(lambda i, e: e), None)

        return half(False), half(True)
    order = np.random.default_rng(seed).permutation(num_examples)
    cut = num_examples - int(round(num_examples * _SEARCH_FRACTION))
    if cut < 1 or cut >= num_examples:
        raise errors.invalid_argument(
            "x", "at least one example in each half", f"{num_examples} examples", "pass more data"
        )
    mask = np.zeros(num_examples, bool)
    mask[order[cut:]] = True
    mask = tf.constant(mask)

    def part(wanted):
        kept = dataset.enumerate().filter(lambda i, e: tf.equal(mask[i], wanted))
        return kept.map(lambda i, e: e)

    return StreamedHalf(part(False), cut), StreamedHalf(part(True), num_examples - cut)


def search_batches(data, batch_size, seed=0, epochs=1, initial_epoch=0, augment=None):
    """Paired batches `((x_t, y_t), (x_s, y_s))` of epochs `initial_epoch..epochs-1`, for `SuperNet.fit`.

    Each half is a stream of passes through the shuffle buffer. For a half of
    known size pass p is shuffled with a seed of `(seed, p)` and cut into full
    batches (for one of unknown size, passes run into each other, reshuffled
    from one seed),
    so that with the default `steps_per_epoch` epoch e of the train half is its
    pass e, as in `arrays.search_dataset`. The search half runs on across
    epochs instead of restarting. A resumed run skips the examples of the
    batches before `initial_epoch` (reading them again, at most one pass of a
    half of known size).

    Args:
        data: a `StreamedData`.
        batch_size: examples per batch of each half.
        seed: int, seed of the shuffles.
        epochs: epochs of the whole run.
        initial_epoch: the first epoch held.
        augment: optional per-example `(image, label) -> (image, label)` after normalisation.

    Returns:
        A `tf.data.Dataset` of `(epochs - initial_epoch) * data.steps_per_epoch` batch pairs.
    """
    if not 0 <= initial_epoch < epochs:
        raise errors.invalid_argument(
            "initial_epoch", f"an epoch in [0, {epochs})", initial_epoch, "pass an epoch before `epochs`"
        )
    start, count = initial_epoch * data.steps_per_epoch, (epochs - initial_epoch) * data.steps_per_epoch

    def batches(half, offset):
        return _batches(half, data.normalize, batch_size, seed * 2 + offset, start, count, data.shuffle_buffer, augment)

    pairs = tf.data.Dataset.zip((batches(data.train, 0), batches(data.search, 1)))
    return pairs.apply(tf.data.experimental.assert_cardinality(count)).prefetch(tf.data.AUTOTUNE)


def _batches(half, normalize, batch_size, seed, start, count, buffer, augment):
    """Batches `start..start+count-1` of a half read in seeded passes."""

    def batched(items):
        items = items.map(normalize, num_parallel_calls=tf.data.AUTOTUNE)
        if augment is not None:
            items = items.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
        return items.batch(batch_size, drop_remainder=True)

    # Python-int seeds: tf.data refuses tensor seeds once a global seed is set (the tuner sets one per run).
    if half.num_examples is None:  # passes run into each other; an infinite dataset is one pass
        stream = half.examples.shuffle(buffer, seed=seed * 100003, reshuffle_each_iteration=True).repeat()
        return batched(stream.skip(start * batch_size)).take(count)
    per_pass = half.num_examples // batch_size
    first, last = start // per_pass, (start + count - 1) // per_pass
    stream = None
    for number in range(first, last + 1):
        one_pass = half.examples.shuffle(buffer, seed=seed * 100003 + number, reshuffle_each_iteration=False)
        one_pass = batched(one_pass.skip((start % per_pass) * batch_size if number == first else 0))
        stream = one_pass if stream is None else stream.concatenate(one_pass)
    return stream.take(count)


def _check_positive(name, value, fix, optional=False):
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise errors.invalid_argument(name, "a positive integer" + (" or None" if optional else ""), value, fix)
    return int(value)


def _load(x, y):
    """The dataset `x` names, and its number of classes when tfds knows it."""
    if y is not None:
        raise errors.invalid_argument(
            "y", "None when x is a dataset of (image, label)", y, "drop y: the dataset holds the labels"
        )
    if not isinstance(x, str):
        return x, None
    import tensorflow_datasets as tfds

    dataset, info = tfds.load(x, split="train", as_supervised=True, with_info=True)
    keys = info.supervised_keys
    label = info.features[keys[1]] if keys and isinstance(keys[1], str) else None
    return dataset, getattr(label, "num_classes", None)


def _other_part(value, name, input_shape, image_size, num_classes):
    """`search_data` or `validation_data` of a streamed search, as a streamed half of the same images."""
    if isinstance(value, tf.data.Dataset):
        dataset, image, _, number = examples.unbatched(value, name)
        shape = examples.input_shape_of(image, image_size, name)
        if number == "scan":  # batches of unknown sizes: one pass over the labels counts them
            number = examples.scan_labels(dataset)[0]
    else:
        images, labels = arrays.as_arrays(*arrays.as_pair(value, name), name=name)
        if image_size is not None:
            images = arrays.resize(images, image_size)
        shape = images.shape[1:]
        if labels.min() < 0 or labels.max() >= num_classes:
            raise errors.invalid_argument(
                name, f"labels in [0, {num_classes})", f"labels in [{labels.min()}, {labels.max()}]", "fix the labels"
            )
        dataset, number = tf.data.Dataset.from_tensor_slices((images, labels)), len(images)
    if tuple(shape) != tuple(input_shape):
        raise errors.invalid_argument(
            name, f"images of shape {tuple(input_shape)} like x", f"images of shape {tuple(shape)}", "resize them"
        )
    return StreamedHalf(dataset, number)


def _peek(dataset, name):
    """Reads the first example of a half of unknown size, so an empty one fails here, not in an endless loop."""
    if not any(True for _ in dataset.take(1)):
        raise errors.invalid_argument(
            "x" if name == "train" else "search_data",
            f"a {name} half with examples",
            "an empty one",
            "pass a dataset with examples",
        )
