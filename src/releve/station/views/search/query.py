"""The search box's text, read as a nurse means it: birth dates in the usual spellings
(1950-03-07, 07/03/1950, 7.3.1950, 07031950), years of birth (1948), plain numbers (beds,
rooms, IPP pieces) and folded words (names, "lit", "kris249"), titles ("Mme", "M.", "Dr")
left out."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from ...text import fold


@dataclass
class Query:
    raw: str  # the text as typed, trimmed
    words: list[str]  # folded words that are not plain numbers (names, "lit", "kris249")
    numbers: list[str]  # plain numbers outside dates (beds, rooms, IPP pieces)
    dates: list[str]  # ISO birth dates found in the text
    years: list[str] = field(default_factory=list)  # numbers that may be a year of birth


# civilities and titles a name may be typed with ("Mme Dupont", "M. Martin", "Dr House"):
# not part of anyone's name in the index, so passed over when a name follows
TITLES = frozenset({"m", "mr", "mrs", "ms", "miss", "mme", "mmes", "mlle", "mlles", "melle",
                    "monsieur", "madame", "mademoiselle", "dr", "docteur", "pr", "professeur"})


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
    named = [word for word in words if word not in TITLES]
    if named and len(named) < len(words):
        words = named
    years = [n for n in numbers if len(n) == 4 and _date(n, "1", "1")]
    return Query(raw, words, numbers, list(dict.fromkeys(dates)), years)
