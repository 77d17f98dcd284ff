"""A parsed block's rows into the tables: from the Batch, or from the worker's stage."""

from __future__ import annotations

import sqlite3

from ..records.batches import Batch
from ..records.stages import STAGED_TABLES, Staged
from . import identities, words

_INTO = {  # the projection tables' columns, in the order records/projections.py makes them
    "patients": "patients(id, family, given, name_norm, birth_date, gender, ipp, ins, active, "
                "deceased, sort_key, identifiers)",
    "locations": "locations", "stays": "stays", "bookings": "bookings",
    "contained_subjects": "contained_subjects", "security_contexts": "security_contexts",
}
_INSERTS = {table: f"INSERT OR REPLACE INTO {into} VALUES ({','.join('?' * STAGED_TABLES[table])})"
            for table, into in _INTO.items()}


# A block's resources in one statement from Batch.rows, so no Python object is made per
# resource and the whole insert runs without the GIL (measured: a third less CPU than
# executemany); ?1 is where the block starts in the record file. A resource already there
# is updated in place, not deleted and inserted again: a delta then rewrites one page of
# the table for it and none of its indexes ("WHERE true" tells the parser that ON
# CONFLICT belongs to the INSERT)
_INTO_RECORDS = "INSERT INTO records(type, id, patient, updated, pos, len) "
_UPSERT = (" ON CONFLICT(type, id) DO UPDATE SET patient = excluded.patient, "
           "updated = excluded.updated, pos = excluded.pos, len = excluded.len")
_INSERT_ROWS = (_INTO_RECORDS + "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), "
                "json_extract(value, '$[2]'), json_extract(value, '$[3]'), "
                "?1 + json_extract(value, '$[4]') - 1, json_extract(value, '$[5]') "
                "FROM json_each(?2) WHERE true" + _UPSERT)

# the same from a worker's stage (records/stages.py): c4 is where the line starts in the block
_STAGED_ROWS = (_INTO_RECORDS + "SELECT c0, c1, c2, c3, ?1 + c4 - 1, c5 FROM {stage}.rows "
                "WHERE rowid BETWEEN ?2 AND ?3" + _UPSERT)


def insert_batch(conn: sqlite3.Connection, batch: Batch, names: bool,
                 stages: dict[str, str]) -> None:
    """Insert the rows placing a batch's lines (its block is in the record file already)
    and its projections, from the batch or from the stage it names (`stages`: the schema
    name each stage file is attached as); `names` fills the name index row by row (a
    generation build fills it once at the end, before patients.id has an index)."""
    if batch.stage is not None:
        _insert_staged(conn, batch.start, batch.stage, stages[batch.stage.path])
        return
    conn.execute(_INSERT_ROWS, (batch.start, batch.rows))
    for table, values in batch.projections.items():
        conn.executemany(_INSERTS[table], values)
        if table == "patients" and names:
            ids = [v[0] for v in values]
            words.add_patients(conn, ids)
            identities.add_patients(conn, ids)


def _insert_staged(conn: sqlite3.Connection, start: int, staged: Staged, stage: str) -> None:
    for table, (first, last) in staged.ranges.items():
        if table == "rows":
            conn.execute(_STAGED_ROWS.format(stage=stage), (start, first, last))
        else:
            conn.execute(f"INSERT OR REPLACE INTO {_INTO[table]} SELECT * FROM {stage}.{table} "
                         "WHERE rowid BETWEEN ? AND ?", (first, last))
