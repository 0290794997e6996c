"""Tests of state files: atomic writes (the old file or the new one, never half of one), on any filesystem."""

import os
import uuid

import pytest
import tensorflow as tf

from keras_parsec import files
from keras_parsec.files import atomic_write, remove_temporaries


@pytest.mark.parametrize("content, expected", [("héllo", "héllo".encode()), (b"\x00\x01", b"\x00\x01")])
def test_writes_text_and_bytes_and_creates_the_folder(tmp_path, content, expected):
    path = atomic_write(tmp_path / "a" / "b.bin", content)
    assert open(path, "rb").read() == expected
    assert os.listdir(tmp_path / "a") == ["b.bin"]


def test_a_crash_before_the_rename_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "state.json"
    atomic_write(path, "old")

    def crash(*args):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        atomic_write(path, "new")
    monkeypatch.undo()
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["state.json"]


def test_remove_temporaries_removes_only_the_leftovers_of_that_file(tmp_path, monkeypatch):
    path = tmp_path / "state[1].npz"  # glob characters in the name are taken literally
    atomic_write(path, b"old")

    (tmp_path / ".state[1].npz.abc123.tmp").write_bytes(b"half")  # what SIGKILL leaves (no except runs)
    (tmp_path / ".other.npz.abc123.tmp").write_bytes(b"keep")
    removed = remove_temporaries(path)
    assert [os.path.basename(p) for p in removed] == [".state[1].npz.abc123.tmp"]
    assert sorted(os.listdir(tmp_path)) == [".other.npz.abc123.tmp", "state[1].npz"]
    assert path.read_bytes() == b"old"
    assert remove_temporaries(path) == []


@pytest.fixture
def ram_folder():
    """A fresh folder on TensorFlow's in-memory filesystem, removed after the test."""
    folder = f"ram://parsec_test_{uuid.uuid4().hex}"
    yield folder
    if tf.io.gfile.exists(folder):
        tf.io.gfile.rmtree(folder)


def test_state_files_on_the_in_memory_filesystem_write_read_and_clean_up_as_locally(ram_folder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a URL must never become a local folder named "ram:"
    path = f"{ram_folder}/a/state[1].json"
    assert not files.exists(path)
    assert atomic_write(path, "héllo") == path
    assert files.read_text(path) == "héllo" and files.exists(path)
    atomic_write(path, b"\x00new")
    assert files.read_bytes(path) == b"\x00new"
    assert tf.io.gfile.listdir(f"{ram_folder}/a") == ["state[1].json"]  # no temporary left
    leftover = f"{ram_folder}/a/.state[1].json.abc.tmp"
    with tf.io.gfile.GFile(leftover, "wb") as f:
        f.write(b"half")
    assert remove_temporaries(path) == [leftover]
    assert files.glob_files(f"{ram_folder}/a/*") == [path]
    assert os.listdir(tmp_path) == []
    with pytest.raises(FileNotFoundError, match="No such file"):
        files.read_bytes(f"{ram_folder}/missing.json")


def test_a_failed_rename_on_another_filesystem_keeps_the_old_file_and_no_temporary(ram_folder, monkeypatch):
    path = f"{ram_folder}/state.json"
    atomic_write(path, "old")

    def crash(*args, **kwargs):
        raise tf.errors.UnavailableError(None, None, "store gone")

    monkeypatch.setattr(tf.io.gfile, "rename", crash)
    with pytest.raises(tf.errors.UnavailableError, match="store gone"):
        atomic_write(path, "new")
    monkeypatch.undo()
    assert files.read_text(path) == "old"
    assert tf.io.gfile.listdir(ram_folder) == ["state.json"]
