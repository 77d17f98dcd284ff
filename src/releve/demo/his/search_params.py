"""The search parameters of the demo HIS (FHIR R4 search.html), turned into SQL over the
index of search_index.py.

    _id          every type   ids, comma-separated (OR)
    identifier   every type   token: `system|value`, `|value` (no system), `value` (any
                              system), `system|` (any value); comma-separated = OR
    family       Patient      string: starts with, case- and accent-insensitive
    given        Patient      string, the same
    birthdate    Patient      date, with the prefixes eq (default), ne, gt, lt, ge, le,
                              at the value's precision (1950, 1950-03, 1950-03-12)
    gender       Patient      token (male, female, other, unknown)

A parameter repeated is ANDed, values separated by commas are ORed; `\\,` `\\|` `\\\\`
escape as FHIR says; a parameter without a value is ignored. The matching ids are one
SELECT: the most selective parameter (RANK) finds candidates through its value index
(named: SQLite would rather walk the (type, id) index for DISTINCT), the others check
each candidate by id. A search by identifier, or by traits, among 100,000 patients
reads a handful of rows.
A search matches resources' current versions (a walk that pinned an older state
filters by what they are now).
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import QueryParams

from .fhir import HisRequestError, check_type, date_range
from .search_index import GENDER_SYSTEM, fold

EVERY_TYPE = {"_id": "id", "identifier": "token"}
BY_TYPE = {"Patient": {"family": "string", "given": "string", "birthdate": "date",
                       "gender": "token"}}
DOCUMENTATION = {
    "_id": "ids, comma-separated",
    "identifier": "system|value, |value (no system), value (any system), system|",
    "family": "starts with, case- and accent-insensitive",
    "given": "starts with, case- and accent-insensitive",
    "birthdate": "eq (default), ne, gt, lt, ge, le at the value's precision",
    "gender": "administrative gender code",
}
DATE_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le")
TABLES = {"token": "search_tokens", "string": "search_strings", "date": "search_dates"}
# the most selective first: the first parameter finds the candidates, the others check them
RANK = ["_id", "identifier", "family", "birthdate", "given", "gender"]

Match = tuple[str, list[Any]]  # a SELECT of the matching ids, and its arguments


def params_of(rtype: str) -> dict[str, str]:
    """The search parameters of a type and their FHIR types."""
    return {**EVERY_TYPE, **BY_TYPE.get(rtype, {})}


def split(rtype: str, params: QueryParams) -> tuple[list[tuple[str, str]], QueryParams]:
    """(the search parameters this module answers, the others: paging, _elements...)."""
    known = params_of(rtype)
    filters = [(k, v) for k, v in params.multi_items() if k in known]
    rest = QueryParams([(k, v) for k, v in params.multi_items() if k not in known])
    return filters, rest


def match(rtype: str, filters: list[tuple[str, str]]) -> Match | None:
    """The ids of the current resources of `rtype` matching every filter; None if no
    filter has a value (every resource matches)."""
    groups = [(name, values) for name, value in filters
              if (values := [v for v in split_escaped(value, ",") if v])]
    if not groups:
        return None
    groups.sort(key=lambda group: RANK.index(group[0]))
    (name, values), rest = groups[0], groups[1:]
    selects, args = [], []
    for value in values:
        sql, more = _select(rtype, name, value)
        selects.append(sql)
        args += more
    sql = "SELECT id FROM (" + " UNION ".join(selects) + ") m"
    checks = []
    for name, values in rest:
        check, more = _check(rtype, name, values)
        checks.append(check)
        args += more
    return sql + (" WHERE " + " AND ".join(checks) if checks else ""), args


def condition(rtype: str, query: str) -> Match:
    """The match of a conditional write's criteria (`identifier=sys|val`, the query of
    `PUT Type?...` or of If-None-Exist; a leading `Type?` is allowed)."""
    check_type(rtype)
    head, mark, tail = query.partition("?")
    if mark and head.strip("/") not in ("", rtype):
        raise HisRequestError(400, f"condition {query[:120]!r} is about {head[:40]}, not {rtype}")
    criteria = QueryParams(tail if mark else query)
    filters, rest = split(rtype, criteria)
    if list(rest):
        raise HisRequestError(400, f"condition {query[:120]!r}: {list(rest)[0][:40]!r} is not a "
                              f"search parameter of {rtype} here (known: "
                              f"{', '.join(params_of(rtype))})", "not-supported")
    found = match(rtype, filters)
    if found is None:
        raise HisRequestError(400, f"condition {query[:120]!r} has no criteria", "invalid")
    return found


def _select(rtype: str, name: str, value: str) -> Match:
    """The ids whose `name` matches `value`, found through the value's index."""
    kind = params_of(rtype)[name]
    if kind == "id":
        return ("SELECT id FROM current WHERE type = ? AND id = ? AND deleted = 0",
                [rtype, unescape(value)])
    where, args, index = _condition(kind, name, value)
    hint = f" INDEXED BY {index}" if index else ""
    return (f"SELECT DISTINCT id FROM {TABLES[kind]}{hint} WHERE type = ? AND param = ? AND {where}",
            [rtype, name, *args])


