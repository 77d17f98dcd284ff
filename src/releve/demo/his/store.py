"""The demo HIS's storage: every version of every resource in SQLite (WAL).

`versions` holds each version once, keyed by its lastUpdated in microseconds since the
epoch (UTC). The server's clock makes that key unique and strictly increasing, and one
writer at a time assigns and commits it, so a reader that has seen lastUpdated T has
also seen everything older: paging by lastUpdated is exact. A delete is a version
without a body. `current` points each resource at its latest version.

A search walk pins the state it started from (T0, the newest lastUpdated its first
page saw): later pages return each resource as it was at T0, so Bundle.total is exact
and a resource changed during the walk is neither skipped nor returned twice; its new
version has a lastUpdated above T0, for the next walk to find.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...fhir.exact import dumps_exact
from . import search_index
from .fhir import HisError, HisRequestError, check_id, check_type, format_lu
from .search_params import Match

SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    lu INTEGER PRIMARY KEY,      -- meta.lastUpdated, microseconds since 1970 UTC, unique
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,    -- meta.versionId
    deleted INTEGER NOT NULL,    -- 1: this version is a delete (json is NULL)
    json BLOB
);
CREATE UNIQUE INDEX IF NOT EXISTS versions_key ON versions (type, id, version);
CREATE INDEX IF NOT EXISTS versions_type ON versions (type, lu);
CREATE TABLE IF NOT EXISTS current (
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    lu INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    PRIMARY KEY (type, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS current_type ON current (type, deleted, lu);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def stamp(resource: dict[str, Any], rtype: str, rid: str, version: int, lu: int) -> bytes:
    """The stored JSON: resourceType, id and meta first, meta.versionId and
    meta.lastUpdated set by the server, the rest as received (decimals kept exact)."""
    meta = resource.get("meta") or {}
    if not isinstance(meta, dict):
        raise HisRequestError(400, f"{rtype}/{rid}: meta is not an object")
    body = {"resourceType": rtype, "id": rid,
            "meta": {**meta, "versionId": str(version), "lastUpdated": format_lu(lu)}}
    for key, value in resource.items():
        if key not in body:
            body[key] = value
    try:
        return dumps_exact(body)
    except (RecursionError, TypeError) as exc:
        raise HisRequestError(400, f"{rtype}/{rid}: cannot be stored ({exc})") from None


@dataclass
class Write:
    """One write: PUT (create or update with this id), POST (create, id assigned if
    None), DELETE. `if_match` is a version the resource must be at (PUT, DELETE)."""

    method: str
    type: str
    id: str | None = None
    resource: dict[str, Any] | None = None
    if_match: int | None = None


@dataclass
class Version:
    type: str
    id: str
    version: int
    lu: int
    deleted: bool
    json: bytes | None
    status: int = 200  # of the write that produced it: 201 created, 200 updated, 204 deleted

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'

    @property
    def last_updated(self) -> str:
        return format_lu(self.lu)


@dataclass
class Page:
    rows: list[Version]
    t0: int           # the walk's pinned state
    total: int
    next_after: int | None  # the lastUpdated to continue after, None on the last page


class Writer:
    """The open transaction of `Store.writing`: writes, and reads that see them."""

    def __init__(self, store: Store, db: sqlite3.Connection):
        self.store, self.db = store, db

    def apply(self, write: Write) -> Version:
        return self.store._apply(self.db, write)

    def matches(self, rtype: str, match: Match, limit: int = 2) -> list[str]:
        """Up to `limit` ids of current resources of `rtype` that `match` finds."""
        sql, args = match
        return [row[0] for row in self.db.execute(
            f"SELECT m.id FROM ({sql}) m CROSS JOIN current c ON c.type = ? AND c.id = m.id "
            "WHERE c.deleted = 0 LIMIT ?", (*args, rtype, limit))]

    def current(self, rtype: str, rid: str) -> Version:
        row = self.db.execute("SELECT c.version, c.lu, c.deleted, v.json FROM current c JOIN "
                              "versions v ON v.lu = c.lu WHERE c.type = ? AND c.id = ?",
                              (rtype, rid)).fetchone()
        if row is None or row[2]:
            raise HisRequestError(404, f"{rtype}/{rid} does not exist", "not-found")
        return Version(rtype, rid, row[0], row[1], False, row[3])


# --- the store ----------------------------------------------------------------------------


class Store:
    """One writer (a lock around one connection), any number of readers (one connection
    each per thread, WAL)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._closed = False
        try:
            self._db = self._connect()
            self._db.executescript(SCHEMA + search_index.SCHEMA)
            with self.writing():
                search_index.ensure(self._db)
        except sqlite3.DatabaseError as exc:
            raise HisError(f"{path}: not a database the demo HIS can use ({exc})") from None
        self._last = self._db.execute("SELECT coalesce(max(lu), 0) FROM versions").fetchone()[0]

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               timeout=60)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA cache_size=-65536")
        return conn

    def close(self) -> None:
        self._closed = True
        with self._lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
            self._db.close()

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A read transaction on this thread's connection: one consistent snapshot."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._readers.append(conn)
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[tuple[sqlite3.Connection, int]]:
        """A dedicated connection in a read transaction and its T (newest lastUpdated
        seen), for long readers such as a Bulk export."""
        conn = self._connect()
        try:
            conn.execute("BEGIN")
            t = conn.execute("SELECT coalesce(max(lu), 0) FROM versions").fetchone()[0]
            yield conn, t
            conn.execute("COMMIT")
        finally:
            conn.close()

    # settings

    def setting(self, key: str) -> str | None:
        with self.reading() as conn:
            row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_setting(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", (key, value))

    def empty(self) -> bool:
        with self.reading() as conn:
            return conn.execute("SELECT 1 FROM versions LIMIT 1").fetchone() is None

    def counts(self) -> dict[str, int]:
        with self.reading() as conn:
            return dict(conn.execute("SELECT type, count(*) FROM current WHERE deleted = 0 "
                                     "GROUP BY type ORDER BY type"))

    # writing

    def _clock(self) -> int:
        self._last = max(time.time_ns() // 1000, self._last + 1)
        return self._last

    @contextmanager
    def writing(self) -> Iterator[Writer]:
        """One SQLite write transaction: what the block writes is committed together at
        its end, or rolled back if it raises."""
        with self._lock:
            if self._closed:
                raise HisRequestError(503, "the server is shutting down", "transient")
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                yield Writer(self, db)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def write(self, writes: list[Write]) -> list[Version]:
        """All writes in one SQLite transaction: all are applied or none (the first
        HisRequestError rolls the transaction back)."""
        with self.writing() as writer:
            return [writer.apply(write) for write in writes]

    def _apply(self, db: sqlite3.Connection, write: Write) -> Version:
        rtype = check_type(write.type)
        if write.method == "POST" and write.id is None:
            write.id = str(uuid.uuid4())
        rid = check_id(write.id or "")
        row = db.execute("SELECT c.version, c.lu, c.deleted, v.json FROM current c JOIN versions v "
                         "ON v.lu = c.lu WHERE c.type = ? AND c.id = ?", (rtype, rid)).fetchone()
        version, lu, deleted, old = row if row else (0, 0, 1, None)
        if write.if_match is not None and write.if_match != version:
            raise HisRequestError(412, f"{rtype}/{rid} is at version {version}, not {write.if_match}",
                            "conflict")
        if write.method == "DELETE":
            if row is None:
                raise HisRequestError(404, f"{rtype}/{rid} does not exist", "not-found")
            if deleted:
                return Version(rtype, rid, version, lu, True, None, 204)
            new_lu = self._clock()
            db.execute("INSERT INTO versions VALUES (?, ?, ?, ?, 1, NULL)",
                       (new_lu, rtype, rid, version + 1))
            db.execute("UPDATE current SET version = ?, lu = ?, deleted = 1 WHERE type = ? AND id = ?",
                       (version + 1, new_lu, rtype, rid))
            search_index.reindex(db, rtype, rid, None)
            return Version(rtype, rid, version + 1, new_lu, True, None, 204)
        if write.method == "POST" and row is not None:
            raise HisRequestError(409, f"{rtype}/{rid} already exists", "duplicate")
        resource = write.resource
        if not isinstance(resource, dict):
            raise HisRequestError(400, f"{write.method} {rtype}/{rid} without a resource")
        if resource.get("resourceType") != rtype:
            raise HisRequestError(400, f"resourceType {str(resource.get('resourceType'))[:80]!r} does not "
                                 f"match {rtype}")
        if "id" in resource and resource["id"] != rid and write.method == "PUT":
            raise HisRequestError(400, f"resource id {str(resource['id'])[:80]!r} does not match the "
                                 f"url's {rid!r}")
        if old is not None and not deleted and stamp(resource, rtype, rid, version, lu) == old:
            return Version(rtype, rid, version, lu, False, old, 200)  # nothing changed
        new_lu = self._clock()
        body = stamp(resource, rtype, rid, version + 1, new_lu)
        db.execute("INSERT INTO versions VALUES (?, ?, ?, ?, 0, ?)",
                   (new_lu, rtype, rid, version + 1, body))
        db.execute("INSERT OR REPLACE INTO current VALUES (?, ?, ?, ?, 0)",
                   (rtype, rid, version + 1, new_lu))
        search_index.reindex(db, rtype, rid, resource)
        return Version(rtype, rid, version + 1, new_lu, False, body, 201 if deleted else 200)

    def load(self, resources: Iterable[dict[str, Any] | Write], batch: int = 5000) -> int:
        """Bulk load into a store: resources (dicts with resourceType and id) or Writes,
        in order; a resource met again becomes its next version. Returns the count."""
        count = 0
        pending: list[dict[str, Any] | Write] = []
        for item in resources:
            pending.append(item)
            if len(pending) >= batch:
                count += self._load_batch(pending)
                pending = []
        if pending:
            count += self._load_batch(pending)
        return count

    def _load_batch(self, items: list[dict[str, Any] | Write]) -> int:
        """One transaction: new resources inserted in bulk, the rest (deletes, resources
        met again) through the ordinary write path, in order."""
        with self.writing() as writer:
            db = writer.db
            versions, current, later, indexed = [], [], [], []
            seen = self._existing(db, items)
            later_keys: set[tuple[str, str]] = set()
            for item in items:
                if isinstance(item, Write):
                    later.append(item)
                    later_keys.add((item.type, str(item.id)))
                    continue
                key = (str(item["resourceType"]), str(item["id"]))
                if key in seen or key in later_keys:
                    later.append(Write("PUT", key[0], key[1], item))
                    later_keys.add(key)
                    continue
                seen.add(key)
                lu = self._clock()
                versions.append((lu, *key, stamp(item, *key, 1, lu)))
                current.append((*key, lu))
                indexed.append(search_index.index_rows(*key, item))
            db.executemany("INSERT INTO versions VALUES (?, ?, ?, 1, 0, ?)", versions)
            db.executemany("INSERT INTO current VALUES (?, ?, 1, ?, 0)", current)
            search_index.insert(db, indexed)
            for write in later:
                try:
                    self._apply(db, write)
                except HisRequestError as exc:
                    if not (write.method == "DELETE" and exc.status == 404):
                        raise  # deleting what was never loaded is nothing to do
            return len(items)

    @staticmethod
    def _existing(db: sqlite3.Connection, items: list[dict[str, Any] | Write]) -> set[tuple[str, str]]:
        """The keys of these resources already in the store (checked, one query a type)."""
        by_type: dict[str, list[str]] = {}
        for item in items:
            if isinstance(item, dict):
                rtype = check_type(str(item.get("resourceType")))
                by_type.setdefault(rtype, []).append(check_id(str(item.get("id"))))
        found: set[tuple[str, str]] = set()
        for rtype, ids in by_type.items():
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                found.update(db.execute(f"SELECT type, id FROM current WHERE type = ? AND id IN "
                                        f"({','.join('?' * len(chunk))})", (rtype, *chunk)))
        return found

    # reading

    def read(self, rtype: str, rid: str, version: int | None = None) -> Version:
        check_type(rtype)
        check_id(rid)
        with self.reading() as conn:
            if version is None:
                row = conn.execute("SELECT c.version, c.lu, c.deleted, v.json FROM current c "
                                   "JOIN versions v ON v.lu = c.lu WHERE c.type = ? AND c.id = ?",
                                   (rtype, rid)).fetchone()
            else:
                row = conn.execute("SELECT version, lu, deleted, json FROM versions "
                                   "WHERE type = ? AND id = ? AND version = ?",
                                   (rtype, rid, version)).fetchone()
        where = f"{rtype}/{rid}" + (f"/_history/{version}" if version is not None else "")
        if row is None:
            raise HisRequestError(404, f"{where[:200]} does not exist", "not-found")
        found = Version(rtype, rid, row[0], row[1], bool(row[2]), row[3])
        if found.deleted:
            raise HisRequestError(410, f"{where} was deleted at {found.last_updated}", "deleted")
        return found
