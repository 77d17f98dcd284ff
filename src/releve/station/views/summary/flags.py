"""Alerts (Flag) in force, by fhir.clinical.alerts: the census's badges come from the
same rule."""

from __future__ import annotations

from ....fhir.clinical import alerts
from ....fhir.clinical.values import as_list, concept_text, period
from .model import FlagItem, Summary
from .reader import Reader


def flags(reader: Reader, summary: Summary) -> None:
    def read(resource: dict) -> FlagItem | None:
        if not alerts.flag_active(resource, reader.now, reader.tz):
            return None
        return FlagItem(alerts.flag_text(resource), concept_text(as_list(resource.get("category"))),
                        period(resource.get("period"))[0])

    summary.flags = reader.each("Flag", read)
