"""Chemotherapy and radiotherapy courses in progress (CarePlan): where the patient is in
the course, and when and where the next session is."""

from __future__ import annotations

import datetime as dt
import re

from ....fhir.clinical.values import as_dict, as_list, as_text, codes, concept_text, many, period, reference_text
from ....fhir.refs import target
from .model import Oncology, Summary
from .reader import Reader

CHEMO_CODES = {"367336001", "265760000", "394894004"}
RADIO_CODES = {"108290001", "1287742003", "33195004", "53438000"}
DONE_ACTIVITY = ("completed",)
SKIPPED_ACTIVITY = ("cancelled", "stopped", "entered-in-error")


def oncology(reader: Reader, summary: Summary) -> None:
    def read(resource: dict) -> Oncology | None:
        if resource.get("status") in ("completed", "revoked", "entered-in-error"):
            return None
        activities = [as_dict(as_dict(a).get("detail")) for a in as_list(resource.get("activity"))]
        activities = [a for a in activities if a]
        kind = treatment_kind(resource, activities)
        if kind is None:
            return None
        counted = [a for a in activities if a.get("status") not in SKIPPED_ACTIVITY]
        done = [a for a in counted if a.get("status") in DONE_ACTIVITY]
        pending = [a for a in counted if a.get("status") not in DONE_ACTIVITY]
        pending.sort(key=lambda a: reader.sort_key(activity_date(a)) if activity_date(a)
                     else float("inf"))
        upcoming = next((a for a in pending if (w := reader.when(activity_date(a))) and w >= reader.now
                         - dt.timedelta(hours=12)), pending[0] if pending else None)
        total = len(counted)
        next_number = None
        label = ""
        if upcoming is not None:
            label = concept_text(upcoming.get("code")) or as_text(upcoming.get("description"))
            match = re.search(r"(\d+)\s*/\s*(\d+)", label)
            if match:
                next_number, total = int(match[1]), max(total, int(match[2]))
            else:
                next_number = len(done) + 1
        elif done:
            match = re.search(r"(\d+)\s*/\s*(\d+)", concept_text(done[-1].get("code")))
            if match:
                total = max(total, int(match[2]))
        last = max((activity_date(a) for a in done if activity_date(a)),
                   key=reader.sort_key, default=None)
        where = ""
        if upcoming is not None:
            where = reader.lookup.person(upcoming.get("location")) or reference_text(upcoming.get("location"))
            found = target(upcoming.get("location"))
            if not where and found and found[0] == "Location":
                where = reader.lookup.location(found[1]).get("wa", "")
        notes = [as_text(as_dict(n).get("text")) for n in as_list(resource.get("note"))]
        return Oncology(
            kind=kind, title=as_text(resource.get("title")) or concept_text(as_list(resource.get("category"))),
            description=as_text(resource.get("description")), status=as_text(resource.get("status")),
            done=len(done), total=total, next_number=next_number, next_label=label,
            next_date=activity_date(upcoming) if upcoming is not None else None,
            last_date=last, where=where, note=" ".join(n for n in notes if n))

    summary.oncology = reader.each("CarePlan", read)


def treatment_kind(resource: dict, activities: list[dict]) -> str | None:
    """Chemotherapy or radiotherapy, from codes first, then from the words used."""
    found: set[str] = set()
    for category in as_list(resource.get("category")):
        found |= codes(category)
    for activity in activities:
        found |= codes(activity.get("code"))
    if found & RADIO_CODES:
        return "radiotherapy"
    if found & CHEMO_CODES:
        return "chemotherapy"
    words = " ".join([concept_text(as_list(resource.get("category"))), as_text(resource.get("title"))]).casefold()
    if "radioth" in words or "radiation" in words:
        return "radiotherapy"
    if "chimioth" in words or "chemother" in words:
        return "chemotherapy"
    return None


def activity_date(activity: dict | None) -> str | None:
    if activity is None:
        return None
    start = period(activity.get("scheduledPeriod"))[0]
    if start:
        return start
    if isinstance(activity.get("scheduledString"), str):
        return None
    timing = as_dict(activity.get("scheduledTiming"))
    events = [e for e in many(timing.get("event")) if isinstance(e, str)]
    return events[0] if events else period(as_dict(timing.get("repeat")).get("boundsPeriod"))[0]

