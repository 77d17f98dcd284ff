"""The chain head a generation records in its meta table, and the segments it accounted
for (applied, or skipped as suspect)."""

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
    signed = segment.descriptor
    conn.execute("INSERT OR REPLACE INTO segments VALUES (?,?,?,?,?,?,?,?,?,?)",
                 (segment.seq, segment.sha256, signed.kind, signed.time, signed.source,
                  signed.puts, signed.deletes, outcome, reason, utc_text()))
    values = {"seq": str(segment.seq), "sha256": segment.sha256}
    if state:
        values.update(state_seq=str(segment.seq), state_time=signed.time)
    set_meta(conn, values)


def set_meta(conn: sqlite3.Connection, values: dict[str, str]) -> None:
    conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(values.items()))


def utc_text() -> str:
    return clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
