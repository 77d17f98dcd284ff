"""Folding text for search: what a nurse types under stress must meet what the HIS wrote.

"helene" must find "Hélène", "LEMAITRE" must find "Lemaître", "Cœur" must find "coeur";
hyphens and apostrophes separate words ("Jean-Pierre", "D'Artagnan"). The same folding is
applied to the indexed names and to the query, so they always agree.
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
    """Folded, without any separator: how identifier values are compared ("AB 12-34" and
    "ab1234" are the same passport number, "1 85 05 78 006 048 22" the same INS). ASCII
    text, which nearly every identifier is, folds to its lower case: a third of the time."""
    if text.isascii():
        return _SEPARATORS.sub("", text.lower())
    return fold(text).replace(" ", "")
