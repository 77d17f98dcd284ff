"""SIU^S12 to S15 (booked, rescheduled, modified, cancelled) as a FHIR Appointment, in
the demo hospital's shape: start and end, what (serviceType), where (a Location
participant) and who (the patient, the practitioners), so the station lists it among
what is coming for the patient.

An appointment is named by its filler appointment id (SCH-2: the scheduling
application's, in every message about it), else the placer's (SCH-1): a reschedule, a
change or a cancellation updates the one Appointment.
"""

from __future__ import annotations

from .. import datatypes
from ..message import Message
from . import ids, links, timing
from .links import Segment

# SCH-25 filler status (HL7 table 0278) -> Appointment.status, after HL7's v2-to-FHIR
FILLER_STATUS = {"PENDING": "pending", "WAITLIST": "waitlist", "BOOKED": "booked",
                 "STARTED": "checked-in", "COMPLETE": "fulfilled", "CANCELLED": "cancelled",
                 "DC": "cancelled", "DISCONTINUED": "cancelled", "DELETED": "entered-in-error",
                 "OVERBOOK": "booked", "BLOCKED": "booked", "NOSHOW": "noshow"}
EVENT_STATUS = {"SIU^S15": "cancelled", "SIU^S17": "entered-in-error", "SIU^S26": "noshow"}
# a duration's unit (CE-1 or CE-2) -> minutes; a length without unit is in minutes
_MINUTES = {"MIN": 1, "M": 1, "MN": 1, "MINUTE": 1, "MINUTES": 1, "H": 60, "HR": 60, "HRS": 60,
            "HOUR": 60, "HOURS": 60, "HEURE": 60, "HEURES": 60, "S": 1 / 60, "SEC": 1 / 60,
            "D": 1440, "DAY": 1440, "DAYS": 1440, "J": 1440, "JOUR": 1440, "JOURS": 1440}
DELETE = "D"  # a resource segment's action code (AIS-2, AIL-2, AIP-2): taken off


def appointment_resources(m: Message, patient_id: str) -> list[dict]:
    found = datatypes.segments(m, "SCH")
    if not found:
        return []
    sch = found[0]
    placer, filler = links.number(m, sch, 1), links.number(m, sch, 2)
    key = links.key("filler", filler) if filler else links.key("placer", placer) if placer \
        else links.unnumbered(m)
    made: dict = {"resourceType": "Appointment", "id": ids.make("apt", key)}
    numbers = links.numbers(placer, filler)
    if numbers:
        made["identifier"] = numbers
    made["status"] = EVENT_STATUS.get(m.header.kind) or \
        FILLER_STATUS.get((datatypes.value(m, sch, 25) or "").strip().upper(), "booked")
    # a cancellation takes every resource off the booking: their times still say which
    drop_deleted = made["status"] not in ("cancelled", "entered-in-error")
    services = _kept(m, "AIS", drop_deleted)
    kinds = [c for c in (links.concept(m, s, 3) for s in services) if c]
    if kinds:
        made["serviceType"] = kinds
    kind = links.concept(m, sch, 8)
    if kind:
        made["appointmentType"] = kind
    reason = links.concept(m, sch, 7)
    if reason:
        made["reasonCode"] = [reason]
        if not kinds and reason.get("text"):
            made["description"] = reason["text"]
    made.update(_times(m, sch, services, drop_deleted))
    said = "\n".join(n["text"] for n in links.notes(m, datatypes.segments(m, "NTE")))
    if said:
        made["comment"] = said
    order = links.number(m, sch, 26)
    if order:
        made["basedOn"] = [{"reference": f"ServiceRequest/{ids.make('sr', links.key('placer', order))}"}]
    made["participant"] = _participants(m, patient_id, drop_deleted)
    return [made]


def _kept(m: Message, kind: str, drop_deleted: bool) -> list[Segment]:
    """The resource segments of a kind, less (when `drop_deleted`) those the message
    takes off the booking: a cancelled appointment keeps what it was."""
    return [s for s in datatypes.segments(m, kind)
            if not drop_deleted or (datatypes.value(m, s, 2) or "").strip().upper() != DELETE]


def _times(m: Message, sch: Segment, services: list[Segment], drop_deleted: bool) -> dict:
    """start, end and minutesDuration: SCH-11 (or TQ1), else the first resource that
    gives a start (AIS-4, AIL-6, AIP-6) and its duration."""
    zone = datatypes.PARIS
    when = timing.of_tq(m, sch, 11) | timing.of_tq1(m, next(iter(datatypes.segments(m, "TQ1")), None))
    minutes = when.minutes if when.minutes is not None else _length(m, sch, 9, 10)
    start = when.start
    for seg, at, length in [(s, 4, 7) for s in services] + [(s, 6, 9) for s in _kept(m, "AIL", drop_deleted)] \
            + [(s, 6, 9) for s in _kept(m, "AIP", drop_deleted)]:
        if start and minutes is not None:
            break
        if not start:
            start = datatypes.dtm(datatypes.value(m, seg, at), zone)
        if minutes is None:
            minutes = _length(m, seg, length, length + 1)
    end = when.end or timing.later(start, minutes)
    made: dict = {}
    if start:
        made["start"] = start
    if end:
        made["end"] = end
    if minutes is not None and minutes >= 1:
        made["minutesDuration"] = round(minutes)
    return made


def _length(m: Message, seg: Segment, field: int, unit_field: int) -> float | None:
    """A duration (NM) and its unit (CE) as minutes."""
    text = (datatypes.value(m, seg, field) or "").strip().replace(",", ".")
    try:
        amount = float(text)
    except ValueError:
        return None
    unit = (datatypes.value(m, seg, unit_field, 1) or datatypes.value(m, seg, unit_field, 2) or "MIN")
    factor = _MINUTES.get(unit.strip().upper())
    return amount * factor if factor is not None else None


def _participants(m: Message, patient_id: str, drop_deleted: bool) -> list[dict]:
    """The patient, each practitioner (AIP, with its role) and each place (AIL)."""
    made = [{"actor": links.subject(patient_id), "required": "required", "status": "accepted"}]
    for aip in _kept(m, "AIP", drop_deleted):
        actor = links.person(m, aip, 3)
        if actor is None:
            continue
        who: dict = {}
        role = links.concept(m, aip, 4)
        if role:
            who["type"] = [role]
        who.update(actor=actor, required="required", status="accepted")
        made.append(who)
    for ail in _kept(m, "AIL", drop_deleted):
        reps = datatypes.repetitions(m, ail, 3)
        place = datatypes.place(reps[0]) if reps else None
        where = location(place) if place else None
        if where:
            made.append({"actor": where, "required": "required", "status": "accepted"})
    return made


def location(place: datatypes.Place) -> dict | None:
    """A reference to the Location of a PL, named as the ADT mapping names it (the most
    precise place known: facility, then ward, room, bed), with words a nurse can read;
    None without a ward, as the ADT mapping makes no Location without one."""
    if not place.ward:
        return None
    parts = [place.ward]
    if place.room:  # a bed is known within its room, a room within its ward
        parts += [place.room, place.bed] if place.bed else [place.room]
    ref = {"reference": f"Location/{ids.location(place.facility or '', *parts)}"}
    shown = place.description or ", ".join(p for p in (place.ward, place.room, place.bed) if p)
    if shown:
        ref["display"] = shown
    return ref
