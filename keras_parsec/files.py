"""State files on any filesystem TensorFlow knows (local, `gs://`, `ram://`), written atomically where it can.

Every state file of a search goes through here. On a local folder a write goes
to a synced temporary file that is then renamed over the destination, so a
crash leaves the old file or the new one, never half of one. Elsewhere the
same happens through `tf.io.gfile`: the rename is atomic where the filesystem
renames atomically, and object stores such as `gs://` write an object whole.
"""

import errno
import glob
import os
import tempfile
import uuid

import tensorflow as tf


def is_local(path):
    """True for a path of the local filesystem (no `scheme://`)."""
    return "://" not in os.fspath(path)


def atomic_write(path, content):
    """Writes `content` to `path` through a temporary file and a rename.

    Args:
        path: destination file, local or a `tf.io.gfile` URL; its folder is
            created if needed.
        content: `str` (written as UTF-8) or `bytes`.

    Returns:
        `path`.
    """
    path = os.fspath(path)
    data = content.encode("utf-8") if isinstance(content, str) else content
    if not is_local(path):
        return _gfile_atomic_write(path, data)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=_prefix(path), suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    return path


def _gfile_atomic_write(path, data):
    directory = os.path.dirname(path)
    tf.io.gfile.makedirs(directory)
    temporary = os.path.join(directory, f"{_prefix(path)}{uuid.uuid4().hex}.tmp")
    try:
        with tf.io.gfile.GFile(temporary, "wb") as f:
            f.write(data)
        tf.io.gfile.rename(temporary, path, overwrite=True)
    except BaseException:
        if tf.io.gfile.exists(temporary):
            tf.io.gfile.remove(temporary)
        raise
    return path


def _prefix(path):
    return f".{os.path.basename(path)}."


def remove_temporaries(path):
    """Removes what `atomic_write(path, ...)` calls killed before their rename left behind.

    Call it only where no other process may be writing `path` at the same time
    (e.g. when a run starts).

    Args:
        path: the destination file whose temporaries to remove.

    Returns:
        The removed paths.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path) if is_local(path) else path)
    pattern = os.path.join(glob.escape(directory), glob.escape(_prefix(path)) + "*.tmp")
    removed = []
    for temporary in glob_files(pattern):
        try:
            tf.io.gfile.remove(temporary)
            removed.append(temporary)
        except tf.errors.NotFoundError:
            pass
    return removed


def exists(path):
    """Whether `path` exists, on any filesystem."""
    return tf.io.gfile.exists(os.fspath(path))


def glob_files(pattern):
    """The paths matching a glob `pattern`, on any filesystem."""
    pattern = os.fspath(pattern)
    return glob.glob(pattern) if is_local(pattern) else tf.io.gfile.glob(pattern)


def read_bytes(path):
    """The content of `path`, on any filesystem (raises `FileNotFoundError` if it is missing)."""
    path = os.fspath(path)
    if is_local(path):
        with open(path, "rb") as f:
            return f.read()
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            return f.read()
    except tf.errors.NotFoundError as e:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path) from e


def read_text(path):
    """The UTF-8 text of `path`, on any filesystem."""
    return read_bytes(path).decode("utf-8")
