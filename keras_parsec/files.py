"""Atomic file writes: a crash leaves the old file or the new one, never half of one."""

import glob
import os
import tempfile


def atomic_write(path, content):
    """Writes `content` to `path` through a synced temporary file and a rename.

    Args:
        path: destination file; its folder is created if needed.
        content: `str` (written as UTF-8) or `bytes`.

    Returns:
        `path`.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
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
    pattern = os.path.join(os.path.dirname(os.path.abspath(path)), glob.escape(_prefix(path)) + "*.tmp")
    removed = []
    for temporary in glob.glob(pattern):
        try:
            os.remove(temporary)
            removed.append(temporary)
        except FileNotFoundError:
            pass
    return removed
