"""The movements the wards recorded during the downtime, as the census and the patient
page read them: who was admitted here, who moved to which bed, who left.

The journal's admission, transfer, discharge and death entries (journal/kinds/movement.py)
are read once per page, through the index's `kind` column: a few rows even after days of
downtime. A stay's current version is the last entry nobody replaced; when two stations
wrote versions of the same stay, the later one is where the patient is.

This is also the one place of the « doublon probable » rule: two admissions of the same
person (same INS, or same name and birth date), from this station or its peers, or an
admission of a patient the vault already knows.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from ...fhir.names import person_key
from ...journal.book import Journal, current
from ...journal.kinds.movement import current_bed, last_bed
from ..records.projections import patient_row

if TYPE_CHECKING:
    from .census import Occupant

KINDS = ("admission", "transfer", "discharge", "death")
ENDED = ("finished", "cancelled", "entered-in-error")


@dataclass
class LocalStay:
    """A stay's current version as the journal holds it."""

    encounter: str
    patient: str  # the patient's id, without "Patient/"
    status: str
    bed: str | None  # where the patient is now (in progress) or was last (ended)
    bed_name: str
    time: str  # when the current version was written (UTC)
    kind: str  # the movement that made it
    key: str  # its entry
    resource: dict


@dataclass
class Departure:
    """A patient who left the ward during the downtime: the census's note."""

    patient: str
    name: str
    kind: str  # 'discharge' or 'death'
    when: str
    bed_name: str


@dataclass
class Moves:
    stays: dict[str, LocalStay] = field(default_factory=dict)  # by Encounter id
    patients: dict[str, dict] = field(default_factory=dict)  # current local Patient by id
    patient_keys: dict[str, str] = field(default_factory=dict)  # its entry
    admitted: set[str] = field(default_factory=set)  # patients admitted during the downtime
    _keys: Keys | None = None  # the duplicate rule's, made at first need
    _by_bed: dict[str, list[LocalStay]] | None = None

    def by_bed(self) -> dict[str, list[LocalStay]]:
        """The stays by the place they have (or last had) the patient, for the census."""
        if self._by_bed is None:
            found: dict[str, list[LocalStay]] = {}
            for stay in self.stays.values():
                found.setdefault(stay.bed or "", []).append(stay)
            self._by_bed = found
        return self._by_bed

    def keys(self) -> Keys:
        if self._keys is None:
            self._keys = _keys(self)
        return self._keys

    def stay_of(self, patient: str) -> LocalStay | None:
        """The patient's stay in progress recorded here, if any (the latest)."""
        found = [s for s in self.stays.values() if s.patient == patient and s.status not in ENDED]
        return max(found, key=lambda s: s.time) if found else None


_READ: dict[Path, tuple[tuple[int, int], Moves]] = {}  # per journal: its mark, what it gave


def read(journal: Journal) -> Moves:
    """Every movement the station holds (its own and its peers'), current versions only.

    Kept until a movement entry is added (`Journal.kind_mark`, one indexed count): a
    census is built at every page view, and reading 2,000 movement entries takes tens of
    milliseconds where the census takes a few. Callers must not change what they get."""
    mark = journal.kind_mark(KINDS)
    held = _READ.get(journal.dir)
    if held is not None and held[0] == mark:
        return held[1]
    moves = _read(journal)
    _READ[journal.dir] = (mark, moves)
    return moves


def _read(journal: Journal) -> Moves:
    moves = Moves()
    for entry in current(journal.of_kind(KINDS)):  # oldest first: a later version wins
        resource = entry.resource
        rid = str(resource.get("id") or "")
        pid = (entry.patient or "").removeprefix("Patient/")
        if resource.get("resourceType") == "Patient":
            if resource.get("active") is False:  # an admission cancelled
                continue
            moves.patients[rid], moves.patient_keys[rid] = resource, entry.key
            if entry.kind == "admission":
                moves.admitted.add(rid)
        elif resource.get("resourceType") == "Encounter":
            status = str(resource.get("status") or "")
            bed = current_bed(resource) if status not in ENDED else last_bed(resource)
            moves.stays[rid] = LocalStay(rid, pid, status, bed, _bed_name(resource, bed),
                                         entry.time, entry.kind, entry.key, resource)
    return moves


def _bed_name(resource: dict, bed: str | None) -> str:
    for entry in reversed(resource.get("location") or []):
        ref = (entry.get("location") or {}) if isinstance(entry, dict) else {}
        if ref.get("reference") == f"Location/{bed}":
            return str(ref.get("display") or bed)
    return bed or ""


def open_bed(place: object) -> bool:
    """A bed a patient may be admitted or moved to when free: neither closed (v2 0116
    operational status C) nor an inactive Location."""
    return getattr(place, "status", None) != "inactive" and getattr(place, "operational", None) != "C"


def downtime_ipp(patient: dict) -> str:
    return patient_row(patient)[6] or ""


# --- the census ----------------------------------------------------------------------------------


