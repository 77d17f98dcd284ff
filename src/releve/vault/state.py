"""A vault's current state (format 7.5), streamed with bounded memory: `vault cat`, and
the state as of a past time (`releve verify --as-of`).

At 1,000 beds the state is 1.9 million resources, 2.3 GB held as a dict. Instead, the
segments to replay (from the latest full one that is not suspect) are read twice: the
first pass keeps, for each key, only where its winning put is (segment, line number), in
a temporary SQLite database on disk; the second decrypts them again and lets through
the winning lines, in (segment, line) order. Memory is the pipes' and SQLite's page
cache, whatever the vault's size; disk is about 60 bytes a resource. A reader that keeps
each key's last record on disk itself and needs no line in order (`releve verify`)
reads every record once instead (`log_records`).

The state as of a time is the same replay over the chain cut at the first segment
written after that time (descriptor `time`): a state is a prefix of the log, and a delta
applied without the ones before it would give a state the vault never held. A reader
that wants a few winning lines back later (a diff) keeps their places (`Place`) and reads
just those lines again (`lines_at`).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from . import chain
from .chain import Walked
from .format import SegmentInfo, VaultError
from .plaintext import segment_records
from .segment import open_plaintext

BATCH = 20_000  # keys written to SQLite at a time
T = TypeVar("T")


@dataclass(frozen=True)
class Place:
    """Where a resource's winning line is: a segment and a line number (1 is the header)."""

    seq: int
    line: int


@dataclass(frozen=True)
class Replay:
    """The segments a state is made of, in order, each checked; `cut` is how many later
    segments an as-of time left out, `skipped` the suspect ones left out (format 7.6)."""

    segments: list[SegmentInfo]
    cut: int
    skipped: list[int]

    @property
    def time(self) -> str | None:
        """The state's time: the descriptor time of its newest segment."""
        return self.segments[-1].descriptor.time if self.segments else None


def replay(vault: Walked, as_of: dt.datetime | None = None) -> Replay:
    """The segments to apply for the last good state, or for the state as of `as_of` (an
    aware datetime): the chain is followed, every segment checked, and cut before the
    first one written after `as_of`."""
    chained = list(chain.follow(vault))
    kept = chained if as_of is None else _until(chained, as_of)
    applied = chain.replay_from(kept)
    skipped = [info.seq for info in kept if info.descriptor.suspect is not None]
    return Replay(applied, len(chained) - len(kept), skipped)


def _until(infos: list[SegmentInfo], as_of: dt.datetime) -> list[SegmentInfo]:
    kept: list[SegmentInfo] = []
    for info in infos:
        if segment_time(info) > as_of:
            break
        kept.append(info)
    return kept


def segment_time(info: SegmentInfo) -> dt.datetime:
    """A segment's descriptor time as an aware datetime."""
    try:
        moment = dt.datetime.fromisoformat(info.descriptor.time.replace("Z", "+00:00"))
    except ValueError as exc:
        raise VaultError(f"segment {info.seq}: its time {info.descriptor.time!r} is not "
                         "ISO 8601") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def current_records(vault: Walked, identities: list) -> Iterator[tuple[str, bytes]]:
    """(`Type/id`, line) of every resource in the vault's current state, each line ending
    in a newline. Every segment is checked on the way (signature, number, chain)."""
    for key, _, line in placed_records(vault, identities, replay(vault)):
        yield key, line


def placed_records(vault: Walked, identities: list,
                   segments: Replay) -> Iterator[tuple[str, Place, bytes]]:
    """(`Type/id`, place, line) of every resource of the state `segments` make, in
    (segment, line) order."""
    with tempfile.TemporaryDirectory(prefix="releve-state-") as scratch:
        db = _winners(Path(scratch) / "winners.sqlite")
        try:
            for info in segments.segments:
                _record_winners(db, vault, info, identities)
            db.execute("CREATE INDEX by_place ON winner(seq, line)")
            for info in segments.segments:
                yield from _winning_lines(db, vault, info, identities)
        finally:
            db.close()


