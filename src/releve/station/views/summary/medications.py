"""Current medication orders, when their doses fall due in the next PLAN_HOURS (the MAR's
plan), the doses of the last OVERDUE_HOURS no administration accounts for ("en retard"),
and what was given in the last GIVEN_HOURS.

Whether an order is in force is fhir.clinical.orders's rule: an order that is not is
listed in `not_current` with why, never dropped. An order on hold is shown with no dose
due, an as-needed dose is planned only when it has set times, and a rhythm without set
times is "heure à définir" (timing.set_times). The safety hints are fhir.clinical.hints's.
"""

from __future__ import annotations

import datetime as dt

from ....fhir.clinical import hints, orders
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
from ....journal.kinds.administration import planned_time, prescribed_dose, unit_of
from ..collation import french_key
from .labels import ADMIN_STATUS
from .model import Administration, Due, Medication, NotCurrent, Summary
from .reader import Reader
from .timing import due_times, set_times, timing_text

PLAN_HOURS = 24  # the administration plan looks this far ahead
GIVEN_HOURS = 24  # and the administrations this far back
# A dose that fell due this far back with no administration is shown "en retard": one
# shift's length (8 h), whatever the hour of the handover, so that a dose the last shift
# missed is still on the sheet of the next one.
OVERDUE_HOURS = 8
EARLY_MINUTES = 60  # an administration this much before a dose's time still counts for it


def medication_of(reader: Reader, resource: dict) -> dict | None:
    """The Medication a record points to: contained ("#id") or in the index."""
    ref = resource.get("medicationReference")
    ref_text = as_text(as_dict(ref).get("reference"))
    if ref_text.startswith("#"):
        return next((c for c in as_list(resource.get("contained"))
                     if isinstance(c, dict) and c.get("id") == ref_text[1:]), None)
    return reader.lookup.of(ref, "Medication") if ref_text else None


def drug_concept(reader: Reader, resource: dict) -> object:
    """The drug's CodeableConcept: the record's own, or its Medication's code."""
    concept = resource.get("medicationCodeableConcept")
    if concept is not None:
        return concept
    return as_dict(medication_of(reader, resource)).get("code")


def drug_name(reader: Reader, resource: dict) -> str:
    concept = resource.get("medicationCodeableConcept")
    if concept is not None:
        return concept_text(concept) or "Médicament non précisé"
    medication = medication_of(reader, resource)
    if medication:
        name = concept_text(medication.get("code"))
        if not name:
            ingredients = [concept_text(as_dict(i).get("itemCodeableConcept"))
                           or reference_text(as_dict(i).get("itemReference"))
                           for i in as_list(medication.get("ingredient"))]
            name = " + ".join(i for i in ingredients if i)
        if name:
            return name
    return reference_text(resource.get("medicationReference")) or "Médicament non précisé"


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


def prescription_text(dosages: list[dict]) -> tuple[str, str, str]:
    """(dose, route, how often) of dosage instructions, as the list and the MAR show them."""
    routes = [concept_text(d.get("route")) for d in dosages]
    texts = [as_text(d.get("text")) or timing_text(d.get("timing")) for d in dosages]
    return (" ; ".join(d for d in (dose(d) for d in dosages) if d),
            ", ".join(dict.fromkeys(r for r in routes if r)), " ; ".join(t for t in texts if t))


def _as_needed(dosage: dict) -> bool:
    return dosage.get("asNeededBoolean") is True or "asNeededCodeableConcept" in dosage


def _due(reader: Reader, moments: list[dt.datetime]) -> list[Due]:
    today = reader.now.date()
    return [Due(w, w.astimezone(reader.tz).strftime("%H:%M"), (w.astimezone(reader.tz).date() - today).days)
            for w in sorted(set(moments))]


