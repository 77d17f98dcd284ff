"""The station's append-only audit log: who saw which patient, when, on which page.

Every patient view and every search on a station is recorded here (table `audit` in
`<station dir>/local.sqlite`, next to the accounts), as are logins, failed logins,
logouts and prints. This is the ONE place where patient-identifying data may be written
outside the index: the text of a search (which may be a patient's name) goes in an
entry's `detail`, and the patient's id in `patient`. Application logs must never carry
either; they may refer to an audit entry by its number instead.

Append-only is enforced twice:

- SQLite triggers abort any UPDATE or DELETE of an audit row, and any INSERT that is not
  the next number with the previous entry's hash (which also stops `INSERT OR REPLACE`,
  whose implicit delete does not fire delete triggers).
- Each entry is hash-chained: `hash` = SHA-256 of the canonical encoding of
  (seq, time, user, action, page, patient, detail, prev_hash), `prev_hash` being the
  previous entry's `hash` and 64 zeros for entry 1. The canonical encoding is the UTF-8
  of the JSON array of those eight values, without whitespace, non-ASCII characters
  written as themselves (Python's `json.dumps(values, ensure_ascii=False,
  separators=(",", ":"))`); `patient` and `detail` may be null. Someone who drops the
  triggers and edits the file breaks the chain, and `verify()` names the first entry
  that no longer fits. The chain cannot show entries cut from the end: compare the count
  `verify()` returns with one kept elsewhere (a printout, the crisis cell's records).

A page that shows many patients (a census, an OR day, search results, a ward's printout)
is ONE entry whose patients are listed in `audit_patients(seq, patient)`, one small row
each, under the same append-only triggers (rows only for the newest entry, never changed
or deleted). The entry's hash then covers them: the canonical array gets a ninth value,
the sorted list of those ids; entries without such a list keep the eight values, so logs
written before the list existed verify unchanged. One entry per page rather than one per
patient keeps the log readable (a census is one line, not thirty) and the append one
transaction of one hash whatever the number of patients.

Writers are several web threads or processes: each append takes the write lock first
(BEGIN IMMEDIATE) and reads the last number and hash inside that transaction, so the
chain stays gapless whatever the concurrency.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from ... import clock
from ...errors import ReleveError
from .accounts import connect, create_local_db, write_transaction

GENESIS = "0" * 64

def _frozen(table: str) -> str:
    """Triggers that abort any UPDATE or DELETE of the table's rows."""
    return "\n".join(
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{verb.lower()} BEFORE {verb} ON {table}\n"
        f"BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: entries cannot be {done}'); END;"
        for verb, done in (("UPDATE", "changed"), ("DELETE", "deleted")))


