"""What became of each entry on the way back into the HIS (docs/way-back.md §1.4).

`releve journal reconcile` files the entries into the restored HIS and writes here, in
the station's folder, what it did: one row per entry (its *fate*), one row per resource
filed (the HIS's id for the journal identifier, so that later references are rewritten
and a second run never files it again), one row per patient admitted during the downtime
(matched to a HIS patient or created, as a person decided), one row per run. The station
pages read the fates to say of each entry whether it reached the HIS.

    way-back.sqlite   (0600) tables runs, fates, filed, identities

Unlike `journal.sqlite`, this file is not derived: it is the memory of what was sent to
the HIS. Reconcile commits each answer's write in one background writer, in order, while
the next request is in flight; before Bundle n+2 goes out (and at the end of each wave
and of the run) it waits for Bundle n's commit. Killed, it loses at most the last two
answers, and the next run finds what they filed (every request is conditional). In WAL
mode with synchronous=NORMAL, a commit is in the WAL file when it returns: a killed
process loses none it made; a power cut may lose the last ones (never an earlier one
while keeping a later); the next run asks those Bundles again. Were the file lost,
nothing would be filed twice all the same (every create is conditional on the journal
identifier), only asked again. So FULL's fsync at each commit (2 to 3 ms) would buy
nothing the way back relies on.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import orjson

from .. import clock
from ..files import create_private
from .entry import utc_text

FATES_DB = "way-back.sqlite"

# Every state an entry can be left in, and what it means. `DONE` ones are not asked again.
STATES = {
    "filed": "created in the HIS by this reconcile",
    "already": "the HIS already held it (a conditional create found it)",
    "updated": "filed as an update of a resource the HIS held (a correction, a movement)",
    "matched": "a downtime patient the HIS already knew: not created, references rewritten",
    "replaced": "a version replaced before reconcile: the final one was filed, this one as "
                "Provenance",
    "waiting-identity": "waits for a person to confirm who the downtime patient is",
    "waiting": "waits for an entry it refers to, not yet in the HIS",
    "refused": "the HIS refused it (its OperationOutcome is the detail); a later run tries again",
    "failed": "the HIS did not answer well (5xx, timeout); a later run tries again",
    "conflict": "two stations corrected it differently: a person settles it",
}
DONE = frozenset({"filed", "already", "updated", "matched", "replaced"})

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id        INTEGER PRIMARY KEY,
    started   TEXT NOT NULL,
    finished  TEXT,
    server    TEXT NOT NULL,
    counts    TEXT              -- JSON {state: n}, when finished
);
CREATE TABLE IF NOT EXISTS fates (
    entry     TEXT PRIMARY KEY, -- "<station>/<seq>"
    state     TEXT NOT NULL,    -- a key of STATES
    his       TEXT,             -- "Type/id" or "Type/id/_history/v" in the HIS, when known
    detail    TEXT,             -- the server's words, or what the entry waits for
    status    INTEGER,          -- the HTTP status of a refusal or failure
    run       INTEGER NOT NULL,
    time      TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS filed (
    identifier TEXT PRIMARY KEY, -- the journal identifier's value (urn:uuid:...)
    his        TEXT NOT NULL,    -- "Type/id" in the HIS
    entry      TEXT NOT NULL,    -- the entry whose version the HIS holds
    run        INTEGER NOT NULL,
    time       TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS identities (
    patient    TEXT PRIMARY KEY, -- "Patient/<id the admission gave>"
    proposal   TEXT NOT NULL,    -- "match", "ambiguous" (several found) or "create"
    basis      TEXT NOT NULL,    -- "ins", "traits" or "none"
    his        TEXT,             -- "Patient/<HIS id>" proposed (match)
    candidates TEXT NOT NULL,    -- JSON list of what the HIS search found
    decision   TEXT,             -- NULL until a person decides: "match" or "create"
    decided_his TEXT,            -- the HIS patient confirmed (match)
    decided_by TEXT,
    decided_at TEXT
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class Fate:
    entry: str
    state: str
    his: str | None = None
    detail: str | None = None
    status: int | None = None
    run: int = 0
    time: str = ""

    @property
    def done(self) -> bool:
        return self.state in DONE


@dataclass(frozen=True)
class Identity:
    patient: str
    proposal: str
    basis: str
    his: str | None
    candidates: list
    decision: str | None = None
    decided_his: str | None = None
    decided_by: str | None = None
    decided_at: str | None = None

    @property
    def target(self) -> str | None:
        """What references to the downtime patient become: the HIS patient a person
        confirmed, None while undecided or when the patient is to be created."""
        return self.decided_his if self.decision == "match" else None


def _now() -> str:
    return utc_text(clock.now())


class Fates:
    """The way back's memory in a station's folder; safe to share between threads."""

    def __init__(self, station_dir: Path):
        self.path = Path(station_dir) / FATES_DB
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def exists(self) -> bool:
        return self.path.exists()

    def db(self) -> sqlite3.Connection:
        if self._conn is None:
            create_private(self.path)
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=30)
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # a commit survives a kill: see above
            conn.executescript(SCHEMA)
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # --- runs ---------------------------------------------------------------------------

    def start_run(self, server: str) -> int:
        with self._lock:
            cursor = self.db().execute("INSERT INTO runs (started, server) VALUES (?, ?)",
                                       (_now(), server))
            return int(cursor.lastrowid or 0)

    def finish_run(self, run: int, counts: dict[str, int]) -> None:
        with self._lock:
            self.db().execute("UPDATE runs SET finished = ?, counts = ? WHERE id = ?",
                              (_now(), orjson.dumps(counts).decode(), run))

    # --- fates and filed resources ------------------------------------------------------

    def record(self, fates: Iterable[Fate], filed: Iterable[tuple[str, str, str]] = (),
               run: int = 0) -> None:
        """Write fates and (identifier, HIS "Type/id", entry key) rows in one durable
        transaction: what one answer of the server taught."""
        now = _now()
        with self._lock:
            conn = self.db()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "INSERT OR REPLACE INTO fates VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(f.entry, f.state, f.his, f.detail, f.status, f.run or run, f.time or now)
                     for f in fates])
                conn.executemany("INSERT OR REPLACE INTO filed VALUES (?, ?, ?, ?, ?)",
                                 [(identifier, his, entry, run, now)
                                  for identifier, his, entry in filed])
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def fates(self, entries: Iterable[str] | None = None) -> dict[str, Fate]:
        """The fate of each entry named (of every entry when None); an entry never
        reconciled is absent."""
        if not self.exists():
            return {}
        with self._lock:
            conn = self.db()
            if entries is None:
                rows = conn.execute("SELECT * FROM fates").fetchall()
            else:
                keys = list(entries)
                rows = []
                for start in range(0, len(keys), 500):
                    chunk = keys[start:start + 500]
                    rows += conn.execute(
                        f"SELECT * FROM fates WHERE entry IN ({','.join('?' * len(chunk))})",
                        chunk).fetchall()
        return {row[0]: Fate(*row) for row in rows}

    def filed(self) -> dict[str, tuple[str, str]]:
        """identifier value -> (HIS "Type/id", key of the entry whose version it holds)."""
        if not self.exists():
            return {}
        with self._lock:
            rows = self.db().execute("SELECT identifier, his, entry FROM filed").fetchall()
        return {identifier: (his, entry) for identifier, his, entry in rows}

    def counts(self) -> dict[str, int]:
        if not self.exists():
            return {}
        with self._lock:
            rows = self.db().execute("SELECT state, count(*) FROM fates GROUP BY state")
            return dict(rows.fetchall())

    # --- identities ---------------------------------------------------------------------

    def propose(self, identity: Identity) -> None:
        """Store what the search found for a downtime patient; a person's decision, once
        made, is kept."""
        with self._lock:
            self.db().execute(
                "INSERT INTO identities (patient, proposal, basis, his, candidates) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (patient) DO UPDATE SET "
                "proposal = excluded.proposal, basis = excluded.basis, his = excluded.his, "
                "candidates = excluded.candidates",
                (identity.patient, identity.proposal, identity.basis, identity.his,
                 orjson.dumps(identity.candidates).decode()))

    def decide(self, patient: str, decision: str, his: str | None, by: str) -> None:
        if decision not in ("match", "create") or (decision == "match") != bool(his):
            raise ValueError("a decision is 'match' with a HIS patient, or 'create'")
        with self._lock:
            cursor = self.db().execute(
                "UPDATE identities SET decision = ?, decided_his = ?, decided_by = ?, "
                "decided_at = ? WHERE patient = ?", (decision, his, by, _now(), patient))
            if cursor.rowcount != 1:
                raise KeyError(patient)

    def identities(self) -> dict[str, Identity]:
        if not self.exists():
            return {}
        with self._lock:
            rows = self.db().execute(
                "SELECT patient, proposal, basis, his, candidates, decision, decided_his, "
                "decided_by, decided_at FROM identities").fetchall()
        return {row[0]: Identity(row[0], row[1], row[2], row[3], orjson.loads(row[4]),
                                 *row[5:]) for row in rows}
