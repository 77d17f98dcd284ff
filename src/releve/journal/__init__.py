"""The downtime journal: what the wards record during the outage, signed and chained.

Data flows capture → vault → station → journal: the journal reads the station's folder
and index, never the other way round. On screen these are the « Saisies du mode
dégradé ». docs/journal.md is the format.

  entry.py    an entry's line, hash and signature; the envelope's shape
  files.py    the append-only files and pinned keys
  index.py    journal.sqlite, derived from the files: all SQL on entries
  book.py     `Journal`: append, ingest a peer's lines, read
  verify.py   every entry of every held journal, from the files
  export.py   FHIR ndjson for the HIS
"""