_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS audit (
    seq       INTEGER PRIMARY KEY,   -- 1, 2, 3... without gaps
    time      TEXT NOT NULL,         -- UTC, ISO 8601 with milliseconds and Z
    user      TEXT NOT NULL,
    action    TEXT NOT NULL,         -- view, search, print, login, login-failed, logout...
    page      TEXT NOT NULL,
    patient   TEXT,                  -- Patient id, when the entry concerns one
    detail    TEXT,                  -- e.g. the search text
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_patient ON audit(patient, seq);
CREATE INDEX IF NOT EXISTS audit_user ON audit(user, seq);
{_frozen('audit')}
CREATE TRIGGER IF NOT EXISTS audit_append_next BEFORE INSERT ON audit
WHEN NEW.seq IS NOT (SELECT COALESCE(MAX(seq), 0) + 1 FROM audit)
  OR NEW.prev_hash IS NOT COALESCE((SELECT hash FROM audit WHERE seq = NEW.seq - 1), '{GENESIS}')
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: only the next entry can be added'); END;
CREATE TABLE IF NOT EXISTS audit_patients (
    seq     INTEGER NOT NULL,        -- the entry (audit.seq) that showed the patient
    patient TEXT NOT NULL,
    PRIMARY KEY (patient, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS audit_patients_seq ON audit_patients(seq, patient);
{_frozen('audit_patients')}
CREATE TRIGGER IF NOT EXISTS audit_patients_newest BEFORE INSERT ON audit_patients
WHEN NEW.seq IS NOT (SELECT MAX(seq) FROM audit)
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: only the newest entry can list patients'); END;
"""

_COLUMNS = "seq, time, user, action, page, patient, detail, hash"


class AuditError(ReleveError):
    """The audit log cannot be opened, or its chain is broken at entry `seq`."""

    def __init__(self, message: str, seq: int | None = None) -> None:
        super().__init__(message)
        self.seq = seq


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    time: str
    user: str
    action: str
    page: str
    patient: str | None
    detail: str | None
    hash: str
    patients: tuple[str, ...] = ()  # every patient a census, OR day, search or sheet showed

    def shows(self, patient: str) -> bool:
        return self.patient == patient or patient in self.patients


def entry_hash(seq: int, time: str, user: str, action: str, page: str,
               patient: str | None, detail: str | None, prev_hash: str,
               patients: list[str] | tuple[str, ...] = ()) -> str:
    """SHA-256 (hex) of the canonical encoding described in the module docstring."""
    values: list = [seq, time, user, action, page, patient, detail, prev_hash]
    if patients:
        values.append(list(patients))
    encoded = json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()


class Audit:
    """Append entries, read them newest first, and check the chain."""

    def __init__(self, station_dir: Path) -> None:
        self.path = create_local_db(Path(station_dir), _SCHEMA, AuditError)

    def record(self, user: str, action: str, page: str, patient: str | None = None,
               detail: str | None = None, patients: Iterable[str] = ()) -> int:
        """Append one entry, with the patients a list page showed; return its number."""
        user, action, page = _text(user), _text(action), _text(page)
        patient, detail = _optional(patient), _optional(detail)
        listed = sorted({_text(p) for p in patients if p})
        with connect(self.path) as db, write_transaction(db):
            last = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS)
            time = clock.utc_text("milliseconds")
            digest = entry_hash(seq, time, user, action, page, patient, detail, prev_hash, listed)
            db.execute("INSERT INTO audit (seq, time, user, action, page, patient, detail, prev_hash, hash) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (seq, time, user, action, page, patient, detail, prev_hash, digest))
            db.executemany("INSERT INTO audit_patients (seq, patient) VALUES (?, ?)",
                           [(seq, p) for p in listed])
        return seq

    def entries(self, limit: int = 200, offset: int = 0, patient: str | None = None,
                user: str | None = None, action: str | None = None) -> list[AuditEntry]:
        """Entries newest first, optionally only those that showed one patient (alone or
        in a list), one user's, or one action's."""
        where, params = [], []
        if patient is not None:
            where.append("(patient = ? OR seq IN (SELECT seq FROM audit_patients WHERE patient = ?))")
            params += [patient, patient]
        for column, value in (("user", user), ("action", action)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        with connect(self.path) as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM audit {clause}ORDER BY seq DESC LIMIT ? OFFSET ?",
                              (*params, limit, offset)).fetchall()
            listed = _listed(db, [row[0] for row in rows])
        return [replace(AuditEntry(*row), patients=listed.get(row[0], ())) for row in rows]

    def granted(self, user: str, patient: str, action: str, since: str) -> AuditEntry | None:
        """The user's latest `action` entry for this patient recorded at `since` or later."""
        return self._latest(user, action, since, "patient = ?", (patient,))

    def granted_ward(self, user: str, ward: str, action: str, since: str) -> AuditEntry | None:
        """The user's latest `action` entry for this ward's census (no patient, page
        "census", detail `ward_detail(ward, ...)`) recorded at `since` or later."""
        prefix = ward_detail(ward, "")
        return self._latest(user, action, since,
                            "patient IS NULL AND page = 'census' AND substr(detail, 1, ?) = ?",
                            (len(prefix), prefix))

    def _latest(self, user: str, action: str, since: str, where: str,
                params: tuple) -> AuditEntry | None:
        with connect(self.path) as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM audit WHERE {where} AND user = ? "
                             "AND action = ? AND time >= ? ORDER BY seq DESC LIMIT 1",
                             (*params, user, action, since)).fetchone()
        return AuditEntry(*row) if row else None

    def verify(self) -> int:
        """Check every entry's number, link and hash from the first; return the count."""
        expected_seq, prev = 1, GENESIS
        with connect(self.path) as db:
            db.execute("BEGIN")  # one snapshot, even while others append
            rows = db.execute("SELECT seq, time, user, action, page, patient, detail, prev_hash, hash "
                              "FROM audit ORDER BY seq")
            lists = _PatientLists(db.cursor())
            for seq, time, user, action, page, patient, detail, prev_hash, digest in rows:
                _check_entry(expected_seq, prev, seq, prev_hash, digest,
                             entry_hash(seq, time, user, action, page, patient, detail, prev_hash,
                                        lists.take(seq)))
                expected_seq, prev = seq + 1, digest
            db.execute("COMMIT")
        return expected_seq - 1


class _PatientLists:
    """The audit_patients rows read alongside the entries, both in seq order: O(1) memory."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self.rows = cursor.execute("SELECT seq, patient FROM audit_patients ORDER BY seq, patient")
        self.pending = next(self.rows, None)

    def take(self, seq: int) -> list[str]:
        found = []
        while self.pending is not None and self.pending[0] <= seq:
            if self.pending[0] == seq:
                found.append(self.pending[1])
            else:  # a list whose entry is gone: the entry before it has been cut
                raise AuditError(f"audit entry {self.pending[0]} is missing (its patients remain)",
                                 self.pending[0])
            self.pending = next(self.rows, None)
        return found


def _listed(db: sqlite3.Connection, seqs: list[int]) -> dict[int, tuple[str, ...]]:
    """The patient lists of these entries (a page of the log: a few dozen at most)."""
    if not seqs:
        return {}
    marks = ",".join("?" * len(seqs))
    found: dict[int, list[str]] = {}
    for seq, patient in db.execute(f"SELECT seq, patient FROM audit_patients WHERE seq IN ({marks}) "
                                   "ORDER BY seq, patient", seqs):
        found.setdefault(seq, []).append(patient)
    return {seq: tuple(patients) for seq, patients in found.items()}


def _check_entry(expected_seq: int, expected_prev: str, seq: int, prev_hash: str,
                 stored: str, computed: str) -> None:
    if seq != expected_seq:
        raise AuditError(f"audit entry {expected_seq} is missing (next entry is {seq})", expected_seq)
    if prev_hash != expected_prev:
        raise AuditError(f"audit entry {seq} does not follow entry {seq - 1} (prev_hash differs)", seq)
    if stored != computed:
        raise AuditError(f"audit entry {seq} has been altered (its hash does not match its content)", seq)


def ward_detail(ward: str, reason: str) -> str:
    """The detail of an entry about a whole ward rather than one patient: "ward=ID: reason"."""
    return f"ward={_text(ward)}: {reason}"


def _text(value: str) -> str:
    """Store what SQLite can hold: lone surrogates (from a bad form post) become U+FFFD."""
    return str(value).encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _optional(value: str | None) -> str | None:
    return None if value is None else _text(value)
