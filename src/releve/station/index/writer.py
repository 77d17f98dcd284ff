"""The writable index a sync holds: a delta applied in place in one transaction, a full
segment built into a new generation and switched in (see the package's docstring)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ... import collector
from ...files import create_private
from ...vault.format import SegmentInfo
from .. import folder
from ..folder import records_path
from ..records.batches import Batch
from ..records.projections import PROJECTIONS
from . import contexts, identities, words
from .connection import connect
from .errors import StationIndexError, Unusable
from .generations import current_generation, fsync_file, next_generation, remove_stale_generations, write_pointer
from .head import Head, account_in, read_head, record_outcome, set_meta
from .inserts import insert_batch
from .record_file import RecordAppender
from .schema import FORMAT, INDEXES, KEYS, SCHEMA


@dataclass(frozen=True)
class Replaced:
    """An unusable generation a sync is starting over from: why, and the head it held
    when that can still be read (the vault must not have been rolled back behind it)."""

    why: str
    head: Head | None


# what an apply reads: the segment's batches, their blocks placed in the record file given
Batches = Callable[["RecordAppender"], Iterable[Batch]]
# a last look at the state a segment leads to, before it is committed or switched in:
# raising refuses the segment and leaves the index as it was (station/plausibility.py)
Judge = Callable[[sqlite3.Connection], None]


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

    def apply_delta(self, segment: SegmentInfo, batches: Batches, judge: Judge | None = None,
                    note: str | None = None) -> int:
        """Apply a delta in one transaction with the head it leads to; returns records.
        `note` goes in the segment's history row."""
        count = 0
        with self._transaction():
            records = RecordAppender(records_path(self.path))
            try:
                for batch in batches(records):
                    moved = self._remove(batch)
                    insert_batch(self.conn, batch, names=True, stages={})
                    words.rerank(self.conn, moved + [v[1] for v in batch.projections.get("stays", ())])
                    count += batch.records
                identities.relink(self.conn)
                contexts.link(self.conn)
                if judge is not None:
                    judge(self.conn)
                self._account(segment, "applied", note, state=True)
                set_meta(self.conn, {"records_end": str(records.end)})
                records.sync()  # the lines are on disk before the rows placing them commit
            except BaseException:
                records.discard()  # the rows placing them are rolled back: a refused
                raise              # segment retried at every sync does not grow the file
            finally:
                records.close()
        return count

    def skip(self, segment: SegmentInfo, reason: str) -> None:
        """Account for a segment whose content the station does not adopt (suspect): the
        chain moves on, the data shown stays the last good state."""
        with self._transaction():
            self._account(segment, "skipped", reason, state=False)

    def unreadable(self, segment: SegmentInfo, reason: str) -> None:
        """Put in the history a signed segment that could not be decrypted or parsed:
        the head stays before it, and the sync moves past it at the next checkpoint."""
        with self._transaction():
            record_outcome(self.conn, segment, "unreadable", reason)

    def rebuild(self, segment: SegmentInfo, batches: Batches, judge: Judge | None = None,
                note: str | None = None) -> int:
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
                    insert_batch(build, batch, names=False, stages=stages)
                    build.execute("COMMIT")
                    count += batch.records
            for name in stages.values():
                build.execute(f"DETACH {name}")
            records.flush_behind()  # the disk writes the lines while the indexes are made
            words.fill(build)
            identities.fill(build)
            identities.relink(build)
            contexts.link(build)
            build.execute("PRAGMA threads=2")  # the index sorts may use the second core
            build.executescript(INDEXES)
            if judge is not None:
                judge(build)
            set_meta(build, self._identity_meta())
            account_in(build, segment, "applied", note, state=True)
            set_meta(build, {"records_end": str(records.end)})
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
        fsync_file(path)
        write_pointer(self.station_dir, path.name)
        self.conn.close()
        self.path = path
        self.conn = connect(path)
        remove_stale_generations(self.station_dir)
        return count

    # --- internals --------------------------------------------------------------------------

    def _new_generation(self, empty: bool) -> Path:
        _, path = next_generation(self.station_dir)
        if empty:
            self._create_empty(path).close()
            write_pointer(self.station_dir, path.name)
        return path

    def _create_empty(self, path: Path) -> sqlite3.Connection:
        records_path(path).touch(mode=0o600)
        create_private(path)
        conn = connect(path)
        conn.executescript(SCHEMA + KEYS + INDEXES)
        set_meta(conn, self._identity_meta())
        return conn

    def _start_over(self, unusable: Path, why: str) -> None:
        """Hold a new, empty generation that CURRENT does not name: the sync's first
        segment then goes to rebuild (a full one, the station being as new), whose switch
        removes both the unusable generation and this one. Pages meanwhile keep the
        unusable one, and say what is wrong with it."""
        self.replaced = Replaced(why, _readable_head(unusable, self.genesis))
        previous = _readable_segments(unusable)
        remove_stale_generations(self.station_dir)  # an empty one a failed attempt left
        _, path = next_generation(self.station_dir)
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
        inserts.py) and the projection rows of every resource it touches; returns the
        patients whose stays were deleted (their rank in the name-word index may change)."""
        conn = self.conn
        conn.executemany("DELETE FROM records WHERE type = ? AND id = ?", batch.deleted)
        keys = batch.keys
        identities.forget_subjects(conn, keys)
        contexts.forget(conn, keys)
        moved: list[str] = []
        for rtype, (table, column) in PROJECTIONS.items():
            ids = [(rid,) for kind, rid in keys if kind == rtype]
            if not ids:
                continue
            if table == "patients":
                words.remove_patients(conn, ids)
                identities.remove_patients(conn, ids)
            if table == "stays":
                for (encounter,) in ids:
                    moved += [p for (p,) in conn.execute(
                        "SELECT patient FROM stays WHERE encounter = ?", (encounter,))]
            conn.executemany(f"DELETE FROM {table} WHERE {column} = ?", ids)
        return moved

    def _account(self, segment: SegmentInfo, outcome: str, reason: str | None,
                 state: bool) -> None:
        account_in(self.conn, segment, outcome, reason, state)


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