def _plan(reader: Reader, resource: dict, dosages: list[dict]) -> tuple[list[dt.datetime], list[dt.datetime], bool]:
    """(doses due in the next PLAN_HOURS, doses due in the last OVERDUE_HOURS, whether a
    rhythm has no set times). As-needed doses are planned only when they have set times,
    and are never late; nothing falls due before the order was written."""
    span = (reader.now - dt.timedelta(hours=OVERDUE_HOURS), reader.now + dt.timedelta(hours=PLAN_HOURS))
    written = reader.when(resource.get("authoredOn"))
    due: list[dt.datetime] = []
    past: list[dt.datetime] = []
    unscheduled = False
    for dosage in dosages:
        timing = dosage.get("timing")
        if not set_times(timing):
            unscheduled = unscheduled or not _as_needed(dosage)
            continue
        repeat = as_dict(as_dict(timing).get("repeat"))
        if _as_needed(dosage) and not (repeat.get("timeOfDay") or repeat.get("when")
                                       or as_dict(timing).get("event")):
            continue
        for moment in due_times(timing, *span, zone=reader.zone):  # one expansion, split at now
            if moment >= reader.now:
                due.append(moment)
            elif (written is None or moment >= written) and not _as_needed(dosage):
                past.append(moment)  # an as-needed dose not given is not late: it was not needed
    return due, past, unscheduled


def _match(past: list[dt.datetime], due: list[dt.datetime], given: list[Administration],
           upper: dt.datetime) -> dict[dt.datetime, Administration]:
    """The record that accounts for each planned dose. A record that names its planned
    dose (recorded on a station) answers that one and no other; any other covers one
    past dose, given from EARLY_MINUTES before it until the next dose fell due."""
    records: dict[dt.datetime, Administration] = {}
    for record in sorted(given, key=lambda g: (g.instant.timestamp() if g.instant else 0.0, g.entry or "")):
        if record.planned is not None and record.planned not in records:
            records[record.planned] = record
    left = sorted(g.instant for g in given if g.instant is not None and g.planned is None)
    unnamed = {g.instant: g for g in given if g.instant is not None and g.planned is None}
    past = sorted(set(past))
    for number_, moment in enumerate(past):
        if moment in records:
            continue
        until = past[number_ + 1] if number_ + 1 < len(past) else upper
        match = next((w for w in left if moment - dt.timedelta(minutes=EARLY_MINUTES) <= w < until), None)
        if match is not None:
            records[moment] = unnamed[match]
            left.remove(match)
    return {m: r for m, r in records.items() if m in set(past) | set(due)}


def _flag_duplicates(administrations: list[Administration]) -> None:
    """Two records giving the same planned dose of the same order (two stations, two
    nurses): each names the other, for a nurse to cancel one."""
    seen: dict[tuple[str | None, dt.datetime], Administration] = {}
    for record in administrations:
        if record.planned is None or record.status != "completed":
            continue
        other = seen.setdefault((record.request, record.planned), record)
        if other is not record:
            record.duplicate_of = other.entry or "?"
            other.duplicate_of = other.duplicate_of or record.entry or "?"


def _given_for(order_id: str, drug: str, administrations: list[Administration]) -> list[Administration]:
    """The administrations of an order: by its reference, or by the drug's name when the
    record names no order."""
    name = hints.folded(drug)
    return [a for a in administrations if a.request == order_id
            or (a.request is None and hints.folded(a.drug) == name)]


def _not_current(reader: Reader, resource: dict, reason: str) -> NotCurrent:
    dosages = orders.dosages(resource)
    amount, _, often = prescription_text(dosages)
    starts = [orders.bounds(d)[0] for d in dosages]
    return NotCurrent(
        id=as_text(resource.get("id")), drug=drug_name(reader, resource), dose=amount, frequency=often,
        reason=reason, reason_text=orders.REASONS.get(reason, reason),
        start=next((s for s in starts if s), None) or _text(resource.get("authoredOn")),
        end=orders.order_end(resource, reader.tz))


def _prescribed(resource: dict) -> tuple[str, str]:
    """The prescribed dose's number and unit apart, for the forms' defaults."""
    quantity = prescribed_dose(resource)
    if quantity is None or not isinstance(quantity.get("value"), int | float):
        return "", ""
    return f"{quantity['value']:g}", unit_of(quantity)


