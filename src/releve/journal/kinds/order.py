"""Orders written during the downtime (« prescription de mode dégradé », kind "order").

A physician's medication order is a MedicationRequest, a lab or imaging request a
ServiceRequest (docs/journal.md §5.5). Both carry the category DOWNTIME, which tells
the HIS, the pages and the pharmacist that the order was written on a station and has
not been through the usual prescribing software.

The frequencies are a small set on purpose (FREQUENCIES): each one maps to a FHIR Timing
that views/summary/timing.py can expand into set times, so that a nurse sees the doses
due in the plan as soon as the order is recorded. Anything more unusual is written as
"si besoin" with its reason, or waits for the HIS.

`from_form` reads the physician's form; `check` applies the same rules to a resource
(typed or posted to the local FHIR API): the form builds its resource, then checks it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping

from ..entry import Draft
from . import (
    BACK_HOURS,
    MAX_SHORT,
    MAX_TEXT,
    Checked,
    Context,
    Fields,
    Invalid,
    Problem,
    fhir_time,
    parse_local_time,
)

KIND = "order"
DOWNTIME = {"system": "urn:releve:categorie", "code": "mode-degrade",
            "display": "Prescription de mode dégradé"}
INPATIENT = {"system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
             "code": "inpatient", "display": "Inpatient"}
ATC = "http://www.whocc.no/atc"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
EDQM = "http://standardterms.edqm.eu"
SNOMED = "http://snomed.info/sct"
FREQUENCY_SYSTEM = "urn:releve:frequence"

# the units a dose may be written in: shown text -> UCUM code (None: a unit of
# presentation, which UCUM writes only as an annotation)
UNITS: dict[str, str | None] = {
    "mg": "mg", "g": "g", "µg": "ug", "mL": "mL", "UI": "[iU]", "mmol": "mmol",
    "comprimé": None, "gélule": None, "sachet": None, "goutte": None, "bouffée": None,
}
# routes: the form's value -> (EDQM standard term code, French text)
ROUTES: dict[str, tuple[str, str]] = {
    "orale": ("20053000", "Voie orale"), "iv": ("20045000", "Voie intraveineuse"),
    "sc": ("20066000", "Voie sous-cutanée"), "im": ("20035000", "Voie intramusculaire"),
    "rectale": ("20061000", "Voie rectale"), "inhalee": ("20020000", "Voie inhalée"),
    "cutanee": ("20003000", "Voie cutanée"),
}
# frequencies: the form's value -> (French text, set times of day); "h" is every N hours
# from the first dose, "prn" as needed (with a reason and a maximum per 24 h)
FREQUENCIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "1": ("1 fois par jour", ("08:00",)),
    "2": ("2 fois par jour", ("08:00", "20:00")),
    "3": ("3 fois par jour", ("08:00", "14:00", "20:00")),
    "4": ("4 fois par jour", ("00:00", "06:00", "12:00", "18:00")),
    "h": ("toutes les {n} h", ()),
    "prn": ("si besoin", ()),
}
STOPPED = {"MedicationRequest": "stopped", "ServiceRequest": "revoked"}  # what a stop sets
EVERY_HOURS = (1, 2, 3, 4, 6, 8, 12, 24)
CATEGORIES = {"lab": ("108252007", "Examen de biologie"), "imaging": ("363679005", "Imagerie")}
PRIORITIES = {"routine": "normale", "urgent": "urgente", "stat": "immédiate"}
MAX_DOSE = 100_000.0  # beyond any dose in any unit above: a typing slip
MAX_DAYS = 90  # a downtime order is for the outage, not for a season
AHEAD_DAYS = 7  # how far ahead an order may start
IN_THE_FUTURE = "Cette heure est dans le futur."  # Fields.when's refusal, lifted for a start
ATC_CODE = re.compile(r"[A-Z]\d{2}[A-Z]{2}\d{2}")
LOINC_CODE = re.compile(r"\d{1,7}-\d")


def is_downtime(resource: dict) -> bool:
    """Whether a resource carries the downtime category (an order written on a station)."""
    return any(c.get("system") == DOWNTIME["system"] and c.get("code") == DOWNTIME["code"]
               for concept in resource.get("category") or [] if isinstance(concept, dict)
               for c in concept.get("coding") or [] if isinstance(c, dict))


# --- the forms ---------------------------------------------------------------------------------


def from_form(raw: Mapping[str, object], context: Context) -> Draft:
    """A MedicationRequest (`type` medication, the default) or a ServiceRequest (`type`
    lab or imaging) from a physician's form; Invalid names every field that is wrong.
    `requester` is the signed-in physician's name, set by the page, never typed."""
    kind = str(raw.get("type") or "medication")
    resource = _service_form(raw, context) if kind in CATEGORIES else _medication_form(raw, context)
    check(resource, context)
    return Draft(KIND, context.patient, resource)


