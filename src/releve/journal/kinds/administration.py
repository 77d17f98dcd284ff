"""A dose given, held, refused or not available: a FHIR MedicationAdministration that
answers one order and, for a scheduled order, one planned dose (docs/journal.md §5.1).

The order is what the nurse had in front of her: the medication is copied from it (the
HIS files the administration against the drug it prescribed), the dose typed must be in
the prescribed unit or one that converts to it without doubt (mg for g, mL for L; never
mg for mL nor « comprimé » for mg), and the planned time it answers is kept in an
extension so that the plan can set it against that dose, whenever it was given.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as default
from typing import Any

from ...fhir.refs import target
from ..entry import Author, Draft
from . import MAX_SHORT, Checked, Context, Fields, Invalid, Problem, fhir_time, parse_local_time

KIND = "administration"
MAX_REASON = MAX_SHORT  # why a dose was corrected or cancelled
PLANNED_URL = "https://releve.example/fhir/StructureDefinition/planned-time"
OUTCOME_SYSTEM = "https://releve.example/fhir/CodeSystem/administration-outcome"
PERFORMER_SYSTEM = "https://releve.example/fhir/NamingSystem/station-user"
UCUM = "http://unitsofmeasure.org"
# outcome typed -> (FHIR status, statusReason code, its French words)
OUTCOMES: dict[str, tuple[str, str, str]] = {
    "given": ("completed", "", "Administré"),
    "held": ("not-done", "held", "Suspendu (non administré sur décision soignante)"),
    "refused": ("not-done", "refused", "Refusé par le patient"),
    "unavailable": ("not-done", "unavailable", "Médicament non disponible"),
}
REASONS = {code: words for _, code, words in OUTCOMES.values() if code}
# A unit's UCUM code -> (what it measures, its size in that measure's base unit); the
# aliases are the spellings met on orders and typed on wards.
UNITS: dict[str, tuple[str, float]] = {
    "kg": ("mass", 1e3), "g": ("mass", 1.0), "mg": ("mass", 1e-3), "ug": ("mass", 1e-6),
    "ng": ("mass", 1e-9), "L": ("volume", 1e3), "dL": ("volume", 1e2), "cL": ("volume", 10.0),
    "mL": ("volume", 1.0), "uL": ("volume", 1e-3), "mol": ("amount", 1e3),
    "mmol": ("amount", 1.0), "umol": ("amount", 1e-3), "[iU]": ("iu", 1.0), "[kIU]": ("iu", 1e3),
}
ALIASES = {"µg": "ug", "mcg": "ug", "γ": "ug", "l": "L", "dl": "dL", "cl": "cL", "ml": "mL",
           "µl": "uL", "ul": "uL", "µmol": "umol", "ui": "[iU]", "iu": "[iU]", "u": "[iU]",
           "[iu]": "[iU]", "kui": "[kIU]", "[kiu]": "[kIU]"}
SHOWN = {"ug": "µg", "uL": "µL", "umol": "µmol", "[iU]": "UI", "[kIU]": "kUI"}


@dataclass(frozen=True)
class AdministrationContext(Context):
    """A check's context plus what an administration needs: who gives it, and the
    patient's orders it may answer ("MedicationRequest/<id>" -> the order, vault's or
    journal's)."""

    author: Author | None = None
    orders: Mapping[str, dict] = default(default_factory=dict)


def ucum(unit: str) -> str | None:
    """The UCUM code of a unit as written on an order or typed, if Relève knows it."""
    text = unit.strip()
    if text in UNITS:
        return text
    return ALIASES.get(text.lower()) or next((c for c in UNITS if c.lower() == text.lower()), None)


def same_unit(given: str, prescribed: str) -> bool:
    """The prescribed unit, or one that converts to it (same measure, known sizes)."""
    if " ".join(given.lower().split()) == " ".join(prescribed.lower().split()):
        return True
    a, b = ucum(given), ucum(prescribed)
    return a is not None and b is not None and UNITS[a][0] == UNITS[b][0]


