"""The demo's nurse and physician work in their station's wards, so break-glass shows.

Each station stands for a part of the hospital (UNITS in place.py): a unit whose
Location id is listed there, or one of its parts in a larger hospital (loc-card-a and
loc-card-b for loc-card). Which units exist depends on the hospital's size, and the
station knows them once its first sync has indexed the locations: the demo attaches
`infirmiere` and `medecin` then, once (run.py). Until that first sync there is no
patient to open; a resumed demo finds its accounts attached already.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ...station.index.connection import reader
from ...station.local.audit import Audit
from ...station.local.wards import WARD_ROLES, Wards
from ...station.views.census import UNIT, all_places
from .place import ACCOUNTS, UNITS

STAFF = tuple(name for name, role, _ in ACCOUNTS if role in WARD_ROLES)


def station_units(station: Path, unit_ids: Iterable[str]) -> list[str]:
    """The units of the station's index that are these, or parts of these (none before
    the first sync)."""
    conn = reader(station)
    if conn is None:
        return []
    try:
        places = all_places(conn)
    finally:
        conn.close()
    wanted = tuple(unit_ids)
    return sorted(place.id for place in places.values() if place.physical_type == UNIT
                  and any(place.id == unit or place.id.startswith(f"{unit}-") for unit in wanted))


def attach_ward_staff(station: Path, ward: str) -> bool:
    """Attach the demo's ward accounts to the station's units if the index knows them
    (the audit log says so); True once they are attached."""
    wards = Wards(station)
    if all(wards.of(name) for name in STAFF):
        return True
    units = station_units(station, UNITS[ward])
    if not units:
        return False
    audit = Audit(station)
    for name in STAFF:
        wards.attach(name, units)
        audit.record("releve-demo", "user-wards", "cli", detail=f"{name} wards={','.join(units)}")
    return True
