"""Where the current stays are: the beds a number may name, and each result's place as a
ward reads it ("Lit 201 fenêtre · Pneumologie")."""

from __future__ import annotations

import sqlite3

from .hits import marks

_PLACES = """
SELECT s.patient, s.location, l.name, l.physical_type, r.name, r.physical_type, u.name,
       u.physical_type
FROM stays s
LEFT JOIN locations l ON l.id = s.location
LEFT JOIN locations r ON r.id = l.part_of
LEFT JOIN locations u ON u.id = r.part_of
WHERE s.current = 1 AND s.location IS NOT NULL {extra}
ORDER BY s.start DESC
"""


def current_places(conn: sqlite3.Connection, patients: list[str] | None = None,
                   numbers: list[str] | None = None
                   ) -> list[tuple[str, str, list[str | None], list[str | None]]]:
    """(patient, location, [its name, its parent's, its grandparent's], [their physical
    types]) for current stays, most recent first: of the given patients, or of the places
    whose names hold the given numbers (a cheap filter in SQL; words are checked after)."""
    extra = ""
    params: tuple[str, ...] = ()
    if patients is not None:
        extra = f"AND s.patient IN ({marks(patients)})"
        params = tuple(patients)
    for number in numbers or ():
        extra += (" AND instr(coalesce(l.name, '') || ' ' || coalesce(r.name, '') || ' ' "
                  "|| coalesce(u.name, ''), ?) > 0")
        params += (number,)
    return [(row[0], row[1], [row[2], row[4], row[6]], [row[3], row[5], row[7]])
            for row in conn.execute(_PLACES.format(extra=extra), params)]


def places(conn: sqlite3.Connection, patients: list[str]) -> dict[str, tuple[str, str | None]]:
    """Location id and label ("Lit 201 fenêtre · Pneumologie") of each patient's stay."""
    if not patients:
        return {}
    found: dict[str, tuple[str, str | None]] = {}
    for patient, location, names, kinds in current_places(conn, patients):
        if patient not in found:
            found[patient] = (location, _label(names, kinds))
    return found


def _label(names: list[str | None], kinds: list[str | None]) -> str | None:
    """The place's own name, then its unit's (a bed's unit is its grandparent, a room's its
    parent); a unit stands alone."""
    if names[0] is None:
        return None
    if kinds[0] in ("wa", "si"):
        return names[0]
    for name, kind in zip(names[1:], kinds[1:], strict=True):
        if kind == "wa" and name:
            return f"{names[0]} · {name}"
    parent = next((n for n in names[1:] if n), None)
    return f"{names[0]} · {parent}" if parent else names[0]
