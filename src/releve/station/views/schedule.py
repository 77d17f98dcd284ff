"""The OR schedule of one day, room by room: what the bloc would otherwise rebuild by phone.

The index's `bookings` projection gives each Appointment's local day, start, room and
patient; the Appointment itself gives the procedure (description, else serviceType) and
the team. The surgeon is the participant typed PPRF (primary performer) or named so in
the type's text, the anaesthetist SPRF or so named; a booking without those shows
whatever practitioners it has under "team".
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass, field

from ... import clock
from ...fhir.clinical.values import as_dict, as_list, codes, concept_text, load
from ...fhir.refs import target_id
from . import formats
from .census import patient_name, practitioner_names
from .collation import french_key

SURGEON_CODES = {"PPRF", "PRF", "SPRF"}


@dataclass
class Booking:
    appointment: str
    start: str | None
    end: str | None
    status: str | None
    patient: str | None
    patient_name: str
    procedure: str
    surgeon: str = ""
    anaesthetist: str = ""
    others: list[str] = field(default_factory=list)


@dataclass
class Room:
    id: str | None
    name: str
    bookings: list[Booking]


def patient_ids(rooms: list[Room]) -> list[str]:
    """Every patient the day's schedule names, each once: what its audit entry lists."""
    return list(dict.fromkeys(b.patient for room in rooms for b in room.bookings if b.patient))


def today(zone: str) -> dt.date:
    return clock.today(zone)


FIRST_DAY, LAST_DAY = dt.date(1900, 1, 1), dt.date(2999, 12, 31)


def parse_day(text: str | None, zone: str) -> dt.date:
    """The day asked for (YYYY-MM-DD), today in the station's zone when none is.

    ValueError for a text that is not a day, or a day outside FIRST_DAY..LAST_DAY: the
    pages link to the days before and after, which must exist too.
    """
    if not text:
        return today(zone)
    day = dt.date.fromisoformat(text)
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"day out of range ({FIRST_DAY}..{LAST_DAY})")
    return day


def day_schedule(conn: sqlite3.Connection, day: dt.date, zone: str) -> list[Room]:
    """Bookings of the day in the station's zone, grouped by room in room order, each
    room by start time. The index keys bookings by UTC day: the day before and after are
    read too, and only the bookings that start on `day` where the ward is are kept."""
    around = [(day + dt.timedelta(days=shift)).isoformat() for shift in (-1, 0, 1)]
    rows = conn.execute(
        "SELECT b.appointment, b.start, b.end, b.status, b.patient, b.location, p.family, "
        "p.given, l.name, r.json FROM bookings b "
        "LEFT JOIN patients p ON p.id = b.patient "
        "LEFT JOIN locations l ON l.id = b.location "
        "LEFT JOIN resources r ON r.type = 'Appointment' AND r.id = b.appointment "
        "WHERE b.day IN (?, ?, ?)", around).fetchall()
    rows = sorted((row for row in rows if starts_on(row[1], day, zone)),
                  key=lambda row: start_key(row[1], zone))
    appointments = [(load(row[9]) or {}) if row[9] else {} for row in rows]
    people = practitioner_names(conn, {pid for a in appointments for _, pid, _ in team_of(a) if pid})
    rooms: dict[str | None, Room] = {}
    for row, resource in zip(rows, appointments, strict=True):
        booking = make_booking(row, resource, people)
        room = rooms.setdefault(row[5], Room(row[5], row[8] or row[5] or "", []))
        room.bookings.append(booking)
    return sorted(rooms.values(), key=lambda r: (r.id is None, french_key(r.name)))


def starts_on(start: str | None, day: dt.date, zone: str) -> bool:
    """Whether a booking starting at `start` (a FHIR dateTime) falls on `day` in `zone`;
    a start without an offset is already local."""
    when = formats.parse_instant(start)
    if when is not None:
        return formats.local(when, zone).date() == day
    return bool(start) and str(start)[:10] == day.isoformat()


def start_key(start: str | None, zone: str) -> str:
    """Sort key: the local wall-clock start, so a day's bookings read in the ward's order
    whatever offset the HIS wrote them with."""
    when = formats.parse_instant(start)
    return formats.local(when, zone).isoformat() if when else str(start or "")


def team_of(resource: dict) -> list[tuple[str, str | None, str]]:
    """(role, Practitioner id, display) of the appointment's practitioners."""
    team = []
    for participant in map(as_dict, as_list(resource.get("participant"))):
        actor = as_dict(participant.get("actor"))
        pid = target_id(actor, "Practitioner")
        if pid is None and not str(actor.get("reference", "")).startswith("PractitionerRole"):
            continue
        types = as_list(participant.get("type"))
        found = set().union(*(codes(t) for t in types)) if types else set()
        words = " ".join(concept_text(t) for t in types).casefold()
        if "anesth" in words or "anaesth" in words or ("SPRF" in found and "chirurg" not in words):
            role = "anaesthetist"
        elif "chirurg" in words or "surgeon" in words or found & SURGEON_CODES:
            role = "surgeon"
        else:
            role = "other"
        display = display if isinstance(display := actor.get("display"), str) else ""
        team.append((role, pid, display))
    return team


def make_booking(row: tuple, resource: dict, people: dict[str, str]) -> Booking:
    appointment, start, end, status, patient, _, family, given, _, _ = row
    procedure = resource.get("description") if isinstance(resource.get("description"), str) else ""
    procedure = procedure or ", ".join(
        t for t in map(concept_text, as_list(resource.get("serviceType"))) if t)
    booking = Booking(appointment, start, end, status, patient,
                      patient_name(family, given) or patient or "", procedure)
    for role, pid, display in team_of(resource):
        name = people.get(pid or "", "") or display
        if role == "surgeon" and not booking.surgeon:
            booking.surgeon = name
        elif role == "anaesthetist" and not booking.anaesthetist:
            booking.anaesthetist = name
        elif name:
            booking.others.append(name)
    return booking


DAYS = {"fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
        "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")}
MONTHS = {"fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
                 "septembre", "octobre", "novembre", "décembre"),
          "en": ("January", "February", "March", "April", "May", "June", "July", "August",
                 "September", "October", "November", "December")}


def long_date(day: dt.date, lang: str) -> str:
    """'mercredi 2 décembre 2026' / 'Wednesday 2 December 2026', whatever the OS locale."""
    lang = lang if lang in DAYS else "fr"
    return f"{DAYS[lang][day.weekday()]} {day.day} {MONTHS[lang][day.month - 1]} {day.year}"
