"""The writer's state: what it has written to the vault, so that it writes nothing twice.

The vault cannot tell a writer what it holds (it cannot read it), so the writer keeps:
- `state.lmdb/`: an LMDB environment with three tables: `current` (for each resource
  the SHA-256 of the version last written and the segment that holds it), `undo` (the
  rows a pending segment replaced) and `meta` (the vault head it has seen, the last full
  segment, the pending segment);
- `plain/NNNNNNNNNN.zst`: the compressed plaintext of each segment it wrote since the
  last full one, from which it builds the next checkpoint.

Why LMDB rather than SQLite: a first import writes one row per resource, and that was
most of the import's time. On the 1 GB benchmark (808k resources, 2 cores) the import
took 6.9 s with the rows in SQLite (3.2 us a row at best, one statement per block),
5.4 s with LMDB (1.7 us a row), 4.2 s with no state at all; lookups in the workers
also drop from 1.9 to 1.0 us a key.

Both hold patient data in clear (like the HIS they copy): keep the state folder on the
capture host, owner-only. If it is lost, `releve import --full` (an import that states
the whole truth) or `releve vault rebuild-state` replaces it; see docs/format.md.

An append is a two-step affair, so a crash in between must be recoverable: the state
records the segment it is about to append ("pending") together with the undo rows,
commits, appends, then confirms. On the next start a pending segment that the vault
holds is confirmed, one it does not hold is rolled back.
"""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Callable, Iterator
from operator import itemgetter
from pathlib import Path
from typing import Any

import lmdb
import orjson

from ..errors import ReleveError
from ..files import PRIVATE, create_private, private_folder
from ..vault.format import SEQ_DIGITS

MAP_SIZE = 1 << 40  # address space only: the file grows with what is stored
DIGEST_SIZE = 32
TABLES = (b"meta", b"current", b"undo")
KEEP_ON_RESET = (b"vault_id", b"config_sha256")
SAVE_EVERY = 200_000  # rows of a pending segment committed at a time (`_save_part`)
LOCK_WAIT = 120.0  # seconds a writer waits for another one on the same state folder
LOCK_POLL = 0.02  # seconds between two tries: a segment of an HL7 feed takes ~50 ms


class StateError(ReleveError):
    """The writer's state does not match the vault; the message says what to do."""


def _value(digest: bytes, seq: int) -> bytes:
    return digest + seq.to_bytes(8, "big")


def rows(keys: list[str], digests: list[bytes | None],
         seq: int) -> tuple[list[tuple[bytes, bytes]], list[bytes]]:
    """What `WriterState.apply` records of a block's kept lines written into segment
    `seq`: (key, value) of its puts and the keys of its deletes (digest None), each in
    key order, the order of the B-tree. Made in the scan workers, not by the writer's
    own process: encoding and sorting 1.9 million keys there was a quarter of its time
    in a first capture at 1000 beds, on the cores the page walk needs."""
    tail = seq.to_bytes(8, "big")  # _value, inlined
    puts = [(key.encode(), digest + tail) for key, digest in zip(keys, digests, strict=True) if digest is not None]
    puts.sort(key=itemgetter(0))
    gone = sorted(key.encode() for key, digest in zip(keys, digests, strict=True) if digest is None)
    return puts, gone


