"""files.write_atomic: the old file or the new one, never a torn one, with the mode asked."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from releve.files import AS_CREATED, atomic_file, write_atomic


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_private_unless_asked(tmp_path: Path) -> None:
    write_atomic(tmp_path / "secret", b"one")
    assert (tmp_path / "secret").read_bytes() == b"one" and mode(tmp_path / "secret") == 0o600
    write_atomic(tmp_path / "secret", b"two", 0o640)
    assert (tmp_path / "secret").read_bytes() == b"two" and mode(tmp_path / "secret") == 0o640
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "out.pdf", b"%PDF", AS_CREATED)
    finally:
        os.umask(old)
    assert mode(tmp_path / "out.pdf") == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.pdf", "secret"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "status.json"
    write_atomic(target, b"old")
    with pytest.raises(RuntimeError):
        with atomic_file(target) as handle:
            handle.write(b"half of the n")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]


def test_a_missing_folder_is_an_os_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "nowhere" / "file", b"x")
    assert list(tmp_path.iterdir()) == []
