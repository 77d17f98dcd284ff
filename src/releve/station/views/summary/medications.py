"""Current medication orders, when their doses fall due in the next PLAN_HOURS (the MAR's
plan), and what was given in the last GIVEN_HOURS.

Whether an order is in force is fhir.clinical.orders's rule; an order on hold is shown
with no dose due, and an as-needed dose is planned only when it has set times.
"""

from __future__ import annotations

import datetime as dt

from ....fhir.clinical import orders
from ....fhir.clinical.values import (
    as_dict,
    as_list,
    as_text,
    concept_text,
    effective,
    quantity_text,
    range_text,
    reference_text,
)
from ....fhir.refs import target
from .labels import ADMIN_STATUS
from .model import Administration, Due, Medication, Summary
from .reader import Reader
from .timing import due_times, timing_text

PLAN_HOURS = 24  # the administration plan looks this far ahead
GIVEN_HOURS = 24  # and the administrations this far back


def drug_name(reader: Reader, resource: dict) -> str:
    concept = resource.get("medicationCodeableConcept")
    if concept is not None:
        return concept_text(concept) or "Médicament non précisé"
    ref = resource.get("medicationReference")
    ref_text = as_text(as_dict(ref).get("reference"))
    medication = None
    if ref_text.startswith("#"):
        medication = next((c for c in as_list(resource.get("contained"))
                           if isinstance(c, dict) and c.get("id") == ref_text[1:]), None)
    elif ref_text:
        medication = reader.lookup.of(ref, "Medication")
    if medication:
        name = concept_text(medication.get("code"))
        if not name:
            ingredients = [concept_text(as_dict(i).get("itemCodeableConcept"))
                           or reference_text(as_dict(i).get("itemReference"))
                           for i in as_list(medication.get("ingredient"))]
            name = " + ".join(i for i in ingredients if i)
        if name:
            return name
    return reference_text(ref) or "Médicament non précisé"


def dose(dosage: dict) -> str:
    parts = []
    for entry in as_list(dosage.get("doseAndRate")):
        entry = as_dict(entry)
        if "doseQuantity" in entry:
            parts.append(quantity_text(entry["doseQuantity"]))
        elif "doseRange" in entry:
            parts.append(range_text(entry["doseRange"]))
        if "rateQuantity" in entry:
            text = quantity_text(entry["rateQuantity"])
            parts.append(text if "/" in text else f"{text}/h" if text else "")
        elif "rateRatio" in entry:
            ratio = as_dict(entry["rateRatio"])
            parts.append(f"{quantity_text(ratio.get('numerator'))}/{quantity_text(ratio.get('denominator'))}")
        elif "rateRange" in entry:
            parts.append(range_text(entry["rateRange"]))
    if "doseQuantity" in dosage:  # STU3 spelling some servers still send
        parts.append(quantity_text(dosage["doseQuantity"]))
    return ", ".join(p for p in parts if p)


def medications(reader: Reader, summary: Summary) -> None:
    window = (reader.now, reader.now + dt.timedelta(hours=PLAN_HOURS))
    today = reader.now.date()

    def read(resource: dict) -> Medication | None:
        if not orders.order_current(resource, reader.now, reader.tz):
            return None
        status = resource["status"]
        dosages = orders.dosages(resource)
        starts = [orders.bounds(d)[0] for d in dosages]
        end_text = orders.order_end(resource, reader.tz)
        as_needed = any(d.get("asNeededBoolean") is True or "asNeededCodeableConcept" in d
                        for d in dosages)
        reasons = [concept_text(d.get("asNeededCodeableConcept")) for d in dosages]
        texts = [as_text(d.get("text")) or timing_text(d.get("timing")) for d in dosages]
        routes = [concept_text(d.get("route")) for d in dosages]
        authored = reader.when(resource.get("authoredOn"))
        due: list[dt.datetime] = []
        if status == "active":
            for dosage in dosages:
                timing = as_dict(dosage.get("timing"))
                explicit = as_dict(timing.get("repeat")).get("timeOfDay") or \
                    as_dict(timing.get("repeat")).get("when") or timing.get("event")
                prn = dosage.get("asNeededBoolean") is True or "asNeededCodeableConcept" in dosage
                if prn and not explicit:
                    continue
                due += due_times(timing, *window, zone=reader.zone, fallback_start=authored)
        due = sorted(set(due))
        notes = [as_text(as_dict(n).get("text")) for n in as_list(resource.get("note"))]
        return Medication(
            id=as_text(resource.get("id")), drug=drug_name(reader, resource),
            dose=" ; ".join(d for d in (dose(d) for d in dosages) if d),
            route=", ".join(dict.fromkeys(r for r in routes if r)),
            frequency=" ; ".join(t for t in texts if t),
            as_needed=as_needed, as_needed_reason=", ".join(r for r in reasons if r),
            status=status, start=next((s for s in starts if s), None) or
            (resource.get("authoredOn") if isinstance(resource.get("authoredOn"), str) else None),
            end=end_text, prescriber=reader.lookup.person(resource.get("requester")),
            due=[Due(w, w.astimezone(reader.tz).strftime("%H:%M"),
                     (w.astimezone(reader.tz).date() - today).days) for w in due],
            note=" ".join(n for n in notes if n))

    meds = reader.each("MedicationRequest", read)
    meds.sort(key=lambda m: (m.status != "active", m.as_needed and not m.due, m.drug.casefold()))
    by_id = {m.id: m for m in meds}
    since = reader.now - dt.timedelta(hours=GIVEN_HOURS)

    def given(resource: dict) -> Administration | None:
        when_text = effective(resource, "effectiveDateTime", "effectivePeriod")
        when = reader.when(when_text)
        if when is None or not since <= when <= reader.now + dt.timedelta(minutes=5):
            return None
        dosage = as_dict(resource.get("dosage"))
        dose = quantity_text(dosage.get("dose"))
        rate = quantity_text(dosage.get("rateQuantity"))
        status = as_text(resource.get("status"))
        performers = [reader.lookup.person(as_dict(p).get("actor")) for p in as_list(resource.get("performer"))]
        reasons = [concept_text(r) for r in as_list(resource.get("statusReason"))]
        reasons += [as_text(as_dict(n).get("text")) for n in as_list(resource.get("note"))]
        request = target(resource.get("request"))
        return Administration(
            when=when_text, instant=when, drug=drug_name(reader, resource),
            dose=" ".join(p for p in (dose, rate and f"{rate}", as_text(dosage.get("text"))) if p),
            route=concept_text(dosage.get("route")), who=", ".join(p for p in performers if p),
            status=status, status_label=ADMIN_STATUS.get(status, status),
            reason=" ; ".join(r for r in reasons if r),
            request=request[1] if request and request[0] == "MedicationRequest" else None)

    administrations = reader.each("MedicationAdministration", given)
    administrations.sort(key=lambda a: a.instant or reader.now, reverse=True)
    for administration in administrations:
        if administration.request in by_id:
            by_id[administration.request].given.append(administration)
    summary.medications = meds
    summary.administrations = administrations

