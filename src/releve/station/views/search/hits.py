"""What the finders return, and the grades that rank it.

Every finder reads patients with the same columns (FIELDS) into a Found: the row, whether
the patient is admitted now, and how well and why they matched. The search keeps the best
Founds and turns them into Hits, the public result, once their place is known.
"""

from __future__ import annotations

import heapq
import sqlite3
from dataclasses import dataclass

# Grades: an identifier above a bed above a birth date above a year of birth above a name.
IDENTIFIER, BED, BED_ROOM, BIRTH_DATE, BIRTH_YEAR = 100.0, 90.0, 85.0, 50.0, 45.0
EXACT, PREFIX, INFIX = 4.0, 2.0, 1.0  # per query word; a name's score is their mean
# Whether a patient is admitted now: one list of current stays for many rows, or one
# index probe per row when the rows are few.
CURRENT_LIST = "p.id IN (SELECT patient FROM stays WHERE current = 1)"
CURRENT_PROBE = "EXISTS (SELECT 1 FROM stays s WHERE s.patient = p.id AND s.current = 1)"
FIELDS = ("p.id, p.family, p.given, p.birth_date, p.gender, p.ipp, p.ins, p.rowid, p.name_norm, "
          "p.sort_key")
ROWID = 7  # where FIELDS puts p.rowid
Fields = tuple[str, str | None, str | None, str | None, str | None, str | None, str | None, int,
               str, str]  # a row of FIELDS, in Found's order
Row = tuple[str, str | None, str | None, str | None, str | None, str | None, str | None, int,
            str, str, int]  # FIELDS, then whether the patient is admitted now


@dataclass
class Identity:
    """Who the patient is, as a result line shows it: what Hit and Found share, first in
    both (a row of FIELDS starts with it)."""

    id: str  # Patient id
    family: str | None
    given: str | None
    birth_date: str | None
    gender: str | None
    ipp: str | None
    ins: str | None


@dataclass
class Hit(Identity):
    """A result: the patient, where they lie now, and how well and why they matched."""

    location: str | None  # Location of the current stay's bed or unit, if any
    location_name: str | None  # "Lit 201 fenêtre · Pneumologie"
    score: float
    why: str  # "name", "name (approx.)", "ipp", "ins", "identifier", "birth date",
    # "birth year", "bed"


@dataclass
class Found(Identity):
    """A patient row and how well it matched, before its location is looked up."""

    rowid: int
    name_norm: str
    sort_key: str  # folded family, given names and id (records.sort_key)
    current: bool
    score: float = 0.0
    why: str = ""

    def key(self) -> tuple:
        return (-self.score, not self.current, self.sort_key)


def best(hits: list[Found], count: int) -> list[Found]:
    return heapq.nsmallest(count, hits, key=Found.key)


def found(row: Row, score: float = 0.0, why: str = "") -> Found:
    return Found(*row[:10], current=bool(row[10]), score=score, why=why)


def marks(values: list | tuple) -> str:
    """As many bound-parameter marks as values, for `IN (...)`."""
    return ",".join("?" * len(values))


def rows(conn: sqlite3.Connection, where: str, params: tuple) -> list[Row]:
    """The few patients an indexed condition designates (an IPP, a birth date, beds)."""
    sql = f"SELECT {FIELDS}, {CURRENT_PROBE} FROM patients p WHERE {where}"
    return conn.execute(sql, params).fetchall()


def rows_by_rowid(conn: sqlite3.Connection, rowids: list[int]) -> list[Fields]:
    if not rowids:
        return []
    return conn.execute(f"SELECT {FIELDS} FROM patients p WHERE p.rowid IN ({marks(rowids)})",
                        rowids).fetchall()
