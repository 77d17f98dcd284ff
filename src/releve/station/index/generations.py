"""The generations in the index folder: the one CURRENT names, the next one's file, and
the stale ones a switch leaves behind."""

from __future__ import annotations

import os
from pathlib import Path

from ...files import write_atomic
from .. import folder
from .errors import StationIndexError


def current_generation(station_dir: Path) -> Path | None:
    """The database the CURRENT file names, or None for a station that holds no data yet."""
    pointer = folder.current_file(station_dir)
    try:
        name = pointer.read_text().strip()
    except FileNotFoundError:
        return None
    path = folder.generation_named(station_dir, name)
    if path is None or not path.exists():
        raise StationIndexError(f"{pointer} names {name!r}, which is not an index generation here")
    return path


def write_pointer(station_dir: Path, name: str) -> None:
    write_atomic(folder.current_file(station_dir), f"{name}\n".encode())


def next_generation(station_dir: Path) -> tuple[int, Path]:
    numbers = [n for n in map(folder.generation_number, folder.generation_files(station_dir))
               if n is not None]
    number = max(numbers, default=0) + 1
    return number, folder.generation_file(station_dir, number)


def remove_stale_generations(station_dir: Path) -> None:
    """Drop generations CURRENT does not name: builds a crash interrupted, superseded ones.

    A page still reading a superseded one keeps its open file (POSIX) until it reopens."""
    current = current_generation(station_dir)
    for path in folder.generation_files(station_dir):
        if current is None or path.name.split(".")[0] != current.stem:
            path.unlink(missing_ok=True)


def fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