def prescribed_dose(order: dict) -> dict | None:
    """The order's first dose as a Quantity ({value, unit, code}), if it prescribes one.
    Orders come from any HIS: a member of the wrong shape is no dose, never an error."""
    for dosage in _dicts(order.get("dosageInstruction")):
        for rate in _dicts(dosage.get("doseAndRate")):
            quantity = rate.get("doseQuantity")
            if isinstance(quantity, dict) and isinstance(quantity.get("value"), int | float):
                return quantity
    return None


def _dicts(value: object) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def unit_of(quantity: dict | None) -> str:
    if not quantity:
        return ""
    unit = quantity.get("unit") or quantity.get("code")
    return unit if isinstance(unit, str) else ""


def order_route(order: dict) -> dict | None:
    return next((d["route"] for d in _dicts(order.get("dosageInstruction"))
                 if isinstance(d.get("route"), dict)), None)


def _quantity(value: float, unit: str) -> dict:
    code = ucum(unit)
    out: dict = {"value": int(value) if value == int(value) else value,
                 "unit": SHOWN.get(code, code) if code else unit}
    if code:
        out.update(system=UCUM, code=code)
    return out


def _medication(order: dict) -> dict:
    """The order's medication member(s), copied (a contained Medication with it)."""
    if "medicationCodeableConcept" in order:
        return {"medicationCodeableConcept": order["medicationCodeableConcept"]}
    ref = order.get("medicationReference")
    ref = ref if isinstance(ref, dict) else {}
    out: dict = {"medicationReference": ref}
    if str(ref.get("reference", "")).startswith("#"):
        out["contained"] = [c for c in order.get("contained") or []
                            if isinstance(c, dict) and c.get("id") == ref["reference"][1:]]
    return out


def from_form(raw: Mapping[str, object], context: AdministrationContext) -> Draft:
    """A form's fields -> the administration to record (Invalid: nothing to record)."""
    fields = Fields(raw, context)
    outcome = fields.choice("outcome", OUTCOMES)
    when = fields.when("time")
    request = fields.text("request", required=True)
    order = context.orders.get(f"MedicationRequest/{request}")
    if request and order is None:
        fields.problems.append(Problem("request", "Cette prescription n'est pas celle du patient."))
    planned_text = fields.text("planned")
    planned = None
    if planned_text:
        try:
            planned = parse_local_time(planned_text, when)
        except ValueError:
            fields.problems.append(Problem("planned", "Heure prévue invalide."))
    amount = fields.number("dose", required=outcome == "given" and bool(prescribed_dose(order or {})))
    unit = fields.text("unit", required=amount is not None)
    route = fields.text("route")
    site = fields.text("site")
    comment = fields.text("comment")
    fields.done()
    assert order is not None
    status, code, words = OUTCOMES[outcome]
    resource: dict = {"resourceType": "MedicationAdministration", "status": status}
    if planned is not None:
        resource["extension"] = [{"url": PLANNED_URL, "valueDateTime": fhir_time(planned)}]
    if code:
        resource["statusReason"] = [{"coding": [{"system": OUTCOME_SYSTEM, "code": code,
                                                 "display": words}], "text": words}]
    resource.update(_medication(order))
    resource["effectiveDateTime"] = fhir_time(when)
    resource["request"] = {"reference": f"MedicationRequest/{request}"}
    dosage: dict = {}
    if route:
        shown = order_route(order)
        dosage["route"] = shown if shown and _route_text(shown) == route else {"text": route}
    if site:
        dosage["site"] = {"text": site}
    if amount is not None and status == "completed":
        dosage["dose"] = _quantity(amount, unit)
    if dosage:
        resource["dosage"] = dosage
    if comment:
        resource["note"] = [{"text": comment}]
    return Draft(KIND, context.patient, check(resource, context).resource)


def _route_text(concept: dict) -> str:
    coding: dict = next(iter(concept.get("coding") or []), {}) or {}
    return " ".join(str(concept.get("text") or coding.get("display") or "").split())


