"""The journal's index, `journal.sqlite`: every held entry, found by patient, key or resource.

The files are the truth; this database is derived from them and can be deleted at any
time (the next read rebuilds it). It records, per station, how many bytes of its file it
has read, so that a read catches up with what other processes appended (a stat per
station, then only the new lines). All SQL on the journal lives here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from ..files import create_private
from . import files
from .entry import GENESIS, Entry, check_link, indexed, parse
from .errors import JournalError

SCHEMA = """
CREATE TABLE IF NOT EXISTS stations (
    id    TEXT PRIMARY KEY,      -- the station's key id
    seq   INTEGER NOT NULL,      -- its last entry read into this index
    hash  TEXT NOT NULL,         -- that entry's hash (GENESIS before any)
    size  INTEGER NOT NULL       -- bytes of its file read so far
);
CREATE TABLE IF NOT EXISTS entries (
    station    TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    key        TEXT NOT NULL,          -- station/seq (found through the primary key)
    hash       TEXT NOT NULL,          -- SHA-256 of the body: read back without rehashing
    time       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    patient    TEXT,                   -- Patient/<id>
    rtype      TEXT NOT NULL,
    rid        TEXT,
    identifier TEXT,                   -- urn:uuid: kept into the HIS
    supersedes TEXT,                   -- key of the entry this one replaces
    user       TEXT NOT NULL,
    role       TEXT NOT NULL,
    line       BLOB NOT NULL,
    PRIMARY KEY (station, seq)
);
CREATE INDEX IF NOT EXISTS entries_patient ON entries(patient);
CREATE INDEX IF NOT EXISTS entries_supersedes ON entries(supersedes);
CREATE INDEX IF NOT EXISTS entries_kind ON entries(kind);
"""
VERSION = 2  # PRAGMA user_version: an index of another version is dropped and rebuilt
COLUMNS = "station, seq, key, hash, time, kind, patient, rtype, rid, identifier, supersedes, user, role, line"


def connect(station_dir: Path) -> sqlite3.Connection:
    path = files.journal_db(station_dir)
    create_private(path)  # by name only: another thread's connection may hold the file
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
    conn.execute("PRAGMA busy_timeout=10000")
    if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # the files are fsynced; this is derived
    if conn.execute("PRAGMA user_version").fetchone()[0] != VERSION:
        conn.executescript("DROP TABLE IF EXISTS entries; DROP TABLE IF EXISTS stations;")
        conn.execute(f"PRAGMA user_version={VERSION}")
    conn.executescript(SCHEMA)
    return conn


def last(conn: sqlite3.Connection, station: str) -> tuple[int, str, int]:
    """(seq, hash, size read) of a station's journal as indexed; (0, GENESIS, 0) if none."""
    row = conn.execute("SELECT seq, hash, size FROM stations WHERE id = ?", (station,)).fetchone()
    return (row[0], row[1], row[2]) if row else (0, GENESIS, 0)


def catch_up(conn: sqlite3.Connection, station_dir: Path, station: str) -> int:
    """Read into the index what the station's file holds past what was read before, and
    return the station's last entry number now indexed.

    The lines were checked (chain and signature) before they were appended; here the
    chain is checked again, cheaply, so that a file edited behind the station's back
    stops the index at the first line that no longer fits rather than showing it."""
    seq, prev, size = last(conn, station)
    actual = files.file_size(station_dir, station)
    if actual == size:
        return seq
    if actual < size:
        raise JournalError(f"the journal file of station {station} is shorter than what was "
                           "read from it: it was cut or replaced (run `releve journal verify`)")
    rows = []
    for line, end in files.read_lines(station_dir, station, size):
        entry = parse(line)
        check_link(entry, station, seq + 1, prev)
        rows.append(row_of(entry))
        seq, prev, size = entry.seq, entry.hash, end
    if rows:
        store(conn, station, rows, seq, prev, size)
    return seq


