"""One page of a search or history walk of the demo HIS's store, pinned at the walk's
state T0 (store.py says why and how): what `GET /Type` and `_history` page through."""

from __future__ import annotations

from .fhir import HisRequestError, check_type
from .search_params import Match
from .store import Page, Store, Version


def search(store: Store, rtype: str, low: int, high: int, count: int, descending: bool,
           t0: int | None, after: int | None, total: int | None,
           match: Match | None = None) -> Page:
    """One page of the resources of a type whose lastUpdated is within [low, high], as
    they were at T0 (the first page pins T0 and counts the total); with `match`,
    those of its ids only (search_params.py)."""
    check_type(rtype)
    source, first, among, more_args = "current c", [], "", []
    if match is not None:  # the matching ids first, then their rows by key
        source = f"({match[0]}) m CROSS JOIN current c ON c.type = ? AND c.id = m.id"
        first = [*match[1], rtype]
        among, more_args = f"AND c.id IN ({match[0]}) ", match[1]
    with store.reading() as conn:
        newest = conn.execute("SELECT coalesce(max(lu), 0) FROM versions").fetchone()[0]
        if t0 is None:
            t0 = newest
        high = min(high, t0)
        if after is not None:
            low, high = (low, min(high, after - 1)) if descending else (max(low, after + 1), high)
        if total is None:
            total = conn.execute(f"SELECT count(*) FROM {source} WHERE c.type = ? AND "
                                 "c.deleted = 0 AND c.lu BETWEEN ? AND ?",
                                 (*first, rtype, low, high)).fetchone()[0]
        order = "DESC" if descending else "ASC"
        rows = conn.execute(  # the page's keys first, then their bodies
            f"SELECT v.id, v.version, v.lu, v.json FROM (SELECT c.lu FROM {source} "
            f"WHERE c.type = ? AND c.deleted = 0 AND c.lu BETWEEN ? AND ? ORDER BY c.lu {order} "
            f"LIMIT ?) p JOIN versions v ON v.lu = p.lu ORDER BY v.lu {order}",
            (*first, rtype, low, high, count + 1)).fetchall()
        if newest > t0:  # changed since T0: their version as of T0
            rows += conn.execute(
                "SELECT v.id, v.version, v.lu, v.json FROM current c JOIN versions v "
                "ON v.type = c.type AND v.id = c.id "
                f"WHERE c.type = ? AND c.deleted IN (0, 1) AND c.lu > ? {among}AND v.lu = "
                "(SELECT max(w.lu) FROM versions w WHERE w.type = c.type AND w.id = c.id "
                "AND w.lu <= ?) AND v.deleted = 0 AND v.lu BETWEEN ? AND ? "
                f"ORDER BY v.lu {order} LIMIT ?",
                (rtype, t0, *more_args, t0, low, high, count + 1)).fetchall()
            rows.sort(key=lambda r: r[2], reverse=descending)
    found = [Version(rtype, r[0], r[1], r[2], False, r[3]) for r in rows[:count]]
    more = len(rows) > count and count > 0
    return Page(found, t0, total, found[-1].lu if more else None)


def history(store: Store, rtype: str | None, rid: str | None, low: int, high: int, count: int,
            descending: bool, t0: int | None, after: int | None, total: int | None) -> Page:
    """One page of versions (deletes included), system, type or instance level."""
    where, args = "", []
    if rtype is not None:
        check_type(rtype)
        where, args = "type = ? AND ", [rtype]
        if rid is not None:
            where, args = "type = ? AND id = ? AND ", [rtype, rid]
    with store.reading() as conn:
        if t0 is None:
            t0 = conn.execute("SELECT coalesce(max(lu), 0) FROM versions").fetchone()[0]
        high = min(high, t0)
        if after is not None:
            low, high = (low, min(high, after - 1)) if descending else (max(low, after + 1), high)
        if total is None:
            total = conn.execute(f"SELECT count(*) FROM versions WHERE {where}lu BETWEEN ? AND ?",
                                 (*args, low, high)).fetchone()[0]
            if rid is not None and total == 0 and after is None:
                if conn.execute("SELECT 1 FROM current WHERE type = ? AND id = ?",
                                (rtype, rid)).fetchone() is None:
                    raise HisRequestError(404, f"{rtype}/{rid} does not exist", "not-found")
        order = "DESC" if descending else "ASC"
        rows = conn.execute(f"SELECT type, id, version, lu, deleted, json FROM versions "
                            f"WHERE {where}lu BETWEEN ? AND ? ORDER BY lu {order} LIMIT ?",
                            (*args, low, high, count + 1)).fetchall()
    found = [Version(r[0], r[1], r[2], r[3], bool(r[4]), r[5],
                     204 if r[4] else 201 if r[2] == 1 else 200) for r in rows[:count]]
    more = len(rows) > count and count > 0
    return Page(found, t0, total, found[-1].lu if more else None)