def check(resource: Mapping[str, object], context: AdministrationContext) -> Checked:
    """A MedicationAdministration typed or posted: the order it answers is the patient's,
    its medication that order's, its times neither future nor older than 24 h, its dose
    in the order's unit. Subject, stay and performer are the context's."""
    problems: list[Problem] = []
    warnings: list[Problem] = []
    out: dict[str, Any] = dict(resource)
    if out.get("resourceType") != "MedicationAdministration":
        raise Invalid([Problem("resourceType", "Ce n'est pas une administration.")])
    status = out.get("status")
    if status not in ("completed", "not-done"):
        problems.append(Problem("outcome", "Choisissez une des valeurs proposées."))
    reasons = [c.get("code") for r in out.get("statusReason") or [] if isinstance(r, dict)
               for c in r.get("coding") or [] if isinstance(c, dict) and c.get("system") == OUTCOME_SYSTEM]
    if status == "not-done" and not any(r in REASONS for r in reasons):
        problems.append(Problem("outcome", "Dites pourquoi la dose n'a pas été donnée."))
    found = target(out.get("request"))
    order = context.orders.get(f"{found[0]}/{found[1]}") if found else None
    if order is None:
        problems.append(Problem("request", "Cette prescription n'est pas celle du patient."))
    elif {k: out.get(k) for k in _medication(order)} != _medication(order):
        problems.append(Problem("request", "Le médicament n'est pas celui de la prescription."))
    if not isinstance(out.get("effectiveDateTime"), str):
        problems.append(Problem("time", "Ce champ est obligatoire."))
    else:
        fields = Fields({"time": out["effectiveDateTime"]}, context)
        fields.when("time")
        problems += fields.problems
    dosage: dict = out["dosage"] if isinstance(out.get("dosage"), dict) else {}
    problems += _dose_problems(dosage.get("dose"), order, status)
    note = " ".join(str(n.get("text", "")) for n in out.get("note") or [] if isinstance(n, dict))
    if len(note) > MAX_SHORT:
        problems.append(Problem("comment", "Texte trop long ({n} caractères, {limit} au plus).",
                                {"n": len(note), "limit": MAX_SHORT}))
    if problems:
        raise Invalid(problems)
    if order is not None and status == "completed":
        warnings += dose_warnings(dosage.get("dose"), order)
    out["subject"] = {"reference": context.patient}
    if context.encounter:
        out["context"] = {"reference": context.encounter}
    if context.author is not None:
        out["performer"] = [{"actor": {"identifier": {"system": PERFORMER_SYSTEM,
                                                      "value": context.author.user},
                                       "display": context.author.name}}]
    return Checked(out, warnings)


def _dose_problems(dose: object, order: dict | None, status: object) -> list[Problem]:
    if dose is None:
        return []
    if not isinstance(dose, dict) or not isinstance(dose.get("value"), int | float) \
            or isinstance(dose.get("value"), bool):
        return [Problem("dose", "La dose n'est pas un nombre.")]
    if status != "completed":
        return [Problem("dose", "Une dose non administrée n'a pas de quantité.")]
    if dose["value"] <= 0:
        return [Problem("dose", "La dose doit être supérieure à zéro.")]
    prescribed = unit_of(prescribed_dose(order or {}))
    given = unit_of(dose)
    if prescribed and not same_unit(given, prescribed):
        return [Problem("unit", "Unité « {unit} » incompatible avec la prescription (en {prescribed}).",
                        {"unit": given or "?", "prescribed": prescribed})]
    return []


def dose_warnings(dose: object, order: dict) -> list[Problem]:
    """A dose other than the prescribed one: shown, never blocking (a half tablet...)."""
    prescribed = prescribed_dose(order)
    if not isinstance(dose, dict) or not prescribed:
        return []
    a, b = ucum(unit_of(dose)), ucum(unit_of(prescribed))
    scale = UNITS[a][1] / UNITS[b][1] if a and b else 1.0
    if abs(float(dose["value"]) * scale - float(prescribed["value"])) > 1e-9 * max(1.0, float(prescribed["value"])):
        return [Problem("dose", "Dose différente de la prescription ({value} {unit}).",
                        {"value": prescribed["value"], "unit": unit_of(prescribed)})]
    return []


def planned_time(resource: dict) -> str | None:
    """The planned dose an administration answers, as recorded (None: as needed)."""
    found = next((e.get("valueDateTime") for e in _dicts(resource.get("extension"))
                  if e.get("url") == PLANNED_URL), None)
    return found if isinstance(found, str) else None


def parse_planned(text: str) -> dt.datetime | None:
    """The planned-time extension's value as an instant (None when it is not one)."""
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None
