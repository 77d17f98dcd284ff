"""What a forked worker runs: a block placed in the record file, read back and parsed
(and, for a generation build, left in the worker's stage)."""

from __future__ import annotations

import os
import signal
import sqlite3
from typing import Any

from ... import collector
from ...children import die_with_parent
from .batches import Batch, parse_block, parse_rows
from .stages import STAGED_TABLES, Staged


def _placed(path: str, start: int, length: int) -> bytes:
    """A placed block, read back in a worker."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.pread(fd, length, start)
    finally:
        os.close(fd)
    if len(data) != length:
        raise OSError(f"the record file ends before the block placed at {start}")
    return data


def parse_placed(path: str, start: int, length: int) -> Batch:
    """A worker's task for a delta: the Batch, its rows as JSON."""
    return parse_block(_placed(path, start, length), 0, start)


_STAGE: list = []  # in a worker: its stage's (connection, path), claimed at start


def stage_placed(path: str, start: int, length: int) -> Batch:
    """A worker's task for a generation build: parse a placed block and leave its rows
    and projections in this worker's stage."""
    batch, rows = parse_rows(_placed(path, start, length), 0)
    batch.start = start
    conn, stage = _STAGE
    ranges = {}
    conn.execute("BEGIN")
    try:
        for table, values in [("rows", rows), *batch.projections.items()]:
            if values:
                first = conn.execute(f"SELECT coalesce(max(rowid), 0) + 1 FROM {table}").fetchone()[0]
                marks = ",".join("?" * STAGED_TABLES[table])
                conn.executemany(f"INSERT INTO {table} VALUES ({marks})", values)
                ranges[table] = (first, first + len(values) - 1)  # one writer: rowids follow on
    except BaseException:
        conn.execute("ROLLBACK")  # the next block starts a transaction of its own
        raise
    conn.execute("COMMIT")
    batch.projections = {}
    batch.stage = Staged(stage, ranges)
    return batch


def start_worker(stages: Any) -> None:
    """Ctrl-C on `releve station sync` is for the parent, which stops the workers. A
    worker only parses, and parsing makes no reference cycles: the cyclic collector,
    which would otherwise walk every young record again and again, is off (measured: a
    fifth of the parse). Each worker takes a stage of its own, when there are stages; it
    ends with the sync (children.py)."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    collector.off_for_good()
    if not stages.empty():
        path = stages.get()
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA synchronous=OFF")  # a stage lives for one sync: nothing to keep
        conn.execute("PRAGMA busy_timeout=10000")
        _STAGE[:] = [conn, path]
