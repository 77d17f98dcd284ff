"""The scratch database of `releve verify`: what each side holds, on disk, in a temporary
folder gone with the command.

Each side writes its own file, so neither waits on the other's writes: the vault's
reader (another process) `vault.sqlite`, the HIS's pager `his.sqlite`. A row is a
resource's key, type and the digest of its bytes (resources.py), plus what each side
must give later: where the vault's line is (to read it again for a diff), the HIS's
lastUpdated and journal identifier (for an extra). Rows are appended, the index is built
once at the end: both stay fast at two million resources, in a few tens of MB of memory.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

from ...files import create_private

VAULT_DB = "vault.sqlite"
HIS_DB = "his.sqlite"
BATCH = 5_000  # rows moved from one table to another at a time

VAULT_SCHEMA = """
CREATE TABLE vault (key TEXT NOT NULL, type TEXT NOT NULL, digest INTEGER,
                    seq INTEGER NOT NULL, line INTEGER NOT NULL);
"""
HIS_SCHEMA = """
CREATE TABLE his (key TEXT NOT NULL, type TEXT NOT NULL, digest INTEGER NOT NULL,
                  updated TEXT, identifier TEXT);
CREATE TABLE candidate (key TEXT PRIMARY KEY, type TEXT NOT NULL, seq INTEGER NOT NULL,
                        line INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE vault_line (key TEXT PRIMARY KEY, line BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE judged (key TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE outcome (key TEXT PRIMARY KEY, type TEXT NOT NULL, status TEXT NOT NULL,
                      explained INTEGER NOT NULL DEFAULT 0, identifier TEXT, updated TEXT,
                      diff BLOB) WITHOUT ROWID;
CREATE TABLE addition (type TEXT NOT NULL, path TEXT NOT NULL, n INTEGER NOT NULL,
                       PRIMARY KEY (type, path)) WITHOUT ROWID;
"""


def connect(path: Path, schema: str | None = None) -> sqlite3.Connection:
    """A scratch database: no journal, no syncs (it dies with the command), a page cache
    of 64 MB at most."""
    create_private(path)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA temp_store=FILE")
    db.execute("PRAGMA cache_size=-65536")
    if schema:
        db.executescript(schema)
    return db


def append(db: sqlite3.Connection, table: str, rows: list[tuple]) -> None:
    if rows:
        marks = ",".join("?" * len(rows[0]))
        db.execute("BEGIN")
        db.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        db.execute("COMMIT")


def keep_last(db: sqlite3.Connection, deletes: bool) -> None:
    """The vault's table, appended in log order (a delete's digest NULL), made the state:
    each key's last record, unless it is a delete, indexed by key. A state read from its
    full segment alone (the usual case) has each key once: the unique index is then all
    there is to build; a key recorded again by a later segment makes it fail, and only
    then are the older records looked for and dropped."""
    try:
        db.execute("CREATE UNIQUE INDEX vault_key ON vault(key)")
    except sqlite3.IntegrityError:
        db.execute("CREATE INDEX vault_key_all ON vault(key)")
        db.execute("BEGIN")
        db.execute("DELETE FROM vault WHERE EXISTS (SELECT 1 FROM vault AS later "
                   "WHERE later.key = vault.key AND later.rowid > vault.rowid)")
        db.execute("COMMIT")
        db.execute("DROP INDEX vault_key_all")
        db.execute("CREATE UNIQUE INDEX vault_key ON vault(key)")
    if deletes:
        db.execute("DELETE FROM vault WHERE digest IS NULL")


def index_his(db: sqlite3.Connection) -> None:
    """The HIS's rows by key; a server that sent one resource twice is an error (the
    caller says so)."""
    db.execute("CREATE UNIQUE INDEX his_key ON his(key)")


def attach_vault(db: sqlite3.Connection, folder: Path) -> None:
    db.execute("ATTACH DATABASE ? AS v", (str(folder / VAULT_DB),))


def counts(db: sqlite3.Connection, table: str) -> dict[str, int]:
    return dict(db.execute(f"SELECT type, count(*) FROM {table} GROUP BY type").fetchall())


def join(db: sqlite3.Connection, unreadable: list[str]) -> None:
    """The join, in SQL: missing and extra resources into `outcome` (an extra's
    `explained` by the SQL function `explains(identifier)` the caller registered), the
    resources both hold with other bytes into `candidate`. The types the HIS could not be
    paged for have no missing: they were not looked at.

    The vault's rows are scanned once for both missing and candidates (a LEFT JOIN, each
    row it yields sent to its table from here): a third less work than a statement each
    at 1,000 beds, and only the rows that differ come up to Python."""
    skip = set(unreadable)
    db.execute("BEGIN")
    db.execute("INSERT INTO outcome (key, type, status, explained, identifier, updated) "
               "SELECT key, type, 'extra', explains(identifier), identifier, updated "
               "FROM his AS h WHERE NOT EXISTS (SELECT 1 FROM v.vault WHERE v.vault.key = h.key)")
    differing = db.execute("SELECT a.key, a.type, a.seq, a.line, h.key IS NULL FROM v.vault AS a "
                           "LEFT JOIN his AS h ON h.key = a.key "
                           "WHERE h.key IS NULL OR h.digest != a.digest")
    while rows := differing.fetchmany(BATCH):
        db.executemany("INSERT INTO outcome (key, type, status) VALUES (?, ?, 'missing')",
                       [(key, rtype) for key, rtype, _, _, gone in rows if gone and rtype not in skip])
        db.executemany("INSERT INTO candidate VALUES (?, ?, ?, ?)",
                       [(key, rtype, seq, line) for key, rtype, seq, line, gone in rows if not gone])
    db.execute("COMMIT")


def candidate_places(db: sqlite3.Connection) -> Iterator[tuple[str, int, int]]:
    """(key, seq, line) of every candidate, in the vault's order."""
    yield from db.execute("SELECT key, seq, line FROM candidate ORDER BY seq, line")


def record_outcomes(db: sqlite3.Connection, rows: list[tuple], judged: list[str]) -> None:
    """(key, type, status, explained, identifier, updated, diff) rows, and the keys of
    the candidates these judge (identical ones included)."""
    db.execute("BEGIN")
    db.executemany("INSERT OR REPLACE INTO outcome VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    db.executemany("INSERT OR IGNORE INTO judged VALUES (?)", [(key,) for key in judged])
    db.execute("COMMIT")