def _medication_form(raw: Mapping[str, object], context: Context) -> dict:
    fields = Fields(raw, context)
    drug = fields.text("drug", required=True)
    code = fields.text("code").upper()
    if code and not ATC_CODE.fullmatch(code):
        fields.problems.append(Problem("code", "Code ATC invalide (exemple : N02BE01)."))
    amount = fields.number("dose", required=True)
    if amount is not None and not 0 < amount <= MAX_DOSE:
        fields.problems.append(Problem("dose", "La dose doit être un nombre positif."))
    unit = fields.choice("unit", UNITS)
    route = fields.choice("route", ROUTES)
    frequency = fields.choice("frequency", FREQUENCIES)
    every = _whole(fields, "every", EVERY_HOURS) if frequency == "h" else None
    reason = fields.text("prn_reason", required=True) if frequency == "prn" else ""
    most = _whole(fields, "prn_max", range(1, 25)) if frequency == "prn" else None
    start = _moment(fields, "start")
    end = _end(fields, start)
    note = fields.text("note", limit=MAX_TEXT)
    fields.done()
    dosage: dict = {"sequence": 1, "text": frequency_text(frequency, every, reason, most),
                    "timing": _timing(frequency, every, start, end),
                    "route": {"coding": [{"system": EDQM, "code": ROUTES[route][0],
                                          "display": ROUTES[route][1]}], "text": ROUTES[route][1]},
                    "doseAndRate": [{"doseQuantity": _quantity(amount or 0, unit)}]}
    if frequency == "prn":
        dosage["asNeededCodeableConcept"] = {"text": reason}
        dosage["maxDosePerPeriod"] = {"numerator": _quantity((amount or 0) * (most or 1), unit),
                                      "denominator": {"value": 24, "unit": "h", "system": UCUM,
                                                      "code": "h"}}
    medication: dict = {"text": drug}
    if code:
        medication["coding"] = [{"system": ATC, "code": code}]
    resource = {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
                "category": [{"coding": [INPATIENT]}, {"coding": [DOWNTIME], "text": DOWNTIME["display"]}],
                "medicationCodeableConcept": medication, **_common(raw, context),
                "dosageInstruction": [dosage]}
    if note:
        resource["note"] = [{"text": note}]
    return resource


def _service_form(raw: Mapping[str, object], context: Context) -> dict:
    fields = Fields(raw, context)
    kind = str(raw.get("type"))
    what = fields.text("what", required=True)
    code = fields.text("code")
    if code and not LOINC_CODE.fullmatch(code):
        fields.problems.append(Problem("code", "Code LOINC invalide (exemple : 2345-7)."))
    priority = fields.choice("priority", PRIORITIES)
    reason = fields.text("reason", required=True)
    specimen = fields.text("specimen")
    when = _moment(fields, "when")
    note = fields.text("note", limit=MAX_TEXT)
    fields.done()
    concept: dict = {"text": what}
    if code:
        concept["coding"] = [{"system": LOINC, "code": code}]
    snomed, label = CATEGORIES[kind]
    resource: dict = {"resourceType": "ServiceRequest", "status": "active", "intent": "order",
                      "category": [{"coding": [{"system": SNOMED, "code": snomed, "display": label}],
                                    "text": label},
                                   {"coding": [DOWNTIME], "text": DOWNTIME["display"]}],
                      "priority": priority, "code": concept, **_common(raw, context),
                      "occurrenceDateTime": fhir_time(when), "reasonCode": [{"text": reason}]}
    if specimen:
        resource["specimen"] = [{"display": specimen}]
    if note:
        resource["note"] = [{"text": note}]
    return resource


