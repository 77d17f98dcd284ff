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
