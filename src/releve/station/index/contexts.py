"""Binaries filed under their patient by their securityContext.

FHIR says whose a Binary is with `Binary.securityContext`: a Patient (records/lines.py
files the Binary under it as it parses the line, like any subject), or another resource
of the patient, most often the DocumentReference or the Encounter it belongs to. The
latter cannot be decided line by line (the resource it names may come later in the
segment, or in a later one), so such a Binary is noted here and `link` files it under
that resource's patient at the end of every apply, as identities.relink does for the
contained-Patient subjects:

  security_contexts(id, type, target)   a Binary, and the resource its context names

The table holds only the Binaries whose context is not a Patient (few: most Binaries are
named by a DocumentReference and carry no context, or name their Patient); `link` is one
indexed join over it.
"""

from __future__ import annotations

import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS security_contexts(
  id TEXT NOT NULL, type TEXT NOT NULL, target TEXT NOT NULL);
"""
KEYS = "CREATE UNIQUE INDEX IF NOT EXISTS security_contexts_id ON security_contexts(id);\n"

_LINK = """
UPDATE records SET patient = owner.patient
FROM security_contexts AS c JOIN records AS owner ON owner.type = c.type AND owner.id = c.target
WHERE records.type = 'Binary' AND records.id = c.id AND owner.patient IS NOT NULL
  AND records.patient IS NOT owner.patient
"""


def link(conn: sqlite3.Connection) -> None:
    """File every Binary whose context names a resource under that resource's patient."""
    conn.execute(_LINK)


def forget(conn: sqlite3.Connection, keys: list[tuple[str, str]]) -> None:
    """Within a delta: the Binaries it puts or deletes are noted again by their new line."""
    conn.executemany("DELETE FROM security_contexts WHERE id = ?",
                     [(rid,) for rtype, rid in keys if rtype == "Binary"])
