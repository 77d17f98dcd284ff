"""ADT messages of one patient group to its Patient, Encounters, Locations and
Practitioners (docs/hl7/adt.md).

The resources are shaped as the FHIR capture's (demo/hospital/chart.py, site.py), for
the station reads both alike (station/records/projections.py): an Encounter's status,
class (v3 ActCode IMP, AMB, EMER), period, attending doctor (participant ATND) and
location entries, the current one active without an end and ranked bed > room > ward by
physicalType; Locations ward > room > bed chained by partOf.

Each stay is replayed from the movements that still hold (movements.py), so the output
is a pure function of the messages: same messages, same resources, byte for byte.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from .. import datatypes as d
from ..message import IDENTITY, Message
from . import ids
from .movements import RESPONSIBILITY, Action, Movement, Ward, admission_undone, event_of, first, holding, read_action
from .patients import patient_resource

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
PHYSICAL = "http://terminology.hl7.org/CodeSystem/location-physical-type"
PHYSICAL_FR = {"wa": "Unité", "ro": "Chambre", "bd": "Lit"}
# PV1-2 patient class (table 0004) to Encounter.class, as HL7's v2-to-FHIR maps it.
CLASSES = {"I": "IMP", "B": "IMP", "O": "AMB", "R": "AMB", "E": "EMER", "P": "PRENC"}
CLASS_NAMES = {"IMP": "inpatient encounter", "AMB": "ambulatory", "EMER": "emergency",
               "PRENC": "pre-admission"}
DEFAULT_CLASS = {"A01": "IMP", "A04": "AMB", "A05": "IMP", "A06": "IMP", "A07": "AMB"}
# ZFM (PAM France, PMSI): mode d'entrée (ZFM-1) and mode de sortie (ZFM-2).
PMSI_MODES = {"6": "Mutation", "7": "Transfert", "8": "Domicile", "9": "Décès"}


@dataclass
class Stay:
    """What a replay of one stay's movements has found so far."""
    status: str | None = None
    klass: str | None = None
    start: str | None = None
    end: str | None = None
    entries: list[dict] = field(default_factory=list)
    here: tuple[str, ...] = ()  # the Location ids of the open entries


def stay_resources(messages: Sequence[Message], survivor: str) -> list[dict]:
    """Every resource the ADT messages of one patient group give (COMMON19: sorted by
    event time then log sequence; `survivor` is the surviving patient key). Other
    messages may be passed: they make no stay, but give the Patient when no ADT does."""
    adt = [m for m in messages if m.header.kind.startswith("ADT^")]
    out: list[dict] = []
    if (patient := patient_resource(messages, survivor)) is not None:
        out.append(patient)
    places = Places()
    practitioners: dict[str, dict] = {}
    stays = [_encounter(visit, actions, survivor, places, practitioners)
             for visit, actions in _by_visit(adt, survivor).items()]
    for stay in stays:  # each entry shows its Location's name as finally known
        for entry in stay.get("location", []):
            entry["location"]["display"] = places.name(entry["location"]["reference"])
    out.extend(stays)
    out.extend(places.resources())
    out.extend(practitioners[key] for key in sorted(practitioners))
    return out


def _by_visit(messages: Sequence[Message], survivor: str) -> dict[str, list[Action]]:
    """Each message's action, grouped by visit (PV1-19). A message without PV1 (a
    merge, an identifier change, a demographics update) touches no stay; one whose PV1
    has no visit number belongs to the latest visit named before it, else the first
    named after it, else to a visit keyed by the patient alone. Identity events (A28,
    A31...) touch no stay, even when they carry a PV1, nor does a PV1 of class N (not
    applicable) without visit number: an A08 used as an identity update."""
    keys = [d.visit_key(m) for m in messages]
    named = [k for k in keys if k]
    stays: dict[str, list[Action]] = {}
    last: str | None = None
    for order, (m, key) in enumerate(zip(messages, keys, strict=True)):
        if not _about_a_stay(m, key):
            continue
        last = key or last
        visit = key or last or (named[0] if named else f"{survivor}|")
        stays.setdefault(visit, []).append(read_action(m, order))
    return stays


