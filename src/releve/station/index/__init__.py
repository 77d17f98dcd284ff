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

Tables (docs/station.md is the normative description):
  meta(key, value)        the chain head and state the generation holds
  segments                every segment the station accounted for, applied or not, and why
  records                 every current resource by (type, id), with the patient it
                          belongs to, its lastUpdated, and where its line is in the
                          record file (pos, len)
  resources (temp view)   the same with the line's bytes as `json`, in every connection
  patients                identity columns, the folded name words and the sort key
  words, word_grams,      the name-word index patient search stands on (words.py)
  patient_words
  locations               the tree of sites, units, rooms and beds
  stays                   encounters, with their current bed or unit and attending
  bookings                appointments (the OR schedule) by local day
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ... import clock, collector
from ...errors import ReleveError
from ...files import write_atomic
from .. import folder
from ..folder import records_path
from ..private import create_private
from ..records.batches import Batch
from ..records.projections import PROJECTIONS
from ..records.stages import STAGED_TABLES, Staged
from . import words

FORMAT = "3"  # 2: the name-word index replaced the trigram index of whole names; 3: the
# record lines moved out of the database into the generation's record file

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS segments(
  seq INTEGER PRIMARY KEY, sha256 TEXT NOT NULL, kind TEXT NOT NULL, time TEXT NOT NULL,
  source TEXT NOT NULL, puts INTEGER NOT NULL, deletes INTEGER NOT NULL,
  outcome TEXT NOT NULL, reason TEXT, accounted TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records(
  type TEXT NOT NULL, id TEXT NOT NULL, patient TEXT, updated TEXT, pos INTEGER NOT NULL,
  len INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS patients(
  id TEXT NOT NULL, family TEXT, given TEXT, name_norm TEXT NOT NULL, birth_date TEXT,
  gender TEXT, ipp TEXT, ins TEXT, active INTEGER NOT NULL, deceased INTEGER NOT NULL,
  sort_key TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS locations(
  id TEXT NOT NULL, name TEXT, physical_type TEXT, part_of TEXT, status TEXT,
  operational TEXT, phone TEXT);
CREATE TABLE IF NOT EXISTS stays(
  encounter TEXT NOT NULL, patient TEXT, status TEXT, class TEXT, start TEXT, end TEXT,
  location TEXT, attending TEXT, current INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS bookings(
  appointment TEXT NOT NULL, day TEXT, start TEXT, end TEXT, patient TEXT, location TEXT,
  status TEXT);
""" + words.SCHEMA

# the keys exist from the start: a later record replaces an earlier one (INSERT OR
# REPLACE), so a generation build needs no deduplication pass over the loaded table, and
# a full segment, written in type and id order, appends to these B-trees
KEYS = """
CREATE UNIQUE INDEX IF NOT EXISTS records_key ON records(type, id);
CREATE UNIQUE INDEX IF NOT EXISTS patients_id ON patients(id);
CREATE UNIQUE INDEX IF NOT EXISTS locations_id ON locations(id);
CREATE UNIQUE INDEX IF NOT EXISTS stays_encounter ON stays(encounter);
CREATE UNIQUE INDEX IF NOT EXISTS bookings_appointment ON bookings(appointment);
"""

# created after a bulk load (a generation build), or at once for an empty one
INDEXES = """
CREATE INDEX IF NOT EXISTS records_patient ON records(patient, type) WHERE patient IS NOT NULL;
CREATE INDEX IF NOT EXISTS patients_ipp ON patients(ipp) WHERE ipp IS NOT NULL;
CREATE INDEX IF NOT EXISTS patients_ins ON patients(ins) WHERE ins IS NOT NULL;
CREATE INDEX IF NOT EXISTS patients_birth ON patients(birth_date);
CREATE INDEX IF NOT EXISTS patients_sort_key ON patients(sort_key);
CREATE INDEX IF NOT EXISTS locations_part_of ON locations(part_of);
CREATE INDEX IF NOT EXISTS stays_location ON stays(location) WHERE current = 1;
CREATE INDEX IF NOT EXISTS stays_patient ON stays(patient);
CREATE INDEX IF NOT EXISTS stays_current ON stays(patient) WHERE current = 1;
CREATE INDEX IF NOT EXISTS bookings_day ON bookings(day, start);
"""


class StationIndexError(ReleveError):
    """The index cannot be opened or does not belong to this station's vault."""


class Unusable(StationIndexError):
    """The current generation is of another format, or damaged. The index is a cache of
    the vault: a sync builds a new generation from the vault's latest checkpoint
    (Index.replaced), while pages report this until it lands."""


@dataclass(frozen=True)
class Replaced:
    """An unusable generation a sync is starting over from: why, and the head it held
    when that can still be read (the vault must not have been rolled back behind it)."""

    why: str
    head: Head | None


@dataclass(frozen=True)
class SegmentMeta:
    """What the station verified of a segment before applying it (from its signature)."""

    seq: int
    sha256: str
    kind: str
    time: str
    source: str
    puts: int
    deletes: int
    suspect: str | None = None


@dataclass(frozen=True)
class Head:
    seq: int  # the last segment accounted for (applied, or skipped as suspect)
    sha256: str  # its hash: the next segment must chain onto it
    state_seq: int  # the last segment whose content is in the index
    state_time: str | None  # its capture time: how old the data shown is


_INTO = {  # the projection tables' columns, in the order records.py makes them
    "patients": "patients(id, family, given, name_norm, birth_date, gender, ipp, ins, active, "
                "deceased, sort_key)",
    "locations": "locations", "stays": "stays", "bookings": "bookings",
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

# the same from a worker's stage (records.Staged): c4 is where the line starts in the block
_STAGED_ROWS = (_INTO_RECORDS + "SELECT c0, c1, c2, c3, ?1 + c4 - 1, c5 FROM {stage}.rows "
                "WHERE rowid BETWEEN ?2 AND ?3" + _UPSERT)

# what pages read: the records with their lines (a view SQLite folds into each query, so
# the record file is read only for the rows a query returns)
_RESOURCES_VIEW = ("CREATE TEMP VIEW IF NOT EXISTS resources AS SELECT type, id, patient, "
                   "updated, record_line(pos, len) AS json FROM main.records")


# --- generations --------------------------------------------------------------------------------


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=10000")
    _see_lines(conn, records_path(path))
    return conn


class RecordFile:
    """A generation's record file, read by offset. The file is opened once per connection
    and stays open: a page still reading a superseded generation keeps reading its file
    after the switch removed it (POSIX), as it keeps its database."""

    def __init__(self, path: Path):
        self.path = path
        self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)

    def __call__(self, pos: int | None, length: int | None) -> bytes | None:
        if pos is None or length is None:
            return None  # no such resource (the view on the right of a LEFT JOIN)
        line = os.pread(self.fd, length, pos)
        if len(line) != length:
            raise StationIndexError(f"{self.path.name} ends before the record at {pos} the index places there")
        return line

    def __del__(self) -> None:
        if hasattr(self, "fd"):
            os.close(self.fd)


def _see_lines(conn: sqlite3.Connection, records: Path) -> None:
    """Give the connection the `resources` view over the record file, once the file is
    seen to hold every byte the generation's rows may place (meta `records_end`): a
    truncated or replaced file is reported here, by name, rather than as a page that
    fails on one resource (SQLite reports a failing function without its message)."""
    try:
        reader_ = RecordFile(records)
    except FileNotFoundError:
        conn.close()
        raise Unusable(f"the index generation has no record file {records.name}") from None
    size, end = os.fstat(reader_.fd).st_size, _records_end(conn)
    if size < end:
        conn.close()
        raise Unusable(f"{records.name} holds {size} bytes, the index places lines up to "
                       f"byte {end}: the record file is damaged")
    conn.create_function("record_line", 2, reader_, deterministic=True)
    conn.execute(_RESOURCES_VIEW)


_REBUILD_ADVICE = ("the index is a cache of the vault: the next sync builds a new one from the "
                   "vault's latest checkpoint")


def _records_end(conn: sqlite3.Connection) -> int:
    """The meta `records_end` (0 in a generation still being created, with no meta yet)."""
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'records_end'").fetchone()
    except sqlite3.OperationalError:
        return 0
    return int(row[0]) if row else 0


# what an apply reads: the segment's batches, their blocks placed in the record file given
Batches = Callable[["RecordAppender"], Iterable[Batch]]


class RecordAppender:
    """The writer's end of a record file: a block is written where the file ends, and
    made durable before the transaction that places its lines commits.

    A generation build writes the whole plaintext here (2.2 GB at 1000 beds), and with
    24 GB of memory the kernel keeps nearly all of it dirty until the final fdatasync,
    which then waits for the disk while nothing else runs. So every FLUSH_EVERY bytes a
    thread starts an fdatasync of what is written so far (it waits for the disk without
    the GIL), and the build also starts one before its last steps (index.py), leaving the
    final sync little to write."""

    FLUSH_EVERY = 256 << 20

    def __init__(self, path: Path, fresh: bool = False):
        self.path = path
        flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_TRUNC if fresh else 0)
        self.fd = os.open(path, flags, 0o600)
        self.end = self.start = os.fstat(self.fd).st_size  # past an interrupted append
        self._flushed_to = self.end  # where the last flush behind was started
        self._flusher: threading.Thread | None = None
        self._flush_error: OSError | None = None

    def append(self, block: bytes) -> int:
        """Write the block at the end; returns where it starts."""
        start = self.end
        view = memoryview(block)
        with self._named_errors():
            while view:
                written = os.pwrite(self.fd, view, self.end)
                self.end += written
                view = view[written:]
        if self.end - self._flushed_to >= self.FLUSH_EVERY:
            self.flush_behind()
        return start

    def flush_behind(self) -> None:
        """Start writing what is appended so far to the disk, unless a flush still runs."""
        if self._flusher is not None and self._flusher.is_alive():
            return
        self._flushed_to = self.end
        self._flusher = threading.Thread(target=self._flush, daemon=True, name="records-flush")
        self._flusher.start()

    def _flush(self) -> None:
        try:
            os.fdatasync(self.fd)
        except OSError as exc:  # Linux reports a write error to one fdatasync only: keep it
            self._flush_error = exc

    def sync(self) -> None:
        self._join_flusher()
        with self._named_errors():
            if self._flush_error is not None:
                raise self._flush_error
            os.fdatasync(self.fd)

    def _join_flusher(self) -> None:
        if self._flusher is not None:
            self._flusher.join()
            self._flusher = None

    @contextlib.contextmanager
    def _named_errors(self) -> Iterator[None]:
        """A full or failing disk is the station's, not the segment's: say so."""
        try:
            yield
        except OSError as exc:
            raise StationIndexError(f"cannot write the record file {self.path}: {exc.strerror} "
                              "(nothing of this segment was applied)") from exc

    def discard(self) -> None:
        """Cut off what this appender wrote, for a transaction that will not commit."""
        self._join_flusher()
        os.ftruncate(self.fd, self.start)
        self.end = self.start

    def close(self) -> None:
        self._join_flusher()
        os.close(self.fd)


def current_generation(station_dir: Path) -> Path | None:
    """The database the CURRENT file names, or None for a station that holds no data yet."""
    pointer = folder.current_file(station_dir)
    try:
        name = pointer.read_text().strip()
    except FileNotFoundError:
        return None
    path = folder.generation_named(station_dir, name)
    if path is None or not path.exists():
        raise StationIndexError(f"{pointer} names {name!r}, which is not an index generation here")
    return path


def _write_pointer(station_dir: Path, name: str) -> None:
    write_atomic(folder.current_file(station_dir), f"{name}\n".encode())


def _next_generation(station_dir: Path) -> tuple[int, Path]:
    numbers = [n for n in map(folder.generation_number, folder.generation_files(station_dir))
               if n is not None]
    number = max(numbers, default=0) + 1
    return number, folder.generation_file(station_dir, number)


def remove_stale_generations(station_dir: Path) -> None:
    """Drop generations CURRENT does not name: builds a crash interrupted, superseded ones.

    A page still reading a superseded one keeps its open file (POSIX) until it reopens."""
    current = current_generation(station_dir)
    for path in folder.generation_files(station_dir):
        if current is None or path.name.split(".")[0] != current.stem:
            path.unlink(missing_ok=True)


# --- the index ----------------------------------------------------------------------------------


class Index:
    """The writable index a sync holds; pages open their own read-only connections."""

    def __init__(self, station_dir: Path, vault_id: str, genesis: str):
        self.station_dir = Path(station_dir)
        self.dir = folder.index_dir(self.station_dir)
        self.dir.mkdir(mode=0o700, exist_ok=True)
        for existing in self.dir.iterdir():  # generations made before they were created 0600
            if existing.is_file():
                create_private(existing)
        self.vault_id = vault_id
        self.genesis = genesis
        self.replaced: Replaced | None = None
        path = current_generation(self.station_dir)
        if path is None:
            path = self._new_generation(empty=True)
        self.path = path
        try:
            self.conn = connect(path)
            self._check_meta()
        except (Unusable, sqlite3.DatabaseError) as exc:
            if isinstance(exc, sqlite3.DatabaseError) and not _damaged(exc):
                raise  # busy, or a disk error: not a reason to throw the index away
            self._start_over(path, str(exc))

    def close(self) -> None:
        self.conn.close()

    # --- what the index holds --------------------------------------------------------------

    def head(self) -> Head:
        return read_head(self.conn, self.genesis)

    # --- applying segments ---------------------------------------------------------------------

    def apply_delta(self, segment: SegmentMeta, batches: Batches) -> int:
        """Apply a delta in one transaction with the head it leads to; returns records."""
        count = 0
        with self._transaction():
            records = RecordAppender(records_path(self.path))
            try:
                for batch in batches(records):
                    moved = self._remove(batch)
                    _insert_batch(self.conn, batch, names=True, stages={})
                    words.rerank(self.conn, moved + [v[1] for v in batch.projections.get("stays", ())])
                    count += batch.puts + batch.deletes
                self._account(segment, "applied", None, state=True)
                _set_meta(self.conn, {"records_end": str(records.end)})
                records.sync()  # the lines are on disk before the rows placing them commit
            except BaseException:
                records.discard()  # the rows placing them are rolled back: a refused
                raise              # segment retried at every sync does not grow the file
            finally:
                records.close()
        return count

    def skip(self, segment: SegmentMeta, reason: str) -> None:
        """Account for a segment whose content the station does not adopt (suspect): the
        chain moves on, the data shown stays the last good state."""
        with self._transaction():
            self._account(segment, "skipped", reason, state=False)

    def rebuild(self, segment: SegmentMeta, batches: Batches) -> int:
        """Load a full segment into a new generation, then switch to it atomically."""
        path = self._new_generation(empty=False)
        create_private(path)
        build = sqlite3.connect(path, isolation_level=None)
        records = RecordAppender(records_path(path), fresh=True)
        try:
            # 4 KiB pages: a row is a hundred bytes now the lines are in the record file,
            # and a delta rewrites a page for each resource it changes, spread over the
            # whole table (1000 beds, a 1% delta: 2.5 s against 3.0 to 4.0 s with 16 KiB
            # pages, the build as fast, measured); the journal is off as nothing reads
            # this file before CURRENT names it, and a build a crash interrupts is thrown away
            build.executescript("PRAGMA page_size=4096; PRAGMA journal_mode=OFF; "
                                "PRAGMA synchronous=OFF; PRAGMA cache_size=-65536;")
            build.executescript(SCHEMA + KEYS)
            count = 0
            previous = list(self.conn.execute("SELECT * FROM segments"))
            build.execute("BEGIN")
            build.executemany("INSERT INTO segments VALUES (?,?,?,?,?,?,?,?,?,?)", previous)
            build.execute("COMMIT")
            stages: dict[str, str] = {}
            with collector.paused():
                for batch in batches(records):
                    if batch.stage is not None and batch.stage.path not in stages:
                        stages[batch.stage.path] = f"stage{len(stages)}"
                        build.execute(f"ATTACH ? AS {stages[batch.stage.path]}", (batch.stage.path,))
                    # a transaction a block: each reads the stages afresh, seeing the
                    # blocks their workers committed since (journal off: commits are cheap)
                    build.execute("BEGIN")
                    _insert_batch(build, batch, names=False, stages=stages)
                    build.execute("COMMIT")
                    count += batch.puts + batch.deletes
            for name in stages.values():
                build.execute(f"DETACH {name}")
            records.flush_behind()  # the disk writes the lines while the indexes are made
            words.fill(build)
            build.execute("PRAGMA threads=2")  # the index sorts may use the second core
            build.executescript(INDEXES)
            _set_meta(build, self._identity_meta())
            _account_in(build, segment, "applied", None, state=True)
            _set_meta(build, {"records_end": str(records.end)})
            build.execute("PRAGMA journal_mode=WAL")
            build.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            records.sync()
        except BaseException:
            build.close()
            records.close()
            path.unlink(missing_ok=True)
            records_path(path).unlink(missing_ok=True)
            raise
        build.close()
        records.close()
        _fsync_file(path)
        _write_pointer(self.station_dir, path.name)
        self.conn.close()
        self.path = path
        self.conn = connect(path)
        remove_stale_generations(self.station_dir)
        return count

    # --- internals --------------------------------------------------------------------------

    def _new_generation(self, empty: bool) -> Path:
        _, path = _next_generation(self.station_dir)
        if empty:
            self._create_empty(path).close()
            _write_pointer(self.station_dir, path.name)
        return path

    def _create_empty(self, path: Path) -> sqlite3.Connection:
        records_path(path).touch(mode=0o600)
        create_private(path)
        conn = connect(path)
        conn.executescript(SCHEMA + KEYS + INDEXES)
        _set_meta(conn, self._identity_meta())
        return conn

    def _start_over(self, unusable: Path, why: str) -> None:
        """Hold a new, empty generation that CURRENT does not name: the sync's first
        segment then goes to rebuild (a full one, the station being as new), whose switch
        removes both the unusable generation and this one. Pages meanwhile keep the
        unusable one, and say what is wrong with it."""
        self.replaced = Replaced(why, _readable_head(unusable, self.genesis))
        previous = _readable_segments(unusable)
        remove_stale_generations(self.station_dir)  # an empty one a failed attempt left
        _, path = _next_generation(self.station_dir)
        self.conn = self._create_empty(path)
        self.conn.executemany("INSERT INTO segments VALUES (?,?,?,?,?,?,?,?,?,?)", previous)
        self.path = path

    def _identity_meta(self) -> dict[str, str]:
        return {"format": FORMAT, "vault_id": self.vault_id, "genesis": self.genesis}

    def _check_meta(self) -> None:
        meta = dict(self.conn.execute("SELECT key, value FROM meta"))
        if meta.get("format") != FORMAT:
            self.conn.close()
            raise Unusable(f"the station index is format {meta.get('format')!r}, "
                           f"this Relève reads format {FORMAT}")
        if meta.get("vault_id") != self.vault_id or meta.get("genesis") != self.genesis:
            raise StationIndexError("the station index was filled from another vault")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def _remove(self, batch: Batch) -> list[str]:
        """Delete the resources the batch deletes (those it puts are updated in place, see
        _INSERT_ROWS) and the projection rows of every resource it touches; returns the
        patients whose stays were deleted (their rank in the name-word index may change)."""
        conn = self.conn
        conn.executemany("DELETE FROM records WHERE type = ? AND id = ?", batch.deleted)
        keys = batch.keys
        moved: list[str] = []
        for rtype, (table, column) in PROJECTIONS.items():
            ids = [(rid,) for kind, rid in keys if kind == rtype]
            if not ids:
                continue
            if table == "patients":
                words.remove_patients(conn, ids)
            if table == "stays":
                for (encounter,) in ids:
                    moved += [p for (p,) in conn.execute(
                        "SELECT patient FROM stays WHERE encounter = ?", (encounter,))]
            conn.executemany(f"DELETE FROM {table} WHERE {column} = ?", ids)
        return moved

    def _account(self, segment: SegmentMeta, outcome: str, reason: str | None,
                 state: bool) -> None:
        _account_in(self.conn, segment, outcome, reason, state)


def _insert_batch(conn: sqlite3.Connection, batch: Batch, names: bool,
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
            words.add_patients(conn, (v[0] for v in values))


def _insert_staged(conn: sqlite3.Connection, start: int, staged: Staged, stage: str) -> None:
    for table, (first, last) in staged.ranges.items():
        if table == "rows":
            conn.execute(_STAGED_ROWS.format(stage=stage), (start, first, last))
        else:
            conn.execute(f"INSERT OR REPLACE INTO {_INTO[table]} SELECT * FROM {stage}.{table} "
                         "WHERE rowid BETWEEN ? AND ?", (first, last))


def _account_in(conn: sqlite3.Connection, segment: SegmentMeta, outcome: str,
                reason: str | None, state: bool) -> None:
    conn.execute("INSERT OR REPLACE INTO segments VALUES (?,?,?,?,?,?,?,?,?,?)",
                 (segment.seq, segment.sha256, segment.kind, segment.time, segment.source,
                  segment.puts, segment.deletes, outcome, reason, utc_text()))
    values = {"seq": str(segment.seq), "sha256": segment.sha256}
    if state:
        values.update(state_seq=str(segment.seq), state_time=segment.time)
    _set_meta(conn, values)


def _set_meta(conn: sqlite3.Connection, values: dict[str, str]) -> None:
    conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(values.items()))


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _damaged(exc: sqlite3.DatabaseError) -> bool:
    """A database SQLite finds corrupt or not a database at all (not: busy, I/O error)."""
    return getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _readable_head(path: Path, genesis: str) -> Head | None:
    """The head an unusable generation records, if its meta table can still be read."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return read_head(conn, genesis)
        finally:
            conn.close()
    except (sqlite3.Error, ValueError):
        return None


def _readable_segments(path: Path) -> list[tuple]:
    """What an unusable generation accounted for, kept in the next one when readable."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT * FROM segments").fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return []
    return [row for row in rows if len(row) == 10]


def utc_text() -> str:
    return clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def read_head(conn: sqlite3.Connection, genesis: str = "") -> Head:
    """The head a generation's meta table records (genesis when nothing was applied)."""
    meta = dict(conn.execute("SELECT key, value FROM meta"))
    return Head(int(meta.get("seq", 0)), meta.get("sha256", genesis),
                int(meta.get("state_seq", 0)), meta.get("state_time"))


def reader(station_dir: Path) -> sqlite3.Connection | None:
    """A read-only connection to the current generation (None before the first sync)."""
    path = current_generation(Path(station_dir))
    if path is None:
        return None
    try:
        return connect(path, readonly=True)
    except Unusable as exc:
        raise Unusable(f"{exc}: {_REBUILD_ADVICE}") from exc
