"""Single resources by type and id, for the pages and printouts that need one whole
(a patient's INS traits, a ward's codes, a document's attachment)."""

from __future__ import annotations

import sqlite3

from ...fhir.clinical.values import load


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