def _about_a_stay(m: Message, visit: str | None) -> bool:
    if (pv1 := first(m, "PV1")) is None or event_of(m) in IDENTITY:
        return False
    return visit is not None or (d.value(m, pv1, 2) or "").upper() != "N"


def _encounter(visit: str, actions: list[Action], survivor: str, places: Places,
               practitioners: dict[str, dict]) -> dict:
    stay = Stay()
    moves = holding(actions)
    for movement in moves:
        _apply(stay, movement, places)
    latest = actions[-1].movement.message
    if stay.status is None:
        _from_visit(stay, actions, places)
    elif admission_undone(actions, moves):
        stay.status = "cancelled"  # the admission was cancelled; later movements go with it
    if stay.start is None and (pv1 := first(latest, "PV1")) is not None:
        stay.start = d.dtm(d.value(latest, pv1, 44), d.PARIS)
    if stay.status == "cancelled":
        for entry in stay.entries:
            entry["status"] = "completed"
    resource: dict = {"resourceType": "Encounter", "id": ids.encounter(visit)}
    times = [t for a in actions if (t := a.movement.message.event_time) and "T" in t]
    if times:
        resource["meta"] = {"lastUpdated": max(times, key=d.instant)}
    pv1 = first(latest, "PV1")
    if pv1 is not None and (reps := d.repetitions(latest, pv1, 19)):
        if (ident := d.identifier(reps[0])) is not None:
            resource["identifier"] = [{"use": "official", **ident}]
    resource["status"] = stay.status
    klass = stay.klass or _class_of(latest, None)
    if klass:
        resource["class"] = {"system": ACT_CODE, "code": klass, "display": CLASS_NAMES[klass]}
    if service := _service(moves, actions):
        resource["serviceType"] = service
    resource["subject"] = {"reference": f"Patient/{ids.patient(survivor)}"}
    if doctor := _attending(moves, actions, practitioners):
        resource["participant"] = [doctor]
    period = {k: v for k, v in (("start", stay.start), ("end", stay.end)) if v}
    if period:
        resource["period"] = period
    if hospitalization := _pmsi_modes(moves):
        resource["hospitalization"] = hospitalization
    if stay.entries:
        resource["location"] = stay.entries
    return resource


def _apply(stay: Stay, move: Movement, places: Places) -> None:
    """One movement's effect on the stay, in replay order."""
    event, time = move.event, move.time
    if event in RESPONSIBILITY:
        # Only a nursing unit change can place the patient, in a feed that names the
        # ward through ZBE-8 alone (no ward in PV1-3): that unit is then the ward.
        if event == "Z84" and stay.status in ("in-progress", "onleave") and not (
                move.place and move.place.ward):
            _move(stay, move, places, "active")
        return
    if event == "A05":
        if stay.status in (None, "planned"):
            stay.status, stay.start = "planned", time
            stay.klass = _class_of(move.message, move) or stay.klass
            _move(stay, move, places, "planned")
        return
    if event in ("A01", "A04"):
        stay.status, stay.start, stay.end = "in-progress", time, None
    elif event == "A03":
        stay.status, stay.end = "finished", time
        _close(stay, time)
        return
    elif event == "A21":
        stay.status = "onleave"
    elif event in ("A02", "A22", "A06", "A07") and stay.status in (None, "planned", "onleave"):
        stay.status = "in-progress"
    stay.klass = _class_of(move.message, move) or stay.klass
    if event != "A21":
        _move(stay, move, places, "active")


