"""The workers' stages: SQLite files a generation build copies a block's rows from.

A generation build takes a block's rows from the worker that parsed it through a SQLite
file, not through the pipe: the worker inserts them into its own *stage* and the index
copies them with one INSERT ... SELECT, reading SQLite's own record format (measured on
the 1000-bed segment: 0.9 us a row for the index, against 3.6 us to take them from JSON,
where extracting the six values costs three times the insert; the worker's insert into
its stage costs 2.5 us, on a core the parse leaves idle a third of the time).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from ...files import create_private

STAGED_TABLES = {"rows": 6, "patients": 12, "locations": 7, "stays": 9, "bookings": 7,
                 "contained_subjects": 5, "security_contexts": 3}


@dataclass(frozen=True)
class Staged:
    """Where a block's rows wait in a stage: the stage file, and per table the first and
    last rowid of the block's rows (a table the block has no rows for is absent)."""

    path: str
    ranges: dict[str, tuple[int, int]]


def create_stage(path: Path) -> None:
    """An empty stage: WAL, so the index reads committed blocks while the worker writes."""
    create_private(path)  # before SQLite opens it
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript("".join(f"CREATE TABLE {table}({', '.join(f'c{i}' for i in range(width))});"
                               for table, width in STAGED_TABLES.items()))
    conn.close()
