"""The projections: the rows a projected resource (Patient, Location, Encounter,
Appointment) gives the tables pages query, read from the whole resource."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from typing import Any

import orjson

from ...fhir.refs import target_id
from ..text import compact, fold

CURRENT_STAYS = ("planned", "arrived", "triaged", "in-progress", "onleave")
INS_SYSTEMS = ("urn:oid:1.2.250.1.213.1.4.8", "urn:oid:1.2.250.1.213.1.4.9",
               "urn:oid:1.2.250.1.213.1.4.10", "urn:oid:1.2.250.1.213.1.4.11")


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _code(concept: Any) -> str | None:
    """The first code of a CodeableConcept (or Coding)."""
    if not isinstance(concept, dict):
        return None
    if isinstance(concept.get("code"), str):
        return concept["code"]
    for coding in _list(concept.get("coding")):
        if isinstance(coding, dict) and isinstance(coding.get("code"), str):
            return coding["code"]
    return None


def patient_row(resource: dict) -> tuple:
    names = [n for n in _list(resource.get("name")) if isinstance(n, dict)]
    chosen = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    family = _text(chosen.get("family"))
    given = " ".join(g for g in _list(chosen.get("given")) if isinstance(g, str)) or None
    every = []
    for name in names:
        every.append(_text(name.get("family")) or "")
        every.extend(g for g in _list(name.get("given")) if isinstance(g, str))
        every.append(_text(name.get("text")) or "")
    name_norm = " ".join(dict.fromkeys(_folded_words(" ".join(every))))
    ipp, ins = _identifiers(resource)
    deceased = bool(resource.get("deceasedBoolean")) or "deceasedDateTime" in resource
    active = resource.get("active", True) is not False
    pid = resource.get("id")
    return (pid, family, given, name_norm, _text(resource.get("birthDate")),
            _text(resource.get("gender")), ipp, ins, int(active), int(deceased),
            sort_key(family, given, pid), orjson.dumps(identifier_keys(resource)).decode())


def identifier_keys(resource: dict) -> list[str]:
    """What the patient's identifiers are found by: each value compacted (text.compact:
    searched by what a nurse types, whatever its system), and each system and value as
    written, joined by "|" (matched exactly: a contained Patient to the index's patient,
    index/identities.py). A compacted value holds no "|", so the two never meet."""
    keys: list[str] = []
    for ident in _list(resource.get("identifier")):
        if not isinstance(ident, dict) or not isinstance(value := ident.get("value"), str):
            continue
        if searched := compact(value):
            keys.append(searched)
        if isinstance(system := ident.get("system"), str) and system and value:
            keys.append(f"{system}|{value}")
    return list(dict.fromkeys(keys))


def sort_key(family: str | None, given: str | None, pid: Any) -> str:
    """The order search results take at equal match: family, then given names, in French
    alphabetical order (text.compact: folded, spaces left out, as views/collation.py
    compares them), then the id. The separator sorts below every folded character, so
    comparing these strings compares the three parts in turn, and SQLite can keep the
    order in an index."""
    return f"{_compacted(family or '')}\x01{_compacted(given or '')}\x01{pid if isinstance(pid, str) else ''}"


# fold is pure, and a hospital's patients share few distinct name words (measured: folding
# was half of a Patient's projection)
_folded = functools.lru_cache(maxsize=1 << 16)(fold)
MIN_IDENTIFIER = 3  # characters of a compacted identifier a search looks for, at least
_compacted = functools.lru_cache(maxsize=1 << 16)(compact)


def _folded_words(text: str) -> list[str]:
    """fold(text).split(), a whitespace-separated piece at a time: fold maps each
    character on its own and whitespace to a separator, so the words are the same."""
    return [word for piece in text.split() for word in _folded(piece).split()]


def _identifiers(resource: dict) -> tuple[str | None, str | None]:
    """IPP (the hospital's own patient number) and INS (the national health identifier).

    French servers mark the IPP with type PI and the INS with the INS OIDs; other servers'
    medical record number (type MR) stands in for the IPP."""
    ipp = ins = fallback = None
    for ident in _list(resource.get("identifier")):
        if not isinstance(ident, dict) or not isinstance(ident.get("value"), str):
            continue
        system, kind, value = ident.get("system"), _code(ident.get("type")), ident["value"]
        if system in INS_SYSTEMS or kind in ("NI", "INS"):
            ins = ins or value
        elif kind == "PI":
            ipp = ipp or value
        elif kind == "MR":
            fallback = fallback or value
    return ipp or fallback, ins


CONTAINED_PREFIX = "contained-"  # the ids of the patients contained Patients stand for


def contained_subject(rtype: str, rid: str, resource: Any, reference: str) -> tuple | None:
    """The contained_subjects row (index/identities.py) of a resource whose patient is
    the Patient it contains as `reference` ("#p1"), or None if it contains no such Patient.

    The patient it stands for gets an id of its own, made from its identifiers (system and
    value): resources that contain the same person, as identified, meet under one patient;
    one without identifiers stands alone. The Patient is kept with that id, for the
    patient's page to show when no patient of the index has its identifiers."""
    if not isinstance(resource, dict):
        return None
    local = reference[1:]
    contained = next((c for c in _list(resource.get("contained")) if isinstance(c, dict)
                      and c.get("resourceType") == "Patient" and c.get("id") == local), None)
    if contained is None:
        return None
    keys = identifier_keys(contained)
    matched = [key for key in keys if "|" in key]
    seed = "\n".join(sorted(matched)) if matched else f"{rtype}/{rid}{reference}"
    pid = CONTAINED_PREFIX + hashlib.sha256(seed.encode()).hexdigest()[:24]
    patient = orjson.dumps({**contained, "id": pid}).decode()
    return (rtype, rid, pid, orjson.dumps(keys).decode(), patient)


def location_row(resource: dict) -> tuple:
    phone = next((t.get("value") for t in _list(resource.get("telecom"))
                  if isinstance(t, dict) and t.get("system") == "phone"), None)
    part_of = target_id(resource.get("partOf"), "Location")
    return (resource.get("id"), _text(resource.get("name")), _code(resource.get("physicalType")),
            part_of, _text(resource.get("status")), _code(resource.get("operationalStatus")),
            phone if isinstance(phone, str) else None)


def stay_row(resource: dict, patient: str | None) -> tuple:
    period = period if isinstance(period := resource.get("period"), dict) else {}
    status = _text(resource.get("status"))
    attending = None
    for participant in _list(resource.get("participant")):
        if not isinstance(participant, dict):
            continue
        kinds = {_code(t) for t in _list(participant.get("type"))}
        who = target_id(participant.get("individual"), "Practitioner")
        if who and (attending is None or "ATND" in kinds):
            attending = who
            if "ATND" in kinds:
                break
    klass = resource.get("class")
    return (resource.get("id"), patient, status, _code(klass) if isinstance(klass, dict) else None,
            _text(period.get("start")), _text(period.get("end")), _current_location(resource),
            attending, int(status in CURRENT_STAYS))


def _current_location(resource: dict) -> str | None:
    """The most precise location the patient is in now: an active bed before a unit."""
    best, best_rank = None, -1
    for entry in _list(resource.get("location")):
        if not isinstance(entry, dict) or entry.get("status") in ("completed", "planned"):
            continue
        period = entry.get("period")
        if isinstance(period, dict) and period.get("end"):
            continue
        where = target_id(entry.get("location"), "Location")
        rank = {"bd": 3, "ro": 2, "wa": 1}.get(_code(entry.get("physicalType")) or "", 0)
        if where and rank > best_rank:
            best, best_rank = where, rank
    return best


def booking_row(resource: dict, patient: str | None) -> tuple:
    start = _text(resource.get("start"))
    room = None
    for participant in _list(resource.get("participant")):
        if isinstance(participant, dict) and (where := target_id(participant.get("actor"), "Location")):
            room = where
            break
    return (resource.get("id"), utc_day(start), start, _text(resource.get("end")), patient,
            room, _text(resource.get("status")))


def appointment_patient(resource: dict) -> str | None:
    """An Appointment's patient: it has no subject, the patient is among its participants."""
    for participant in _list(resource.get("participant")):
        if isinstance(participant, dict) and (pid := target_id(participant.get("actor"), "Patient")):
            return pid
    return None


def utc_day(instant: str | None) -> str | None:
    """The UTC calendar day of a FHIR dateTime (a date, or a time without offset, stays
    its own day). The index stays free of the station's time zone, which is a display
    setting: a view asks for the days around the one it shows and keeps the bookings
    that fall on it in the station's zone."""
    if not instant:
        return None
    try:
        when = dt.datetime.fromisoformat(instant.replace("Z", "+00:00"))
    except ValueError:
        return instant[:10] if len(instant) >= 10 else None
    if when.tzinfo is None:
        return when.date().isoformat()
    return when.astimezone(dt.UTC).date().isoformat()


PROJECTIONS = {  # resource type: (table, key column)
    "Patient": ("patients", "id"),
    "Location": ("locations", "id"),
    "Encounter": ("stays", "encounter"),
    "Appointment": ("bookings", "appointment"),
}


def projection_of(rtype: str, resource: Any, patient: str | None) -> tuple | None:
    if not isinstance(resource, dict):
        return None
    if rtype == "Patient":
        return patient_row(resource)
    if rtype == "Location":
        return location_row(resource)
    if rtype == "Encounter":
        return stay_row(resource, patient)
    if rtype == "Appointment":
        return booking_row(resource, patient)
    return None
