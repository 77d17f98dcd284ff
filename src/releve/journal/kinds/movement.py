"""Movements: admission, transfer, discharge and death, as the HIS files them
(docs/journal.md §5.4).

- An admission is a Patient (the downtime IPP, identifier type PI; the INS when known)
  and an Encounter (the downtime stay number, type VN; in progress, at a bed), two drafts
  written by one `append`, so neither exists without the other.
- A transfer, a discharge and a death are each a new version of the stay's Encounter,
  whole, under the stay's own id: the location list keeps where the patient was (each
  earlier place `completed`, with its end) and where they are. The way back files it as
  an update of that Encounter: the HIS's own for a stay of the vault, the one the
  admission created (found by its journal identifier) for a stay admitted here. When the
  stay already has a version in the journal, the new one supersedes it, so the pages
  read one current stay.
- A death also writes the patient's Patient with `deceasedDateTime`, in the same append.

The places a patient may go are given by the caller (`beds`: the free beds of the wards
the station knows); this module checks fields and shapes, never the station's state.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import uuid
from collections.abc import Mapping

from ..entry import Draft
from . import Checked, Context, Fields, Invalid, Problem, fhir_time

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PHYSICAL = "http://terminology.hl7.org/CodeSystem/location-physical-type"
DISPOSITION = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
INS_SYSTEM = "urn:oid:1.2.250.1.213.1.4.8"  # INS-NIR
CLASSES = {"IMP": "hospitalisation complète", "EMER": "urgences"}
SEXES = {"female": "Féminin", "male": "Masculin", "other": "Autre", "unknown": "Inconnu"}
DISPOSITIONS = {"home": "Retour à domicile", "other-hcf": "Transfert vers un autre établissement",
                "snf": "Soins de suite et de réadaptation", "aadvice": "Sortie contre avis médical",
                "oth": "Autre"}
DEATH = "exp"
MAX_NAME = 100
OLDEST = 130  # years: a birth date further back is a typing slip
DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})|(\d{1,2})/(\d{1,2})/(\d{4})")


# --- forms ---------------------------------------------------------------------------------------


def admission_from_form(raw: Mapping[str, object], context: Context,
                        beds: Mapping[str, tuple[str, str]]) -> list[Draft]:
    """Patient and Encounter of a patient arriving during the downtime. `raw` carries the
    numbers the station gave (`ipp`, `stay` and their `*_system`); `beds` maps each bed the
    patient may take to (bed name, ward id)."""
    fields = Fields(raw, context)
    family = fields.text("family", required=True, limit=MAX_NAME)
    given = fields.text("given", required=True, limit=MAX_NAME)
    birth = birth_date(fields, "birth_date")
    sex = fields.choice("sex", SEXES)
    ins = ins_number(fields, "ins")
    klass = fields.choice("class", CLASSES)
    bed = fields.choice("bed", beds)
    when = fields.when("time")
    fields.done()
    pid = str(uuid.uuid4())
    patient: dict = {"resourceType": "Patient", "id": pid, "identifier": [
        {"use": "usual", "type": _code(V2_0203, "PI"), "system": str(raw["ipp_system"]),
         "value": str(raw["ipp"])}]}
    if ins:
        patient["identifier"].append({"use": "official", "type": _code(V2_0203, "NI"),
                                      "system": INS_SYSTEM, "value": ins})
    patient |= {"name": [{"use": "official", "family": family, "given": given.split()}],
                "gender": sex, "birthDate": birth}
    encounter = {
        "resourceType": "Encounter", "id": str(uuid.uuid4()), "status": "in-progress",
        "identifier": [{"use": "official", "type": _code(V2_0203, "VN"),
                        "system": str(raw["stay_system"]), "value": str(raw["stay"])}],
        "class": {"system": ACT_CODE, "code": klass, "display": CLASSES.get(klass, "")},
        "subject": {"reference": f"Patient/{pid}", "display": f"{family.upper()} {given}"},
        "period": {"start": fhir_time(when)},
        "location": [_at(bed, beds[bed], when), {
            "location": {"reference": f"Location/{beds[bed][1]}"}, "status": "active",
            "physicalType": _code(PHYSICAL, "wa"), "period": {"start": fhir_time(when)}}]
        if bed in beds else []}
    reference = f"Patient/{pid}"
    return [Draft("admission", reference, patient), Draft("admission", reference, encounter)]


def transfer_from_form(raw: Mapping[str, object], context: Context, stay: dict,
                       beds: Mapping[str, tuple[str, str]], supersedes: str | None) -> Draft:
    """The stay at its new bed (in this ward or another), from the time typed."""
    fields = Fields(raw, context)
    bed = fields.choice("bed", beds)
    when = fields.when("time")
    if bed and bed == current_bed(stay):
        fields.problems.append(Problem("bed", "Le patient est déjà dans ce lit."))
    fields.done()
    moved = _ended_places(stay, when)
    moved["location"] += [_at(bed, beds[bed], when), {
        "location": {"reference": f"Location/{beds[bed][1]}"}, "status": "active",
        "physicalType": _code(PHYSICAL, "wa"), "period": {"start": fhir_time(when)}}]
    return Draft("transfer", context.patient, moved, supersedes, "Transfert")


def discharge_from_form(raw: Mapping[str, object], context: Context, stay: dict,
                        supersedes: str | None) -> Draft:
    fields = Fields(raw, context)
    disposition = fields.choice("disposition", DISPOSITIONS)
    when = fields.when("time")
    fields.done()
    return Draft("discharge", context.patient, finished(stay, when, disposition), supersedes,
                 "Sortie")


def death_from_form(raw: Mapping[str, object], context: Context, patient: dict, stay: dict | None,
                    supersedes: tuple[str | None, str | None]) -> list[Draft]:
    """The Patient with its time of death and, when there is one, the stay finished with
    disposition « décès »: one append. `supersedes`: (Patient's entry, stay's entry)."""
    fields = Fields(raw, context)
    when = fields.when("time")
    if not fields.raw.get("confirm"):
        fields.problems.append(Problem("confirm", "Cochez la case pour confirmer le décès."))
    fields.done()
    dead = {**copy.deepcopy(patient), "deceasedDateTime": fhir_time(when)}
    dead.pop("deceasedBoolean", None)
    drafts = [Draft("death", context.patient, dead, supersedes[0], "Décès")]
    if stay is not None:
        drafts.append(Draft("death", context.patient, finished(stay, when, DEATH), supersedes[1],
                            "Décès"))
    return drafts


# --- shapes --------------------------------------------------------------------------------------


def current_bed(stay: dict) -> str | None:
    """The Location id of the place a stay has the patient now: the active bed ('bd'),
    else the last active place (a box, a room)."""
    return _place(stay, [e for e in stay.get("location") or [] if isinstance(e, dict)
                         and e.get("status") in (None, "active")
                         and not (e.get("period") or {}).get("end")])


def last_bed(stay: dict) -> str | None:
    """Where an ended stay last had the patient: among the places that ended last."""
    places = [e for e in stay.get("location") or [] if isinstance(e, dict)]
    latest = max((str((e.get("period") or {}).get("end") or "") for e in places), default="")
    return _place(stay, [e for e in places if str((e.get("period") or {}).get("end") or "") == latest])


def _place(stay: dict, entries: list[dict]) -> str | None:
    refs = [(((e.get("physicalType") or {}).get("coding") or [{}])[0].get("code"),
             str((e.get("location") or {}).get("reference") or "")) for e in entries]
    refs = [(code, ref.removeprefix("Location/")) for code, ref in refs if ref.startswith("Location/")]
    chosen = next((ref for code, ref in refs if code == "bd"), None)
    return chosen or (refs[-1][1] if refs else None)


def finished(stay: dict, when: dt.datetime, disposition: str) -> dict:
    done = _ended_places(stay, when)
    done["status"] = "finished"
    done["period"] = {**(done.get("period") or {}), "end": fhir_time(when)}
    done["hospitalization"] = {**(done.get("hospitalization") or {}), "dischargeDisposition": {
        **_code(DISPOSITION, disposition),
        "text": "Décès" if disposition == DEATH else DISPOSITIONS.get(disposition, "")}}
    return done


def _ended_places(stay: dict, when: dt.datetime) -> dict:
    """A copy of the stay whose places in use end at `when` (kept: where the patient was)."""
    moved = copy.deepcopy(stay)
    places = []
    for entry in moved.get("location") or []:
        if isinstance(entry, dict) and entry.get("status") in (None, "active", "reserved"):
            entry["status"] = "completed"
            entry["period"] = {**(entry.get("period") or {}), "end": fhir_time(when)}
        places.append(entry)
    moved["location"] = places
    return moved


def _at(bed: str, place: tuple[str, str], when: dt.datetime) -> dict:
    return {"location": {"reference": f"Location/{bed}", "display": place[0]}, "status": "active",
            "physicalType": _code(PHYSICAL, "bd"), "period": {"start": fhir_time(when)}}


def _code(system: str, code: str) -> dict:
    return {"coding": [{"system": system, "code": code}]}


# --- fields --------------------------------------------------------------------------------------


def birth_date(fields: Fields, name: str) -> str:
    """AAAA-MM-JJ or JJ/MM/AAAA, neither in the future nor more than 130 years back."""
    value = fields.text(name, required=True, limit=10)
    if not value:
        return ""
    match = DATE.fullmatch(value)
    try:
        if not match:
            raise ValueError
        year, month, day = (match[1], match[2], match[3]) if match[1] else (match[6], match[5], match[4])
        born = dt.date(int(year), int(month), int(day))
    except ValueError:
        fields.problems.append(Problem(name, "Date invalide : écrivez JJ/MM/AAAA."))
        return value
    today = fields.context.now.date()
    if born > today:
        fields.problems.append(Problem(name, "Cette date est dans le futur."))
    elif born.year < today.year - OLDEST:
        fields.problems.append(Problem(name, "Date de naissance trop ancienne."))
    return born.isoformat()


def ins_number(fields: Fields, name: str) -> str:
    """The INS (NIR): 13 characters and a 2-digit key, 97 minus the number modulo 97
    (Corsica's 2A and 2B count as 19 and 18). Empty is allowed: often unknown at first."""
    value = re.sub(r"\s", "", str(fields.raw.get(name) or ""))
    if not value:
        return ""
    if not ins_valid(value):
        fields.problems.append(Problem(name, "INS invalide : 15 chiffres dont une clé de 2 chiffres "
                                             "(vérifiez la saisie)."))
    return value


def ins_valid(value: str) -> bool:
    if not re.fullmatch(r"[12378]\d{4}(?:\d{2}|2[AB])\d{8}", value, re.IGNORECASE):
        return False
    number = value[:13].upper().replace("2A", "19", 1) if value[5:7].upper() == "2A" \
        else value[:13].upper().replace("2B", "18", 1) if value[5:7].upper() == "2B" else value[:13]
    return 97 - int(number) % 97 == int(value[13:])


# --- the checks the API shares -------------------------------------------------------------------


def check(resource: dict, context: Context) -> Checked:
    """A movement's Patient or Encounter, as a form would have made it."""
    problems: list[Problem] = []
    if resource.get("resourceType") == "Patient":
        _check_patient(resource, context, problems)
    elif resource.get("resourceType") == "Encounter":
        _check_encounter(resource, context, problems)
    else:
        problems.append(Problem("resourceType", "Un mouvement est un Patient ou un Encounter."))
    if problems:
        raise Invalid(problems)
    return Checked(resource)


def _check_patient(resource: dict, context: Context, problems: list[Problem]) -> None:
    name = next(iter(resource.get("name") or []), None)
    raw = {"family": (name or {}).get("family"), "given": " ".join((name or {}).get("given") or []),
           "birth_date": resource.get("birthDate"), "sex": resource.get("gender"),
           "ins": next((i.get("value") for i in resource.get("identifier") or []
                        if isinstance(i, dict) and i.get("system") == INS_SYSTEM), "")}
    fields = Fields(raw, context)
    fields.text("family", required=True, limit=MAX_NAME)
    fields.text("given", required=True, limit=MAX_NAME)
    birth_date(fields, "birth_date")
    fields.choice("sex", SEXES)
    ins_number(fields, "ins")
    if not any(isinstance(i, dict) and i.get("value") and (i.get("type") or {}).get("coding", [{}])[0]
               .get("code") in ("PI", "MR") for i in resource.get("identifier") or []):
        fields.problems.append(Problem("ipp", "Le patient n'a pas d'IPP (identifiant de type PI)."))
    if resource.get("deceasedDateTime"):
        _check_time(resource["deceasedDateTime"], "time", context, fields)
    problems.extend(fields.problems)


def _check_encounter(resource: dict, context: Context, problems: list[Problem]) -> None:
    fields = Fields({}, context)
    status = resource.get("status")
    if status not in ("in-progress", "finished"):
        fields.problems.append(Problem("status", "Un séjour est « in-progress » ou « finished »."))
    if (resource.get("class") or {}).get("code") not in (*CLASSES, "ACUTE", "AMB", "OBSENC", "SS"):
        fields.problems.append(Problem("class", "Choisissez une des valeurs proposées."))
    if (resource.get("subject") or {}).get("reference") != context.patient:
        fields.problems.append(Problem("subject", "Le séjour n'est pas celui de ce patient."))
    period = resource.get("period") or {}
    if not period.get("start"):
        fields.problems.append(Problem("time", "Le séjour n'a pas de début."))
    if status == "in-progress" and current_bed(resource) is None:
        fields.problems.append(Problem("bed", "Un séjour en cours a un lit."))
    if status == "finished":
        if not period.get("end"):
            fields.problems.append(Problem("time", "Un séjour terminé a une fin."))
        else:
            _check_time(period["end"], "time", context, fields)
        code = (((resource.get("hospitalization") or {}).get("dischargeDisposition") or {})
                .get("coding") or [{}])[0].get("code")
        if code not in (*DISPOSITIONS, DEATH):
            fields.problems.append(Problem("disposition", "Choisissez une des valeurs proposées."))
    problems.extend(fields.problems)


def _check_time(value: object, name: str, context: Context, fields: Fields) -> None:
    """A FHIR dateTime read as the forms read a typed time (not future, ≤ 24 h back)."""
    probe = Fields({name: str(value)}, context)
    probe.when(name)
    fields.problems.extend(probe.problems)
