"""Patients admitted during the downtime, found by the search box like the vault's.

They are in the journal, not in the index: a nurse who types the name, the downtime IPP,
the INS or the birth date of someone admitted an hour ago must find them as she finds
anyone else. There are a few dozen at most on a station, so each is compared in Python
with the same reading of the box's text (query.py) rather than indexed.
"""

from __future__ import annotations

from ....fhir.clinical.values import as_text, human_name, pick_name
from ...text import fold
from ..movements import Moves
from .hits import Hit
from .query import parse

WHY = "admission en mode dégradé"


def admitted(moves: Moves, text: str) -> list[Hit]:
    """The patients admitted here or on a peer whose name, identifiers or birth date the
    text designates (every word a prefix of one of their names)."""
    q = parse(text)
    if not q.raw or not (q.words or q.numbers or q.dates):
        return []
    hits = []
    for pid in sorted(moves.admitted):
        patient = moves.patients.get(pid)
        if patient is not None and _matches(patient, q.words, q.numbers, q.dates):
            hits.append(_hit(pid, patient, moves))
    return hits


def _matches(patient: dict, words: list[str], numbers: list[str], dates: list[str]) -> bool:
    family, given = _names(patient)
    names = fold(f"{family} {given}").split()
    values = {str(i.get("value", "")) for i in patient.get("identifier") or [] if isinstance(i, dict)}
    born = as_text(patient.get("birthDate"))
    return (all(any(n.startswith(w) for n in names) for w in words)
            and all(n in values for n in numbers)
            and all(d == born for d in dates))


def _names(patient: dict) -> tuple[str, str]:
    _, family, given = human_name(pick_name(patient.get("name")))
    return family, given


def _hit(pid: str, patient: dict, moves: Moves) -> Hit:
    family, given = _names(patient)
    values = [i for i in patient.get("identifier") or [] if isinstance(i, dict)]
    ipp = next((str(i.get("value")) for i in values
                if any(c.get("code") == "PI" for c in (i.get("type") or {}).get("coding") or [])), None)
    stay = moves.stay_of(pid)
    return Hit(pid, family, given, as_text(patient.get("birthDate")) or None,
               as_text(patient.get("gender")) or None, ipp, None,
               stay.bed if stay else None, stay.bed_name if stay else None, 1.0, WHY)
