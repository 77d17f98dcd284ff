"""The phone directory: who to call, when the switchboard and the HIS are both down.

Entries come from PractitionerRole (role, specialty, unit, the role's phones) joined to
its Practitioner (name, personal phones), plus one entry per unit with the unit's own
numbers, and one per practitioner who has no role at all. A query matches an entry when
every word of it is found, accents and case ignored, in the entry's name, role,
specialty or unit: "cardio infirm" finds the cardiology nurses.

The whole directory (a few thousand entries for a large hospital) is parsed once per
index state and kept in memory; the key changes with the index generation and its head,
so a sync is seen on the next request.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass, field

from ...fhir.clinical.values import as_dict, as_list, concept_text, load, name_parts
from ...fhir.refs import target_id
from ..text import fold
from .census import UNIT
from .collation import french_key, person_key
from .fhirtext import display_name

MAX_SHOWN = 500
_CACHE: dict[tuple, list[Entry]] = {}
_LOCK = threading.Lock()


@dataclass
class Phone:
    number: str
    kind: str  # 'mobile' (DECT or mobile), 'work' (extension), 'direct', 'pager', 'fax', 'other'


@dataclass
class Entry:
    name: str
    sort: tuple
    kind: str  # 'person' or 'unit'
    role: str = ""
    specialty: str = ""
    unit: str = ""
    unit_id: str | None = None
    phones: list[Phone] = field(default_factory=list)
    words: str = ""  # folded text the query is matched against


def phones_of(resource: dict) -> list[Phone]:
    """A resource's phone-like telecoms, ranked (FHIR `rank`, 1 first), emails left out."""
    found: list[tuple[int, int, Phone]] = []
    for telecom in map(as_dict, as_list(resource.get("telecom"))):
        number, system = telecom.get("value"), telecom.get("system")
        if not isinstance(number, str) or system == "email" or system == "url":
            continue
        if system == "pager":
            kind = "pager"
        elif system == "fax":
            kind = "fax"
        else:
            use = telecom.get("use")
            kind = use if use in ("mobile", "work") else "other"
            if kind == "work" and sum(c.isdigit() for c in number) > 6:
                kind = "direct"  # a full number, not an internal extension
        rank = rank if isinstance(rank := telecom.get("rank"), int) else 99
        found.append((rank, len(found), Phone(number, kind)))
    return [phone for *_, phone in sorted(found, key=lambda f: (f[0], f[1]))]


def merge_phones(*groups: list[Phone]) -> list[Phone]:
    seen, merged = set(), []
    for phone in (p for group in groups for p in group):
        if phone.number not in seen:
            seen.add(phone.number)
            merged.append(phone)
    return merged


def build(conn: sqlite3.Connection) -> list[Entry]:
    """Every directory entry, in name order (units first within their own list)."""
    people = {rid: (load(raw) or {}) for rid, raw in
              conn.execute("SELECT id, json FROM resources WHERE type = 'Practitioner'")}
    units = dict(conn.execute("SELECT id, name FROM locations"))
    entries, with_role = [], set()
    for _, raw in conn.execute("SELECT id, json FROM resources WHERE type = 'PractitionerRole'"):
        role = load(raw) or {}
        if role.get("active") is False:
            continue
        who = target_id(as_dict(role.get("practitioner")), "Practitioner")
        person = people.get(who or "", {})
        if who:
            with_role.add(who)
        entries.append(role_entry(role, person, units))
    for rid, person in people.items():
        if rid not in with_role and person.get("active") is not False:
            entries.append(person_entry(person))
    entries.extend(unit_entries(conn))
    for entry in entries:
        entry.words = fold(" ".join((entry.name, entry.role, entry.specialty, entry.unit)))
    return sorted(entries, key=lambda e: e.sort)


def person_name(person: dict, fallback: str = "") -> tuple[str, tuple]:
    prefix, family, given = name_parts(person)
    if not family and not given:
        return fallback or "?", (french_key(fallback), ())
    return display_name(family, given, prefix), person_key(family, given)


def role_entry(role: dict, person: dict, units: dict[str, str]) -> Entry:
    practitioner = as_dict(role.get("practitioner"))
    name, sort = person_name(person, display if isinstance(
        display := practitioner.get("display"), str) else "")
    places = [as_dict(p) for p in as_list(role.get("location"))]
    unit_id = next((i for i in (target_id(p, "Location") for p in places) if i), None)
    unit = units.get(unit_id) if unit_id else None
    unit = unit or next((p["display"] for p in places if isinstance(p.get("display"), str)), "")
    return Entry(name=name, sort=(1, *sort), kind="person",
                 role=", ".join(t for t in map(concept_text, as_list(role.get("code"))) if t),
                 specialty=", ".join(t for t in map(concept_text, as_list(role.get("specialty"))) if t),
                 unit=unit, unit_id=unit_id,
                 phones=merge_phones(phones_of(role), phones_of(person)))


def person_entry(person: dict) -> Entry:
    name, sort = person_name(person)
    return Entry(name=name, sort=(1, *sort), kind="person", phones=phones_of(person))


def unit_entries(conn: sqlite3.Connection) -> list[Entry]:
    """The units' own numbers (the ward's desk extension first), from their Location."""
    rows = conn.execute("SELECT l.id, l.name, l.phone, r.json FROM locations l LEFT JOIN "
                        "resources r ON r.type = 'Location' AND r.id = l.id "
                        "WHERE l.physical_type = ?", (UNIT,))
    found = []
    for rid, name, phone, raw in rows:
        phones = phones_of(load(raw) or {}) if raw else []
        if phone and phone not in {p.number for p in phones}:
            phones.insert(0, Phone(phone, "work"))
        found.append(Entry(name=name or rid, sort=(0, french_key(name)), kind="unit",
                           unit=name or rid, unit_id=rid, phones=phones))
    return found


def state_key(conn: sqlite3.Connection) -> tuple:
    """Which index state a connection reads: its generation's file and its head."""
    files = tuple(row[2] for row in conn.execute("PRAGMA database_list"))
    head = tuple(conn.execute("SELECT key, value FROM meta WHERE key IN ('seq', 'sha256') "
                              "ORDER BY key"))
    return files, head


def entries(conn: sqlite3.Connection) -> list[Entry]:
    """The directory of the index state `conn` reads, built at most once per state."""
    key = state_key(conn)
    with _LOCK:
        cached = _CACHE.get(key)
    if cached is not None:
        return cached
    built = build(conn)
    with _LOCK:
        _CACHE.clear()  # one state at a time: the previous one is no longer shown
        _CACHE[key] = built
    return built


def search(conn: sqlite3.Connection, query: str) -> list[Entry]:
    """Entries whose name, role, specialty or unit contain every word of the query."""
    words = fold(query).split()
    found = entries(conn)
    if not words:
        return found
    return [e for e in found if all(w in e.words for w in words)]
