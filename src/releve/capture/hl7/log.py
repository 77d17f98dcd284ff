"""The message log: every HL7 v2 message the listener acknowledged, durably, in order.

    STATE/hl7/messages.sqlite   (0600, folder 0700; WAL, synchronous=FULL)
        messages     one row per accepted message, `seq` in commit order
        quarantine   one row per rejected message, its bytes and why
        feeds        per sender: last message, counts (kept in the same transactions)

The listener alone writes it (`LogWriter`, driven by its one committer thread): each
transaction holds every message the connections queued meanwhile (group commit), and
the acknowledgements go out only once it is committed, so an AA always names a row a
crash cannot take back. A sender's (MSH-3|MSH-4, MSH-10) is unique: a message sent again
after a lost ACK is recognised by the UNIQUE index, counted and not stored twice.

The segment writer and `releve capture status` read it with `LogReader`, read-only: in
WAL mode a reader sees the last commit and never blocks the writer, nor the writer it.
The schema is described for a second implementation in docs/hl7/listener.md.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import queue
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import orjson

from ... import clock
from ...errors import ReleveError
from ...files import create_private, private_folder

FOLDER = "hl7"
LOG_DB = "messages.sqlite"
LOCK = "hl7.lock"  # STATE/hl7.lock, beside the folder: a replay sets the folder aside
SCHEMA_VERSION = 1
RATE_WINDOW = dt.timedelta(minutes=1)
UNKNOWN_SENDER = ""  # a rejected message whose MSH could not be read, on a connection
#                      that sent nothing readable before: its feed row's sender

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY,      -- commit order: the segment writer reads after a seq
    received TEXT NOT NULL,       -- UTC, YYYY-MM-DDTHH:MM:SS.ffffffZ (fixed width: sortable)
    sender TEXT NOT NULL,         -- MSH-3 "|" MSH-4
    control_id TEXT NOT NULL,     -- MSH-10
    kind TEXT NOT NULL,           -- MSH-9.1 "^" MSH-9.2, e.g. ADT^A01
    event_time TEXT,              -- FHIR dateTime: EVN-6, else EVN-2, else MSH-7
    patient TEXT,                 -- "<authority>|<IPP>" of PID-3
    merged TEXT,                  -- MRG-1's key (A40, A47...)
    raw BLOB NOT NULL             -- the bytes inside the MLLP frame, untouched
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_identity ON messages (sender, control_id);
CREATE INDEX IF NOT EXISTS messages_patient ON messages (patient) WHERE patient IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_merged ON messages (merged) WHERE merged IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_rate ON messages (sender, received);
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY,
    received TEXT NOT NULL,
    sender TEXT,                  -- NULL when neither the message nor its connection said
    control_id TEXT,
    kind TEXT,
    code TEXT NOT NULL,           -- the ACK's: AE or AR
    reason TEXT NOT NULL,         -- the ERR text: names segments and fields, never values
    peer TEXT NOT NULL,           -- the connection's address, host:port
    raw BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS feeds (
    sender TEXT PRIMARY KEY,      -- "" for messages no sender could be told for
    last_received TEXT NOT NULL,
    last_kind TEXT,
    accepted INTEGER NOT NULL,    -- rows in messages
    duplicates INTEGER NOT NULL,  -- sent again, acknowledged AA, not stored again
    rejected INTEGER NOT NULL     -- rows in quarantine
);
"""


def log_path(state: Path) -> Path:
    return state / FOLDER / LOG_DB


def received_now() -> str:
    return _utc(clock.now())