def _recorded(doses: list[Due], records: dict[dt.datetime, Administration]) -> list[Due]:
    for dose_ in doses:
        dose_.record = records.get(dose_.when)
    return doses


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def medications(reader: Reader, summary: Summary) -> None:
    administrations = reader.each("MedicationAdministration", lambda r: _administration(reader, r))
    administrations.sort(key=lambda a: a.instant or reader.now, reverse=True)
    _flag_duplicates(administrations)
    current: list[tuple[object, list[dict], Medication]] = []  # (drug's concept, dosages, line)
    stopped: list[NotCurrent] = []

    def read(resource: dict) -> Medication | None:
        encounter = reader.lookup.of(resource.get("encounter"), "Encounter")
        standing = orders.standing(resource, reader.now, reader.tz, encounter)
        if not standing.current:
            stopped.append(_not_current(reader, resource, standing.reason))
            return None
        status = resource["status"]
        dosages = orders.dosages(resource)
        starts = [orders.bounds(d)[0] for d in dosages]
        amount, route, often = prescription_text(dosages)
        reasons = [concept_text(d.get("asNeededCodeableConcept")) for d in dosages]
        due, past, unscheduled = _plan(reader, resource, dosages) if status == "active" else ([], [], False)
        notes = [as_text(as_dict(n).get("text")) for n in as_list(resource.get("note"))]
        drug = drug_name(reader, resource)
        given = _given_for(as_text(resource.get("id")), drug, administrations)
        upper = min(due) if due else reader.now + dt.timedelta(minutes=5)
        records = _match(past, due, given, upper)
        value, unit = _prescribed(resource)
        medication = Medication(
            id=as_text(resource.get("id")), drug=drug, dose=amount, route=route, frequency=often,
            as_needed=any(_as_needed(d) for d in dosages), as_needed_reason=", ".join(r for r in reasons if r),
            status=status, start=next((s for s in starts if s), None) or _text(resource.get("authoredOn")),
            end=standing.end, prescriber=reader.lookup.person(resource.get("requester")),
            due=_recorded(_due(reader, due), records), note=" ".join(n for n in notes if n),
            ended=standing.ended, overdue=_due(reader, [p for p in past if p not in records]),
            done=_recorded(_due(reader, [p for p in past if p in records]), records),
            unscheduled=unscheduled, dose_value=value, dose_unit=unit)
        current.append((drug_concept(reader, resource), dosages, medication))
        return medication

    meds = reader.each("MedicationRequest", read)
    for resource in reader.by_type.get("MedicationRequest", []):  # each() leaves these out
        if as_text(resource.get("status")) == "entered-in-error":
            stopped.append(_not_current(reader, resource, "entered-in-error"))
    meds.sort(key=lambda m: (m.status != "active", m.as_needed and not m.due and not m.overdue,
                             french_key(m.drug)))
    by_id = {m.id: m for m in meds}
    for administration in administrations:
        if administration.request in by_id:
            by_id[administration.request].given.append(administration)
    summary.medications = meds
    summary.administrations = administrations
    summary.not_current = sorted(stopped, key=lambda n: french_key(n.drug))
    summary.hints = hints.hints([hints.Prescribed(m.drug, concept, dosages, m.status == "active")
                                 for concept, dosages, m in current])


def _administration(reader: Reader, resource: dict) -> Administration | None:
    since = reader.now - dt.timedelta(hours=GIVEN_HOURS)
    when_text = effective(resource, "effectiveDateTime", "effectivePeriod")
    when = reader.when(when_text)
    if when is None or not since <= when <= reader.now + dt.timedelta(minutes=5):
        return None
    dosage = as_dict(resource.get("dosage"))
    amount = quantity_text(dosage.get("dose"))
    rate = quantity_text(dosage.get("rateQuantity"))
    status = as_text(resource.get("status"))
    performers = [reader.lookup.person(as_dict(p).get("actor")) for p in as_list(resource.get("performer"))]
    reasons = [concept_text(r) for r in as_list(resource.get("statusReason"))]
    reasons += [as_text(as_dict(n).get("text")) for n in as_list(resource.get("note"))]
    request = target(resource.get("request"))
    mark = reader.recorded(resource)
    return Administration(
        when=when_text, instant=when, drug=drug_name(reader, resource),
        dose=" ".join(p for p in (amount, rate and f"{rate}", as_text(dosage.get("text"))) if p),
        route=concept_text(dosage.get("route")), who=", ".join(p for p in performers if p),
        status=status, status_label=ADMIN_STATUS.get(status, status),
        reason=" ; ".join(r for r in reasons if r),
        request=request[1] if request and request[0] == "MedicationRequest" else None,
        planned=reader.when(planned_time(resource)), entry=mark.key if mark else None,
        outcome=concept_text(next(iter(as_list(resource.get("statusReason"))), None))
        if status == "not-done" else "")
