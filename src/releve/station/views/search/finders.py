"""The patients an identifier, a birth date or year, or a bed designates: few rows, read
by index."""

from __future__ import annotations

import re
import sqlite3

from ...records.projections import MIN_IDENTIFIER
from ...text import fold
from .fuzzy import Grader
from .hits import BED, BED_ROOM, BIRTH_DATE, BIRTH_YEAR, CURRENT_PROBE, FIELDS, IDENTIFIER, Found, found, marks, rows
from .places import current_places
from .query import Query

BED_NUMBER = 5  # longest number that may name a bed or room ("201"), not an IPP


def by_identifier(conn: sqlite3.Connection, q: Query) -> list[Found]:
    """IPP as typed or without its spaces; INS as 15 digits, however they were spaced."""
    compact = re.sub(r"\s+", "", q.raw)
    if len(compact) < 3 or not any(c.isdigit() for c in compact):
        return []
    forms = tuple(dict.fromkeys((q.raw, compact)))
    hits = [found(r, IDENTIFIER, "ipp") for r in rows(conn, f"p.ipp IN ({marks(forms)})", forms)]
    digits = "".join(q.numbers) if not q.words else ""
    ins_forms = tuple(dict.fromkeys(f for f in (*forms, digits) if f))
    hits += [found(r, IDENTIFIER, "ins")
             for r in rows(conn, f"p.ins IN ({marks(ins_forms)})", ins_forms)]
    return hits + by_any_identifier(conn, q)


# words that say which identifier follows ("passeport 12AB34567", "INS 1 85 05...",
# "N° SS ...", "MRN: ..."): left out when the whole text is no identifier
IDENTIFIER_KINDS = frozenset({
    "ins", "nir", "nia", "ipp", "nip", "pi", "mr", "mrn", "nss", "ss", "secu", "securite",
    "sociale", "ssn", "nhs", "passeport", "passport", "pass", "ppn", "cni", "carte",
    "identite", "id", "dossier", "numero", "num", "no", "n", "permis", "sejour", "titre",
    "dl", "dn", "de"})


def by_any_identifier(conn: sqlite3.Connection, q: Query) -> list[Found]:
    """Any identifier the patients carry, whatever its system (a national id, a social
    security number, a passport, another hospital's record number), typed with any case,
    spacing or punctuation, after words naming its kind or not. The text whole first; the
    text without those words only if the whole is no one's (identity vigilance: a piece
    of what was typed must not find someone else)."""
    for form in _identifier_forms(q.raw):
        hits = rows(conn, "p.rowid IN (SELECT patient_rowid FROM patient_ids WHERE key = ?)", (form,))
        if hits:
            return [found(r, IDENTIFIER, "identifier") for r in hits]
    return []


def _identifier_forms(text: str) -> list[str]:
    """The compacted identifiers the text may be (projections.identifier_keys)."""
    words = fold(text).split()
    forms = []
    while words:
        form = "".join(words)
        if len(form) >= MIN_IDENTIFIER and any(c.isdigit() for c in form):
            forms.append(form)
        if words[0] not in IDENTIFIER_KINDS:
            break
        words = words[1:]
    return forms


def by_birth_date(conn: sqlite3.Connection, q: Query) -> list[Found]:
    """Everyone born that day; with name words, only those whose name matches them too
    (a wrong patient is worse than none: identity vigilance)."""
    born = [found(r) for r in rows(conn, f"p.birth_date IN ({marks(q.dates)})", tuple(q.dates))]
    return _named(born, q, BIRTH_DATE, "birth date")


def by_birth_year(conn: sqlite3.Connection, q: Query, limit: int) -> list[Found]:
    """Everyone born that year ("1948"), read off the birth date's index: alone, the
    first `limit` in result order (admitted first, then A to Z); with name words
    ("dupont 1948"), those whose name matches them too."""
    born: list[Found] = []
    for year in q.years:
        where = ("p.birth_date >= ? AND p.birth_date < ?", (year, f"{int(year) + 1:04d}"))
        if q.words:
            born += map(found, rows(conn, *where))
            continue
        sql = (f"SELECT {FIELDS}, {CURRENT_PROBE} AS cur FROM patients p WHERE {where[0]} "
               "ORDER BY cur DESC, p.sort_key LIMIT ?")
        born += map(found, conn.execute(sql, (*where[1], limit)))
    return _named(born, q, BIRTH_YEAR, "birth year")


def _named(born: list[Found], q: Query, score: float, why: str) -> list[Found]:
    """Patients a birth date or year designates: graded by name when the query has name
    words (and only those whose name matches them), else all, at `score`."""
    if not q.words:
        for row in born:
            row.score, row.why = score, why
        return born
    grader = Grader(q.words)
    return [row for row in born if grader.grade(row)]


def by_bed(conn: sqlite3.Connection, q: Query) -> list[Found]:
    """Current stays whose bed, room or unit names hold every number as a whole word and
    every other word as a prefix: "201", "lit 201", "chambre 201", "box 3"."""
    numbers = [n for n in q.numbers if len(n) <= BED_NUMBER]
    if len(numbers) != len(q.numbers) or len(numbers) > 2:
        return []
    matched: dict[str, float] = {}
    for patient, _, names, _ in current_places(conn, numbers=numbers):
        own = fold(names[0] or "").split()
        chain = fold(" ".join(n for n in names if n)).split()
        if all(n in chain for n in q.numbers) and all(
                any(c.startswith(w) for c in chain) for w in q.words):
            score = BED if all(n in own for n in q.numbers) else BED_ROOM
            matched[patient] = max(score, matched.get(patient, 0.0))
    if not matched:
        return []
    ids = tuple(matched)
    return [found(r, matched[r[0]], "bed") for r in rows(conn, f"p.id IN ({marks(ids)})", ids)]
