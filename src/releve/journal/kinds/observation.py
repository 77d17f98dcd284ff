"""Vital signs and bedside observations: one FHIR Observation per measure.

A nurse fills in any of the measures of the form at once; each one filled becomes its own
Observation (the blood pressure one Observation with its systolic and diastolic
components), all at the same time. The codes, units and ranges are those of
fhir/clinical/vitals.py: an impossible value is refused, an implausible one recorded with
a warning. `check` applies the same rules to an Observation posted to the station's API,
and refuses one whose unit is not the measure's UCUM unit (a weight in pounds is not
converted behind anyone's back).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from ...fhir.clinical.values import as_dict, as_list, as_text, codes, unit_text
from ...fhir.clinical.vitals import (
    BP_PANEL,
    BY_CODE,
    BY_KEY,
    CATEGORY_SYSTEM,
    DIASTOLIC,
    LOINC,
    MEASURES,
    PULSE_OXIMETRY,
    SYSTOLIC,
    UCUM,
    Measure,
)
from ..entry import Draft
from . import MAX_SHORT, Checked, Context, Fields, Invalid, Problem, fhir_time

KIND = "observation"
CATEGORY_DISPLAY = {"vital-signs": "Vital Signs", "laboratory": "Laboratory", "survey": "Survey"}
PANEL_DISPLAY = "Blood pressure panel with all children optional"
SINGLE = tuple(m for m in MEASURES if m.key not in ("sys", "dia"))
FORM_FIELDS = tuple(m.key for m in MEASURES)  # the form's inputs, in the table's order
COMMENT = "comment"
WHEN = "when"


def from_form(raw: Mapping[str, object], context: Context) -> list[Draft]:
    """One Draft per measure filled in (the blood pressure's two fields make one)."""
    fields = Fields(raw, context)
    when = fields.when(WHEN)
    comment = fields.text(COMMENT)
    values = {m.key: fields.number(m.key) for m in MEASURES}
    for measure in MEASURES:
        value = values[measure.key]
        if value is not None and not measure.is_possible(value):
            fields.problems.append(impossible(measure.key, measure, value))
            values[measure.key] = None
    systolic, diastolic = values["sys"], values["dia"]
    if (systolic is None) != (diastolic is None) and not _refused(fields, "sys", "dia"):
        missing = "dia" if diastolic is None else "sys"
        fields.problems.append(Problem(missing, "Saisissez la systolique et la diastolique."))
    elif systolic is not None and diastolic is not None and diastolic >= systolic:
        fields.problems.append(Problem("dia", "La diastolique doit être inférieure à la systolique."))
    if not any(v is not None for v in values.values()) and not fields.problems:
        fields.problems.append(Problem("", "Saisissez au moins une mesure."))
    fields.done()
    resources = []
    if systolic is not None and diastolic is not None:
        resources.append(blood_pressure(systolic, diastolic, when, context, comment))
    for measure in SINGLE:
        value = values[measure.key]
        if value is not None:
            resources.append(single(measure, value, when, context, comment))
    return [Draft(KIND, context.patient, r) for r in resources]


def _refused(fields: Fields, *names: str) -> bool:
    return any(p.field in names for p in fields.problems)


def impossible(field: str, measure: Measure, value: float) -> Problem:
    if measure.whole:
        return Problem(field, "{label} : un nombre entier de {low} à {high}.",
                       {"label": measure.label, "low": shown(measure.possible[0]),
                        "high": shown(measure.possible[1])})
    return Problem(field, "{value} {unit} est impossible pour « {label} » (entre {low} et {high} "
                   "{unit}) : vérifiez la saisie et l'unité.",
                   {"value": shown(value), "unit": unit_text(measure.unit), "label": measure.label,
                    "low": shown(measure.possible[0]), "high": shown(measure.possible[1])})


def implausible(field: str, measure: Measure, value: float) -> Problem | None:
    """The warning a value outside the usual range gets: shown, never blocking."""
    if measure.is_plausible(value):
        return None
    return Problem(field, "{value} {unit} : valeur inhabituelle pour « {label} » (habituellement "
                   "{low} à {high}). Enregistrée : vérifiez-la.",
                   {"value": shown(value), "unit": unit_text(measure.unit), "label": measure.label,
                    "low": shown(measure.plausible[0]), "high": shown(measure.plausible[1])})


def shown(value: float) -> str:
    """37,5 and 120, as the French pages write numbers."""
    return (str(int(value)) if value == int(value) else f"{value:g}").replace(".", ",")


def _number(value: float) -> float | int:
    return int(value) if value == int(value) else value


def _concept(*measures_codes: tuple[str, str], text: str) -> dict:
    return {"coding": [{"system": LOINC, "code": c, "display": d} for c, d in measures_codes],
            "text": text}


def _quantity(measure: Measure, value: float) -> dict:
    return {"value": _number(value), "unit": unit_text(measure.unit), "system": UCUM,
            "code": measure.unit}


def _base(category: str, code: dict, when: dt.datetime, context: Context, comment: str) -> dict:
    resource: dict = {
        "resourceType": "Observation", "status": "final",
        "category": [{"coding": [{"system": CATEGORY_SYSTEM, "code": category,
                                  "display": CATEGORY_DISPLAY[category]}]}],
        "code": code, "subject": {"reference": context.patient}}
    if context.encounter:
        resource["encounter"] = {"reference": context.encounter}
    resource["effectiveDateTime"] = fhir_time(when)
    if comment:
        resource["note"] = [{"text": comment}]
    return resource


def single(measure: Measure, value: float, when: dt.datetime, context: Context,
           comment: str = "") -> dict:
    pairs = [(measure.code, measure.display)]
    if measure.key == "spo2":
        pairs.append((PULSE_OXIMETRY, "Oxygen saturation in Arterial blood by Pulse oximetry"))
    resource = _base(measure.category, _concept(*pairs, text=measure.label), when, context, comment)
    resource["valueQuantity"] = _quantity(measure, value)
    return resource


def blood_pressure(systolic: float, diastolic: float, when: dt.datetime, context: Context,
                   comment: str = "") -> dict:
    resource = _base("vital-signs", _concept((BP_PANEL, PANEL_DISPLAY), text="Pression artérielle"),
                     when, context, comment)
    resource["component"] = [
        {"code": _concept((m.code, m.display), text=m.label), "valueQuantity": _quantity(m, v)}
        for m, v in ((BY_KEY["sys"], systolic), (BY_KEY["dia"], diastolic))]
    return resource


# --- a resource typed elsewhere (a correction, the local FHIR API) ---------------------------


def measured(resource: Mapping[str, object]) -> list[tuple[str, Measure, float | None, str]]:
    """(field, measure, value, unit code) of each quantity an Observation carries:
    its value, or its two components for a blood pressure."""
    found = codes(resource.get("code"))
    if BP_PANEL in found:
        holders = [as_dict(c) for c in as_list(resource.get("component"))]
        out = []
        for holder in holders:
            measure = next((BY_CODE[c] for c in codes(holder.get("code")) if c in (SYSTOLIC, DIASTOLIC)),
                           None)
            if measure is not None:
                out.append((f"component[{measure.key}]", measure, *_value(holder)))
        return out
    measure = next((BY_CODE[c] for c in sorted(found) if c in BY_CODE and BY_CODE[c].code == c), None)
    if measure is None or measure.key in ("sys", "dia"):
        return []
    return [("valueQuantity", measure, *_value(dict(resource)))]


def _value(holder: dict) -> tuple[float | None, str]:
    quantity = as_dict(holder.get("valueQuantity"))
    value = quantity.get("value")
    number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    unit = as_text(quantity.get("code")) if quantity.get("system") == UCUM else ""
    return number, unit


def check(resource: Mapping[str, object], context: Context) -> Checked:
    """The form's rules on an Observation: a known measure, its UCUM unit, a possible
    value, a blood pressure with both components and diastolic below systolic, the
    patient, a time neither future nor too old; warnings for what is implausible."""
    problems: list[Problem] = []
    warnings: list[Problem] = []
    if resource.get("resourceType") != "Observation":
        problems.append(Problem("resourceType", "Une observation (Observation) est attendue."))
    if as_dict(resource.get("subject")).get("reference") != context.patient:
        problems.append(Problem("subject", "L'observation doit concerner ce patient."))
    if resource.get("status") not in ("final", "amended", "corrected", "entered-in-error"):
        problems.append(Problem("status", "Statut attendu : final (ou entered-in-error pour annuler)."))
    fields = Fields({WHEN: _local(as_text(resource.get("effectiveDateTime")))}, context)
    if not resource.get("effectiveDateTime"):
        problems.append(Problem("effectiveDateTime", "L'heure de la mesure est obligatoire."))
    else:
        fields.when(WHEN)
        problems += [Problem("effectiveDateTime", p.text, p.values) for p in fields.problems]
    notes = [as_text(as_dict(n).get("text")) for n in as_list(resource.get("note"))]
    if any(len(n) > MAX_SHORT for n in notes):
        problems.append(Problem("note", "Texte trop long ({n} caractères, {limit} au plus).",
                                {"n": max(len(n) for n in notes), "limit": MAX_SHORT}))
    quantities = measured(resource)
    if not quantities:
        problems.append(Problem("code", "Mesure inconnue : codes LOINC acceptés {codes}.",
                                {"codes": ", ".join([BP_PANEL, *(m.code for m in SINGLE)])}))
    for field, measure, value, unit in quantities:
        if unit != measure.unit:
            problems.append(Problem(field, "Unité attendue pour « {label} » : {unit} (UCUM, {system}).",
                                    {"label": measure.label, "unit": measure.unit, "system": UCUM}))
        elif value is None:
            problems.append(Problem(field, "La valeur de « {label} » doit être un nombre.",
                                    {"label": measure.label}))
        elif not measure.is_possible(value):
            problems.append(impossible(field, measure, value))
        else:
            warnings += [w for w in [implausible(field, measure, value)] if w]
    pressure = {m.key: v for _, m, v, _ in quantities if m.key in ("sys", "dia")}
    if BP_PANEL in codes(resource.get("code")):
        if set(pressure) != {"sys", "dia"}:
            problems.append(Problem("component", "Une pression artérielle a une systolique "
                                    "(8480-6) et une diastolique (8462-4)."))
        elif None not in pressure.values() and pressure["dia"] >= pressure["sys"]:  # type: ignore[operator]
            problems.append(Problem("component", "La diastolique doit être inférieure à la systolique."))
    if problems:
        raise Invalid(problems)
    return Checked(dict(resource), warnings)


def warnings_of(resource: Mapping[str, object]) -> list[Problem]:
    """What looked implausible in a recorded Observation (for the pages beside the value)."""
    return [w for field, m, value, _ in measured(resource) if value is not None
            for w in [implausible(field, m, value)] if w]


def _local(text: str) -> str:
    """A FHIR dateTime as Fields.when reads it (it keeps an explicit offset)."""
    return text.replace("Z", "+00:00")
