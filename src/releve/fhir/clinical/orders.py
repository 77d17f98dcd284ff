"""Whether a medication order is in force, for the summary, the MAR and the journal.

An order is current when its status is active or on-hold (on hold: still prescribed,
shown, but no dose falls due) and its end has not passed. Its end is the last end of its
dosage timings when every dosage has one (a dosage without an end runs on), else the end
of the dispense validity. An end given as a date includes that day.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from .values import as_dict, as_list, end_instant, instant, number, period

CURRENT_ORDER = ("active", "on-hold")


def dosages(resource: dict) -> list[dict]:
    """The dosage instructions in their sequence order."""
    found = [as_dict(d) for d in as_list(resource.get("dosageInstruction"))]
    return sorted(found, key=lambda d: number(d.get("sequence")) or 0)


def bounds(dosage: dict) -> tuple[str | None, str | None]:
    return period(as_dict(as_dict(dosage.get("timing")).get("repeat")).get("boundsPeriod"))


def order_end(resource: dict, zone: ZoneInfo) -> str | None:
    """The end of the order as the HIS wrote it, or None if it runs on."""
    ends = [bounds(d)[1] for d in dosages(resource)]
    if ends and all(ends):
        return max(ends, key=lambda e: _stamp(e, zone))
    return period(as_dict(resource.get("dispenseRequest")).get("validityPeriod"))[1]


def order_current(resource: dict, now: dt.datetime, zone: ZoneInfo) -> bool:
    if resource.get("status") not in CURRENT_ORDER:
        return False
    ended = end_instant(order_end(resource, zone), zone)
    return ended is None or ended > now


def _stamp(text: str | None, zone: ZoneInfo) -> float:
    when = instant(text, zone)
    return when.timestamp() if when else float("-inf")