def _flock_within(fd: int, wait: float, folder: Path) -> None:
    """Take the exclusive lock on `fd`, trying again until `wait` seconds have passed (a
    blocking flock cannot be given a deadline without a signal, which a thread cannot
    use)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError as exc:
            if time.monotonic() >= deadline:
                raise StateError(f"another import or capture is using {folder} "
                                 f"(waited {wait:g} s for it)") from exc
        time.sleep(LOCK_POLL)


def _split(value: bytes) -> tuple[bytes, int]:
    return value[:DIGEST_SIZE], int.from_bytes(value[DIGEST_SIZE:], "big")


def _open(path: Path, readonly: bool = False) -> lmdb.Environment:
    if not readonly:  # LMDB would make the folder 0755 and its files 0644, less the umask
        private_folder(path)
    return lmdb.open(str(path), map_size=MAP_SIZE, max_dbs=len(TABLES), readonly=readonly,
                     sync=True, metasync=True, subdir=True, create=not readonly, mode=PRIVATE)
    # not writemap: it was 10% faster here but makes data.mdb as large as MAP_SIZE (sparse)


class StateReader:
    """Read-only access to the digests, one per worker process (opened after the fork).

    It sees the state as last committed, that is as it was before the running import."""

    def __init__(self, path: Path):
        self.env = _open(path, readonly=True)
        self.current = self.env.open_db(b"current", create=False)

    def digests(self, keys: list[str]) -> dict[str, bytes]:
        with self.env.begin(db=self.current, buffers=False) as txn:
            found = txn.cursor().getmulti([key.encode() for key in sorted(keys)])
        return {key.decode(): value[:DIGEST_SIZE] for key, value in found}


class WriterState:
    def __init__(self, directory: Path, vault_id: str, config_sha256: str):
        self.dir = Path(directory)
        for folder in (self.dir, self.dir / "plain", self.dir / "tmp"):
            private_folder(folder)  # the plaintext of every segment since the last full one
        self.db_path = self.dir / "state.lmdb"
        self.env = _open(self.db_path)
        self.meta, self.current, self.undo = (self.env.open_db(name) for name in TABLES)
        self.txn: lmdb.Transaction[bytes] | None = None  # opened without buffers
        self._partly_saved = False
        self._lock_depth = 0  # `locked` taken again by its holder (a replay's write) nests
        known = self.get("vault_id")
        if known is None:
            self.txn = self.env.begin(write=True)  # both or neither
            try:
                self.set("vault_id", vault_id)
                self.set("config_sha256", config_sha256)
                self.txn.commit()
            finally:
                self.txn = None
        elif known != vault_id:
            raise StateError(f"the state folder {self.dir} belongs to vault {known}, "
                             f"not {vault_id}; give each vault its own --state folder")
        elif self.get("config_sha256") != config_sha256:
            # the config names who can read the data: a changed one is never trusted silently
            raise StateError(f"vault {vault_id}'s config.json is not the one this writer first "
                             "saw (recipients or signers changed?); check the vault before "
                             "writing to it again")

    # --- meta -----------------------------------------------------------------------

    def get(self, name: str, default: Any = None) -> Any:
        with self.env.begin(db=self.meta) as txn:
            raw = txn.get(name.encode())
        return default if raw is None else orjson.loads(raw)

    def set(self, name: str, value: Any) -> None:
        with self._write() as txn:
            self._put_meta(txn, name, value)

    def _put_meta(self, txn: lmdb.Transaction, name: str, value: Any) -> None:
        txn.put(name.encode(), orjson.dumps(value), db=self.meta)

    @contextlib.contextmanager
    def _write(self) -> Iterator[lmdb.Transaction]:
        """The pending segment's transaction if one is open, else a short one of its own."""
        if self.txn is not None:
            yield self.txn
        else:
            with self.env.begin(write=True) as txn:
                yield txn

    def head(self, genesis: str) -> tuple[int, str]:
        return int(self.get("head_seq", 0)), str(self.get("head_hash", genesis))

    @property
    def last_full(self) -> int:
        return int(self.get("last_full", 0))

    def count(self) -> int:
        with self.env.begin() as txn:
            return txn.stat(self.current)["entries"]

    def is_empty(self) -> bool:
        return self.count() == 0

    # --- locking --------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self, wait: float = LOCK_WAIT) -> Iterator[None]:
        """One writer at a time per state folder. Two sources share one state, and so one
        chain (a FHIR capture and an HL7 v2 listener's segment writer): the second waits
        its turn, at most `wait` seconds, then fails clearly rather than hang for ever
        behind a writer that is stuck."""
        if self._lock_depth:  # already ours: a replay holds it around its segment
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        create_private(self.dir / "lock")
        with open(self.dir / "lock", "a+") as handle:
            _flock_within(handle.fileno(), wait, self.dir)
            self._lock_depth = 1
            try:
                yield
            finally:
                self._lock_depth = 0
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    # --- the pending segment ------------------------------------------------------

    def begin(self, seq: int, kind: str) -> None:
        self._held_before = self.count()
        self._keep_undo = kind != "full" and self._held_before > 0
        self._unsaved = 0
        self._partly_saved = False
        self.txn = self.env.begin(write=True)
        self.txn.drop(self.undo, delete=False)
        if kind == "full":
            with self.txn.cursor(self.current) as cursor:
                self.txn.cursor(self.undo).putmulti(cursor.iternext())
            self.txn.drop(self.current, delete=False)
        self._seq = seq

    def apply(self, puts: list[tuple[bytes, bytes]], gone: list[bytes]) -> None:
        """Record what the pending segment writes, as `rows` made them: its puts and its
        deletes, the rows they replace saved in `undo` first."""
        txn, seq = self.txn, self._seq
        assert txn is not None, "apply outside a pending segment"
        if self._keep_undo:
            with txn.cursor(self.current) as cursor:
                keys = [key for key, _ in puts] + gone if gone else [key for key, _ in puts]
                replaced = [(key, value) for key, value in cursor.getmulti(sorted(keys))
                            if _split(value)[1] != seq]
            txn.cursor(self.undo).putmulti(replaced, overwrite=False)
        if puts:
            txn.cursor(self.current).putmulti(puts)
        for key in gone:
            txn.delete(key, db=self.current)
        self._unsaved += len(puts) + len(gone)
        if self._unsaved >= SAVE_EVERY:
            self._save_part()

    def _save_part(self) -> None:
        """Commit the rows applied so far, the segment still pending (no hash yet).

        The rows of a first capture at 1000 beds (1.9 million) took 1.9 s to commit at
        the end, after the walk; in parts, most of that is written while the walk goes
        on. A crash from here on leaves `pending_seq` without `pending_hash`: `settle`
        rolls it back, as it would a segment the vault does not hold."""
        assert self.txn is not None
        self._put_meta(self.txn, "pending_seq", self._seq)
        self.txn.commit()
        self.txn = self.env.begin(write=True)
        self._unsaved = 0
        self._partly_saved = True

    def pending_count(self) -> int:
        """Resources in `current` as the pending segment leaves it so far."""
        assert self.txn is not None
        return self.txn.stat(self.current)["entries"]

    def pending_dropped(self) -> tuple[int, int]:
        """For a pending segment, once its rows are applied: (resources held before it,
        how many of them it removes). Every row it replaced or deleted is in `undo` (a
        full segment's `begin` moved them all there); those missing from `current` now
        are removed by every station that adopts the segment, each counted once however
        many deletion entries named it."""
        assert self.txn is not None
        with self.txn.cursor(self.undo) as undo, self.txn.cursor(self.current) as current:
            replaced = list(undo.iternext(values=False))
            kept = len(current.getmulti(replaced))
        return self._held_before, len(replaced) - kept

    def prepare(self, seq: int, sha256: str, kind: str) -> None:
        """Commit the pending segment's rows, marked pending, before the append."""
        assert self.txn is not None
        for name, value in (("pending_seq", seq), ("pending_hash", sha256), ("pending_kind", kind)):
            self._put_meta(self.txn, name, value)
        self.txn.commit()
        self.txn = None
        self._partly_saved = False  # prepared: only `settle` may tell it was not appended

    def abandon(self) -> None:
        """Forget a pending segment that was not prepared (nothing was appended)."""
        if self.txn is not None:
            self.txn.abort()
            self.txn = None
        if self._partly_saved:
            self._partly_saved = False
            self.rollback()

    def confirm(self, vault_hint: object = None) -> None:
        """The pending segment is in the vault. `vault_hint`: what a local vault knows of
        its last segment's hash (store.py `hash_hint`), handed back to it next time so
        that it does not hash that segment again to tell its head."""
        seq, sha, kind = self.get("pending_seq"), self.get("pending_hash"), self.get("pending_kind")
        with self.env.begin(write=True) as txn:
            txn.drop(self.undo, delete=False)
            self._put_meta(txn, "head_seq", seq)
            self._put_meta(txn, "head_hash", sha)
            if vault_hint is not None:
                self._put_meta(txn, "vault_hash_hint", vault_hint)
            if kind == "full":
                self._put_meta(txn, "last_full", seq)
            self._forget_pending(txn)
        if kind == "full":
            self.drop_plain_before(int(seq))

    def rollback(self) -> None:
        seq = self.get("pending_seq")
        with self.env.begin(write=True) as txn:
            with txn.cursor(self.current) as cursor:
                added = [key for key, value in cursor.iternext() if _split(value)[1] == seq]
            for key in added:
                txn.delete(key, db=self.current)
            with txn.cursor(self.undo) as cursor:
                txn.cursor(self.current).putmulti(cursor.iternext())
            txn.drop(self.undo, delete=False)
            self._forget_pending(txn)
        if seq is not None:
            self.plain_path(int(seq)).unlink(missing_ok=True)

    def _forget_pending(self, txn: lmdb.Transaction) -> None:
        for name in (b"pending_seq", b"pending_hash", b"pending_kind"):
            txn.delete(name, db=self.meta)

    def settle(self, vault_has: Callable[[int, str], bool], genesis: str) -> None:
        """Resolve a segment left pending by a crash: confirm it or roll it back."""
        seq = self.get("pending_seq")
        if seq is None:
            return
        sha = self.get("pending_hash")  # None: cut short before it was prepared
        if sha is not None and vault_has(int(seq), sha):
            self.confirm()
        else:
            self.rollback()

    # --- rebuilding from the vault -------------------------------------------------

    def reset(self) -> None:
        """Start a rebuild: forget everything but which vault this state belongs to."""
        self.txn = self.env.begin(write=True)
        self.txn.drop(self.current, delete=False)
        self.txn.drop(self.undo, delete=False)
        with self.txn.cursor(self.meta) as cursor:
            names = [key for key, _ in cursor.iternext() if key not in KEEP_ON_RESET]
        for name in names:
            self.txn.delete(name, db=self.meta)
        for path in (self.dir / "plain").glob("*.zst"):
            path.unlink()

    def clear_current(self) -> None:
        assert self.txn is not None
        self.txn.drop(self.current, delete=False)

    def replay(self, latest: dict[str, bytes | None], seq: int) -> None:
        """Set rows as a replayed segment left them (digest None: deleted)."""
        assert self.txn is not None
        for key, digest in sorted(latest.items()):
            if digest is None:
                self.txn.delete(key.encode(), db=self.current)
            else:
                self.txn.put(key.encode(), _value(digest, seq), db=self.current)

    def finish_reset(self, head_seq: int, head_hash: str, last_full: int) -> None:
        assert self.txn is not None
        for name, value in (("head_seq", head_seq), ("head_hash", head_hash), ("last_full", last_full)):
            self._put_meta(self.txn, name, value)
        self.txn.commit()
        self.txn = None

    # --- cached plaintext -----------------------------------------------------------

    def plain_path(self, seq: int) -> Path:
        return self.dir / "plain" / f"{seq:0{SEQ_DIGITS}d}.zst"

    def plain_segments(self) -> list[int]:
        found = sorted(int(p.stem) for p in (self.dir / "plain").glob("*.zst") if p.stem.isdigit())
        return [seq for seq in found if seq >= self.last_full]

    def drop_plain_before(self, seq: int) -> None:
        for path in (self.dir / "plain").glob("*.zst"):
            if path.stem.isdigit() and int(path.stem) < seq:
                path.unlink()

    def digests(self, keys: list[str]) -> dict[str, bytes]:
        """As committed, that is before the pending segment (for a scan in this process)."""
        return {key: digest for key, (digest, _) in self.lookup(keys).items()}

    def holds(self, rtype: str) -> bool:
        """Whether any `rtype` resource is held (the id walk probes with such a type)."""
        prefix = f"{rtype}/".encode()
        with self.env.begin(db=self.current, buffers=False) as txn:
            cursor = txn.cursor()
            return cursor.set_range(prefix) and bytes(cursor.key()).startswith(prefix)

    def held_ids(self, rtype: str) -> list[str]:
        """The ids of the `rtype` resources held (for the id walk of capture's search mode)."""
        prefix = f"{rtype}/".encode()
        ids = []
        with self.env.begin(db=self.current, buffers=False) as txn:
            cursor = txn.cursor()
            if cursor.set_range(prefix):
                for key in cursor.iternext(keys=True, values=False):
                    if not key.startswith(prefix):
                        break
                    ids.append(key[len(prefix):].decode())
        return ids

    def lookup(self, keys: list[str]) -> dict[str, tuple[bytes, int]]:
        with self.env.begin(db=self.current) as txn:
            found = txn.cursor().getmulti([key.encode() for key in sorted(keys)])
        return {key.decode(): _split(value) for key, value in found}

    @contextlib.contextmanager
    def closed(self) -> Iterator[None]:
        """The environment closed for a moment: worker processes forked meanwhile do not
        inherit it (LMDB forbids using an environment across fork, and py-lmdb refuses to
        open one a process already has open)."""
        assert self.txn is None
        self.env.close()
        try:
            yield
        finally:
            self.env = _open(self.db_path)
            self.meta, self.current, self.undo = (self.env.open_db(name) for name in TABLES)

    def close(self) -> None:
        self.abandon()
        self.env.close()
