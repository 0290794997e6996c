"""Tests of atomic writes: the old file or the new one, never half of one."""

import os

import pytest

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