def _common(raw: Mapping[str, object], context: Context) -> dict:
    common: dict = {"subject": {"reference": context.patient}}
    if context.encounter:
        common["encounter"] = {"reference": context.encounter}
    common["authoredOn"] = fhir_time(context.now)
    requester = str(raw.get("requester") or "").strip()
    if requester:
        common["requester"] = {"display": requester}
    return common


def _whole(fields: Fields, name: str, allowed: range | tuple[int, ...]) -> int | None:
    value = fields.number(name, required=True)
    if value is None:
        return None
    if value != int(value) or int(value) not in allowed:
        fields.problems.append(Problem(name, "Valeur non prévue : de {low} à {high}.",
                                       {"low": min(allowed), "high": max(allowed)}))
        return None
    return int(value)


def _moment(fields: Fields, name: str) -> dt.datetime:
    """A start (or a request's time): read as every kind reads a time (Fields.when, which
    refuses what is more than a day back), but an order may start up to a week ahead."""
    seen = len(fields.problems)
    when = fields.when(name)
    fields.problems[seen:] = [p for p in fields.problems[seen:] if p.text != IN_THE_FUTURE]
    problem = window_problem(when, fields.context.now, name)
    if problem and not fields.problems[seen:]:
        fields.problems.append(problem)
    return when


def window_problem(when: dt.datetime, now: dt.datetime, name: str = "start") -> Problem | None:
    """Why an order's start (or a request's time) is refused, None when it is not: the
    form's rule, applied to a posted resource too."""
    if when < now - dt.timedelta(hours=BACK_HOURS):
        return Problem(name, "Plus de {hours} h en arrière : saisie refusée.", {"hours": BACK_HOURS})
    if when > now + dt.timedelta(days=AHEAD_DAYS):
        return Problem(name, "Plus de {days} jours à l'avance : saisie refusée.", {"days": AHEAD_DAYS})
    return None


def _end(fields: Fields, start: dt.datetime) -> dt.datetime | None:
    """The order's end: a number of days from the start, or an end date, or none."""
    days = fields.raw.get("days")
    if str(days or "").strip():
        count = fields.number("days")
        if count is None:
            return None
        if count != int(count) or not 1 <= count <= MAX_DAYS:
            fields.problems.append(Problem("days", "Durée de 1 à {max} jours.", {"max": MAX_DAYS}))
            return None
        return start + dt.timedelta(days=int(count))
    value = str(fields.raw.get("end") or "").strip()
    if not value:
        return None
    try:
        end = parse_local_time(value, start)
    except ValueError:
        fields.problems.append(Problem("end", "Date invalide : écrivez AAAA-MM-JJTHH:MM."))
        return None
    problem = end_problem(start, end)
    if problem:
        fields.problems.append(Problem("end", problem))
    return end


def end_problem(start: dt.datetime, end: dt.datetime) -> str:
    if end <= start:
        return "La fin doit être après le début."
    if end > start + dt.timedelta(days=MAX_DAYS):
        return f"Plus de {MAX_DAYS} jours : saisie refusée."
    return ""


def _quantity(amount: float, unit: str) -> dict:
    value: int | float = int(amount) if amount == int(amount) else amount
    quantity: dict = {"value": value, "unit": unit}
    if UNITS.get(unit):
        quantity.update(system=UCUM, code=UNITS[unit])
    return quantity


