"""Atomic file writes: a crash leaves the old file or the new one, never half of one."""

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
    handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
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
