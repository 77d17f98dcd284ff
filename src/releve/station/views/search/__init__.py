"""Patient search on the station: one text box, as a nurse types under stress.

The query may be a name (any case, accents or not, words in any order, a prefix, a typo,
a title such as "Mme" or "Dr", family and given name typed as one word), a birth date or
a year of birth (alone or with a name), an IPP, an INS, any other identifier the patient
carries (spaces allowed, its kind named before it or not), or a bed or room.
Ranking: identifier matches first, then beds, then birth dates, then years of birth, then
names (exact word above prefix above approximate); at equal match, patients currently
admitted come first, then alphabetical order.

Why it is built this way (100,000 patients, p95 under 20 ms on an old PC):
- names are looked up through the name-word index (index/words.py): the query's words are
  first resolved against the few tens of thousands of *distinct* name words (exact, prefix
  by a key range, infix by a trigram index of the words, typos by a bounded
  Damerau-Levenshtein over trigram candidates), and only then are patients read;
- a name word's patients are keyed by the result order (admitted first, then family,
  given names, id), so the first page of a common name or prefix ("martin", "mar") is
  read straight off the key instead of sorting thousands of patients;
- several words: the patients bearing a match for each of them, intersected in SQLite;
- typos are looked for only when no name matched exactly or by prefix;
- every piece of user text reaches SQLite as a bound parameter; FTS5 phrases are built
  from folded words only, whose alphabet is [0-9a-z], so no FTS5 syntax can get through.

    __init__.py    search(): the finders a query calls, merged and ranked
    query.py       the box's text read as words, numbers and birth dates
    hits.py        the grades, the patient rows the finders read, Hit and Found
    finders.py     by identifier (IPP, INS, any other), by birth date or year, by bed or room
    places.py      where the current stays are: beds found by number, results' labels
    names.py       by name: the name-word index's patients, one word or several
    vocabulary.py  the distinct name words a query word designates, typos included
    fuzzy.py       grading approximate matches (bounded Damerau-Levenshtein)
"""

from __future__ import annotations

import sqlite3

from ..collation import person_key
from .finders import by_bed, by_birth_date, by_birth_year, by_identifier
from .hits import Found, Hit, best
from .names import by_name
from .places import places
from .query import parse


def search(conn: sqlite3.Connection, query: str, limit: int = 30) -> list[Hit]:
    """The patients the box's text designates, best first, at most `limit`."""
    q = parse(query)
    if not q.raw or limit <= 0 or not (q.words or q.numbers or q.dates):
        return []
    found: dict[int, Found] = {}
    for hit in by_identifier(conn, q):
        _keep(found, hit)
    if q.numbers and not q.dates and not found:
        for hit in by_bed(conn, q):
            _keep(found, hit)
    if q.dates:
        for hit in by_birth_date(conn, q):
            _keep(found, hit)
    elif q.years and len(q.years) == len(q.numbers):
        for hit in by_birth_year(conn, q, limit):
            _keep(found, hit)
    elif q.words and not q.numbers:
        for hit in by_name(conn, q.words, limit):
            _keep(found, hit)
    chosen = sorted(best(list(found.values()), limit), key=_shown_order)
    where = places(conn, [f.id for f in chosen if f.current])
    return [_hit(f, *where.get(f.id, (None, None))) for f in chosen]


def _shown_order(f: Found) -> tuple:
    """The page's order: the finders' ranking, then French alphabetical order (the
    index's sort key picks the same patients; collation.py orders what is shown)."""
    return -f.score, not f.current, person_key(f.family, f.given, f.id)


def _keep(found: dict[int, Found], hit: Found) -> None:
    """A patient found twice (an IPP that is also a date) keeps its best reason."""
    known = found.get(hit.rowid)
    if known is None or hit.score > known.score:
        found[hit.rowid] = hit


def _hit(f: Found, location: str | None, location_name: str | None) -> Hit:
    return Hit(f.id, f.family, f.given, f.birth_date, f.gender, f.ipp, f.ins, location,
               location_name, f.score, f.why)