def row_of(entry: Entry) -> tuple:
    resource = entry.resource
    rid = resource.get("id")
    return (entry.station, entry.seq, entry.key, entry.hash, entry.time, entry.kind, entry.patient,
            resource["resourceType"], rid if isinstance(rid, str) else None, entry.identifier,
            entry.supersedes, entry.author.user, entry.author.role, entry.line)


def store(conn: sqlite3.Connection, station: str, rows: list[tuple], seq: int, hash_: str,
          size: int) -> None:
    """Insert entries and move the station's mark, in one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(f"INSERT OR IGNORE INTO entries ({COLUMNS}) VALUES "
                         "(?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        # never backwards: a reader's catch-up that read fewer lines than an append that
        # committed meanwhile must not move the mark back (the next append starts from it)
        conn.execute("INSERT INTO stations (id, seq, hash, size) VALUES (?,?,?,?) ON CONFLICT(id) "
                     "DO UPDATE SET seq = excluded.seq, hash = excluded.hash, size = excluded.size "
                     "WHERE excluded.seq > stations.seq", (station, seq, hash_, size))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _entries(rows: Iterable[tuple[bytes, str]]) -> list[Entry]:
    """Entries as indexed: checked when they were read in, so parsed once, not rehashed
    (a patient page reads hundreds of them)."""
    return [indexed(bytes(line), hash_) for line, hash_ in rows]


def for_patient(conn: sqlite3.Connection, patient: str) -> list[Entry]:
    """Every entry about a patient, from every station, oldest first."""
    return _entries(conn.execute("SELECT line, hash FROM entries WHERE patient = ? "
                                 "ORDER BY time, station, seq", (patient,)))


def by_key(conn: sqlite3.Connection, key: str) -> Entry | None:
    station, _, seq = key.partition("/")
    if not seq.isdigit():
        return None
    found = _entries(conn.execute("SELECT line, hash FROM entries WHERE station = ? AND seq = ?",
                                  (station, int(seq))))
    return found[0] if found else None


def superseding(conn: sqlite3.Connection, key: str) -> list[str]:
    """Keys of the entries that replace `key` (two when two stations corrected it)."""
    return [row[0] for row in conn.execute(
        "SELECT key FROM entries WHERE supersedes = ? ORDER BY time, station, seq", (key,))]


def lines_after(conn: sqlite3.Connection, station: str, seq: int, limit: int) -> list[bytes]:
    return [bytes(row[0]) for row in conn.execute(
        "SELECT line FROM entries WHERE station = ? AND seq > ? ORDER BY seq LIMIT ?",
        (station, seq, limit))]


def since(conn: sqlite3.Connection, time: str | None = None) -> Iterable[Entry]:
    """Every entry (of every station) written at or after `time`, in time order."""
    query = "SELECT line, hash FROM entries" + (" WHERE time >= ?" if time else "") + \
        " ORDER BY time, station, seq"
    for line, hash_ in conn.execute(query, (time,) if time else ()):
        yield indexed(bytes(line), hash_)


def of_kind(conn: sqlite3.Connection, kinds: Iterable[str]) -> list[Entry]:
    wanted = list(kinds)
    marks = ",".join("?" * len(wanted))
    return _entries(conn.execute(f"SELECT line, hash FROM entries WHERE kind IN ({marks}) "
                                 "ORDER BY time, station, seq", wanted))


def kind_mark(conn: sqlite3.Connection, kinds: Iterable[str]) -> tuple[int, int]:
    """(how many, last rowid) of the entries of these kinds: changes when one is added,
    so a reader may keep what it derived from them until then (one indexed count)."""
    wanted = list(kinds)
    marks = ",".join("?" * len(wanted))
    row = conn.execute(f"SELECT count(*), coalesce(max(rowid), 0) FROM entries "
                       f"WHERE kind IN ({marks})", wanted).fetchone()
    return row[0], row[1]


def counts(conn: sqlite3.Connection) -> dict[str, tuple[int, str | None]]:
    """Per station: (entries held, time of the last one)."""
    return {row[0]: (row[1], row[2]) for row in conn.execute(
        "SELECT station, count(*), max(time) FROM entries GROUP BY station")}
