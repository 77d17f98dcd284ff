"""Folding people's names: what a nurse types under stress must meet what the HIS wrote.

"helene" must find "Hélène", "LEMAITRE" must find "Lemaître", "Cœur" must find "coeur";
hyphens and apostrophes separate words ("Jean-Pierre", "D'Artagnan"). The station's
search folds the indexed names and the query alike (station/text.py), and the same fold
says when two records are probably one person: the station's « doublon probable »
(station/views/movements.py) and the way back's search of the HIS for a patient admitted
during the downtime (wayback/downtime_patients.py) compare `person_key`s.
"""

from __future__ import annotations

import re
import unicodedata

_LIGATURES = str.maketrans({"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ß": "ss", "ø": "o",
                            "Ø": "o", "đ": "d", "Đ": "d", "ł": "l", "Ł": "l"})
_SEPARATORS = re.compile(r"[^0-9a-z]+")


def fold(text: str) -> str:
    """Lower case, no accents, ligatures spelled out, words separated by one space."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return _SEPARATORS.sub(" ", bare).strip()


def compact(text: str) -> str:
    """Folded, without any separator. Identifier values are compared this way ("AB 12-34"
    and "ab1234" are the same passport number, "1 85 05 78 006 048 22" the same INS), and
    French alphabetical order compares it first ("de la Tour" and "Delatour" both give
    "delatour"): station/views/collation.py and the index's sort key
    (station/records/projections.py) both start from it, so the order a search picks its
    results in is the order the page shows. ASCII text folds to its lower case: a third
    of the time."""
    if text.isascii():
        return _SEPARATORS.sub("", text.lower())
    return fold(text).replace(" ", "")


def person_key(family: str | None, given: str | None, birth: str | None) -> str:
    """What two records of one person share: family and given names folded with spaces
    ignored ("Jean Pierre" is "Jean-Pierre"), and the exact birth date; "" when the
    family name or the birth date is missing (nothing to compare)."""
    if not family or not birth:
        return ""
    return f"{compact(family)}|{compact(given or '')}|{birth}"