def log_records(vault: Walked, identities: list,
                segments: Replay) -> Iterator[tuple[str, int, int, bytes | None]]:
    """(`Type/id`, segment, line number, line) of every record of the segments `segments`
    make, in log order, the line None for a delete: the state is each key's last record
    when it is not a delete (only the first segment can be full: chain.replay_from).

    One decryption pass, for a reader that keeps each key's last record itself, on disk
    (`releve verify`'s scratch table): `placed_records` reads every segment twice to hand
    out the winning lines alone, in order, which `vault cat` needs and verify does not.
    Plain tuples, not `Place`s: building two million frozen dataclasses costs seconds."""
    for info in segments.segments:
        seq = info.seq
        for found in segment_records(vault.segment_path(seq), info.descriptor, identities):
            yield found.key, seq, found.number, None if found.deleted else found.line


def current_lines(vault: Walked, identities: list) -> Iterator[bytes]:
    """The current state as FHIR ndjson (`vault cat`)."""
    for _, line in current_records(vault, identities):
        yield line


def lines_at(vault: Walked, identities: list, segments: Replay,
             wanted: Iterable[tuple[Place, T]]) -> Iterator[tuple[T, bytes]]:
    """(tag, line) for each (place, tag) of `wanted`, given in (segment, line) order as
    `placed_records` found them over the same `segments`: only the segments that hold
    them are read again, each checked again and required to be the one read before."""
    known = {info.seq: info for info in segments.segments}
    pending = iter(wanted)
    nxt = next(pending, None)
    while nxt is not None:
        seq = nxt[0].seq
        if seq not in known or vault.info(seq).sha256 != known[seq].sha256:
            raise VaultError(f"segment {seq} changed while it was read")
        with open_plaintext(vault.segment_path(seq), identities) as plaintext:
            for number, line in enumerate(plaintext, start=1):
                while nxt is not None and nxt[0] == Place(seq, number):
                    yield nxt[1], line
                    nxt = next(pending, None)
                if nxt is None or nxt[0].seq != seq:
                    break
        if nxt is not None and nxt[0].seq == seq:
            raise VaultError(f"segment {seq} has no line {nxt[0].line}")


def _winners(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=OFF")  # a scratch file, gone with the command
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA temp_store=FILE")  # the index build spills to disk, not memory
    db.execute("CREATE TABLE winner (key TEXT PRIMARY KEY, seq INTEGER, line INTEGER) "
               "WITHOUT ROWID")
    return db


def _record_winners(db: sqlite3.Connection, vault: Walked, info: SegmentInfo,
                    identities: list) -> None:
    """Apply one segment's records to the table of winners: a put moves its key's winner
    here, a delete drops it; a full segment starts from nothing."""
    db.execute("BEGIN")
    if info.descriptor.kind == "full":
        db.execute("DELETE FROM winner")
    pending: dict[str, int | None] = {}  # key: line number of its put, None once deleted
    for found in segment_records(vault.segment_path(info.seq), info.descriptor, identities):
        pending[found.key] = None if found.deleted else found.number  # the last record wins
        if len(pending) >= BATCH:
            _flush(db, pending, info.seq)
    _flush(db, pending, info.seq)
    db.execute("COMMIT")


def _flush(db: sqlite3.Connection, pending: dict[str, int | None], seq: int) -> None:
    db.executemany("INSERT OR REPLACE INTO winner VALUES (?, ?, ?)",
                   [(key, seq, number) for key, number in pending.items() if number is not None])
    db.executemany("DELETE FROM winner WHERE key = ?",
                   [(key,) for key, number in pending.items() if number is None])
    pending.clear()


def _winning_lines(db: sqlite3.Connection, vault: Walked, info: SegmentInfo,
                   identities: list) -> Iterator[tuple[str, Place, bytes]]:
    """The lines of one segment that are still current, with their keys."""
    wanted = db.execute("SELECT line, key FROM winner WHERE seq = ? ORDER BY line", (info.seq,))
    nxt = wanted.fetchone()
    if nxt is None:
        return
    with open_plaintext(vault.segment_path(info.seq), identities) as plaintext:
        for number, line in enumerate(plaintext, start=1):  # line 1 is the header
            if number == nxt[0]:
                yield nxt[1], Place(info.seq, number), line
                nxt = wanted.fetchone()
                if nxt is None:
                    return
    raise VaultError(f"segment {info.seq} changed while it was read")
