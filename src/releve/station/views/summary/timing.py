"""When the doses of an order fall due (the MAR's plan), and a French reading of a FHIR
Timing when the prescriber wrote none.

`due_times` never guesses: a timing it cannot read gives no times rather than wrong
ones, and an expansion never loops further than MAX_OCCURRENCES. A rhythm without set
times ("3 fois par jour" with no timeOfDay, `when` or first dose) gives none either:
`set_times` says so, and the page writes "heure à définir" rather than invent the
ward's rounds.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

from ....fhir.clinical.values import as_dict, concept_text, instant, many, number, number_text, period

DEFAULT_ZONE = "Europe/Paris"
MAX_OCCURRENCES = 2000  # a timing expansion never loops further than this

# usual ward hours for Timing.when (FHIR event-timing codes)
WHEN_HOURS: dict[str, tuple[str, ...]] = {
    "WAKE": ("07:00",), "MORN": ("08:00",), "MORN.early": ("07:00",), "MORN.late": ("10:00",),
    "NOON": ("12:00",), "AFT": ("14:00",), "AFT.early": ("13:00",), "AFT.late": ("16:00",),
    "EVE": ("18:00",), "EVE.early": ("18:00",), "EVE.late": ("20:00",),
    "NIGHT": ("22:00",), "PHS": ("22:00",), "HS": ("22:00",),
    "C": ("08:00", "12:00", "18:00"), "AC": ("08:00", "12:00", "18:00"),
    "PC": ("08:00", "12:00", "18:00"),
    "CM": ("08:00",), "ACM": ("08:00",), "PCM": ("08:00",),
    "CD": ("12:00",), "ACD": ("12:00",), "PCD": ("12:00",),
    "CV": ("18:00",), "ACV": ("18:00",), "PCV": ("18:00",),
}
WHEN_TEXT = {"WAKE": "au réveil", "MORN": "le matin", "MORN.early": "tôt le matin",
             "MORN.late": "en fin de matinée", "NOON": "à midi", "AFT": "l'après-midi",
             "AFT.early": "en début d'après-midi", "AFT.late": "en fin d'après-midi",
             "EVE": "le soir", "EVE.early": "en début de soirée", "EVE.late": "en fin de soirée",
             "NIGHT": "la nuit", "PHS": "après le coucher", "HS": "au coucher",
             "C": "aux repas", "AC": "avant les repas", "PC": "après les repas",
             "CM": "au petit déjeuner", "ACM": "avant le petit déjeuner",
             "PCM": "après le petit déjeuner", "CD": "au déjeuner", "ACD": "avant le déjeuner",
             "PCD": "après le déjeuner", "CV": "au dîner", "ACV": "avant le dîner",
             "PCV": "après le dîner"}
UNIT_SECONDS = {"s": 1, "min": 60, "h": 3600, "d": 86400, "wk": 7 * 86400,
                "mo": 30 * 86400, "a": 365 * 86400}
UNIT_TEXT = {"s": "s", "min": "min", "h": "h", "d": "jours", "wk": "semaines", "mo": "mois",
             "a": "ans"}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")



def _clock(text: Any) -> dt.time | None:
    if not isinstance(text, str):
        return None
    match = re.match(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?", text.strip())
    if not match:
        return None
    hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    return dt.time(hour, minute, second)


def _days(start: dt.datetime, end: dt.datetime, zone: ZoneInfo) -> Iterable[dt.date]:
    day = start.astimezone(zone).date() - dt.timedelta(days=1)
    last = end.astimezone(zone).date()
    while day <= last:
        yield day
        day += dt.timedelta(days=1)


def _at(day: dt.date, clock: dt.time, zone: ZoneInfo) -> dt.datetime:
    """A wall-clock time on a local day (zoneinfo resolves DST gaps and folds)."""
    local = dt.datetime.combine(day, clock, tzinfo=zone)
    return local.astimezone(dt.UTC).astimezone(zone)


def _daily(clocks: list[dt.time], window: tuple[dt.datetime, dt.datetime], zone: ZoneInfo,
           weekdays: set[int] | None, every_days: int = 1,
           anchor_day: dt.date | None = None) -> list[dt.datetime]:
    start, end = window
    out = []
    for day in _days(start, end, zone):
        if weekdays is not None and day.weekday() not in weekdays:
            continue
        if every_days > 1 and anchor_day is not None and (day - anchor_day).days % every_days:
            continue
        for clock in clocks:
            when = _at(day, clock, zone)
            if start <= when < end:
                out.append(when)
    return out


def set_times(timing: Any) -> bool:
    """Whether a timing says when its doses fall: events, times of day, `when` codes, or a
    rhythm counted from a first dose given with its time (boundsPeriod.start)."""
    timing = as_dict(timing)
    repeat = as_dict(timing.get("repeat"))
    if many(timing.get("event")) or many(repeat.get("timeOfDay")) or many(repeat.get("when")):
        return True
    return _first_dose(repeat) is not None


def _first_dose(repeat: dict) -> str | None:
    start = period(repeat.get("boundsPeriod"))[0]
    return start if start and len(start) > 10 else None


def due_times(timing: Any, start: dt.datetime, end: dt.datetime, zone: str = DEFAULT_ZONE) -> list[dt.datetime]:
    """Every moment a FHIR Timing falls due in [start, end), in order.

    Explicit events first; otherwise the repeat: timeOfDay, then `when` (at the ward's usual
    hours, with its offset), then frequency per period counted from the first dose
    (boundsPeriod.start with its time; without one, no times: see `set_times`).
    boundsPeriod limits it, `count` stops it, and dayOfWeek filters the days. A timing it
    cannot read gives no times rather than wrong ones.
    """
    tz = ZoneInfo(zone)
    timing = as_dict(timing)
    repeat = as_dict(timing.get("repeat"))
    events = [w for w in (instant(e, tz) for e in many(timing.get("event"))) if w]
    if events and not repeat:
        return sorted(w for w in events if start <= w < end)
    bounds_start, bounds_end = period(repeat.get("boundsPeriod"))
    low = instant(bounds_start, tz)
    high = instant(bounds_end, tz)
    if high is not None and bounds_end and len(bounds_end) <= 10:
        high += dt.timedelta(days=1)  # an end date includes its day
    count = number(repeat.get("count"))
    anchor = instant(_first_dose(repeat), tz)
    begun = anchor or low
    if count is not None and (begun is None or count > MAX_OCCURRENCES):
        count = None  # a count needs a start to count from
    # with a count, generate from the start so that earlier doses are counted
    gen_start = max(x for x in (start, low) if x is not None) if count is None else begun
    gen_end = min(x for x in (end, high) if x is not None)
    if gen_start is None or gen_end <= gen_start:
        return []
    first_day = begun.astimezone(tz).date() if begun else None
    times = _repeat_times(repeat, (gen_start, gen_end), tz, anchor, first_day)
    if low is not None:
        times = [t for t in times if t >= low]
    if count is not None:
        times = times[:max(0, int(count))]
    return [t for t in times if start <= t < end]


def _repeat_times(repeat: dict, window: tuple[dt.datetime, dt.datetime], tz: ZoneInfo,
                  anchor: dt.datetime | None, anchor_day: dt.date | None) -> list[dt.datetime]:
    weekdays = {WEEKDAYS.index(d) for d in many(repeat.get("dayOfWeek")) if d in WEEKDAYS}
    days = weekdays or None
    frequency = number(repeat.get("frequency")) or 1.0
    period_value = number(repeat.get("period"))
    unit = repeat.get("periodUnit") if repeat.get("periodUnit") in UNIT_SECONDS else None
    every_days = 1
    if unit == "d" and period_value and period_value >= 2 and period_value.is_integer() \
            and frequency == 1:
        every_days = int(period_value)
    clocks = [c for c in (_clock(t) for t in many(repeat.get("timeOfDay"))) if c]
    if clocks:
        return _daily(sorted(set(clocks)), window, tz, days, every_days, anchor_day)
    whens = [w for w in many(repeat.get("when")) if isinstance(w, str) and w in WHEN_HOURS]
    if whens:
        offset = number(repeat.get("offset")) or 0
        clocks_at: set[dt.time] = set()
        for code in whens:
            for hhmm in WHEN_HOURS[code]:
                base = dt.datetime.combine(dt.date(2000, 1, 2), _clock(hhmm) or dt.time(8))
                sign = -1 if code.startswith("AC") else 1
                moved = base + dt.timedelta(minutes=sign * offset) if code[:2] in ("AC", "PC") else base
                clocks_at.add(moved.time())
        return _daily(sorted(clocks_at), window, tz, days, every_days, anchor_day)
    if period_value is None or period_value <= 0 or unit is None or frequency <= 0:
        return []
    seconds = period_value * UNIT_SECONDS[unit] / frequency
    if seconds < 60 or anchor is None:
        return []  # no first dose to count from: the time is to be set, not guessed
    return _interval(window, seconds, anchor, tz, days)


def _interval(window: tuple[dt.datetime, dt.datetime], seconds: float, anchor: dt.datetime,
              tz: ZoneInfo, days: set[int] | None) -> list[dt.datetime]:
    """Every `seconds` from the first dose."""
    start, end = window
    step = dt.timedelta(seconds=seconds)
    skip = max(0, int((start - anchor) / step)) if start > anchor else 0
    when = anchor + skip * step
    out: list[dt.datetime] = []
    while when < end and len(out) < MAX_OCCURRENCES:
        if when >= start and (days is None or when.astimezone(tz).weekday() in days):
            out.append(when.astimezone(tz))
        when += step
    return out


def timing_text(timing: Any) -> str:
    """A French reading of a Timing when the prescriber wrote none: "toutes les 6 h"."""
    timing = as_dict(timing)
    code = concept_text(timing.get("code"))
    repeat = as_dict(timing.get("repeat"))
    parts: list[str] = []
    frequency = number(repeat.get("frequency"))
    period_value = number(repeat.get("period"))
    unit = repeat.get("periodUnit") if isinstance(repeat.get("periodUnit"), str) else ""
    if period_value and unit:
        if (frequency or 1) == 1:
            if unit == "d" and period_value == 1:
                parts.append("une fois par jour")
            elif unit == "wk" and period_value == 1:
                parts.append("une fois par semaine")
            else:
                parts.append(f"toutes les {number_text(period_value)} {UNIT_TEXT.get(unit, unit)}")
        else:
            per = {"h": "heure", "d": "jour", "wk": "semaine", "mo": "mois"}.get(unit, unit)
            each = f"par {per}" if period_value == 1 else \
                f"toutes les {number_text(period_value)} {UNIT_TEXT.get(unit, unit)}"
            parts.append(f"{number_text(frequency or 1)} fois {each}")
    clocks = [c for c in (_clock(t) for t in many(repeat.get("timeOfDay"))) if c]
    if clocks:
        parts.append("à " + ", ".join(c.strftime("%H:%M") for c in sorted(clocks)))
    whens = [WHEN_TEXT.get(w, w) for w in many(repeat.get("when")) if isinstance(w, str)]
    if whens:
        parts.append(", ".join(whens))
    days = [d for d in many(repeat.get("dayOfWeek")) if isinstance(d, str)]
    if days:
        parts.append("(" + ", ".join(days) + ")")
    count = number(repeat.get("count"))
    if count:
        parts.append(f"{number_text(count)} prise(s) au total")
    return " ".join(parts) or code


