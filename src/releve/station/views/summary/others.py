"""Everything no section showed: a summary never hides that the record holds more.

Three lists, in words: the types no section reads (with their texts); the resources a
section read and chose not to show (an ended order, a resolved problem, a past care
plan), with their status; and a count of those the HIS marked entered-in-error."""

from __future__ import annotations

from ....fhir.clinical.values import as_text, first_code, resource_text
from .chart_labels import status_label, type_label
from .model import Other, Summary, Unshown
from .reader import Reader

OTHER_TEXTS = 500  # texts kept per resource type: the page folds all but a few
IN_FORCE = ("active", "in-progress", "current", "recurrence", "relapse", "intended", "on-hold",
            "accepted", "planned", "proposed", "draft")
NOT_IN_FORCE = "non en vigueur"


def others(reader: Reader, summary: Summary) -> None:
    """Everything the sections before did not read, by type, so nothing is hidden."""
    for rtype, resources in reader.by_type.items():
        if rtype in reader.used or rtype == "Patient":
            continue
        for resource in resources:
            if id(resource) not in reader.shown:  # a section may show a type it does not read
                reader.other(rtype, resource)
    for rtype, count in reader.skipped.items():
        reader.others.setdefault(rtype, []).extend([""] * count)
    found = []
    for rtype, texts in sorted(reader.others.items()):
        unique = list(dict.fromkeys(t for t in texts if t))
        found.append(Other(rtype, len(texts), unique[:OTHER_TEXTS], type_label(rtype)))
    summary.others = found
    summary.chart.unshown = unshown(reader)
    summary.chart.mistaken = len(reader.mistaken)


def why_unshown(resource: dict) -> str:
    """Why a section left a resource out, in words: its status when that says it is not
    current, else 'non en vigueur' (an ended period, a past date): never 'en cours'."""
    verification = first_code(resource.get("verificationStatus"))
    if verification in ("refuted", "unconfirmed"):
        return status_label(verification)
    for status in (first_code(resource.get("clinicalStatus")), as_text(resource.get("status"))):
        if status and status not in IN_FORCE and status_label(status):
            return status_label(status)
    return NOT_IN_FORCE


def unshown(reader: Reader) -> list[Unshown]:
    """What a section read and left out, by type, each with why in words; what the HIS
    marked entered-in-error is counted, never named."""
    by_type: dict[str, list[str]] = {}
    listed = {id(r) for rtype in reader.others for r in reader.by_type.get(rtype, [])}
    for rtype in reader.used:  # read without `each` (the stays): what was not shown
        for resource in reader.by_type.get(rtype, []):
            key = id(resource)
            if key not in reader.shown and key not in reader.mistaken and key not in listed:
                reader.unshown.setdefault(key, (rtype, resource))
    for key, (rtype, resource) in reader.unshown.items():
        if key in reader.shown:
            continue
        if first_code(resource.get("verificationStatus")) == "entered-in-error":
            reader.mistaken.add(key)
            continue
        text = resource_text(resource, codes_too=False) or type_label(rtype)
        by_type.setdefault(rtype, []).append(f"{text} ({why_unshown(resource)})")
    return [Unshown(rtype, type_label(rtype), len(texts), list(dict.fromkeys(texts))[:OTHER_TEXTS])
            for rtype, texts in sorted(by_type.items(), key=lambda pair: type_label(pair[0]))]
