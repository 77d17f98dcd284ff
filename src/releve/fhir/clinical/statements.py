"""Whether a MedicationStatement (the patient's usual treatment, as an IPS or a HIS
lists it) is current, for the summary and the MAR.

A statement is current when its status is active, intended or on-hold, and shown with a
word of warning when the status is unknown (the source does not know: a human must).
Completed, stopped and not-taken statements are not current treatment: they stay listed,
apart, with their status in words. An active statement whose effective period ended is
current and marked ended, as an order whose timing ended is (orders.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from .values import as_dict, as_list, as_text, end_instant, period

CURRENT_STATEMENT = ("active", "intended", "on-hold", "unknown")
STATUS_TEXT = {"active": "en cours", "intended": "prévu", "on-hold": "suspendu",
               "unknown": "statut inconnu, à vérifier", "completed": "terminé",
               "stopped": "arrêté", "not-taken": "non pris", "": "sans statut"}


@dataclass(frozen=True)
class StatementStanding:
    current: bool
    status: str
    ended: str | None = None  # a current statement's end that has passed

    @property
    def status_text(self) -> str:
        return STATUS_TEXT.get(self.status, self.status)


def effective_period(resource: dict) -> tuple[str | None, str | None]:
    """(start, end) of effective[x]: a dateTime is a start with no end."""
    value = resource.get("effectiveDateTime")
    if isinstance(value, str) and value:
        return value, None
    return period(resource.get("effectivePeriod"))


def statement_standing(resource: dict, now: dt.datetime, zone: ZoneInfo) -> StatementStanding:
    status = as_text(resource.get("status"))
    if status not in CURRENT_STATEMENT:
        return StatementStanding(False, status)
    end = effective_period(resource)[1]
    passed = end_instant(end, zone)
    return StatementStanding(True, status, end if passed is not None and passed <= now else None)


def statement_dosages(resource: dict) -> list[dict]:
    return [as_dict(d) for d in as_list(resource.get("dosage"))]
