"""The journal's files: one append-only ndjson file per station, and its pinned key.

In the station's folder (the journal knows only that folder, not the station's code):

    journal.key                   this station's signing key (minisign, 0600): its key id
                                  is the station's id
    journal.sqlite                the index (index.py), rebuilt from the files when missing
    journal/<station id>.ndjson   the entries of that station, one line each, LF-ended
    journal/<station id>.pub      that station's public key (minisign), pinned when first seen
    journal/write.lock            held (flock) by whoever appends to any file here

An entry is acknowledged once its line and LF are on disk (fsync). A crash in the middle
of a write can leave a last line without its LF: it was never acknowledged, so readers
ignore it and the next writer cuts it off before appending (the one case where bytes
leave a journal file; every line before it stays as it was).
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..files import PRIVATE, private_folder, write_atomic
from . import keys
from .errors import JournalError
from .keys import PublicKey

JOURNAL_DIR = "journal"
JOURNAL_KEY = "journal.key"
JOURNAL_DB = "journal.sqlite"
STATION_ID = re.compile(r"[0-9A-F]{16}")
LOCK_NAME = "write.lock"


def journal_dir(station_dir: Path) -> Path:
    return Path(station_dir) / JOURNAL_DIR


def journal_key(station_dir: Path) -> Path:
    return Path(station_dir) / JOURNAL_KEY


def journal_db(station_dir: Path) -> Path:
    return Path(station_dir) / JOURNAL_DB


def folder(station_dir: Path) -> Path:
    return private_folder(journal_dir(station_dir))


def entries_file(station_dir: Path, station: str) -> Path:
    return journal_dir(station_dir) / f"{checked_id(station)}.ndjson"


def key_file(station_dir: Path, station: str) -> Path:
    return journal_dir(station_dir) / f"{checked_id(station)}.pub"


def checked_id(station: str) -> str:
    """A station id is its key's id: 16 upper-case hex digits, nothing a path could abuse."""
    if not STATION_ID.fullmatch(station):
        raise JournalError(f"{station!r} is not a station id (16 hex digits)")
    return station


def held_stations(station_dir: Path) -> list[str]:
    """Every station whose key this station has pinned (its own included)."""
    where = journal_dir(station_dir)
    if not where.is_dir():
        return []
    return sorted(p.stem for p in where.glob("*.pub") if STATION_ID.fullmatch(p.stem))


def own_id(station_dir: Path) -> str | None:
    """This station's id, from its key file (None before the key exists)."""
    try:
        return keys.read(journal_key(station_dir)).public.key_id_hex
    except (FileNotFoundError, JournalError):
        return None


def pinned_key(station_dir: Path, station: str) -> PublicKey | None:
    try:
        return keys.public_from_file(key_file(station_dir, station).read_text())
    except FileNotFoundError:
        return None
    except (JournalError, UnicodeDecodeError) as exc:
        raise JournalError(f"pinned key of station {station} is unreadable ({exc})") from exc


def pin_key(station_dir: Path, station: str, public: PublicKey) -> None:
    """Pin a station's key at first sight; a different key later is refused by name."""
    if public.key_id_hex != station:
        raise JournalError(f"key {public.key_id_hex} offered for station {station}")
    held = pinned_key(station_dir, station)
    if held is not None:
        if held != public:
            raise JournalError(f"station {station} now shows another key than the one pinned "
                               "at first contact: refused")
        return
    folder(station_dir)
    write_atomic(key_file(station_dir, station), public.to_file_text().encode())


@contextmanager
def write_lock(station_dir: Path) -> Iterator[None]:
    """One appender at a time across the station's threads and processes."""
    fd = os.open(folder(station_dir) / LOCK_NAME, os.O_RDWR | os.O_CREAT, PRIVATE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def append_lines(station_dir: Path, station: str, lines: list[bytes], size: int) -> int:
    """Append lines to a station's file whose good part is `size` bytes long (a torn tail
    past it is cut first), fsync, and return the new size. Hold write_lock()."""
    path = entries_file(station_dir, station)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE)
    try:
        if os.fstat(fd).st_size != size:
            _cut_torn_tail(fd, size)
        data = b"".join(line + b"\n" for line in lines)
        os.lseek(fd, size, os.SEEK_SET)
        written = 0
        while written < len(data):
            written += os.write(fd, data[written:])
        os.fsync(fd)
    finally:
        os.close(fd)
    if size == 0:
        parent = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(parent)  # the new file's name is durable too
        finally:
            os.close(parent)
    return size + len(data)


def _cut_torn_tail(fd: int, size: int) -> None:
    """Cut what follows the last whole line: only ever a line a crash interrupted. Bytes
    holding a line end there are whole entries (the caller's idea of the end is wrong):
    refused, never cut."""
    end = os.fstat(fd).st_size
    if end < size or b"\n" in os.pread(fd, end - size, size):
        raise JournalError("the journal file does not end where its last entry was read: "
                           "refusing to append (run `releve journal verify`)")
    os.ftruncate(fd, size)


def read_lines(station_dir: Path, station: str, offset: int = 0) -> Iterator[tuple[bytes, int]]:
    """(line without LF, offset just past its LF) of every whole line from `offset`."""
    path = entries_file(station_dir, station)
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return
    with handle:
        handle.seek(offset)
        position = offset
        for raw in handle:
            if not raw.endswith(b"\n"):
                return  # a torn, never-acknowledged tail
            position += len(raw)
            yield raw[:-1], position


def file_size(station_dir: Path, station: str) -> int:
    try:
        return entries_file(station_dir, station).stat().st_size
    except FileNotFoundError:
        return 0
