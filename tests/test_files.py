"""The one atomic write: whole files or none, readable permissions, no temporary files left."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ser_core import files
from ser_core.files import write_atomic, write_json


def test_write_atomic_creates_folders_and_replaces_whole_files(tmp_path):
    target = tmp_path / "a" / "b" / "data.bin"
    write_atomic(target, b"first")
    write_atomic(target, b"second, longer")
    assert target.read_bytes() == b"second, longer"
    assert os.listdir(target.parent) == ["data.bin"]  # no temporary file left beside it


def test_write_atomic_gives_the_permissions_of_a_plain_open(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "_UMASK", 0o027)  # the umask the process started with
    write_atomic(tmp_path / "x", b"1")
    assert stat.S_IMODE((tmp_path / "x").stat().st_mode) == 0o640  # 0666 less the umask, not mkstemp's 0600


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "keep.json"
    write_atomic(target, b"old")

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", fail)
    with pytest.raises(OSError, match="No space"):
        write_atomic(target, b"new")
    with pytest.raises(TypeError):
        write_atomic(tmp_path / "other", "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["keep.json"]


def test_write_json_writes_non_finite_floats_as_null(tmp_path):
    write_json(tmp_path / "r.json", {"ua": float("nan"), "per_fold": [1.0, float("inf")], 3: (0.5,)})
    text = (tmp_path / "r.json").read_text()
    assert text.endswith("\n")
    assert json.loads(text) == {"ua": None, "per_fold": [1.0, None], "3": [0.5]}
