"""The ward census: who is in which bed, and what a nurse must know at a glance.

Built from the index's projections (locations, stays, patients) plus the raw resources
a row needs, read for the ward's patients only (AllergyIntolerance, Flag, NutritionOrder,
and the Consents and DocumentReferences that may record a code status), one query per
type over the `records_patient(patient, type)` index, parsed with orjson. A 40-bed ward
is a handful of queries; nothing here scans the whole index.

Which allergy is shown or severe, which alert, code status and diet are in force:
fhir/clinical decides, for the census as for the summary and the printouts, so they
never disagree. A do-not-resuscitate given only as a Consent reads as one given as a Flag.

The location tree is site ('si') > unit ('wa') > room ('ro') > bed ('bd'). A room with no
beds under it (an emergency box) is a place of its own. Data without such a tree
(Synthea) still gets a list: the locations where patients currently are.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from ... import clock
from ...fhir.clinical import alerts, code_status
from ...fhir.clinical import allergies as allergy_rules
from ...fhir.clinical.values import load, name_parts
from . import movements
from .collation import french_key
from .fhirtext import display_name

BED, ROOM, UNIT, SITE = "bd", "ro", "wa", "si"
DEFAULT_ZONE = "Europe/Paris"
MAX_DEPTH = 4  # unit > room > bed, with room for one more level; guards against cycles


@dataclass
class Place:
    """A location of the tree, as the index projects it."""

    id: str
    name: str
    physical_type: str | None
    part_of: str | None
    status: str | None
    operational: str | None
    phone: str | None


@dataclass
class Unit:
    """A line of the wards list."""

    place: Place
    site: str
    beds: int
    occupied: int
    patients: int  # every current stay in the unit, with or without a bed


@dataclass
class Occupant:
    """A patient in a census row, with what the row shows of them."""

    patient: str
    family: str
    given: str
    birth_date: str | None
    gender: str | None
    start: str | None
    status: str | None
    attending: str
    allergies: list[str] = field(default_factory=list)
    high_allergies: list[str] = field(default_factory=list)
    no_allergy: bool = False  # a "no known allergy" statement is recorded
    flags: list[tuple[str, str]] = field(default_factory=list)  # (kind, text), code status first
    diet: list[str] = field(default_factory=list)
    encounter: str = ""  # the stay's Encounter id
    downtime_ipp: str = ""  # admitted during the downtime (views/movements.py): its IPP
    moved: bool = False  # transferred here during the downtime
    duplicate: str = ""  # a patient this one probably is too (« doublon probable »)

    @property
    def allergy_state(self) -> str:
        """'known', 'none' or 'unknown', as the summary says it."""
        return allergy_rules.state(len(self.allergies), int(self.no_allergy))


@dataclass
class Row:
    place: Place | None  # None: the patient is in the unit itself, no bed given
    occupant: Occupant | None


@dataclass
class Census:
    unit: Place
    site: str
    rows: list[Row]
    unplaced: list[Row]  # in the unit (or a room) without a bed: listed after the beds
    departed: list[movements.Departure] = field(default_factory=list)  # left during the downtime

    @property
    def beds(self) -> int:
        return sum(1 for r in self.rows if r.place and r.place.physical_type == BED)

    @property
    def occupied(self) -> int:
        return len({r.place.id for r in self.rows if r.place and r.occupant})

    @property
    def patient_ids(self) -> list[str]:
        """Every patient the census shows, each once: what its audit entry lists."""
        return list(dict.fromkeys(r.occupant.patient for r in self.rows + self.unplaced
                                  if r.occupant and r.occupant.patient))


# --- the tree -------------------------------------------------------------------------------


def all_places(conn: sqlite3.Connection) -> dict[str, Place]:
    """Every location (a few thousand at most, even for a 1000-bed hospital)."""
    rows = conn.execute("SELECT id, name, physical_type, part_of, status, operational, phone "
                        "FROM locations")
    return {r[0]: Place(r[0], r[1] or r[0], *r[2:]) for r in rows}


def children_of(places: dict[str, Place]) -> dict[str, list[Place]]:
    children: dict[str, list[Place]] = {}
    for place in places.values():
        if place.part_of:
            children.setdefault(place.part_of, []).append(place)
    return children


def descendants(unit_id: str, children: dict[str, list[Place]]) -> list[str]:
    """The ids of everything under a unit, breadth first, at most MAX_DEPTH levels down."""
    found: list[str] = []
    level, seen = [unit_id], {unit_id}
    for _ in range(MAX_DEPTH):
        level = [c.id for p in level for c in children.get(p, []) if c.id not in seen]
        seen.update(level)
        found.extend(level)
        if not level:
            break
    return found


def places_of(unit_id: str, places: dict[str, Place],
              children: dict[str, list[Place]]) -> tuple[list[Place], list[str]]:
    """(the unit's places in bed order, every location id that belongs to the unit).

    A place is a bed, or a room that has no bed under it (an emergency box)."""
    under = [places[i] for i in descendants(unit_id, children)]
    beds = [p for p in under if p.physical_type == BED]
    with_beds = {p.part_of for p in beds}
    rooms = [p for p in under if p.physical_type == ROOM and p.id not in with_beds]
    chosen = sorted(beds + rooms, key=lambda p: (french_key(p.name), french_key(p.id)))
    return chosen, [unit_id, *(p.id for p in under)]


def site_name(place: Place, places: dict[str, Place]) -> str:
    """The site ('si') a location belongs to, or its top-most ancestor's name."""
    current, seen = place, {place.id}
    while current.part_of and current.part_of in places and current.part_of not in seen:
        current = places[current.part_of]
        seen.add(current.id)
        if current.physical_type == SITE:
            return current.name
    return current.name if current is not place else ""


# --- the wards list -----------------------------------------------------------------------------


def current_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Current stays per location (the partial index stays_location covers it)."""
    return dict(conn.execute("SELECT location, count(*) FROM stays WHERE current = 1 "
                             "AND location IS NOT NULL GROUP BY location"))


def units(conn: sqlite3.Connection) -> list[Unit]:
    """Every unit with its beds and occupants; without units, the places patients are in."""
    places = all_places(conn)
    children = children_of(places)
    counts = current_counts(conn)
    chosen = [p for p in places.values() if p.physical_type == UNIT]
    if not chosen:
        chosen = [places[i] for i in counts if i in places]
    found = []
    for unit in chosen:
        spots, members = places_of(unit.id, places, children)
        beds = [p for p in spots if p.physical_type == BED]
        found.append(Unit(unit, site_name(unit, places), len(beds),
                          sum(1 for b in beds if counts.get(b.id)),
                          sum(counts.get(i, 0) for i in members)))
    return sorted(found, key=lambda u: (french_key(u.site), french_key(u.place.name)))


def in_units(conn: sqlite3.Connection, patient: str, unit_ids: Iterable[str]) -> bool:
    """Whether the patient has a current stay somewhere in these units (their wards)."""
    stays = [row[0] for row in conn.execute(
        "SELECT location FROM stays WHERE patient = ? AND current = 1", (patient,))]
    if not stays:
        return False
    places = all_places(conn)
    children = children_of(places)
    members = {m for unit in unit_ids if unit in places for m in places_of(unit, places, children)[1]}
    return any(location in members for location in stays)


# --- the census ---------------------------------------------------------------------------------


def census(conn: sqlite3.Connection, unit_id: str, now: dt.datetime | None = None,
           zone: str = DEFAULT_ZONE, moves: movements.Moves | None = None) -> Census | None:
    """The census of a unit (or of any location); None if the index does not know it.
    With `moves`, the census is as the movements recorded during the downtime left it."""
    places = all_places(conn)
    unit = places.get(unit_id)
    if unit is None:
        return None
    spots, members = places_of(unit_id, places, children_of(places))
    occupants = occupants_at(conn, members, now or clock.now(), ZoneInfo(zone))
    departed = movements.merge(conn, occupants, members, moves, now or clock.now(),
                               ZoneInfo(zone)) if moves else []
    rows: list[Row] = []
    unplaced: list[Row] = []
    for spot in spots:
        here = occupants.pop(spot.id, [])
        if here:
            rows.extend(Row(spot, o) for o in here)
        else:
            rows.append(Row(spot, None))
    for location in members:  # the unit itself, or a room that has beds
        for occupant in occupants.pop(location, []):
            unplaced.append(Row(places.get(location) if location != unit_id else None, occupant))
    return Census(unit, site_name(unit, places), rows, unplaced, departed)


def occupants_at(conn: sqlite3.Connection, locations: list[str], now: dt.datetime,
                 zone: ZoneInfo) -> dict[str, list[Occupant]]:
    """Current stays at these locations, with everything the census shows of each patient."""
    marks = ",".join("?" * len(locations))
    rows = conn.execute(
        "SELECT s.location, s.patient, p.family, p.given, p.birth_date, p.gender, s.start, "
        "s.status, s.attending, s.encounter FROM stays s LEFT JOIN patients p ON p.id = s.patient "
        f"WHERE s.current = 1 AND s.location IN ({marks}) ORDER BY s.start",
        locations).fetchall()
    names = practitioner_names(conn, {r[8] for r in rows if r[8]})
    found: dict[str, list[Occupant]] = {}
    by_patient: dict[str, list[Occupant]] = {}
    for location, patient, family, given, birth, gender, start, status, attending, stay in rows:
        occupant = Occupant(patient or "", family or "", given or "", birth, gender, start,
                            status, names.get(attending, ""), encounter=stay)
        found.setdefault(location, []).append(occupant)
        if patient:
            by_patient.setdefault(patient, []).append(occupant)
    add_clinical(conn, by_patient, now, zone)
    return found


def practitioner_names(conn: sqlite3.Connection, ids: Iterable[str]) -> dict[str, str]:
    """'Dr Sylvie BERGER' for each Practitioner id the index holds."""
    ids = list(ids)
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = conn.execute(f"SELECT id, json FROM resources WHERE type = 'Practitioner' "
                        f"AND id IN ({marks})", ids)
    named = {}
    for rid, raw in rows:
        prefix, family, given = name_parts(load(raw))
        named[rid] = display_name(family, given, prefix)
    return named


def resources_of(conn: sqlite3.Connection, rtype: str, patients: list[str]) -> Iterable[tuple[str, dict]]:
    """(patient, resource) of one type for these patients: one indexed query."""
    marks = ",".join("?" * len(patients))
    query = f"SELECT patient, json FROM resources WHERE patient IN ({marks}) AND type = ?"
    for patient, raw in conn.execute(query, [*patients, rtype]):
        yield patient, load(raw) or {}


def add_clinical(conn: sqlite3.Connection, by_patient: dict[str, list[Occupant]], now: dt.datetime,
                 zone: ZoneInfo) -> None:
    """Allergies, code status, flags and diet of the census's patients, five queries."""
    patients = list(by_patient)
    if not patients:
        return
    for patient, resource in resources_of(conn, "AllergyIntolerance", patients):
        add_allergy(by_patient[patient], resource)
    add_code_status(conn, by_patient, now, zone)
    for patient, resource in resources_of(conn, "Flag", patients):
        if code_status.flag(resource, now, zone) is None and alerts.flag_active(resource, now, zone):
            for occupant in by_patient[patient]:
                occupant.flags.append((alerts.flag_kind(resource), alerts.flag_text(resource)))
    for patient, resource in resources_of(conn, "NutritionOrder", patients):
        if alerts.diet_in_force(resource):
            text = alerts.diet_text(resource)
            if alerts.diet_suspended(resource):
                text += " (suspendu)"
            for occupant in by_patient[patient]:
                occupant.diet.append(text)


def add_code_status(conn: sqlite3.Connection, by_patient: dict[str, list[Occupant]],
                    now: dt.datetime, zone: ZoneInfo) -> None:
    """Do-not-resuscitate and limitation of care, from the summary's rule (Consent, Flag,
    DocumentReference), each kind once, before the other alerts."""
    found: dict[str, list[code_status.Directive]] = {}
    for rtype in code_status.SOURCES:
        for patient, resource in resources_of(conn, rtype, list(by_patient)):
            directive = code_status.read(rtype, resource, now, zone)
            if directive is not None:
                found.setdefault(patient, []).append(directive)
    for patient, directives in found.items():
        shown = [(d.kind, " — ".join(p for p in (d.text, d.detail) if p))
                 for d in code_status.at_a_glance(directives)]
        for occupant in by_patient[patient]:
            occupant.flags[:0] = shown


def add_allergy(occupants: list[Occupant], resource: dict) -> None:
    """An allergy, a severe one, or a "no known allergy" statement, by fhir.clinical."""
    kind = allergy_rules.kind(resource)
    if kind is None:
        return
    name = allergy_rules.substance(resource) if kind == allergy_rules.ALLERGY else ""
    high = kind == allergy_rules.ALLERGY and allergy_rules.high_risk(resource)
    for occupant in occupants:
        if kind == allergy_rules.STATEMENT:
            occupant.no_allergy = True
            continue
        occupant.allergies.append(name)
        if high:
            occupant.high_allergies.append(name)


def ward_patients(census: Census) -> list[tuple[str, str]]:
    """(patient id, place name) of the ward's patients in bed order, each once."""
    seen: dict[str, str] = {}
    for row in census.rows + census.unplaced:
        if row.occupant and row.occupant.patient and row.occupant.patient not in seen:
            seen[row.occupant.patient] = row.place.name if row.place else ""
    return list(seen.items())


def patient_name(family: str | None, given: str | None) -> str:
    """'LASSALLE Emma': family name in capitals first, as on a French wristband."""
    return " ".join(p for p in ((family or "").upper(), given or "") if p)


def identifiers(conn: sqlite3.Connection, patients: list[str]) -> dict[str, tuple[str, str]]:
    """(IPP, INS) of these patients, from the index's patients table (the census sheet's)."""
    if not patients:
        return {}
    marks = ",".join("?" * len(patients))
    rows = conn.execute(f"SELECT id, ipp, ins FROM patients WHERE id IN ({marks})", patients)
    return {pid: (ipp or "", ins or "") for pid, ipp, ins in rows}
