"""Who a patient is by their identifiers: the identifier index patient search and the
contained-Patient subjects stand on, and its upkeep.

  patient_ids(key, patient_rowid)   one row per searched identifier key of each patient
                                    (projections.identifier_keys: a value compacted);
                                    the system|value keys, for matching, are read from
                                    patients.identifiers
  contained_subjects(type, id, patient, keys, resource)
                                    the resources whose subject (patient, beneficiary)
                                    is a Patient they contain ("#p1"): the id of the
                                    patient that Patient stands for, its identifier
                                    keys, and the Patient itself under that id

A resource whose patient it contains is filed under the index's patient that carries
one of the contained Patient's identifiers (same system, same value), when exactly one
patient does; else under the contained Patient itself, shown as a patient of its own
(its id starts with CONTAINED_PREFIX). `relink` decides that again at the end of every
apply, as the patients it depends on come and go: it is never filed under a patient
that merely looks alike (a name, a birth date), and it is never lost.

Like the name-word index (words.py), a generation build fills patient_ids once after
the patients are loaded; a delta keeps it in step inside its own transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

import orjson

from ..records.projections import CONTAINED_PREFIX, patient_row
from . import words

SCHEMA = """
CREATE TABLE IF NOT EXISTS patient_ids(
  key TEXT NOT NULL, patient_rowid INTEGER NOT NULL, PRIMARY KEY(key, patient_rowid)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS contained_subjects(
  type TEXT NOT NULL, id TEXT NOT NULL, patient TEXT NOT NULL, keys TEXT NOT NULL,
  resource TEXT NOT NULL);
"""
KEYS = "CREATE UNIQUE INDEX IF NOT EXISTS contained_subjects_key ON contained_subjects(type, id);\n"
INDEXES = "CREATE INDEX IF NOT EXISTS contained_subjects_patient ON contained_subjects(patient);\n"
# the ids CONTAINED_PREFIX starts, as a key range: "." follows "-"
_CONTAINED = (CONTAINED_PREFIX, CONTAINED_PREFIX[:-1] + ".")
_IS_CONTAINED = "(p.id >= ? AND p.id < ?)"
_PATIENT_COLUMNS = ("id, family, given, name_norm, birth_date, gender, ipp, ins, active, "
                    "deceased, sort_key, identifiers")


def fill(conn: sqlite3.Connection) -> None:
    """Build patient_ids from freshly loaded patients (a new generation)."""
    conn.execute("INSERT OR IGNORE INTO patient_ids(key, patient_rowid) SELECT j.value, p.rowid "
                 "FROM patients p, json_each(p.identifiers) j WHERE instr(j.value, '|') = 0 "
                 "ORDER BY 1, 2")


def _keys(conn: sqlite3.Connection, pid: str) -> list[tuple[str, int]]:
    """The patient's searched keys (system|value ones are read from patients.identifiers
    when needed: indexing them too doubled the table and the time a build fills it in)."""
    row = conn.execute("SELECT rowid, identifiers FROM patients WHERE id = ?", (pid,)).fetchone()
    return [] if row is None else [(key, row[0]) for key in orjson.loads(row[1]) if "|" not in key]


def remove_patients(conn: sqlite3.Connection, ids: Iterable[tuple[str]]) -> None:
    """Forget these patients' identifiers (called before their rows are deleted)."""
    pairs = [pair for (pid,) in ids for pair in _keys(conn, pid)]
    conn.executemany("DELETE FROM patient_ids WHERE key = ? AND patient_rowid = ?", pairs)


def add_patients(conn: sqlite3.Connection, ids: Iterable[str]) -> None:
    """Index these patients' identifiers (called once their rows are inserted)."""
    pairs = [pair for pid in ids for pair in _keys(conn, pid)]
    conn.executemany("INSERT OR IGNORE INTO patient_ids(key, patient_rowid) VALUES (?, ?)", pairs)


