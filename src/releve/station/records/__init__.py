"""A segment's records, from the encrypted file to rows ready for the index.

The vault's segment.py decrypts in a thread that writes into a pipe, so the segment is
never held in memory whole (a full segment is about 100 MB compressed at 1,000 beds),
and this process parses meanwhile. The plaintext is
cut into blocks of a few megabytes at line boundaries; each block is placed in the
index's record file, then parsed into a `Batch` (rows for `records`, projection rows,
the keys it touches) in forked worker processes that read it back from the file:
parsing is most of an apply's CPU and the index writer runs meanwhile. For a new
generation the workers leave the rows in SQLite stages the index copies from (see
Staged). Blocks come back in order, so a later record still wins over an earlier one.

  lines.py        a plaintext line: the members every record needs (msgspec)
  projections.py  the rows of the projected types (patients, locations, stays, bookings)
  batches.py      a block of lines into a Batch, each resource once
  stages.py       the SQLite files a generation build takes the rows from
  worker.py       what a forked worker runs: a placed block read back and parsed
  parser.py       the blocks of a segment, through the workers, in order
"""
