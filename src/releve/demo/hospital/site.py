"""The hospital itself: its organization, sites, units, rooms, beds and staff.

`build_site` lays the hospital out from its size alone (no patient yet); `site_resources`
writes it as FHIR once the census is known (a bed is occupied or not). The staff and
the units' extensions are the phone directory a switchboard stops serving on the day.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from . import build as b
from .catalog.services import DOCTOR_ROLE, ED, OTHER_UNITS, ROLES, SERVICES, SITES, Service
from .names import FAMILY, FEMALE_GIVEN, FICTION_LANDLINE, MALE_GIVEN

ORG_ID = "org-chtr"
ORG_NAME = "Centre hospitalier des Trois-Rivières"
ORG_ADDRESS = ("Saint-Vincent-de-Tyrosse", "40230")
SWITCHBOARD = f"{FICTION_LANDLINE} 00 00"
UNIT_MAX_BEDS = 32
PHYSICAL = "http://terminology.hl7.org/CodeSystem/location-physical-type"
BED_STATUS = "http://terminology.hl7.org/CodeSystem/v2-0116"
PRACTITIONER_ROLE = "http://terminology.hl7.org/CodeSystem/practitioner-role"
PHYSICAL_FR = {"si": "Site", "wa": "Unité", "ro": "Chambre", "bd": "Lit"}


@dataclass
class Bed:
    id: str
    name: str
    room_id: str
    unit: Unit


@dataclass
class Staff:
    id: str
    role_id: str
    role: str  # key of catalog.services.ROLES
    gender: str
    given: str
    family: str
    unit: Unit
    phone: str  # DECT number (6xxxx), or pager ("bip", 8xxxx) for interns

    @property
    def title(self) -> str:
        """Dr Claire DUPONT for physicians, Claire DUPONT otherwise."""
        doctor = ROLES[self.role][1] in ("doctor", "pharmacist")
        return f"{'Dr ' if doctor else ''}{self.given} {self.family.upper()}"


@dataclass
class Unit:
    code: str  # "card-a"
    name: str  # "Cardiologie A"
    service: Service | None
    site: int
    floor: int
    extension: str
    rooms: list[tuple[str, str, int]] = field(default_factory=list)  # (id, name, beds)
    beds: list[Bed] = field(default_factory=list)
    staff: dict[str, list[Staff]] = field(default_factory=dict)
    _doctors: list[Staff] | None = field(default=None, repr=False)

    @property
    def id(self) -> str:
        return f"loc-{self.code}"

    def doctors(self) -> list[Staff]:
        """Senior physicians of the unit (the attending of its patients)."""
        if self._doctors is None:
            self._doctors = [s for role, people in self.staff.items() if role != "interne"
                             and ROLES[role][1] == "doctor" for s in people]
        return self._doctors

    def nurses(self) -> list[Staff]:
        return self.staff.get("ide") or self.staff.get("ibode") or self.staff.get("sf") or []

    def care_service(self) -> Service:
        """The clinical service of a care unit, the only kind with beds and inpatients; the
        emergency department and the technical units have none."""
        if self.service is None:
            raise ValueError(f"unit {self.code} has no clinical service: no bed, no inpatient")
        return self.service


@dataclass
class Site:
    units: list[Unit]
    by_code: dict[str, Unit]
    by_service: dict[str, list[Unit]]
    beds: list[Bed]
    staff: list[Staff]
    ed_boxes: list[tuple[str, str]]  # (id, name)
    or_rooms: list[tuple[str, str]]
    machines: list[tuple[str, str]]  # radiotherapy accelerators


def bed_counts(beds: int) -> list[tuple[Service, int]]:
    """Beds per service by their share, largest remainders first (stable order)."""
    exact = [(s, s.share * beds) for s in SERVICES]
    counts = {s.code: int(x) for s, x in exact}
    left = beds - sum(counts.values())
    by_remainder = sorted(exact, key=lambda sx: (-(sx[1] - int(sx[1])), sx[0].code))
    for s, _ in by_remainder[:left]:
        counts[s.code] += 1
    return [(s, counts[s.code]) for s in SERVICES if counts[s.code] > 0]


def build_site(seed: int, beds: int) -> Site:
    """The hospital's layout and staff, a pure function of seed and size."""
    rng = random.Random(f"releve-demo/{seed}/site")
    units: list[Unit] = []
    extension = iter(range(2010, 10000, 10))  # 2000 is the emergency department
    for service, count in bed_counts(beds):
        parts = math.ceil(count / UNIT_MAX_BEDS)
        room_no = service.floor * 100
        for part in range(parts):
            share = count // parts + (1 if part < count % parts else 0)
            letter = "abcdefghijklmnopqrstuvwxyz"[part] if parts > 1 else ""
            unit = Unit(f"{service.code}-{letter}" if letter else service.code,
                        f"{service.name} {letter.upper()}" if letter else service.name,
                        service, service.site, service.floor, str(next(extension)))
            room_no = _lay_rooms(rng, unit, service.single_rooms, share, room_no)
            units.append(unit)
    ed = Unit(ED[0], ED[1], None, ED[2], ED[3], "2000")
    others = [Unit(code, name, None, site, floor, str(next(extension)))
              for code, name, site, floor in OTHER_UNITS]
    units = [ed, *units, *others]
    by_code = {u.code: u for u in units}
    ed_boxes = [(f"loc-urg-box{n}", f"Box {n}") for n in range(1, max(4, beds // 25) + 1)]
    or_rooms = [(f"loc-bloc-s{n}", f"Salle d'opération {n}")
                for n in range(1, max(2, beds // 50) + 1)]
    machines = [(f"loc-radt-acc{n}", f"Accélérateur {n}")
                for n in range(1, max(1, beds // 400) + 2)]
    staff = _hire(rng, units, beds, len(or_rooms), len(machines))
    by_service: dict[str, list[Unit]] = {}
    for unit in units:
        if unit.service:
            by_service.setdefault(unit.service.code, []).append(unit)
    all_beds = [bed for unit in units for bed in unit.beds]
    return Site(units, by_code, by_service, all_beds, staff, ed_boxes, or_rooms, machines)


def _lay_rooms(rng: random.Random, unit: Unit, single_rooms: float, beds: int, room_no: int) -> int:
    """Single (a `single_rooms` share) and double rooms ("porte" and "fenêtre" beds),
    numbered by floor."""
    left = beds
    while left > 0:
        room_no += 1
        size = 1 if left == 1 or rng.random() < single_rooms else 2
        room_id = f"{unit.id}-r{room_no}"
        unit.rooms.append((room_id, f"Chambre {room_no}", size))
        if size == 1:
            unit.beds.append(Bed(f"{room_id}-b1", f"Lit {room_no}", room_id, unit))
        else:
            unit.beds.append(Bed(f"{room_id}-b1", f"Lit {room_no} porte", room_id, unit))
            unit.beds.append(Bed(f"{room_id}-b2", f"Lit {room_no} fenêtre", room_id, unit))
        left -= size
    return room_no


def _team(unit: Unit, beds: int, hospital_beds: int, or_rooms: int, machines: int,
          first_of_service: bool) -> list[tuple[str, int]]:
    """How many of each role a unit employs: a directory, not a staffing model."""
    if unit.service is not None:
        kind = unit.service.kind
        team = [(DOCTOR_ROLE[kind], max(1, round(beds / 10))), ("interne", max(1, round(beds / 12))),
                ("cadre", 1), ("ide", max(2, round(beds / 2.5))), ("as", max(2, round(beds / 3.5)))]
        if kind == "maternity":
            team.append(("sf", max(2, round(beds / 3))))
        if first_of_service:
            team.insert(0, ("chef", 1))
        return team
    size = hospital_beds
    return {
        "urg": [("chef", 1), ("urgentiste", max(3, size // 50)), ("interne", max(2, size // 100)),
                ("cadre", 1), ("ide", max(4, size // 25)), ("as", max(3, size // 40))],
        "bloc": [("cadre", 1), ("anes", max(2, or_rooms)), ("ibode", 2 * or_rooms), ("as", or_rooms)],
        "hdjo": [("onco", max(2, size // 100)), ("cadre", 1), ("ide", max(2, size // 80))],
        "radt": [("chef", 1), ("radiot", max(1, size // 200)), ("manip", 2 * machines), ("cadre", 1)],
        "phar": [("chef", 1), ("pharm", max(2, size // 150)), ("prep", max(2, size // 80))],
        "labo": [("chef", 1), ("bio", max(2, size // 200)), ("tech", max(3, size // 60))],
        "efs": [("tech", 2)],
    }[unit.code]


def _hire(rng: random.Random, units: list[Unit], beds: int, or_rooms: int,
          machines: int) -> list[Staff]:
    staff: list[Staff] = []
    seen_services: set[str] = set()
    for unit in units:
        first = unit.service is not None and unit.service.code not in seen_services
        if unit.service is not None:
            seen_services.add(unit.service.code)
        for role, count in _team(unit, len(unit.beds), beds, or_rooms, machines, first):
            for _ in range(count):
                n = len(staff) + 1
                female = rng.random() < (0.55 if ROLES[role][1] == "doctor" else 0.85)
                era = rng.choice((1, 1, 2)) if role != "interne" else 2
                given = rng.choice((FEMALE_GIVEN if female else MALE_GIVEN)[era])
                phone = f"{8 if ROLES[role][2] else 6}{n:04d}"  # bip 8xxxx, DECT 6xxxx
                person = Staff(f"pra-{n:04d}", f"prr-{n:04d}", role,
                               "female" if female else "male", given, rng.choice(FAMILY), unit, phone)
                unit.staff.setdefault(role, []).append(person)
                staff.append(person)
    return staff


def _direct_line(extension: str) -> str:
    return f"{FICTION_LANDLINE} {extension[:2]} {extension[2:]}"


def _unit_telecom(unit: Unit) -> list[dict]:
    return [{"system": "phone", "value": unit.extension, "use": "work", "rank": 1},
            {"system": "phone", "value": _direct_line(unit.extension), "use": "work", "rank": 2}]


def _location(rid: str, name: str, kind: str, updated: int, part_of: str | None,
              **extra) -> dict:
    resource = b.header("Location", rid, updated)
    resource.update({"status": "active", "name": name, "mode": "instance"})
    resource.update(extra)
    resource["physicalType"] = b.concept(PHYSICAL, kind, PHYSICAL_FR[kind])
    if part_of:
        resource["partOf"] = b.ref(f"Location/{part_of}")
    resource["managingOrganization"] = b.ref(f"Organization/{ORG_ID}", ORG_NAME)
    return resource


def site_resources(site: Site, occupied: set[str], now: int) -> Iterator[dict]:
    """Organization, Locations (sites, units, rooms, beds), Practitioners and their roles."""
    layout_time = now - 400 * b.DAY
    org = b.header("Organization", ORG_ID, layout_time)
    org.update({
        "identifier": [{"system": b.HOSPITAL_OID, "value": "CHTR"}],
        "active": True,
        "type": [b.concept("http://terminology.hl7.org/CodeSystem/organization-type", "prov",
                           "Établissement de santé")],
        "name": ORG_NAME, "alias": ["CHTR"],
        "telecom": [{"system": "phone", "value": SWITCHBOARD, "use": "work"}],
        "address": [{"use": "work", "line": [SITES[0][2]], "city": ORG_ADDRESS[0],
                     "postalCode": ORG_ADDRESS[1], "country": "France"}],
    })
    yield org
    for code, name, street in SITES:
        yield _location(f"loc-site-{code}", name, "si", layout_time, None,
                        telecom=[{"system": "phone", "value": SWITCHBOARD, "use": "work"}],
                        address={"use": "work", "line": [street], "city": ORG_ADDRESS[0],
                                 "postalCode": ORG_ADDRESS[1], "country": "France"})
    for unit in site.units:
        floor = ("rez-de-chaussée" if unit.floor == 0 else "sous-sol" if unit.floor < 0
                 else f"{unit.floor}{'er' if unit.floor == 1 else 'e'} étage")
        extra = {"description": f"{SITES[unit.site][1]}, {floor}",
                 "type": [b.text_concept(unit.service.name if unit.service else unit.name)],
                 "telecom": _unit_telecom(unit)}
        yield _location(unit.id, unit.name, "wa", layout_time, f"loc-site-{SITES[unit.site][0]}",
                        alias=[unit.code.upper()], **extra)
        for room_id, room_name, size in unit.rooms:
            yield _location(room_id, room_name, "ro", layout_time, unit.id,
                            description="Chambre individuelle" if size == 1 else "Chambre double")
        for bed in unit.beds:
            status = (b.coding(BED_STATUS, "O", "Occupé") if bed.id in occupied
                      else b.coding(BED_STATUS, "U", "Libre"))
            yield _location(bed.id, bed.name, "bd", now - 2 * b.HOUR, bed.room_id,
                            operationalStatus=status)
        places = {"urg": site.ed_boxes, "bloc": site.or_rooms, "radt": site.machines}
        for room_id, room_name in places.get(unit.code, []):
            yield _location(room_id, room_name, "ro", layout_time, unit.id)
    for person in site.staff:
        yield from _staff_resources(person, layout_time)


def _staff_resources(person: Staff, updated: int) -> Iterator[dict]:
    title, hl7_code, pager = ROLES[person.role]
    phone = {"system": "pager" if pager else "phone", "value": person.phone,
             "use": "work" if pager else "mobile"}
    name = {"use": "official", "family": person.family, "given": [person.given]}
    if hl7_code in ("doctor", "pharmacist"):
        name["prefix"] = ["Dr"]
    practitioner = b.header("Practitioner", person.id, updated)
    practitioner.update({
        "identifier": [{"system": b.STAFF_SYSTEM, "value": f"M{int(person.id[4:]):06d}"}],
        "active": True, "name": [name], "telecom": [phone], "gender": person.gender,
    })
    yield practitioner
    unit = person.unit
    role = b.header("PractitionerRole", person.role_id, updated)
    code: dict[str, Any] = {"text": title}
    if hl7_code:
        code = {"coding": [b.coding(PRACTITIONER_ROLE, hl7_code, title)], "text": title}
    role.update({
        "active": True,
        "practitioner": b.ref(f"Practitioner/{person.id}", person.title),
        "organization": b.ref(f"Organization/{ORG_ID}", ORG_NAME),
        "code": [code],
        "specialty": [b.text_concept(unit.service.name if unit.service else unit.name)],
        "location": [b.ref(f"Location/{unit.id}", unit.name)],
        "telecom": [dict(phone),
                    {"system": "phone", "value": unit.extension, "use": "work", "rank": 2}],
    })
    yield role
