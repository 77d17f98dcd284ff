"""Code status and advance directives (fhir.clinical.code_status), shown at the top of
the page with the allergies: do-not-resuscitate first, newest first within a kind."""

from __future__ import annotations

from ....fhir.clinical import code_status as rules
from .model import Summary
from .reader import Reader


def code_status(reader: Reader, summary: Summary) -> None:
    def consent(resource: dict) -> rules.Directive | None:
        found = rules.consent(resource, reader.now, reader.tz)
        if found is None and resource.get("status") in ("active", None):
            reader.aside("Consent", resource)  # in force, about something else
        return found

    found = reader.each("Consent", consent)
    found += reader.each("Flag", lambda r: rules.flag(r, reader.now, reader.tz))
    found += reader.each("DocumentReference", rules.document)
    found.sort(key=lambda d: -reader.sort_key(d.since))
    summary.chart.code_status = rules.ordered(found)
