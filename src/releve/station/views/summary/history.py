"""The record's history as dated lists, most recent first, every item kept (the page
shows the first few and folds the rest): vaccinations (Immunization) and procedures
(Procedure). A partial date ("2019", "2019-03") stays partial."""

from __future__ import annotations

from ....fhir.clinical.values import (
    as_dict,
    as_list,
    as_text,
    concept_text,
    concept_words,
    effective,
    given_number,
    quantity_text,
)
from .chart_labels import status_label
from .model import Dated, Summary
from .reader import Reader

DONE = ("completed", "", None)


def _status(resource: dict) -> str:
    status = resource.get("status")
    return "" if status in DONE else status_label(status) or as_text(status)


def immunization(resource: dict) -> Dated:
    when = effective(resource, "occurrenceDateTime", "occurrenceString", "recorded", "date")
    doses = [given_number(as_dict(p).get("doseNumberPositiveInt")) or as_text(as_dict(p).get("doseNumberString"))
             for p in as_list(resource.get("protocolApplied"))]
    parts = [f"dose {d}" for d in doses if d]
    parts += [quantity_text(resource.get("doseQuantity")), concept_words(resource.get("route")),
              concept_words(resource.get("site"))]
    if as_text(resource.get("lotNumber")):
        parts.append(f"lot {as_text(resource['lotNumber'])}")
    reason = concept_words(resource.get("statusReason"))
    status = _status(resource)
    return Dated(when, concept_text(resource.get("vaccineCode")) or "Vaccin",
                 " · ".join(p for p in parts if p), f"{status} : {reason}" if reason and status else status)


def procedure(resource: dict) -> Dated:
    when = effective(resource, "performedDateTime", "performedPeriod", "performedString")
    parts = [concept_words(as_list(resource.get("bodySite"))), concept_words(resource.get("outcome"))]
    parts += [as_text(as_dict(n).get("text")) for n in as_list(resource.get("note"))]
    return Dated(when, concept_text(resource.get("code")) or "Acte",
                 " · ".join(p for p in parts if p), _status(resource))


def history(reader: Reader, summary: Summary) -> None:
    def newest_first(items: list[Dated]) -> list[Dated]:
        return sorted(items, key=lambda d: -reader.sort_key(d.when))

    summary.chart.immunizations = newest_first(reader.each("Immunization", immunization))
    summary.chart.procedures = newest_first(reader.each("Procedure", procedure))
