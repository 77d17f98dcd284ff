"""The chain head a generation records in its meta table, and the segments it accounted
for (applied, skipped as suspect, or found unreadable)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from ... import clock
from ...vault.format import SegmentInfo


@dataclass(frozen=True)
class Head:
    seq: int  # the last segment accounted for (applied, or skipped as suspect)
    sha256: str  # its hash: the next segment must chain onto it
    state_seq: int  # the last segment whose content is in the index
    state_time: str | None  # its capture time: how old the data shown is


def read_head(conn: sqlite3.Connection, genesis: str = "") -> Head:
    """The head a generation's meta table records (genesis when nothing was applied)."""
    meta = dict(conn.execute("SELECT key, value FROM meta"))
    return Head(int(meta.get("seq", 0)), meta.get("sha256", genesis),
                int(meta.get("state_seq", 0)), meta.get("state_time"))


def account_in(conn: sqlite3.Connection, segment: SegmentInfo, outcome: str,
               reason: str | None, state: bool) -> None:
    """Record what became of a checked segment, and the head it moves the chain to;
    `state`: its content is now the index's."""
    record_outcome(conn, segment, outcome, reason)
    values = {"seq": str(segment.seq), "sha256": segment.sha256}
    if state:
        values.update(state_seq=str(segment.seq), state_time=segment.descriptor.time)
    set_meta(conn, values)


def record_outcome(conn: sqlite3.Connection, segment: SegmentInfo, outcome: str,
                   reason: str | None) -> None:
    """Put what became of a checked segment in the history, without moving the head
    (alone: a segment that could not be read, the head staying before it)."""
    signed = segment.descriptor
    conn.execute("INSERT OR REPLACE INTO segments VALUES (?,?,?,?,?,?,?,?,?,?)",
                 (segment.seq, segment.sha256, signed.kind, signed.time, signed.source,
                  signed.puts, signed.deletes, outcome, reason, clock.utc_text("microseconds")))


def set_meta(conn: sqlite3.Connection, values: dict[str, str]) -> None:
    conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(values.items()))


def patient_count(conn: sqlite3.Connection) -> int:
    """The patients a generation holds (a count on an indexed table: milliseconds)."""
    return conn.execute("SELECT count(*) FROM patients").fetchone()[0]


def resource_count(conn: sqlite3.Connection) -> int:
    """The resources a generation holds, whether or not pages can read it yet."""
    return conn.execute("SELECT count(*) FROM records").fetchone()[0]


