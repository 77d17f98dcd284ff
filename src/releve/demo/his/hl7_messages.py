"""HL7 v2.5 messages from the demo hospital's FHIR data, as a French HIS's interface
engine sends them (IHE PAM France for admissions and movements, ORU^R01 for results).

What a stay becomes: ADT^A01 (inpatient), A04 (emergency or day-hospital visit) or A05
(a planned stay) at its start, A02 for each later place of the stay, A03 at its end when
it is finished; every one with EVN, PID, PV1 and the French ZBE (the movement, its id
and its nursing ward). Each laboratory panel (the Observations of a patient taken at the
same time) becomes one ORU^R01: PID, PV1, ORC, OBR, one OBX per result (NM with its
unit, reference range and flag; CWE for a coded or text result).

Encoded as UTF-8 (MSH-18 "UNICODE UTF-8"): French names and units need É, ç, œ and µ,
and œ is not in ISO 8859-1, so 8859/1 would have to escape or lose it.

Control ids (MSH-10) are a pure function of what the message says about (the stay, the
movement, the panel): sending the same hospital again sends the same ids, which a
receiver recognises as duplicates. Nothing here parses HL7: it only writes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from .hl7_segments import (
    LOINC,
    PV1_CLASS,
    SPECIFIC,
    UCUM,
    Hospital,
    Outgoing,
    Sender,
    code_of,
    coding,
    control_id,
    esc,
    place_kind,
    ref_id,
    seconds,
    ts,
)

__all__ = ["Hospital", "Outgoing", "Sender", "esc", "messages", "result_messages", "stay_messages"]


def movements(hospital: Hospital, encounter: dict) -> list[tuple[str, str]]:
    """(start, location id) of each place of the stay, in time order: at each start the
    most specific place given (a bed rather than its ward)."""
    by_start: dict[str, tuple[int, str]] = {}
    for entry in encounter.get("location") or []:
        start = (entry.get("period") or {}).get("start")
        rid = ref_id(entry.get("location"), "Location")
        if not start or rid is None:
            continue
        location = hospital.locations.get(rid, {})
        rank = SPECIFIC.get(place_kind(location) or coding(entry.get("physicalType")).get("code") or "", 3)
        if start not in by_start or rank < by_start[start][0]:
            by_start[start] = (rank, rid)
    return sorted(((start, rid) for start, (_, rid) in by_start.items()), key=lambda m: seconds(m[0]))


def stay_messages(hospital: Hospital, encounter: dict) -> Iterator[Outgoing]:
    """The ADT messages of one stay: its admission, each later movement, its discharge."""
    status = encounter.get("status")
    patient = hospital.patients.get(ref_id(encounter.get("subject"), "Patient") or "")
    period = encounter.get("period") or {}
    if patient is None or status in ("cancelled", "entered-in-error", "unknown") or not period.get("start"):
        return
    places = movements(hospital, encounter) or [(period["start"], "")]
    admitted = period["start"]
    cls = code_of(encounter.get("class"))
    first = "A05" if status == "planned" else "A01" if PV1_CLASS.get(cls, "I") == "I" else "A04"
    pid = hospital.pid(patient)
    ward = None
    for number, (start, location) in enumerate(places):
        trigger = first if number == 0 else "A02"
        here = hospital.place(location)[1]
        # ZBE-9: a new ward changes every responsibility (HMS), a new bed only the bed (L)
        nature = "L" if number and here is ward else "HMS"
        ward = here
        yield _adt(hospital, encounter, pid, trigger, start, location, admitted, number, nature)
    end = period.get("end")
    if status == "finished" and end:
        yield _adt(hospital, encounter, pid, "A03", end, places[-1][1], admitted, len(places),
                   "HMS", discharged=end)


def _adt(hospital: Hospital, encounter: dict, pid: str, trigger: str, when: str, location: str,
         admitted: str, number: int, nature: str, discharged: str | None = None) -> Outgoing:
    control = control_id(trigger, "adt", encounter["id"], trigger, str(number))
    pl, ward = hospital.place(location)
    segments = [hospital.msh("ADT", trigger, control, when),
                f"EVN|{trigger}|{ts(when)}||||{ts(when)}",
                pid,
                hospital.pv1(encounter, pl, admitted, discharged),
                hospital.zbe(control_id("MVT", encounter["id"], str(number)), when, ward, nature)]
    return Outgoing(seconds(when), control, f"ADT^{trigger}", "\r".join(segments) + "\r")


# --- results ----------------------------------------------------------------------------------


def result_messages(hospital: Hospital) -> Iterator[Outgoing]:
    """One ORU^R01 per panel: a patient's laboratory results taken at the same moment
    (for the same stay), issued when the last of them was."""
    panels: dict[tuple[str, str, str], list[dict]] = {}
    for observation in hospital.observations:
        key = (ref_id(observation.get("subject"), "Patient") or "",
               ref_id(observation.get("encounter"), "Encounter") or "",
               observation["effectiveDateTime"])
        panels.setdefault(key, []).append(observation)
    for (patient_id, encounter_id, taken), results in panels.items():
        patient = hospital.patients.get(patient_id)
        if patient is None:
            continue
        yield _oru(hospital, patient, hospital.encounters.get(encounter_id), taken, results)


def _oru(hospital: Hospital, patient: dict, encounter: dict | None, taken: str,
         results: list[dict]) -> Outgoing:
    issued = max((r.get("issued") or taken for r in results), key=seconds)
    order = control_id("ORD", patient["id"], taken, (encounter or {}).get("id", ""))
    control = control_id("R01", "oru", order)
    segments = [hospital.msh("ORU", "R01", control, issued), hospital.pid(patient)]
    if encounter is not None:
        segments.append(hospital.pv1(encounter, hospital.place(_current_place(hospital, encounter))[0],
                                     (encounter.get("period") or {}).get("start")))
    status = "C" if any(r.get("status") in ("amended", "corrected") for r in results) else \
        "P" if all(r.get("status") == "preliminary" for r in results) else "F"
    observer = ""
    for result in results:
        person = hospital.practitioners.get(
            ref_id((result.get("performer") or [{}])[0], "Practitioner") or "")
        if person is not None:
            observer = hospital.xcn(person)
            break
    lab = f"{esc(hospital.sender.namespace)}-LABO^{esc(hospital.sender.facility_oid)}^ISO"
    segments.append(f"ORC|RE|{order}^{esc(hospital.sender.application)}|{order}^{lab}")
    segments.append(f"OBR|1|{order}^{esc(hospital.sender.application)}|{order}^{lab}|"
                    f"BIO^Bilan biologique^L|||{ts(taken)}" + "|" * 15 + f"{ts(issued)}|||{status}")
    for number, result in enumerate(results, start=1):
        segments.append(_obx(number, result, observer))
    return Outgoing(seconds(issued), control, "ORU^R01", "\r".join(segments) + "\r")


def _current_place(hospital: Hospital, encounter: dict) -> str:
    places = movements(hospital, encounter)
    return places[-1][1] if places else ""


def _obx(number: int, result: dict, observer: str) -> str:
    """OBX-2 NM with OBX-6 the unit (UCUM code^display^UCUM), OBX-7 the range, OBX-8 the
    flag; a coded or text result as CWE."""
    code = coding(result.get("code"), LOINC) or coding(result.get("code"))
    identifier = f"{esc(code.get('code'))}^{esc(code.get('display'))}^LN"
    quantity = result.get("valueQuantity")
    unit = reference = flag = ""
    if quantity is not None:
        kind, value = "NM", esc(_number(quantity.get("value")))
        unit = _unit(quantity)
        reference = _range(result)
    else:
        concept = result.get("valueCodeableConcept") or {}
        coded = coding(concept)
        kind = "CWE"
        value = (f"{esc(coded.get('code'))}^{esc(coded.get('display') or concept.get('text'))}^"
                 f"{'SCT' if coded else ''}^^^^^^{esc(concept.get('text'))}")
    for interpretation in result.get("interpretation") or []:
        flag = esc(coding(interpretation).get("code"))
    status = {"final": "F", "amended": "C", "corrected": "C", "preliminary": "P"}.get(
        result.get("status", ""), "F")
    fields = ["OBX", str(number), kind, identifier, "", value, unit, reference, flag, "", "",
              status, "", "", ts(result.get("effectiveDateTime")), "", observer]
    return "|".join(fields).rstrip("|")


def _unit(quantity: dict) -> str:
    """OBX-6 as a French laboratory writes it: the unit as the laboratory spells it
    ("G/L", "µmol/L"), with its UCUM code as the alternate identifier when the spelling
    is not the code itself ("G/L^G/L^L^10*9/L^^UCUM"), else the UCUM code alone
    ("mmol/L^mmol/L^UCUM")."""
    shown = quantity.get("unit") or quantity.get("code")
    code = quantity.get("code") if quantity.get("system") == UCUM else None
    if code is None:
        return f"{esc(shown)}^{esc(shown)}^L"
    if shown == code:
        return f"{esc(code)}^{esc(shown)}^UCUM"
    return f"{esc(shown)}^{esc(shown)}^L^{esc(code)}^^UCUM"


def _number(value: Any) -> str:
    """A decimal as the data writes it: 7.0 stays 7.0 (its precision is information),
    never with an exponent."""
    text = str(value)
    if "e" in text.lower():
        text = format(Decimal(text), "f")
    return text


def _range(result: dict) -> str:
    """OBX-7: low-high, <high (no low bound), >low (no high bound)."""
    for reference in result.get("referenceRange") or []:
        low = (reference.get("low") or {}).get("value")
        high = (reference.get("high") or {}).get("value")
        if low is not None and high is not None:
            return f"{_number(low)}-{_number(high)}"
        if high is not None:
            return f"<{_number(high)}"
        if low is not None:
            return f">{_number(low)}"
    return ""


# --- everything ---------------------------------------------------------------------------------


def messages(hospital: Hospital) -> list[Outgoing]:
    """Every message the hospital's data gives, in event-time order (an admission before
    the results of its stay, a movement before the discharge)."""
    out = [message for encounter in hospital.encounters.values()
           for message in stay_messages(hospital, encounter)]
    out += result_messages(hospital)
    return sorted(out, key=lambda m: m.when)
