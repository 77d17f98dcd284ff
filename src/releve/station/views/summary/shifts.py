"""The nursing shifts a MAR is printed for, and the doses of the plan that fall in one.

French wards work in three eight-hour shifts: matin 07:00–15:00, après-midi 15:00–23:00,
nuit 23:00–07:00 (local time). A shift named is the one in progress, else the next to
begin: the sheet printed before a handover is the coming shift's. "jour" is the summary's
plan, the next PLAN_HOURS from now. Every sheet also shows the doses of the last
OVERDUE_HOURS that no administration accounts for, marked late: they are due now,
whichever shift the sheet is for.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from ....errors import ReleveError
from .medications import PLAN_HOURS
from .model import Due, Medication, Summary

DAY = "jour"
# name: (label, first hour, length in hours)
SHIFTS: dict[str, tuple[str, int, int]] = {
    "matin": ("équipe du matin", 7, 8), "apres-midi": ("équipe de l'après-midi", 15, 8),
    "nuit": ("équipe de nuit", 23, 8),
}
CHOICES = (*SHIFTS, DAY)


class UnknownShift(ReleveError):
    """A shift name not in CHOICES."""

    def __init__(self, name: str):
        super().__init__(f"no shift named {name!r}; shifts: {', '.join(CHOICES)}")


@dataclass(frozen=True)
class Window:
    name: str
    label: str  # French
    start: dt.datetime
    end: dt.datetime

    def doses(self, medication: Medication) -> list[tuple[Due, bool]]:
        """(dose, late) of one order: every late dose (it is due now, whatever the sheet),
        then the doses of the window, in time order."""
        found = [(d, True) for d in medication.overdue]
        found += [(d, False) for d in medication.due if self.start <= d.when < self.end]
        return sorted(found, key=lambda pair: pair[0].when)

    def plan(self, summary: Summary) -> list[tuple[Due, Medication, bool]]:
        """Every dose of the window, late ones marked, in time order."""
        found = [(d, m, late) for m in summary.medications for d, late in self.doses(m)]
        return sorted(found, key=lambda item: (item[0].when, item[1].drug))


def window(name: str | None, now: dt.datetime, zone: str) -> Window:
    """The shift `name` in progress at `now`, else the next one; "jour" or None: 24 h."""
    name = name or DAY
    if name == DAY:
        return Window(DAY, f"{PLAN_HOURS} h", now, now + dt.timedelta(hours=PLAN_HOURS))
    if name not in SHIFTS:
        raise UnknownShift(name)
    label, hour, length = SHIFTS[name]
    tz = ZoneInfo(zone)
    today = now.astimezone(tz).date()
    for offset in (-1, 0, 1):
        day = today + dt.timedelta(days=offset)
        start = dt.datetime.combine(day, dt.time(hour), tzinfo=tz)
        # by the wall clock: the night the clocks change, the night shift still ends at 07:00
        last = day + dt.timedelta(days=(hour + length) // 24)
        end = dt.datetime.combine(last, dt.time((hour + length) % 24), tzinfo=tz)
        if end > now:
            return Window(name, label, start, end)
    raise AssertionError("a shift always ends within two days")  # pragma: no cover
