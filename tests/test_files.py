"""Tests of atomic writes: the old file or the new one, never half of one."""

import os

import pytest

from keras_parsec.files import atomic_write


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
