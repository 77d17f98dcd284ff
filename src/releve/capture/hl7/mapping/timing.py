"""When an order runs or an appointment takes place: the TQ1 segment (v2.5 on), the TQ
fields older senders still fill (ORC-7, RXE-1, OBR-27, SCH-11), and their repeat
patterns (HL7 table 0335: QD, BID, Q6H, PRN...) as a FHIR Timing.

Nothing here guesses a ward's rounds: a pattern gives a frequency and explicit times
only when the message gives them; the station says "heure à définir" otherwise.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from .. import datatypes
from ..message import Message
from .links import Segment

# repeat pattern -> (frequency, period, period unit)
_PATTERNS: dict[str, tuple[int, int, str]] = {
    "QD": (1, 1, "d"), "Q1D": (1, 1, "d"), "BID": (2, 1, "d"), "TID": (3, 1, "d"),
    "QID": (4, 1, "d"), "QAM": (1, 1, "d"), "QPM": (1, 1, "d"), "QHS": (1, 1, "d"),
    "QOD": (1, 2, "d"), "QSHIFT": (3, 1, "d"),
}
_EVENTS = {"QAM": "MORN", "QPM": "EVE", "QHS": "HS"}  # FHIR event timing of a pattern
_EVERY = re.compile(r"^Q(\d+)([SMHDWL])$")  # Q6H: every 6 hours
_UNITS = {"S": "s", "M": "min", "H": "h", "D": "d", "W": "wk", "L": "mo"}
_MINUTES = {"S": 1 / 60, "M": 1, "H": 60, "D": 1440, "W": 10080}
_DURATION = re.compile(r"^([SMHDW])(\d+)$")  # TQ-3: M30 is thirty minutes
AS_NEEDED = frozenset({"PRN", "SOS", "SI BESOIN"})
ONCE = frozenset({"ONCE", "STAT", "NOW", "1X"})


@dataclass(frozen=True)
class When:
    """What a TQ or TQ1 says of when, as FHIR dateTimes and codes."""

    start: str | None = None
    end: str | None = None
    pattern: str | None = None  # the repeat pattern code, upper case
    times: tuple[str, ...] = ()  # explicit times of day, "08:00:00"
    minutes: float | None = None  # how long (an appointment, an infusion)
    priority: str | None = None  # S stat, A asap, R routine, PRN
    text: str | None = None

    def __or__(self, other: When) -> When:
        """What this one says, completed by what `other` says."""
        return When(self.start or other.start, self.end or other.end,
                    self.pattern or other.pattern, self.times or other.times,
                    self.minutes if self.minutes is not None else other.minutes,
                    self.priority or other.priority, self.text or other.text)


def of_tq1(m: Message, seg: Segment | None) -> When:
    if seg is None:
        return When()
    zone = datatypes.PARIS
    times = tuple(t for t in (_clock(rep.get(1)) for rep in datatypes.repetitions(m, seg, 4)) if t)
    amount = _number(datatypes.value(m, seg, 6, 1))
    unit = (datatypes.value(m, seg, 6, 2, 1, 1) or "").strip().lower()
    minutes = amount * (60 if unit in ("h", "hr", "hour", "hours", "heure", "heures") else 1) \
        if amount is not None else None
    return When(datatypes.dtm(datatypes.value(m, seg, 7), zone),
                datatypes.dtm(datatypes.value(m, seg, 8), zone),
                _upper(datatypes.value(m, seg, 3, 1)), times, minutes,
                _upper(datatypes.value(m, seg, 9, 1)), datatypes.value(m, seg, 11))


def of_tq(m: Message, seg: Segment | None, field: int) -> When:
    """A TQ field (deprecated since v2.5, still the rule in many feeds)."""
    if seg is None:
        return When()
    zone = datatypes.PARIS
    explicit = datatypes.value(m, seg, field, 2, 1, 2) or ""
    times = tuple(t for t in (_clock(p) for p in explicit.split(",")) if t)
    return When(datatypes.dtm(datatypes.value(m, seg, field, 4), zone),
                datatypes.dtm(datatypes.value(m, seg, field, 5), zone),
                _upper(datatypes.value(m, seg, field, 2)), times,
                duration(datatypes.value(m, seg, field, 3)),
                _upper(datatypes.value(m, seg, field, 6)), datatypes.value(m, seg, field, 8))


def duration(text: str | None) -> float | None:
    """TQ-3 as minutes: "M30" thirty minutes, "H2" two hours; None if not a length."""
    found = _DURATION.match((text or "").strip().upper())
    return int(found[2]) * _MINUTES[found[1]] if found else None


def as_needed(when: When) -> bool:
    words = set((when.pattern or "").split()) | {when.priority or ""}
    return bool(words & AS_NEEDED) or (when.pattern or "") in AS_NEEDED


def repeat(when: When) -> dict:
    """Timing.repeat: bounds, frequency and period, explicit times of day."""
    made: dict = {}
    if when.start or when.end:
        made["boundsPeriod"] = {k: v for k, v in (("start", when.start), ("end", when.end)) if v}
    for word in (when.pattern or "").split():
        if word in ONCE:
            made["count"] = 1
            break
        found = _EVERY.match(word)
        rhythm = _PATTERNS.get(word) or ((1, int(found[1]), _UNITS[found[2]]) if found else None)
        if rhythm:
            made.update(frequency=rhythm[0], period=rhythm[1], periodUnit=rhythm[2])
            if word in _EVENTS and not when.times:
                made["when"] = [_EVENTS[word]]
            break
    if when.times:
        made["timeOfDay"] = list(when.times)
    return made


def later(start: str | None, minutes: float | None) -> str | None:
    """`start` plus a duration, as a dateTime with the start's offset."""
    if not start or minutes is None or len(start) <= 10:
        return None
    try:
        begun = dt.datetime.fromisoformat(start)
    except ValueError:
        return None
    return (begun + dt.timedelta(minutes=minutes)).isoformat(timespec="seconds")


def _clock(text: str | None) -> str | None:
    """An HL7 time (0800, 08:00, 080000) as FHIR's time, 08:00:00."""
    digits = (text or "").strip().replace(":", "")
    if not re.fullmatch(r"\d{4}(\d{2})?", digits):
        return None
    hour, minute, second = int(digits[:2]), int(digits[2:4]), int(digits[4:6] or 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    return f"{hour:02d}:{minute:02d}:{second:02d}"


def _number(text: str | None) -> float | None:
    try:
        return float((text or "").replace(",", "."))
    except ValueError:
        return None


def _upper(text: str | None) -> str | None:
    return text.strip().upper() or None if text else None
