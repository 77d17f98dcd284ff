"""Single resources by type and id, for the pages and printouts that need one whole
(a patient's INS traits, a ward's codes, a document's attachment)."""

from __future__ import annotations

import sqlite3

from ...fhir.clinical.values import load


def of_patient(conn: sqlite3.Connection, patient: str, rtype: str) -> list[dict]:
    """Every resource of one type the index holds for a patient (what the local FHIR API
    returns beside the journal's)."""
    rows = conn.execute("SELECT json FROM resources WHERE patient = ? AND type = ?",
                        (patient, rtype)).fetchall()
    return [found for row in rows if (found := load(row[0])) is not None]


def current_stay(conn: sqlite3.Connection, pid: str) -> dict | None:
    """The patient's stay in progress in the vault (an inpatient one first, latest first)."""
    row = conn.execute("SELECT encounter FROM stays WHERE patient = ? AND current = 1 "
                       "AND status <> 'planned' ORDER BY class = 'IMP' DESC, start DESC LIMIT 1",
                       (pid,)).fetchone()
    return resource(conn, "Encounter", row[0]) if row else None


def resource(conn: sqlite3.Connection, rtype: str, rid: str,
             patient: str | None = None) -> dict | None:
    """The resource, or None if the index holds none (of that patient, when one is given)
    or its line is not a JSON object."""
    if patient is None:
        row = conn.execute("SELECT json FROM resources WHERE type = ? AND id = ?",
                           (rtype, rid)).fetchone()
    else:
        row = conn.execute("SELECT json FROM resources WHERE type = ? AND id = ? AND patient = ?",
                           (rtype, rid, patient)).fetchone()
    return load(row[0]) if row else None
