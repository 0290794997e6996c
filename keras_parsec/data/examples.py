"""One streamed example of a search: its spec checked, its classes counted, its normalisation.

`streaming` reads a `tf.data.Dataset` through these: `unbatched` checks the
element spec before anything is read, `scan_labels` is the one pass over the
labels that a dataset of unknown class count or batch sizes needs, and
`normalizer` turns each example into what `arrays.as_arrays` would have made
of it, checking it as it is read (a bad label or pixel fails at the batch that
holds it, as a TensorFlow `InvalidArgumentError` naming it).
"""

import tensorflow as tf

from keras_parsec import errors
from keras_parsec.data import arrays

SCAN_BATCH = 1024  # labels per batch of the label scan


def unbatched(dataset, name):
    """`dataset` unbatched, its image and label specs and its number of examples; typed errors for bad specs.

    The number is None for an unknown or infinite cardinality, and "scan" for
    a batched dataset of known length whose batches' sizes only a pass tells.
    """
    spec = dataset.element_spec
    if not isinstance(spec, tuple) or len(spec) != 2:
        raise errors.invalid_argument(
            name, "a dataset of (image, label) pairs", spec, "map the dataset to (image, label) tuples"
        )
    batched = spec[0].shape.rank == 4
    length = int(dataset.cardinality())
    if batched:
        dataset = dataset.unbatch()
    number = int(dataset.cardinality())
    if number < 0:
        number = "scan" if batched and length >= 0 else None
    image, label = dataset.element_spec
    if image.shape.rank not in (2, 3):
        raise errors.invalid_argument(
            name,
            "images of shape [H, W, C] or [H, W] (or batches of them)",
            f"images of shape {image.shape}",
            "map the dataset to (image, label) pairs of single images or batches",
        )
    if not (image.dtype.is_integer or image.dtype.is_floating or image.dtype == tf.bool):
        raise errors.invalid_type(name, "real-valued pixels (uint8 or float)", image.dtype.name, "decode the images")
    label_name = "y" if name == "x" else f"{name}[1]"
    if label.dtype == tf.string or label.shape.rank not in (0, 1):
        raise errors.invalid_argument(
            label_name,
            "one integer class index (or one-hot row) per image",
            f"labels of shape {label.shape} and dtype {label.dtype.name}",
            "map the labels to class indices",
        )
    return dataset, image, label, number


def is_one_hot(label_spec):
    """Whether labels of this spec are one-hot rows (rank 1, wider than one)."""
    return label_spec.shape.rank == 1 and label_spec.shape[0] not in (None, 1)


def num_classes_of(given, one_hot_width, info_classes):
    """The number of classes the arguments or the dataset say, or None when only a scan can tell."""
    if given is not None and one_hot_width and given != one_hot_width:
        raise errors.invalid_argument(
            "num_classes", f"{one_hot_width}, the width of the one-hot labels", given, "drop num_classes="
        )
    return given or one_hot_width or info_classes or None


def scan_labels(dataset):
    """One streamed pass over the labels: `(number of examples, largest class index)`."""
    labels = dataset.map(lambda image, label: class_index(label)).batch(SCAN_BATCH)
    count, largest = labels.reduce(
        (tf.constant(0, tf.int64), tf.constant(-1, tf.int64)),
        lambda state, y: (state[0] + tf.size(y, tf.int64), tf.maximum(state[1], tf.reduce_max(y))),
    )
    if int(count) == 0:
        raise errors.invalid_argument("x", "a non-empty dataset", "an empty dataset", "pass a dataset with examples")
    return int(count), int(largest)


def class_index(label):
    """The int64 class of a label: a one-hot row's argmax, or the index itself."""
    if is_one_hot(label):
        return tf.argmax(label, output_type=tf.int64)
    return tf.cast(tf.reshape(label, []), tf.int64)


def input_shape_of(image_spec, image_size, name):
    """`(height, width, channels)` of the images after `image_size`; typed errors for unknown sides."""
    shape = image_spec.shape.as_list() + ([1] if image_spec.shape.rank == 2 else [])
    if image_size is not None:
        shape[:2] = arrays.image_size_pair(image_size)
    if shape[2] is None:
        raise errors.invalid_argument(
            name, "images with a known number of channels", f"images of shape {image_spec.shape}", "set the shape"
        )
    if None in shape[:2]:
        raise errors.invalid_argument(
            "image_size",
            f"a size for images of varying sides (the {name} dataset's are {image_spec.shape})",
            image_size,
            "pass image_size=224 (or (height, width))",
        )
    return tuple(int(v) for v in shape)


def normalizer(input_shape, num_classes, image_size):
    """Per-example `(image, label) -> (float32 [H, W, C], int32 class)`, checking what `as_arrays` checks.

    Labels are one-hot rows or class indices by their static shape, per dataset.
    """
    size = tuple(input_shape[:2])

    def normalize(image, label):
        one_hot = is_one_hot(label)
        if image.shape.rank == 2:
            image = image[..., None]
        scale = 255.0 if image.dtype == tf.uint8 else 1.0
        image = tf.cast(image, tf.float32) / scale
        if image_size is not None:
            image = tf.image.resize(image, size)
        image = tf.debugging.check_numerics(image, "Found NaN or infinite pixels in an image of the dataset")
        checks = []
        if one_hot:
            valid_row = tf.reduce_all((label == 0) | (label == 1)) & tf.equal(tf.reduce_sum(label), 1)
            checks.append(tf.debugging.Assert(valid_row, ["Found a label that is not a one-hot row:", label]))
        index = class_index(label)
        if not one_hot and not label.dtype.is_integer:
            checks.append(tf.debugging.Assert(tf.equal(tf.floor(label), label), ["Found a fractional label:", label]))
        in_range = (index >= 0) & (index < num_classes)
        checks.append(tf.debugging.Assert(in_range, [f"Found a label outside [0, {num_classes}):", index]))
        with tf.control_dependencies(checks):
            return tf.ensure_shape(image, input_shape), tf.cast(index, tf.int32)

    return normalize
