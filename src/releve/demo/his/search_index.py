"""The demo HIS's search index: what the search parameters of search_params.py look up.

Three tables hold the searchable values of each resource's current version, rewritten
by Store in the same SQLite transaction as the version itself (a deleted resource has
no rows), so a search or a conditional write never sees an index that disagrees with
the data:

    search_tokens   identifier (every type) and Patient.gender: (system, value)
    search_strings  Patient family and given names, case- and accent-folded
    search_dates    Patient.birthDate as the range [low, high) of microseconds it covers

A database written before these tables existed is indexed once when opened (`ensure`).
"""

from __future__ import annotations

import logging
import sqlite3
import unicodedata
from collections.abc import Iterable
from typing import Any

import orjson

from ...fhir.exact import loads_exact
from .fhir import HisRequestError, date_range

log = logging.getLogger("releve.demo.his")

INDEX_VERSION = "1"
GENDER_SYSTEM = "http://hl7.org/fhir/administrative-gender"
TRAIT_TYPES = frozenset({"Patient"})  # the types with string and date rows

SCHEMA = """
CREATE TABLE IF NOT EXISTS search_tokens (
    type TEXT NOT NULL, param TEXT NOT NULL, system TEXT NOT NULL, value TEXT NOT NULL,
    id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS search_tokens_value ON search_tokens (type, param, value, system);
CREATE INDEX IF NOT EXISTS search_tokens_id ON search_tokens (type, id);
CREATE TABLE IF NOT EXISTS search_strings (
    type TEXT NOT NULL, param TEXT NOT NULL, folded TEXT NOT NULL, id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS search_strings_value ON search_strings (type, param, folded);
CREATE INDEX IF NOT EXISTS search_strings_id ON search_strings (type, id);
CREATE TABLE IF NOT EXISTS search_dates (
    type TEXT NOT NULL, param TEXT NOT NULL, low INTEGER NOT NULL, high INTEGER NOT NULL,
    id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS search_dates_value ON search_dates (type, param, low);
CREATE INDEX IF NOT EXISTS search_dates_high ON search_dates (type, param, high);
CREATE INDEX IF NOT EXISTS search_dates_id ON search_dates (type, id);
"""

Rows = tuple[list[tuple[str, ...]], list[tuple[str, ...]], list[tuple[Any, ...]]]


def fold(text: str) -> str:
    """A string as FHIR string search compares it: accents dropped, case folded."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def index_rows(rtype: str, rid: str, resource: dict[str, Any]) -> Rows:
    """The (tokens, strings, dates) rows of one resource."""
    tokens: list[tuple[str, ...]] = []
    for identifier in _items(resource.get("identifier")):
        if isinstance(identifier, dict) and isinstance(identifier.get("value"), str):
            system = identifier.get("system")
            tokens.append((rtype, "identifier", system if isinstance(system, str) else "",
                           identifier["value"], rid))
    strings: list[tuple[str, ...]] = []
    dates: list[tuple[Any, ...]] = []
    if rtype in TRAIT_TYPES:
        if isinstance(resource.get("gender"), str):
            tokens.append((rtype, "gender", GENDER_SYSTEM, resource["gender"], rid))
        for name in _items(resource.get("name")):
            if not isinstance(name, dict):
                continue
            parts = [("family", name.get("family"))] + \
                [("given", given) for given in _items(name.get("given"))]
            strings += [(rtype, param, fold(text), rid) for param, text in parts
                        if isinstance(text, str)]
        birth = resource.get("birthDate")
        if isinstance(birth, str):
            try:
                dates.append((rtype, "birthdate", *date_range(birth), rid))
            except HisRequestError:
                pass  # not a date: the resource cannot be found by birthdate
    return list(dict.fromkeys(tokens)), list(dict.fromkeys(strings)), dates


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def insert(db: sqlite3.Connection, rows: Iterable[Rows]) -> None:
    tokens, strings, dates = [], [], []
    for t, s, d in rows:
        tokens += t
        strings += s
        dates += d
    if tokens:
        db.executemany("INSERT INTO search_tokens VALUES (?, ?, ?, ?, ?)", tokens)
    if strings:
        db.executemany("INSERT INTO search_strings VALUES (?, ?, ?, ?)", strings)
    if dates:
        db.executemany("INSERT INTO search_dates VALUES (?, ?, ?, ?, ?)", dates)


def reindex(db: sqlite3.Connection, rtype: str, rid: str, resource: dict[str, Any] | None) -> None:
    """Replace the rows of a resource by those of its new version (none: deleted)."""
    db.execute("DELETE FROM search_tokens WHERE type = ? AND id = ?", (rtype, rid))
    if rtype in TRAIT_TYPES:
        db.execute("DELETE FROM search_strings WHERE type = ? AND id = ?", (rtype, rid))
        db.execute("DELETE FROM search_dates WHERE type = ? AND id = ?", (rtype, rid))
    if resource is not None:
        insert(db, [index_rows(rtype, rid, resource)])


def ensure(db: sqlite3.Connection) -> None:
    """Index every current version once, if this database's index is older than the
    code's (or absent). Runs inside the caller's write transaction."""
    found = db.execute("SELECT value FROM settings WHERE key = 'search_index'").fetchone()
    if found is not None and found[0] == INDEX_VERSION:
        return
    for table in ("search_tokens", "search_strings", "search_dates"):
        db.execute(f"DELETE FROM {table}")
    count = 0
    batch: list[Rows] = []
    rows = db.execute("SELECT c.type, c.id, v.json FROM current c JOIN versions v "
                      "ON v.lu = c.lu WHERE c.deleted = 0")
    for rtype, rid, data in rows:
        resource = _parsed(data)
        if resource is not None:
            batch.append(index_rows(rtype, rid, resource))
            count += 1
        if len(batch) >= 5000:
            insert(db, batch)
            batch = []
    insert(db, batch)
    db.execute("INSERT OR REPLACE INTO settings VALUES ('search_index', ?)", (INDEX_VERSION,))
    if count:
        log.info("search index built for %s resources", count)


def _parsed(data: bytes | None) -> dict[str, Any] | None:
    """A stored version's JSON, or None when it is not JSON (an attacked database)."""
    if data is None:
        return None
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        try:
            value = loads_exact(data)
        except (ValueError, RecursionError):
            return None
    return value if isinstance(value, dict) else None