def frequency_text(frequency: str, every: int | None, reason: str, most: int | None) -> str:
    """The order's rhythm in French, as the plan and the MAR print it."""
    text, times = FREQUENCIES.get(frequency, ("", ()))
    if frequency == "h":
        return text.format(n=every)
    if frequency == "prn":
        return f"si besoin ({reason}), {most} fois par 24 h au plus"
    return f"{text} ({', '.join(times)})" if times else text


def _timing(frequency: str, every: int | None, start: dt.datetime, end: dt.datetime | None) -> dict:
    bounds = {"start": fhir_time(start)}
    if end is not None:
        bounds["end"] = fhir_time(end)
    repeat: dict = {"boundsPeriod": bounds}
    times = FREQUENCIES[frequency][1]
    if times:
        repeat.update(frequency=len(times), period=1, periodUnit="d",
                      timeOfDay=[f"{t}:00" for t in times])
    elif frequency == "h":
        repeat.update(frequency=1, period=every, periodUnit="h")
    return {"repeat": repeat, "code": {"coding": [{"system": FREQUENCY_SYSTEM, "code": frequency}]}}


# --- the resource, typed or posted ---------------------------------------------------------------


def check(resource: dict, context: Context) -> Checked:
    """The rules of an order, for the form's resource and for one posted to the API."""
    problems: list[Problem] = []
    rtype = resource.get("resourceType")
    if rtype not in ("MedicationRequest", "ServiceRequest"):
        raise Invalid([Problem("resourceType", "Une prescription est un MedicationRequest "
                                               "ou un ServiceRequest.")])
    if (resource.get("subject") or {}).get("reference") != context.patient:
        problems.append(Problem("subject", "La prescription ne concerne pas ce patient."))
    if resource.get("intent") != "order":
        problems.append(Problem("intent", "Une prescription a l'intention « order »."))
    if resource.get("status") not in ("active", STOPPED[rtype], "entered-in-error"):
        problems.append(Problem("status", "Statut non prévu pour une prescription."))
    if not is_downtime(resource):
        problems.append(Problem("category", "Catégorie « prescription de mode dégradé » absente."))
    problems += _medication_problems(resource, context) if rtype == "MedicationRequest" \
        else _service_problems(resource, context)
    if problems:
        raise Invalid(problems)
    return Checked(resource)


def _text_problem(name: str, value: object, limit: int = MAX_SHORT) -> list[Problem]:
    if not isinstance(value, str) or not value.strip():
        return [Problem(name, "Ce champ est obligatoire.")]
    if len(value) > limit:
        return [Problem(name, "Texte trop long ({n} caractères, {limit} au plus).",
                        {"n": len(value), "limit": limit})]
    return []


def _instant(value: object) -> dt.datetime | None:
    """A FHIR dateTime with its offset (what the form writes), None otherwise."""
    try:
        when = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return when if when is not None and when.tzinfo is not None else None


def _medication_problems(resource: dict, context: Context) -> list[Problem]:
    problems = _text_problem("drug", (resource.get("medicationCodeableConcept") or {}).get("text"))
    dosages = resource.get("dosageInstruction") or []
    if len(dosages) != 1 or not isinstance(dosages[0], dict):
        return [*problems, Problem("dosageInstruction", "Une seule posologie par prescription.")]
    dosage = dosages[0]
    dose = ((dosage.get("doseAndRate") or [{}])[0] or {}).get("doseQuantity") or {}
    value = dose.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_DOSE:
        problems.append(Problem("dose", "La dose doit être un nombre positif."))
    if dose.get("unit") not in UNITS:
        problems.append(Problem("unit", "Unité de dose non prévue."))
    codes = [c.get("code") for c in (dosage.get("route") or {}).get("coding") or []]
    if not any(code == known for code in codes for known, _ in ROUTES.values()):
        problems.append(Problem("route", "Voie d'administration non prévue."))
    repeat = (dosage.get("timing") or {}).get("repeat") or {}
    bounds = repeat.get("boundsPeriod") or {}
    start = _instant(bounds.get("start"))
    if start is None:
        problems.append(Problem("start", "Date invalide : écrivez AAAA-MM-JJTHH:MM."))
    elif (problem := window_problem(start, context.now, "start")) is not None:
        problems.append(problem)
    if start is not None and "end" in bounds:
        end = _instant(bounds.get("end"))
        text = end_problem(start, end) if end else "Date invalide : écrivez AAAA-MM-JJTHH:MM."
        if text:
            problems.append(Problem("end", text))
    if "asNeededCodeableConcept" in dosage:
        problems += _text_problem("prn_reason", dosage["asNeededCodeableConcept"].get("text"))
    return problems


