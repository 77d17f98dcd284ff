"""Today's inpatients' medication: the orders of their stay, and what was given or not
given of each in the last 48 hours (what a nurse must know at the next round).

The orders are the stay profile's, then the chronic treatments, then what the patient's
allergies forbid or replace; doses per kg are rounded to what can be given, and insulin
follows its sliding scale on the patient's capillary glucose.
"""

from __future__ import annotations

from typing import Any

from . import build as b
from .catalog import ATC, SNOMED
from .catalog.drugs import ANTICOAGULANTS, AVOID, DRUGS, ROUTES, Drug
from .catalog.profiles import Profile
from .chart import Chart, staff_ref
from .site import Staff, Unit

MR_CATEGORY = "http://terminology.hl7.org/CodeSystem/medicationrequest-category"
MA_CATEGORY = "http://terminology.hl7.org/CodeSystem/medication-admin-category"
DOSE_TYPE = "http://terminology.hl7.org/CodeSystem/dose-rate-type"
NOT_DONE = ("Patient au bloc opératoire", "Refus du patient", "Patient à jeun (examen)",
            "Patient absent du service (imagerie)")


def prescribe(chart: Chart, profile: Profile, unit: Unit, enc: str, admitted: int, prescriber: Staff,
              diagnosis: str, glycaemia: dict[int, float]) -> None:
    """Every order of the stay, each with its administrations of the last 48 hours; in
    half of the stays longer than three days, IV paracetamol has turned oral."""
    rng = chart.rng
    keys = _orders_for(chart, profile, unit.care_service().kind)
    start = admitted + rng.randint(30, 120) * 60
    for key in keys:
        reason = diagnosis if key in profile.orders else None
        if key == "para_iv" and chart.now - admitted > 3 * b.DAY and rng.random() < 0.5:
            switch = admitted + rng.randint(48, 72) * b.HOUR  # IV to oral once eating again
            medication_order(chart, "para_iv", enc, start, switch, prescriber, reason, unit, glycaemia)
            medication_order(chart, "para_po", enc, switch, None, prescriber, reason, unit, glycaemia)
            continue
        medication_order(chart, key, enc, start, None, prescriber, reason, unit, glycaemia)


def _orders_for(chart: Chart, profile: Profile, kind: str) -> list[str]:
    """The profile's orders, the chronic treatments, then what allergies forbid."""
    orders = list(profile.orders)
    child = chart.person.age < 16
    if chart.diabetic() and "insu_ivse" not in orders and kind != "psychiatry":
        orders += ["insu_glar", "insu_scale"]
    if chart.has("I10") and not {"amlo", "rami", "biso"} & set(orders) and kind != "icu":
        orders.append("amlo")
    if chart.has("E03.9"):
        orders.append("levo")
    if chart.has("I48.9") and kind != "icu" and not {"apix", "hep_ivse", "enox_cur"} & set(orders):
        orders = [o for o in orders if o != "enox_prev"] + ["apix"]
    if chart.person.age >= 75 and "macrogol" not in orders and chart.rng.random() < 0.3:
        orders.append("macrogol")
    if child:
        orders = ["para_ped" if o in ("para_po", "para_iv") else o for o in orders
                  if o not in ANTICOAGULANTS]
    for _, allergen, _, _ in chart.allergies:
        if allergen in AVOID:
            forbidden, replacement = AVOID[allergen]
            if forbidden & set(orders):
                orders = [o for o in orders if o not in forbidden]
                if replacement:
                    orders.append(replacement)
    seen: list[str] = []
    for order in orders:
        if order not in seen:
            seen.append(order)
    return seen


def _dose(drug: Drug, weight: float) -> float:
    if not drug.per_kg:
        return drug.dose
    dose = max(drug.step, round(drug.dose * weight / drug.step) * drug.step)
    return int(dose) if dose == int(dose) else round(dose, 2)


def _dose_quantity(drug: Drug, dose: float) -> dict:
    return b.quantity(dose, drug.unit, drug.ucum)


