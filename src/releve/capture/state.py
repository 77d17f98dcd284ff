"""The writer's state: what it has written to the vault, so that it writes nothing twice.

The vault cannot tell a writer what it holds (it cannot read it), so the writer keeps:
- `state.sqlite`: for each resource the SHA-256 of the version last written and the
  segment that holds it (`current`), the vault head it has seen, and the last full
  segment;
- `plain/NNNNNNNNNN.zst`: the compressed plaintext of each segment it wrote since the
  last full one, from which it builds the next checkpoint.

Both hold patient data in clear (like the HIS they copy): keep the state folder on the
capture host, owner-only. If it is lost, `releve import --full` (an import that states
the whole truth) or `releve vault rebuild-state` replaces it; see docs/format.md.

An append is a two-step affair, so a crash in between must be recoverable: the state
records the segment it is about to append ("pending") together with an undo table of
the rows it changed, commits, appends, then confirms. On the next start a pending
segment that the vault holds is confirmed, one it does not hold is rolled back.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import orjson

from ..vault.format import SEQ_DIGITS

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS current(key TEXT PRIMARY KEY, digest BLOB NOT NULL,
                                   seq INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS undo(key TEXT PRIMARY KEY, digest BLOB, seq INTEGER) WITHOUT ROWID;
"""


class StateError(Exception):
    """The writer's state does not match the vault; the message says what to do."""


class WriterState:
    def __init__(self, directory: Path, vault_id: str, config_sha256: str):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.dir, 0o700)
        (self.dir / "plain").mkdir(exist_ok=True)
        (self.dir / "tmp").mkdir(exist_ok=True)
        self.db_path = self.dir / "state.sqlite"
        # shared with the thread that applies a segment's rows while its blocks are scanned
        self.conn = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("PRAGMA cache_size=-262144")  # 256 MB: random-key inserts thrash a small cache
        self.conn.executescript(SCHEMA)
        known = self.get("vault_id")
        if known is None:
            self.conn.execute("BEGIN IMMEDIATE")  # both or neither: a half-made state is a trap
            self.set("vault_id", vault_id)
            self.set("config_sha256", config_sha256)
            self.conn.execute("COMMIT")
        elif known != vault_id:
            raise StateError(f"the state folder {self.dir} belongs to vault {known}, "
                             f"not {vault_id}; give each vault its own --state folder")
        elif self.get("config_sha256") != config_sha256:
            # the config names who can read the data: a changed one is never trusted silently
            raise StateError(f"vault {vault_id}'s config.json is not the one this writer first "
                             "saw (recipients or signers changed?); check the vault before "
                             "writing to it again")

    # --- meta -----------------------------------------------------------------------

    def get(self, name: str, default=None):
        row = self.conn.execute("SELECT value FROM meta WHERE name=?", (name,)).fetchone()
        return default if row is None else row[0]

    def set(self, name: str, value) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES(?,?)", (name, value))

    def head(self, genesis: str) -> tuple[int, str]:
        return int(self.get("head_seq", 0)), str(self.get("head_hash", genesis))

    @property
    def last_full(self) -> int:
        return int(self.get("last_full", 0))

    def count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM current").fetchone()[0]

    def is_empty(self) -> bool:
        return self.conn.execute("SELECT 1 FROM current LIMIT 1").fetchone() is None

    # --- locking --------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One writer at a time per state folder (a second one fails at once, clearly)."""
        with open(self.dir / "lock", "a+") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise StateError(f"another import or capture is using {self.dir}") from exc
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    # --- the pending segment ------------------------------------------------------

    def begin(self, seq: int, kind: str) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute("DELETE FROM undo")
        if kind == "full":
            self.conn.execute("INSERT INTO undo SELECT key, digest, seq FROM current")
            self.conn.execute("DELETE FROM current")
        self._seq = seq
        self._keep_undo = kind != "full" and not self.is_empty()

    def apply(self, keys: list[str], digests: list[bytes | None]) -> None:
        """Record what the pending segment writes: puts (with their digest) and deletes
        (digest None). Each block is one statement per table, its keys passed as a JSON
        array: measured 3.2 against 3.7 us a row with executemany, and the statement
        runs without holding Python's lock, so the writer applies in a thread."""
        seq = self._seq
        put_keys = [key for key, digest in zip(keys, digests) if digest is not None]
        deleted = [key for key, digest in zip(keys, digests) if digest is None]
        if self._keep_undo:
            self.conn.execute(
                "INSERT OR IGNORE INTO undo SELECT c.key, c.digest, c.seq "
                "FROM json_each(?1) j JOIN current c ON c.key = j.value WHERE c.seq != ?2",
                (orjson.dumps(keys).decode(), seq))
        if put_keys:
            self.conn.execute(
                "INSERT OR REPLACE INTO current "
                "SELECT value, substr(?2, key * 32 + 1, 32), ?3 FROM json_each(?1)",
                (orjson.dumps(put_keys).decode(), b"".join(d for d in digests if d is not None), seq))
        if deleted:
            self.conn.execute("DELETE FROM current WHERE key IN (SELECT value FROM json_each(?1))",
                              (orjson.dumps(deleted).decode(),))

    def prepare(self, seq: int, sha256: str, kind: str) -> None:
        """Commit the pending segment's rows, marked pending, before the append."""
        self.set("pending_seq", seq)
        self.set("pending_hash", sha256)
        self.set("pending_kind", kind)
        self.conn.execute("COMMIT")

    def abandon(self) -> None:
        """Forget an uncommitted pending segment (nothing was appended)."""
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def confirm(self) -> None:
        seq, sha, kind = self.get("pending_seq"), self.get("pending_hash"), self.get("pending_kind")
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute("DELETE FROM undo")
        self.set("head_seq", seq)
        self.set("head_hash", sha)
        if kind == "full":
            self.set("last_full", seq)
        for name in ("pending_seq", "pending_hash", "pending_kind"):
            self.conn.execute("DELETE FROM meta WHERE name=?", (name,))
        self.conn.execute("COMMIT")
        if kind == "full":
            self.drop_plain_before(int(seq))

    def rollback(self) -> None:
        seq = self.get("pending_seq")
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute("DELETE FROM current WHERE seq=?", (seq,))
        self.conn.execute("INSERT OR REPLACE INTO current SELECT key, digest, seq FROM undo "
                          "WHERE digest IS NOT NULL")
        self.conn.execute("DELETE FROM undo")
        for name in ("pending_seq", "pending_hash", "pending_kind"):
            self.conn.execute("DELETE FROM meta WHERE name=?", (name,))
        self.conn.execute("COMMIT")
        if seq is not None:
            self.plain_path(int(seq)).unlink(missing_ok=True)

    def settle(self, vault_has: callable, genesis: str) -> None:
        """Resolve a segment left pending by a crash: confirm it or roll it back."""
        seq = self.get("pending_seq")
        if seq is None:
            return
        if vault_has(int(seq), self.get("pending_hash")):
            self.confirm()
        else:
            self.rollback()

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

    def lookup(self, keys: list[str]) -> dict[str, tuple[bytes, int]]:
        found: dict[str, tuple[bytes, int]] = {}
        for offset in range(0, len(keys), 900):
            batch = keys[offset:offset + 900]
            marks = ",".join("?" * len(batch))
            for key, digest, seq in self.conn.execute(
                    f"SELECT key, digest, seq FROM current WHERE key IN ({marks})", batch):
                found[key] = (digest, seq)
        return found

    def close(self) -> None:
        self.conn.close()
