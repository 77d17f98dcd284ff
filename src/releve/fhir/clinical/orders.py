"""Whether a medication order is in force, for the summary, the MAR and the journal.

An order is current when its status is active or on-hold (on hold: still prescribed,
shown, but no dose falls due) and the stay it was written for has not ended. Nothing
else takes it off the list:

- `dispenseRequest.validityPeriod` is how long the pharmacy may dispense it, not when
  treatment stops: it never ends an order.
- The end of its dosage timings (`timing.repeat.boundsPeriod.end`, the last one when
  every dosage has one) that has passed while the HIS still says active is a
  contradiction for a human to judge: the order stays current, marked as ended (`ended`),
  never silently dropped.
- A stay is over when its Encounter is finished or cancelled, or its period ended; an
  encounter the index does not hold is not known to be over.

Every order that is not current has a reason (`Standing.reason`, one of REASONS), so
that a page can always say why a drug is not among the current ones.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from .values import as_dict, as_list, as_text, end_instant, instant, number, period

CURRENT_ORDER = ("active", "on-hold")
STAY_OVER = ("finished", "cancelled")
STAY_ENDED = "stay-ended"  # the reason of an order whose stay is over
# why an order is not current, in words (the statuses of MedicationRequest, and the stay)
REASONS = {"stopped": "arrêtée", "completed": "terminée", "cancelled": "annulée",
           "entered-in-error": "saisie par erreur", "draft": "brouillon non signé",
           "unknown": "statut inconnu dans le DPI", STAY_ENDED: "séjour terminé",
           "": "sans statut"}


@dataclass(frozen=True)
class Standing:
    """Where an order stands: current or not, why not, and an end that passed."""

    current: bool
    reason: str = ""  # why it is not current: a key of REASONS (or the status as sent)
    ended: str | None = None  # a current order's end that has passed, as the HIS wrote it
    end: str | None = None  # a current order's end (order_end), passed or not

    @property
    def reason_text(self) -> str:
        return REASONS.get(self.reason, self.reason)


def dosages(resource: dict) -> list[dict]:
    """The dosage instructions in their sequence order."""
    found = [as_dict(d) for d in as_list(resource.get("dosageInstruction"))]
    return sorted(found, key=lambda d: number(d.get("sequence")) or 0)


def bounds(dosage: dict) -> tuple[str | None, str | None]:
    return period(as_dict(as_dict(dosage.get("timing")).get("repeat")).get("boundsPeriod"))


def order_end(resource: dict, zone: ZoneInfo) -> str | None:
    """The end of treatment as the HIS wrote it (the last end of its dosage timings, when
    every dosage has one), or None if it runs on. The dispense validity is not an end."""
    ends = [bounds(d)[1] for d in dosages(resource)]
    if ends and all(ends):
        return max(ends, key=lambda e: _stamp(e, zone))
    return None


def stay_over(encounter: dict | None, now: dt.datetime, zone: ZoneInfo) -> bool:
    """Whether the stay an order was written for has ended (None: not known, not over)."""
    if not encounter:
        return False
    if encounter.get("status") in STAY_OVER:
        return True
    ended = end_instant(period(encounter.get("period"))[1], zone)
    return ended is not None and ended <= now


def standing(resource: dict, now: dt.datetime, zone: ZoneInfo,
             encounter: dict | None = None) -> Standing:
    """Whether an order is current treatment and, if not, why; `encounter` is the
    Encounter its `encounter` member points to, when the index holds it."""
    status = as_text(resource.get("status"))
    if status not in CURRENT_ORDER:
        return Standing(False, status)
    if stay_over(encounter, now, zone):
        return Standing(False, STAY_ENDED)
    end = order_end(resource, zone)
    passed = end_instant(end, zone)
    return Standing(True, ended=end if passed is not None and passed <= now else None, end=end)


def _stamp(text: str | None, zone: ZoneInfo) -> float:
    when = instant(text, zone)
    return when.timestamp() if when else float("-inf")
