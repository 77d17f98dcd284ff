"""The patients an identifier, a birth date or a bed designates: few rows, read by index."""

from __future__ import annotations

import re
import sqlite3

from ...text import fold
from .fuzzy import Grader
from .hits import BED, BED_ROOM, BIRTH_DATE, IDENTIFIER, Found, found, marks, rows
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
    return hits


def by_birth_date(conn: sqlite3.Connection, q: Query) -> list[Found]:
    """Everyone born that day; with name words, only those whose name matches them too
    (a wrong patient is worse than none: identity vigilance)."""
    born = [found(r) for r in rows(conn, f"p.birth_date IN ({marks(q.dates)})", tuple(q.dates))]
    if not q.words:
        for row in born:
            row.score, row.why = BIRTH_DATE, "birth date"
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
