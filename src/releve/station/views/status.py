"""What `releve station status` says of the index beyond its head (index.read_head)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True)
class Totals:
    patients: int
    resources: int


def totals(conn: sqlite3.Connection) -> Totals:
    patients = conn.execute("SELECT count(*) FROM patients").fetchone()[0]
    resources = conn.execute("SELECT count(*) FROM resources").fetchone()[0]
    return Totals(patients, resources)


def passed_segments(conn: sqlite3.Connection, limit: int = 5) -> list[tuple[int, str, str]]:
    """The latest segments whose history says more than "applied": unreadable, accepted
    after being held, or a checkpoint adopted past one of those (suspect ones are listed
    from sync.json)."""
    rows = conn.execute("SELECT seq, outcome, reason FROM segments WHERE reason IS NOT NULL "
                        "AND outcome != 'skipped' ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()
    return [(seq, outcome, reason) for seq, outcome, reason in reversed(rows)]