def forget_subjects(conn: sqlite3.Connection, keys: list[tuple[str, str]]) -> None:
    """Drop the contained_subjects rows of resources a delta replaces or deletes (their
    new versions, if still contained, come with rows of their own)."""
    if keys and conn.execute("SELECT 1 FROM contained_subjects LIMIT 1").fetchone():
        conn.executemany("DELETE FROM contained_subjects WHERE type = ? AND id = ?", keys)


def owner(conn: sqlite3.Connection, keys: list[str]) -> str | None:
    """The one patient of the index (not one a contained Patient stands for) that carries
    any of the system|value keys among these identifier keys; None if none does, or
    several do. The searched keys find the candidates, by index."""
    searched = [key for key in keys if "|" not in key]
    exact = {key for key in keys if "|" in key}
    if not searched or not exact:
        return None
    marks = ",".join("?" * len(searched))
    found = conn.execute(
        f"SELECT DISTINCT p.id, p.identifiers FROM patient_ids k "
        f"JOIN patients p ON p.rowid = k.patient_rowid "
        f"WHERE k.key IN ({marks}) AND NOT {_IS_CONTAINED}", (*searched, *_CONTAINED))
    owners = {pid for pid, identifiers in found if exact.intersection(orjson.loads(identifiers))}
    return owners.pop() if len(owners) == 1 else None


def relink(conn: sqlite3.Connection) -> None:
    """File every contained-subject resource under its owner, or under the patient its
    contained Patient stands for; show exactly the latter patients that have resources."""
    subjects = conn.execute("SELECT type, id, patient, keys, resource FROM contained_subjects").fetchall()
    shown = {pid for (pid,) in conn.execute(f"SELECT id FROM patients p WHERE {_IS_CONTAINED}",
                                            _CONTAINED)}
    if not subjects and not shown:
        return
    stands: dict[str, tuple[list[str], str]] = {}
    members: dict[str, list[tuple[str, str]]] = {}
    for rtype, rid, pid, keys, resource in subjects:
        stands.setdefault(pid, (orjson.loads(keys), resource))
        members.setdefault(pid, []).append((rtype, rid))
    wanted: dict[str, str] = {}
    moves = []
    for pid, (keys, resource) in stands.items():
        filed = owner(conn, keys) or pid
        if filed == pid:
            wanted[pid] = resource
        moves += [(filed, rtype, rid, filed) for rtype, rid in members[pid]]
    conn.executemany("UPDATE records SET patient = ? WHERE type = ? AND id = ? "
                     "AND patient IS NOT ?", moves)
    stays = [(filed, rid, filed) for filed, rtype, rid, _ in moves if rtype == "Encounter"]
    if stays:  # a stay's patient is its Encounter's, and ranks that patient's names
        moved = [p for _, rid, _ in stays for (p,) in
                 conn.execute("SELECT patient FROM stays WHERE encounter = ?", (rid,))]
        conn.executemany("UPDATE stays SET patient = ? WHERE encounter = ? AND patient IS NOT ?", stays)
        words.rerank(conn, moved + [filed for filed, _, _ in stays])
    gone = [(pid,) for pid in shown - wanted.keys()]
    words.remove_patients(conn, gone)
    remove_patients(conn, gone)
    conn.executemany("DELETE FROM patients WHERE id = ?", gone)
    new = [pid for pid in wanted if pid not in shown]
    conn.executemany(f"INSERT INTO patients({_PATIENT_COLUMNS}) VALUES ({','.join('?' * 12)})",
                     [patient_row(orjson.loads(wanted[pid])) for pid in new])
    words.add_patients(conn, new)
    add_patients(conn, new)


def contained_patient(conn: sqlite3.Connection, pid: str) -> dict | None:
    """The Patient a patient of the index stands for when it is a contained one (its
    resources have no Patient of their own to show)."""
    row = conn.execute("SELECT resource FROM contained_subjects WHERE patient = ? LIMIT 1",
                       (pid,)).fetchone()
    return orjson.loads(row[0]) if row is not None else None
