"""French alphabetical order: the one sort key of every list the station shows.

A list a nurse scans (the wards, a ward's beds, the directory, search results at equal
match) must be in the order of a French directory, not of code points: "Élodie" among
the E (not after Z), "de la Tour" among the D (not after every capitalised name),
"Lit 2" before "Lit 10". The rules, from the usual French practice (a dictionary, a
phone book):

- letters first: accents, case and ligatures do not separate words ("Émile" = "emile",
  "Œuvray" = "oeuvray"); spaces, hyphens and apostrophes are not letters and are skipped
  ("de la Tour" sorts as "delatour", "Saint-Just" as "saintjust");
- numbers inside a text compare as numbers ("Lit 2" < "Lit 10");
- equal letters, then the unaccented word first ("cote" < "côte"), then lower case first,
  then the text as written, so that the order is total and the same on every page.

The folding is search's (station/text.py), so what sorts together is what a search for it
finds.
"""

from __future__ import annotations

import functools
import re

from ..text import compact, fold

_PIECES = re.compile(r"(\d+)")


@functools.lru_cache(maxsize=1 << 14)
def french_key(text: str | None) -> tuple:
    """The sort key of one text (a name, a ward, a bed) in French alphabetical order:
    its letters and numbers, then what sets apart texts with the same letters."""
    raw = text or ""
    primary = tuple((0, int(p), "") if p.isdigit() else (1, 0, p)
                    for p in _PIECES.split(compact(raw)) if p)
    return primary, (fold(raw) != raw.casefold(), raw.swapcase(), raw)


def person_key(family: str | None, given: str | None, pid: str = "") -> tuple:
    """A person in a list: family name, then given names, by their letters; then accents
    and case; then the id (two namesakes keep the same order everywhere). "Martin Emma"
    comes before "MARTIN Zoé": case does not outrank a given name."""
    (family_letters, family_ties), (given_letters, given_ties) = french_key(family), french_key(given)
    return family_letters, given_letters, family_ties, given_ties, pid