def _service_problems(resource: dict, context: Context) -> list[Problem]:
    problems = _text_problem("what", (resource.get("code") or {}).get("text"))
    if resource.get("priority") not in PRIORITIES:
        problems.append(Problem("priority", "Choisissez une des valeurs proposées."))
    problems += _text_problem("reason", ((resource.get("reasonCode") or [{}])[0] or {}).get("text"))
    when = _instant(resource.get("occurrenceDateTime"))
    if when is None:
        problems.append(Problem("when", "Date invalide : écrivez AAAA-MM-JJTHH:MM."))
    elif (problem := window_problem(when, context.now, "when")) is not None:
        problems.append(problem)
    return problems


# --- a correction's form, filled from the order it corrects -----------------------------------------


def form_of(resource: dict) -> dict[str, str]:
    """The form's fields for a recorded order, so that a correction starts from it."""
    if resource.get("resourceType") == "ServiceRequest":
        kind = next((k for k, (code, _) in CATEGORIES.items()
                     for concept in resource.get("category") or []
                     for c in concept.get("coding") or [] if c.get("code") == code), "lab")
        codes = (resource.get("code") or {}).get("coding") or [{}]
        return {"type": kind, "what": resource["code"].get("text", ""), "code": codes[0].get("code", ""),
                "priority": resource.get("priority", ""),
                "reason": resource["reasonCode"][0].get("text", ""),
                "specimen": ((resource.get("specimen") or [{}])[0]).get("display", ""),
                "when": resource.get("occurrenceDateTime", "")[:16], "note": _note(resource)}
    dosage = resource["dosageInstruction"][0]
    dose = dosage["doseAndRate"][0]["doseQuantity"]
    timing = dosage.get("timing") or {}
    repeat = timing.get("repeat") or {}
    frequency = ((timing.get("code") or {}).get("coding") or [{}])[0].get("code", "")
    route = next((k for k, (code, _) in ROUTES.items()
                  for c in dosage["route"]["coding"] if c.get("code") == code), "")
    most = dosage.get("maxDosePerPeriod", {}).get("numerator", {}).get("value")
    codes = resource["medicationCodeableConcept"].get("coding") or [{}]
    return {"type": "medication", "drug": resource["medicationCodeableConcept"]["text"],
            "code": codes[0].get("code", ""), "dose": _number(dose["value"]), "unit": dose["unit"],
            "route": route, "frequency": frequency,
            "every": _number(repeat["period"]) if frequency == "h" else "",
            "prn_reason": dosage.get("asNeededCodeableConcept", {}).get("text", ""),
            "prn_max": _number(most / dose["value"]) if most and dose["value"] else "",
            "start": repeat["boundsPeriod"]["start"][:16],
            "end": repeat["boundsPeriod"].get("end", "")[:16], "note": _note(resource)}


def _note(resource: dict) -> str:
    return " ".join(n.get("text", "") for n in resource.get("note") or [])


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value).replace(".", ",")


def ended(resource: dict, cancel: bool, reason: str) -> dict:
    """The order as stopped, or cancelled (entered in error): what a stop records, and
    why (a ServiceRequest has no statusReason: the reason goes in a note)."""
    status = "entered-in-error" if cancel else STOPPED[resource["resourceType"]]
    if resource["resourceType"] == "MedicationRequest":
        return {**resource, "status": status, "statusReason": {"text": reason}}
    return {**resource, "status": status, "note": [*resource.get("note", []), {"text": reason}]}