def _class_of(m: Message, move: Movement | None) -> str | None:
    """Encounter.class: A06 makes an inpatient, A07 an outpatient; else PV1-2."""
    if move is not None and move.event in ("A06", "A07"):
        return DEFAULT_CLASS[move.event]
    pv1 = first(m, "PV1")
    code = d.value(m, pv1, 2) if pv1 is not None else None
    if code and code.upper() in CLASSES:
        return CLASSES[code.upper()]
    return DEFAULT_CLASS.get(move.event) if move is not None else None


def _move(stay: Stay, move: Movement, places: Places, status: str) -> None:
    """The patient is now where the movement says: the open entries end at its time
    (planned ones, which never happened, are dropped) and new ones open."""
    path = places.path(move.place, move.nursing)
    if not path:
        return
    here = tuple(rid for rid, _, _ in path)
    if here == stay.here and status == "active":
        return
    stay.entries = [e for e in stay.entries if e["status"] != "planned"]
    _close(stay, move.time)
    for rid, kind, name in path:
        entry: dict = {"location": {"reference": f"Location/{rid}", "display": name},
                       "status": status,
                       "physicalType": {"coding": [{"system": PHYSICAL, "code": kind,
                                                    "display": PHYSICAL_FR[kind]}]}}
        if move.time:
            entry["period"] = {"start": move.time}
        stay.entries.append(entry)
    stay.here = here if status == "active" else ()


def _close(stay: Stay, time: str | None) -> None:
    for entry in stay.entries:
        if entry["status"] == "active":
            entry["status"] = "completed"
            if time:
                entry.setdefault("period", {})["end"] = time
    stay.here = ()


def _from_visit(stay: Stay, actions: list[Action], places: Places) -> None:
    """A stay known only from visit messages (A08...), or whose every movement was
    cancelled: PV1 alone says what it can (PV1-44 admitted, PV1-45 discharged, PV1-2
    P for a pre-admission, PV1-3 where)."""
    m = actions[-1].movement
    message = m.message
    pv1 = first(message, "PV1")
    if admission_undone(actions, ()):
        stay.status = "cancelled"
        return
    if pv1 is None:  # never: every action of a stay comes with a PV1 (_by_visit)
        return
    stay.start = d.dtm(d.value(message, pv1, 44), d.PARIS)
    stay.end = d.dtm(d.value(message, pv1, 45), d.PARIS)
    patient_class = (d.value(message, pv1, 2) or "").upper()
    stay.status = "finished" if stay.end else "planned" if patient_class == "P" else "in-progress"
    if stay.status != "finished":
        where = "planned" if stay.status == "planned" else "active"
        _move(stay, dataclasses.replace(m, time=stay.start), places, where)


def _service(moves: list[Movement], actions: list[Action]) -> dict | None:
    """The medical unit responsible (ZBE-7) of the latest movement, else PV1-10."""
    for move in reversed(moves):
        if move.medical is not None:
            return {"text": move.medical.name or move.medical.code}
    m = actions[-1].movement.message
    pv1 = first(m, "PV1")
    reps = d.repetitions(m, pv1, 10) if pv1 is not None else []
    return d.concept(reps[0]) if reps else None


def _attending(moves: list[Movement], actions: list[Action],
               practitioners: dict[str, dict]) -> dict | None:
    """PV1-7 as participant ATND, from the latest message sent (MSH-7, then arrival)
    that names one: a PV1 tells the visit as the sender's record stood when it was
    sent, whatever the event time, and a cancel (A55...) sends the restored doctor. The
    messages of movements that no longer hold (a cancelled A54) are not read, so a
    cancel that names no doctor still gives back the previous one."""
    kept = {id(move.message) for move in moves}
    read = [a.movement for a in actions
            if a.verb not in ("insert", "update") or id(a.movement.message) in kept]
    for move in sorted(read, key=lambda m: (d.instant(m.message.header.sent), m.order),
                       reverse=True):
        m = move.message
        pv1 = first(m, "PV1")
        reps = d.repetitions(m, pv1, 7) if pv1 is not None else []
        if reps and (person := d.person(reps[0])) is not None:
            key, name = person
            rid = ids.practitioner(key)
            practitioner: dict = {"resourceType": "Practitioner", "id": rid}
            if number := reps[0].get(1):
                practitioner["identifier"] = [{"value": number}]
            practitioner["name"] = [name]
            practitioners.setdefault(key, practitioner)
            return {"type": [{"coding": [{"system": PARTICIPATION, "code": "ATND",
                                          "display": "attender"}]}],
                    "individual": {"reference": f"Practitioner/{rid}"}}
    return None


