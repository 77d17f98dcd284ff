"""The search box's text, read as a nurse means it: birth dates in the usual spellings
(1950-03-07, 07/03/1950, 7.3.1950, 07031950), plain numbers (beds, rooms, IPP pieces) and
folded words (names, "lit", "kris249")."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from ...text import fold


@dataclass
class Query:
    raw: str  # the text as typed, trimmed
    words: list[str]  # folded words that are not plain numbers (names, "lit", "kris249")
    numbers: list[str]  # plain numbers outside dates (beds, rooms, IPP pieces)
    dates: list[str]  # ISO birth dates found in the text


_ISO = re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)")
_DMY = re.compile(r"(?<!\d)(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})(?!\d)")


def _date(year: str, month: str, day: str) -> str | None:
    try:
        value = dt.date(int(year), int(month), int(day))
    except ValueError:
        return None
    return value.isoformat() if 1850 <= value.year <= 2100 else None


def parse(text: str) -> Query:
    """Split the box's text into dates, numbers and words; dates go first because their
    separators would otherwise split them into numbers."""
    raw = text.strip()
    rest, dates = raw, []
    for pattern, order in ((_ISO, (0, 1, 2)), (_DMY, (2, 1, 0))):
        for match in pattern.finditer(rest):
            groups = match.groups()
            if found := _date(*(groups[i] for i in order)):
                dates.append(found)
        rest = pattern.sub(" ", rest)
    words: list[str] = []
    numbers: list[str] = []
    for word in fold(rest).split():
        (numbers if word.isdigit() else words).append(word)
    for number in numbers:  # ddmmyyyy: kept as a number too, it may be an IPP
        if len(number) == 8 and (found := _date(number[4:], number[2:4], number[:2])):
            dates.append(found)
    return Query(raw, words, numbers, list(dict.fromkeys(dates)))