def _utc(moment: dt.datetime) -> str:
    """An instant in the log's fixed-width form, so that text order is time order."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- what is written ------------------------------------------------------------------------


@dataclass(frozen=True)
class Arrival:
    """A message that `message.read` accepted, as the listener queues it for the log."""
    received: str
    sender: str
    control_id: str
    kind: str
    event_time: str | None
    patient: str | None
    merged: str | None
    raw: bytes


@dataclass(frozen=True)
class Rejection:
    """What the quarantine says of a message answered AE or AR, its bytes aside."""
    received: str
    sender: str | None
    control_id: str | None
    kind: str | None
    code: str
    reason: str
    peer: str


@dataclass(frozen=True)
class Refusal(Rejection):
    """A rejected message as the listener queues it: kept, so that nothing sent is lost."""
    raw: bytes


STORED, DUPLICATE, QUARANTINED = "stored", "duplicate", "quarantined"


class LogError(ReleveError):
    """The message log is of a schema this version does not write."""


class LogBusy(LogError):
    """Another process writes the log: a running listener, or a replay."""


def hold(state: Path) -> IO[str]:
    """The log's writing lock, taken at once or refused (LogBusy): one listener per state
    folder, and no replay while one runs (replay.py). Released when the file returned is
    closed, or when the process ends however it ends."""
    private_folder(state)
    path = state / LOCK
    create_private(path)
    handle = open(path, "a+")  # noqa: SIM115 - it lives as long as the lock
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise LogBusy(f"the HL7 message log of {state} is in use: a `releve capture hl7` "
                      "(or a replay) runs with this --state; stop it first") from None
    return handle


def in_use(state: Path) -> bool:
    """Whether a listener (or a replay) holds the log's lock now; creates nothing (a
    dry run asks)."""
    try:
        handle = open(state / LOCK, "rb")  # noqa: SIM115 - closed below, the lock with it
    except FileNotFoundError:
        return False
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False


class LogWriter:
    """The log's one writing connection. Not thread-safe: one thread calls `write`.
    It holds the log's lock (`hold`) as long as it is open, or works under `held`, a
    lock its caller took."""

    def __init__(self, state: Path, held: IO[str] | None = None):
        self._lock = held if held is not None else hold(state)
        self._owns_lock = held is None
        path = log_path(state)
        private_folder(path.parent)
        create_private(path)  # before SQLite opens it: -wal and -shm take its mode
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # an ACK is sent after the fsync
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            self.close()
            raise LogError(f"{path} has schema version {version}; this Relève writes version {SCHEMA_VERSION}")
        self._db.executescript(SCHEMA + f"PRAGMA user_version={SCHEMA_VERSION};")

    def write(self, batch: Sequence[Arrival | Refusal]) -> list[str]:
        """Write a batch in one transaction (one fsync): what became of each entry,
        STORED, DUPLICATE or QUARANTINED. Raises, having written nothing, if SQLite does."""
        outcomes: list[str] = []
        feeds: dict[str, list] = {}  # sender -> [last received, last kind, accepted, dup, rejected]
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for entry in batch:
                if isinstance(entry, Arrival):
                    inserted = db.execute(
                        "INSERT INTO messages (received, sender, control_id, kind, event_time, patient,"
                        " merged, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                        " ON CONFLICT (sender, control_id) DO NOTHING",
                        (entry.received, entry.sender, entry.control_id, entry.kind, entry.event_time,
                         entry.patient, entry.merged, entry.raw)).rowcount
                    outcome, column = (STORED, 2) if inserted else (DUPLICATE, 3)
                    sender = entry.sender
                else:
                    db.execute("INSERT INTO quarantine (received, sender, control_id, kind, code, reason,"
                               " peer, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                               (entry.received, entry.sender, entry.control_id, entry.kind, entry.code,
                                entry.reason, entry.peer, entry.raw))
                    outcome, column = QUARANTINED, 4
                    sender = UNKNOWN_SENDER if entry.sender is None else entry.sender
                feed = feeds.setdefault(sender, [entry.received, entry.kind, 0, 0, 0])
                feed[0], feed[1] = entry.received, entry.kind or feed[1]
                feed[column] += 1
                outcomes.append(outcome)
            db.executemany(
                "INSERT INTO feeds (sender, last_received, last_kind, accepted, duplicates, rejected)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sender) DO UPDATE SET"
                " last_received = excluded.last_received,"
                " last_kind = coalesce(excluded.last_kind, last_kind),"
                " accepted = accepted + excluded.accepted, duplicates = duplicates + excluded.duplicates,"
                " rejected = rejected + excluded.rejected",
                [(sender, *counts) for sender, counts in feeds.items()])
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return outcomes

    def close(self) -> None:
        self._db.close()
        if self._owns_lock:
            self._lock.close()


class GroupCommit:
    """The writer in a thread of its own, fed by the listener's connections: each batch
    is everything queued while the previous one was being written, in one transaction
    and one fsync, after which the connections' futures are resolved (on their loop)
    with each entry's outcome, or the error that kept it from the log. Only SQL runs in
    this thread."""

    def __init__(self, writer: LogWriter, loop: asyncio.AbstractEventLoop):
        self._writer, self._loop = writer, loop
        self._queue: queue.SimpleQueue[tuple[Arrival | Refusal, asyncio.Future[str]] | None] = queue.SimpleQueue()
        self.commits = self.entries = 0
        self._thread = threading.Thread(target=self._run, name="hl7-log", daemon=True)
        self._thread.start()

    def submit(self, entry: Arrival | Refusal) -> asyncio.Future[str]:
        """Queue an entry (from the loop's thread); the future resolves once it is durable."""
        future = self._loop.create_future()
        self._queue.put((entry, future))
        return future

    def close(self) -> None:
        """Commit what is queued, then close the log (blocks: call it off the loop)."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        try:
            closing = False
            while not closing:
                first = self._queue.get()
                if first is None:
                    break
                batch = [first]
                while True:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        closing = True
                        break
                    batch.append(item)
                result: list[str] | Exception
                try:
                    result = self._writer.write([entry for entry, _ in batch])
                except Exception as error:  # the disk full, or a bug: no ACK, the engine resends
                    result = error
                self.commits, self.entries = self.commits + 1, self.entries + len(batch)
                self._loop.call_soon_threadsafe(_settle, [future for _, future in batch], result)
        finally:
            self._writer.close()


def _settle(futures: list[asyncio.Future[str]], result: list[str] | Exception) -> None:
    for number, future in enumerate(futures):
        if future.cancelled():  # its connection was cut at a stop: no ACK goes out
            continue
        if isinstance(result, Exception):
            future.set_exception(result)
        else:
            future.set_result(result[number])


# --- what is read ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Stored(Arrival):
    """An accepted message as the log keeps it: `seq` is its place in commit order."""
    seq: int


@dataclass(frozen=True)
class Feed:
    """One sender as `releve capture status` shows it."""
    sender: str                # MSH-3|MSH-4; UNKNOWN_SENDER ("") for unreadable messages
    last_received: str         # the last message's arrival (accepted, duplicate or rejected)
    last_kind: str | None
    count: int                 # messages stored
    duplicates: int            # sent again and not stored again
    rejected: int              # quarantined
    per_minute: int            # messages stored in the minute before now (clock.now())


@dataclass(frozen=True)
class Quarantined(Rejection):
    """A quarantined message as `releve capture status` lists it (`id`: commit order)."""
    id: int


_STORED = "received, sender, control_id, kind, event_time, patient, merged, raw, seq"  # Stored's order


class LogReader:
    """The log, read-only. Each call is its own short read (autocommit), so a reader kept
    open for hours holds no snapshot back and never delays the listener's checkpoints.
    Before the listener first ran there is no file, and while it makes the file no
    table: every question answers empty."""

    def __init__(self, state: Path):
        self._path = log_path(state)
        self._db: sqlite3.Connection | None = None

    def _rows(self, sql: str, parameters: Sequence[object] = ()) -> list[tuple]:
        if self._db is None:
            if not self._path.exists():
                return []
            self._db = sqlite3.connect(f"{self._path.resolve().as_uri()}?mode=ro", uri=True,
                                       isolation_level=None, check_same_thread=False)
        try:
            return self._db.execute(sql, parameters).fetchall()
        except sqlite3.OperationalError as error:
            if str(error).startswith("no such table"):  # the listener is making the file
                return []
            raise

    def after(self, seq: int, limit: int) -> list[Stored]:
        """Accepted messages after `seq`, in commit order, at most `limit`."""
        rows = self._rows(f"SELECT {_STORED} FROM messages WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit))
        return [Stored(*row) for row in rows]

    def about(self, patients: set[str]) -> list[Stored]:
        """Every accepted message whose patient or merged-away patient is in `patients`,
        in commit order."""
        keys = orjson.dumps(sorted(patients)).decode()
        rows = self._rows(f"SELECT {_STORED} FROM messages WHERE patient IN (SELECT value FROM json_each(?1))"
                          " OR merged IN (SELECT value FROM json_each(?1)) ORDER BY seq", (keys,))
        return [Stored(*row) for row in rows]

    def merges(self) -> list[tuple[str, str]]:
        """(merged-away key, surviving key) of every merge message, in commit order."""
        rows = self._rows("SELECT merged, patient FROM messages WHERE merged IS NOT NULL"
                          " AND patient IS NOT NULL ORDER BY seq")
        return [(merged, patient) for merged, patient in rows]

    def last_seq(self) -> int:
        """The last accepted message's seq, 0 if none."""
        rows = self._rows("SELECT max(seq) FROM messages")
        return (rows[0][0] or 0) if rows else 0

    def feeds(self) -> list[Feed]:
        """Every sender, by name. The rate counts the index's rows of the last minute."""
        since = _utc(clock.now() - RATE_WINDOW)
        rows = self._rows(
            "SELECT sender, last_received, last_kind, accepted, duplicates, rejected,"
            " (SELECT count(*) FROM messages m WHERE m.sender = f.sender AND m.received >= ?)"
            " FROM feeds f ORDER BY sender", (since,))
        return [Feed(*row) for row in rows]

    def quarantined(self, limit: int = 20) -> list[Quarantined]:
        """The last rejected messages, newest first (their bytes stay in the table)."""
        rows = self._rows("SELECT received, sender, control_id, kind, code, reason, peer, id"
                          " FROM quarantine ORDER BY id DESC LIMIT ?", (limit,))
        return [Quarantined(*row) for row in rows]

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
