"""Which ward a text names: `--ward` of the prints takes what IT has at hand when it
schedules the night's prints, and the station's own ward (station.json) what was typed
at its set-up: the Location id (loc-card), the ward's name as the census shows it
("Cardiologie", accents and case ignored) or its code (the Location's alias or
identifier, "CARD").
"""

from __future__ import annotations

import sqlite3

from ...errors import ReleveError
from ..text import fold
from . import census as census_q
from . import resources


class UnknownWard(ReleveError):
    """No ward answers to that text; `known` lists the ones that exist."""

    def __init__(self, text: str, known: list[census_q.Unit]) -> None:
        super().__init__(text)
        self.text = text
        self.known = known


def _codes(conn: sqlite3.Connection, unit_id: str) -> set[str]:
    resource = resources.resource(conn, "Location", unit_id) or {}
    found = {a for a in resource.get("alias") or [] if isinstance(a, str)}
    found |= {value for i in resource.get("identifier") or []
              if isinstance(i, dict) and isinstance(value := i.get("value"), str)}
    return {fold(code) for code in found}


def find_ward(conn: sqlite3.Connection, text: str) -> str:
    """The Location id of the ward `text` names; UnknownWard if none (or several) do."""
    wanted = fold(text.strip())
    units = census_q.units(conn)
    for unit in units:
        if unit.place.id == text.strip():
            return unit.place.id
    if census_q.all_places(conn).get(text.strip()):  # any location the census can show
        return text.strip()
    named = [u for u in units if fold(u.place.name) == wanted]
    if len(named) == 1:
        return named[0].place.id
    coded = [u for u in units if wanted in _codes(conn, u.place.id)]
    if len(coded) == 1:
        return coded[0].place.id
    raise UnknownWard(text, units)