def _dosage(drug: Drug, dose: float, start: int, end: int | None) -> dict:
    route_code, route_name, _ = ROUTES[drug.route]
    repeat: dict = {"boundsPeriod": b.period(start, end), "frequency": drug.frequency,
                    "period": drug.period, "periodUnit": drug.period_unit}
    if drug.times:
        repeat["timeOfDay"] = [f"{t}:00" for t in drug.times]
    dosage: dict = {"sequence": 1,
                    "text": drug.text.format(dose=f"{b.fr_number(dose)} {drug.unit}"),
                    "timing": {"repeat": repeat}}
    if drug.prn:
        dosage["asNeededCodeableConcept"] = b.text_concept(drug.prn)
    dosage["route"] = b.concept(SNOMED, route_code, route_name)
    kind = b.concept(DOSE_TYPE, "ordered", "Ordered", "Prescrit")
    if drug.dose_range:
        low, high = drug.dose_range
        dosage["doseAndRate"] = [{"type": kind, "doseRange": {"low": _dose_quantity(drug, low),
                                                              "high": _dose_quantity(drug, high)}}]
    elif drug.continuous:
        dosage["doseAndRate"] = [{"type": kind, "rateQuantity": _dose_quantity(drug, dose)}]
    else:
        dosage["doseAndRate"] = [{"type": kind, "doseQuantity": _dose_quantity(drug, dose)}]
    return dosage


def _sliding_scale(glycaemia: float) -> int:
    return 0 if glycaemia < 1.8 else 2 if glycaemia < 2.5 else 4 if glycaemia < 3.0 else 6


def medication_order(chart: Chart, key: str, enc: str, start: int, end: int | None,
                     prescriber: Staff, reason: str | None, unit: Unit,
                     glycaemia: dict[int, float]) -> None:
    """A MedicationRequest and its administrations of the last 48 hours."""
    drug = DRUGS[key]
    dose = _dose(drug, chart.person.weight)
    rid = chart.new_id("mr")
    request = chart.header("MedicationRequest", rid, min(chart.now, end or start + 600))
    request.update({
        "status": "active" if end is None else "completed",
        "intent": "order",
        "category": [b.concept(MR_CATEGORY, "inpatient", "Inpatient", "Hospitalisation")],
        "medicationCodeableConcept": b.concept(ATC, drug.atc, drug.name),
        "subject": chart.patient_ref,
        "encounter": b.ref(f"Encounter/{enc}"),
        "authoredOn": b.instant(start),
        "requester": staff_ref(prescriber),
    })
    if reason:
        request["reasonReference"] = [b.ref(f"Condition/{reason}")]
    request["dosageInstruction"] = [_dosage(drug, dose, start, end)]
    chart.out.append(request)
    _administrations(chart, drug, dose, rid, enc, start, end, unit, glycaemia)


def _administrations(chart: Chart, drug: Drug, dose: float, request: str, enc: str, start: int,
                     end: int | None, unit: Unit, glycaemia: dict[int, float]) -> None:
    rng = chart.rng
    now = chart.now
    window_start = max(start, now - 48 * b.HOUR)
    window_end = min(end or now, now)
    if window_end <= window_start:
        return
    if drug.times and not (drug.prn and not drug.dose_range):
        times = chart.times_of_day(window_start, drug.times, window_end)
    else:  # as needed: a few times, whenever
        uses = rng.choices((0, 1, 2, 3), weights=(4, 3, 2, 1))[0]
        times = sorted(rng.randint(window_start, window_end) for _ in range(uses))
    route_code, route_name, _ = ROUTES[drug.route]
    for scheduled in times:
        given = scheduled + rng.randint(-10, 35) * 60
        if not now - 48 * b.HOUR <= given <= now or given < start:
            continue
        amount = dose
        reason = None
        if drug.dose_range:
            amount = _sliding_scale(glycaemia.get(scheduled, 1.5))
            if amount == 0:
                reason = "Glycémie < 1,80 g/L : pas d'insuline"
        elif rng.random() < 0.03:
            reason = rng.choice(NOT_DONE)
        rid = chart.new_id("ma")
        resource = chart.header("MedicationAdministration", rid, given + 120)
        resource["status"] = "not-done" if reason else "completed"
        if reason:
            resource["statusReason"] = [b.text_concept(reason)]
        resource.update({
            "category": b.concept(MA_CATEGORY, "inpatient", "Inpatient", "Hospitalisation"),
            "medicationCodeableConcept": b.concept(ATC, drug.atc, drug.name),
            "subject": chart.patient_ref,
            "context": b.ref(f"Encounter/{enc}"),
            "effectiveDateTime": b.instant(given),
            "performer": [{"actor": staff_ref(chart.nurse(unit))}],
            "request": b.ref(f"MedicationRequest/{request}"),
        })
        if not reason:
            dosage: dict[str, Any] = {"route": b.concept(SNOMED, route_code, route_name)}
            if drug.continuous:
                dosage["text"] = "Changement de seringue"
                dosage["rateQuantity"] = _dose_quantity(drug, amount)
            else:
                dosage["dose"] = _dose_quantity(drug, amount)
            resource["dosage"] = dosage
        chart.out.append(resource)
