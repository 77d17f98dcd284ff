"""The station's local index: every current resource, and the projections pages need.

One SQLite database per *generation*, and beside it the generation's record file: the
record lines themselves, as the segments brought them, one block after another. The
database places each resource's current line in that file by offset and length rather
than holding it (measured at 200 beds: a row holding its 1.2 kB line costs SQLite
6.7 us to insert, a row placing it 2.8 us, and the database is 33 MB instead of 519 MB),
and every connection sees the lines through a view, `resources`, as if they were a
column. The file is only ever appended to; a line a later one replaced, a delete record
and an interrupted append stay in it unreferenced until the next generation.

Deltas are applied to the current generation in one transaction per segment, together
with the chain head they bring the station to, so a kill -9 at any moment leaves either
the segment wholly applied or not at all. A full segment (a checkpoint, or a new
station's first) is built into a fresh generation with the journal off and the indexes
created after the load, which is several times faster than replacing every row in place;
the switch is one atomic rename of the CURRENT file, and pages keep reading the previous
generation until it lands. A generation has its own `-wal` and `-shm` files, so no
write-ahead log can ever meet the wrong database.

The tables are described in schema.py (docs/station.md is the normative text).

  schema.py       the tables, their keys and indexes, and the format number
  errors.py       an index that cannot be opened, or is unusable
  record_file.py  a generation's record file: read by offset, appended to
  generations.py  which generation is current (the CURRENT file), and the stale ones
  connection.py   a connection to a generation, with the `resources` view
  head.py         the chain head a generation records, and the segments accounted for
  inserts.py      a parsed block's rows into the tables
  writer.py       the writable Index a sync holds: deltas in place, builds, switches
  words.py        the name-word index patient search stands on
"""
