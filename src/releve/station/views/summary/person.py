"""Who the patient is and where the current stay has them: the head of the summary."""

from __future__ import annotations

from typing import Any

from ....fhir.clinical.values import (
    as_dict,
    as_list,
    as_text,
    codes,
    concept_text,
    first_code,
    human_name,
    period,
    phone_of,
    pick_name,
    reference_text,
)
from ....fhir.refs import target
from ...records.projections import patient_row
from .labels import CLASS, SEX
from .model import Contact, Identity, Stay, Summary
from .reader import Reader


def identity(reader: Reader) -> Identity:
    patient = reader.patient
    try:
        ipp, ins = patient_row(patient)[6:8]
    except Exception:  # noqa: BLE001
        ipp = ins = None
    shown, family, given = human_name(pick_name(patient.get("name")))
    others = []
    for name in as_list(patient.get("name")):
        text = human_name(name)[0]
        if text and text != shown and text not in others:
            others.append(text)
    gender = patient.get("gender") if isinstance(patient.get("gender"), str) else None
    birth = patient.get("birthDate") if isinstance(patient.get("birthDate"), str) else None
    deceased = None
    if isinstance(patient.get("deceasedDateTime"), str):
        deceased = patient["deceasedDateTime"]
    elif patient.get("deceasedBoolean") is True:
        deceased = ""
    return Identity(
        name=shown or "(nom inconnu)", family=family, given=given, birth_date=birth,
        sex=SEX.get(gender or "", "Non renseigné"), gender=gender,
        ipp=ipp if isinstance(ipp, str) else None, ins=ins if isinstance(ins, str) else None,
        address=address(patient.get("address")),
        phones=phone_of(patient.get("telecom")),
        contacts=[c for c in (contact(c) for c in as_list(patient.get("contact"))) if c],
        deceased=deceased, other_names=others)


def address(value: Any) -> str:
    addresses = [a for a in as_list(value) if isinstance(a, dict)]
    if isinstance(value, dict):
        addresses = [value]
    chosen = next((a for a in addresses if a.get("use") == "home"), addresses[0] if addresses else {})
    if as_text(chosen.get("text")):
        return as_text(chosen["text"])
    lines = [as_text(line) for line in as_list(chosen.get("line")) if as_text(line)]
    town = " ".join(p for p in (as_text(chosen.get("postalCode")), as_text(chosen.get("city"))) if p)
    return ", ".join(p for p in (*lines, town, as_text(chosen.get("country"))) if p)


def contact(value: Any) -> Contact | None:
    value = as_dict(value)
    name = human_name(value.get("name"))[0] or as_text(as_dict(value.get("organization")).get("display"))
    relations = [concept_text(r) for r in as_list(value.get("relationship"))]
    phones = phone_of(value.get("telecom"))
    if not name and not phones:
        return None
    return Contact(name, ", ".join(r for r in relations if r), phones[0] if phones else "")


def stay(reader: Reader, summary: Summary) -> None:
    reader.used.add("Encounter")
    encounter = reader.current_encounter()
    if encounter is None:
        return
    reader.shown.add(id(encounter))
    klass = first_code(encounter.get("class"))
    stay = Stay(encounter=as_text(encounter.get("id")), status=as_text(encounter.get("status")),
                kind=CLASS.get(klass, concept_text(encounter.get("class")) or klass))
    stay.admitted = period(encounter.get("period"))[0]
    places: dict[str, str] = {}
    for entry in as_list(encounter.get("location")):
        entry = as_dict(entry)
        if entry.get("status") in ("completed", "planned") or period(entry.get("period"))[1]:
            continue
        found = target(entry.get("location"))
        if found and found[0] == "Location":
            for kind, name in reader.lookup.location(found[1]).items():
                places.setdefault(kind, name)
        kind = first_code(entry.get("physicalType"))
        if kind in ("bd", "ro", "wa") and kind not in places and reference_text(entry.get("location")):
            places[kind] = reference_text(entry.get("location"))
    stay.bed, stay.room, stay.unit = places.get("bd", ""), places.get("ro", ""), places.get("wa", "")
    stay.unit_phone = places.get("phone", "")
    if not stay.unit:
        stay.unit = concept_text(encounter.get("serviceType"))
    stay.attending = attending(reader, encounter)
    stay.reason = reason(reader, encounter)
    summary.stay = stay


def attending(reader: Reader, encounter: dict) -> str:
    chosen = ""
    for participant in as_list(encounter.get("participant")):
        participant = as_dict(participant)
        kinds = set().union(*(codes(t) for t in as_list(participant.get("type")))) \
            if participant.get("type") else set()
        name = reader.lookup.person(participant.get("individual"))
        if name and ("ATND" in kinds or not chosen):
            chosen = name
            if "ATND" in kinds:
                break
    return chosen


def reason(reader: Reader, encounter: dict) -> str:
    texts = [concept_text(c) for c in as_list(encounter.get("reasonCode"))]
    for diagnosis in as_list(encounter.get("diagnosis")):
        condition = reader.lookup.of(as_dict(diagnosis).get("condition"), "Condition")
        if condition:
            texts.append(concept_text(condition.get("code")))
    for ref in as_list(encounter.get("reasonReference")):
        resource = reader.lookup.of(ref)
        texts.append(concept_text(resource.get("code")) if resource else reference_text(ref))
    unique = list(dict.fromkeys(t for t in texts if t))
    return " ; ".join(unique)