def _pmsi_modes(moves: list[Movement]) -> dict | None:
    """ZFM-1 and ZFM-2 (PAM France): the PMSI modes of entry and exit, from the latest
    movement that still holds (a cancelled discharge's mode of exit goes with it)."""
    found: dict = {}
    for move in reversed(moves):
        m = move.message
        if (zfm := first(m, "ZFM")) is None:
            continue
        for fieldno, element in ((1, "admitSource"), (2, "dischargeDisposition")):
            code = d.value(m, zfm, fieldno)
            if code and element not in found:
                found[element] = {"coding": [{"code": code}],
                                  "text": PMSI_MODES.get(code, code)}
    return found or None


class Places:
    """The Locations the group's movements name: ward > room > bed. A ward is named by
    the latest message that names it (ZBE-8's unit name, else PL-9's description, which
    French feeds fill with the unit's label), else by its code; rooms and beds as the
    FHIR capture names them, "Chambre 205", "Lit 205 2" (a bed's name carries its
    room, as a census lists beds alone)."""

    def __init__(self) -> None:
        self._found: dict[str, dict] = {}
        self._named: set[str] = set()  # the Locations named by a message, not by default

    def path(self, place: d.Place | None, nursing: Ward | None) -> list[tuple[str, str, str]]:
        """(Location id, physical type, name) of the ward, room and bed, as known."""
        ward = (place.ward if place else None) or (nursing.code if nursing else None)
        if not ward:
            return []
        facility = (place.facility if place else None) or ""
        given = nursing.name if nursing and nursing.code in (None, ward) else None
        given = given or (place.description if place else None)
        levels: list[tuple[str, tuple[str, ...], str | None, str]] = [("wa", (ward,), given, ward)]
        room, bed = (place.room, place.bed) if place else (None, None)
        if room:
            levels.append(("ro", (ward, room), None, _label("Chambre", room)))
        if bed:
            label = bed if not room or bed.startswith(room) else f"{room} {bed}"
            levels.append(("bd", (ward, room or "", bed), None, _label("Lit", label, bed)))
        path: list[tuple[str, str, str]] = []
        parent = None
        for kind, parts, name, default in levels:
            rid = ids.location(facility, *parts)
            if name:
                self._named.add(rid)
            elif rid in self._named:
                name = self._found[rid]["name"]
            location: dict = {"resourceType": "Location", "id": rid, "status": "active",
                        "name": name or default, "mode": "instance",
                        "physicalType": {"coding": [{"system": PHYSICAL, "code": kind,
                                                     "display": PHYSICAL_FR[kind]}]}}
            if parent:
                location["partOf"] = {"reference": f"Location/{parent}"}
            self._found[rid] = location
            path.append((rid, kind, location["name"]))
            parent = rid
        return path

    def name(self, reference: str) -> str:
        return self._found[reference.removeprefix("Location/")]["name"]

    def resources(self) -> list[dict]:
        return [self._found[rid] for rid in sorted(self._found)]


def _label(kind: str, label: str, code: str | None = None) -> str:
    """"Chambre 205" for a room coded 205; a code that is already a label (it has a
    space: "Chambre 12", "Lit 12 porte", as some systems send names for codes) is kept."""
    code = code or label
    return code if " " in code else f"{kind} {label}"