def merge(conn: sqlite3.Connection, occupants: dict[str, list[Occupant]], members: list[str],
          moves: Moves, now: dt.datetime, zone: ZoneInfo) -> list[Departure]:
    """Move the census's occupants where the journal says they are: a stay moved or ended
    here leaves its vault place; a stay in progress at one of `members` arrives there
    (admitted here: marked, with its downtime IPP). Returns who left these places."""
    from .census import add_clinical

    if not moves.stays:
        return []
    for here in occupants.values():
        here[:] = [o for o in here if o.encounter not in moves.stays]
    arriving: dict[str, list[Occupant]] = {}
    departed = []
    at = moves.by_bed()
    for stay in (stay for place in members for stay in at.get(place, ())):
        if stay.status in ENDED:
            if stay.status == "finished":
                departed.append(Departure(stay.patient, _name(conn, stay.patient, moves),
                                          "death" if stay.kind == "death" else "discharge",
                                          str((stay.resource.get("period") or {}).get("end") or ""),
                                          stay.bed_name))
            continue
        occupant = _occupant(conn, stay, moves)
        occupants.setdefault(stay.bed or "", []).append(occupant)
        arriving.setdefault(stay.patient, []).append(occupant)
    if arriving:
        add_clinical(conn, arriving, now, zone)
        for pid, found in arriving.items():
            others = duplicates(conn, moves, pid)
            for occupant in found:
                occupant.duplicate = others[0] if others else ""
    return departed


def _occupant(conn: sqlite3.Connection, stay: LocalStay, moves: Moves) -> Occupant:
    from .census import Occupant

    start = str((stay.resource.get("period") or {}).get("start") or "")
    if stay.patient in moves.patients and stay.patient in moves.admitted:
        row = patient_row(moves.patients[stay.patient])
        family, given, birth, gender = row[1], row[2], row[4], row[5]
        ipp = downtime_ipp(moves.patients[stay.patient])
    else:
        found = conn.execute("SELECT family, given, birth_date, gender FROM patients WHERE id = ?",
                             (stay.patient,)).fetchone() or ("", "", None, None)
        family, given, birth, gender = found
        ipp = ""
    return Occupant(stay.patient, family or "", given or "", birth, gender, start, stay.status, "",
                    encounter=stay.encounter, downtime_ipp=ipp, moved=stay.kind == "transfer")


def _name(conn: sqlite3.Connection, pid: str, moves: Moves) -> str:
    from .census import patient_name

    if pid in moves.patients:
        names = [n for n in moves.patients[pid].get("name") or [] if isinstance(n, dict)]
        chosen = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
        return patient_name(chosen.get("family"), " ".join(chosen.get("given") or []))
    found = conn.execute("SELECT family, given FROM patients WHERE id = ?", (pid,)).fetchone()
    return patient_name(*found) if found else pid


# --- probable duplicates -------------------------------------------------------------------------


def _who(row: tuple) -> tuple[str, str]:
    """(name and birth date, INS) as the duplicate rule compares them."""
    family, given, birth, ins = row
    return person_key(family, given, birth), ins or ""


def duplicates(conn: sqlite3.Connection | None, moves: Moves, pid: str) -> list[str]:
    """The other patients this one is probably: same INS, or same name and birth date,
    between patients admitted during the downtime (any station), or between such a
    patient and one of the vault. A vault patient is compared with admissions only."""
    keys = moves.keys()
    if pid in keys.who:
        mine = keys.who[pid]
    elif conn is not None:
        found = conn.execute("SELECT family, given, birth_date, ins FROM patients WHERE id = ?",
                             (pid,)).fetchone()
        mine = _who(found) if found else ("", "")
    else:
        return []
    same = [other for key, table in zip(mine, (keys.by_name, keys.by_ins), strict=True) if key
            for other in table.get(key, []) if other != pid]
    if pid in keys.who and conn is not None:
        same += [row[0] for row in _vault_matches(conn, moves.patients[pid]) if row[0] != pid]
    return list(dict.fromkeys(same))


@dataclass
class Keys:
    """The duplicate rule's keys of the patients admitted during the downtime, made once
    per reading of the journal."""

    who: dict[str, tuple[str, str]] = field(default_factory=dict)
    by_name: dict[str, list[str]] = field(default_factory=dict)
    by_ins: dict[str, list[str]] = field(default_factory=dict)


def _keys(moves: Moves) -> Keys:
    keys = Keys()
    for pid in sorted(moves.admitted):
        if pid in moves.patients:
            row = patient_row(moves.patients[pid])
            keys.who[pid] = named, ins = _who((row[1], row[2], row[4], row[7]))
            if named:
                keys.by_name.setdefault(named, []).append(pid)
            if ins:
                keys.by_ins.setdefault(ins, []).append(pid)
    return keys


def _matches(one: tuple[str, str], other: tuple[str, str]) -> bool:
    return bool(one[0] and one[0] == other[0] or one[1] and one[1] == other[1])


def _vault_matches(conn: sqlite3.Connection, patient: dict) -> list[tuple]:
    """Vault patients with the same INS, or born the same day under the same name (the
    indexes on ins and birth_date keep it to a few rows)."""
    row = patient_row(patient)
    mine = _who((row[1], row[2], row[4], row[7]))
    found = []
    if row[7]:
        found += conn.execute("SELECT id FROM patients WHERE ins = ?", (row[7],)).fetchall()
    if row[4]:
        for other in conn.execute("SELECT id, family, given, birth_date, ins FROM patients "
                                  "WHERE birth_date = ?", (row[4],)):
            if _matches(mine, _who(other[1:])):
                found.append(other[:1])
    return found


def in_units(conn: sqlite3.Connection, moves: Moves, pid: str, units: list[str]) -> bool:
    """Whether a stay recorded here has the patient in one of these units (their wards):
    a nurse opens a patient she admitted or received without breaking the glass."""
    from .census import all_places, children_of, places_of

    stay = moves.stay_of(pid)
    if stay is None or stay.bed is None:
        return False
    places = all_places(conn)
    children = children_of(places)
    return any(stay.bed in places_of(unit, places, children)[1] for unit in units if unit in places)
