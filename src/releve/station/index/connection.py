"""A connection to a generation: the `resources` view over its record file, checked to
hold every byte the rows place."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from ..folder import records_path
from .errors import Unusable
from .generations import current_generation
from .record_file import RecordFile

# what pages read: the records with their lines (a view SQLite folds into each query, so
# the record file is read only for the rows a query returns)
_RESOURCES_VIEW = ("CREATE TEMP VIEW IF NOT EXISTS resources AS SELECT type, id, patient, "
                   "updated, record_line(pos, len) AS json FROM main.records")


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=10000")
    _see_lines(conn, records_path(path))
    return conn


def _see_lines(conn: sqlite3.Connection, records: Path) -> None:
    """Give the connection the `resources` view over the record file, once the file is
    seen to hold every byte the generation's rows may place (meta `records_end`): a
    truncated or replaced file is reported here, by name, rather than as a page that
    fails on one resource (SQLite reports a failing function without its message)."""
    try:
        reader_ = RecordFile(records)
    except FileNotFoundError:
        conn.close()
        raise Unusable(f"the index generation has no record file {records.name}") from None
    size, end = os.fstat(reader_.fd).st_size, _records_end(conn)
    if size < end:
        conn.close()
        raise Unusable(f"{records.name} holds {size} bytes, the index places lines up to "
                       f"byte {end}: the record file is damaged")
    conn.create_function("record_line", 2, reader_, deterministic=True)
    conn.execute(_RESOURCES_VIEW)


_REBUILD_ADVICE = ("the index is a cache of the vault: the next sync builds a new one from the "
                   "vault's latest checkpoint")


def _records_end(conn: sqlite3.Connection) -> int:
    """The meta `records_end` (0 in a generation still being created, with no meta yet)."""
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'records_end'").fetchone()
    except sqlite3.OperationalError:
        return 0
    return int(row[0]) if row else 0


def reader(station_dir: Path) -> sqlite3.Connection | None:
    """A read-only connection to the current generation (None before the first sync)."""
    path = current_generation(Path(station_dir))
    if path is None:
        return None
    try:
        return connect(path, readonly=True)
    except Unusable as exc:
        raise Unusable(f"{exc}: {_REBUILD_ADVICE}") from exc