def _check(rtype: str, name: str, values: list[str]) -> Match:
    """Whether the candidate `m.id` matches one of `values` (its own rows, by id)."""
    kind = params_of(rtype)[name]
    if kind == "id":
        return f"m.id IN ({', '.join('?' * len(values))})", [unescape(v) for v in values]
    wheres, args = [], [rtype, name]
    for value in values:
        where, more, _ = _condition(kind, name, value)
        wheres.append(f"({where})")
        args += more
    table = TABLES[kind]
    return (f"EXISTS (SELECT 1 FROM {table} x INDEXED BY {table}_id WHERE x.type = ? AND "
            f"x.id = m.id AND x.param = ? AND ({' OR '.join(wheres)}))", args)


def _condition(kind: str, name: str, value: str) -> tuple[str, list[Any], str | None]:
    """(SQL on the row's columns, its arguments, the index that finds them)."""
    if kind == "token":
        return _token(name, value)
    if kind == "string":
        folded = fold(unescape(value))
        return "folded >= ? AND folded < ?", [folded, folded + "\U0010ffff"], "search_strings_value"
    return _date(name, value)


def _token(name: str, value: str) -> tuple[str, list[Any], str | None]:
    parts = split_escaped(value, "|")
    if len(parts) > 2:
        raise HisRequestError(400, f"{name}={value[:80]}: a token is system|value")
    if name == "gender" and len(parts) == 1:
        parts = [GENDER_SYSTEM, parts[0]]
    if len(parts) == 1:
        return "value = ?", [unescape(parts[0])], "search_tokens_value"
    system, code = map(unescape, parts)
    if not code:
        return "system = ?", [system], None
    return "value = ? AND system = ?", [code, system], "search_tokens_value"


def _date(name: str, value: str) -> tuple[str, list[Any], str | None]:
    prefix, text = (value[:2], value[2:]) if value[:2].isalpha() else ("eq", value)
    if prefix not in DATE_PREFIXES:
        raise HisRequestError(400, f"{name} prefix {prefix!r} is not supported "
                              f"({', '.join(DATE_PREFIXES)} are)", "not-supported")
    low, high = date_range(text)
    # the resource's [low, high) against the value's, as FHIR search defines the prefixes
    # (eq: within it, so its start is too)
    return {"eq": ("low >= ? AND low < ? AND high <= ?", [low, high, high], "search_dates_value"),
            "ne": ("NOT (low >= ? AND high <= ?)", [low, high], None),
            "gt": ("high > ?", [high], "search_dates_high"),
            "ge": ("high > ?", [low], "search_dates_high"),
            "lt": ("low < ?", [low], "search_dates_value"),
            "le": ("low < ?", [high], "search_dates_value")}[prefix]


def split_escaped(text: str, separator: str) -> list[str]:
    """`text` cut at each `separator` not escaped by a backslash (escapes kept)."""
    parts, current, escaped = [], [], False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            current.append(char)
            escaped = True
        elif char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def unescape(text: str) -> str:
    out, escaped = [], False
    for char in text:
        if char == "\\" and not escaped:
            escaped = True
            continue
        out.append(char)
        escaped = False
    return "".join(out)


def capability_params(rtype: str) -> list[dict[str, Any]]:
    """The CapabilityStatement's searchParam entries of these parameters."""
    return [{"name": name, "type": "token" if kind == "id" else kind,
             "documentation": DOCUMENTATION[name]} for name, kind in params_of(rtype).items()]
