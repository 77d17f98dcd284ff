"""How the pages write names and order places: display formatting only.

Reading FHIR (codes, texts, names from any server, without crashing) is
fhir/clinical/values.py's, with the clinical rules beside it.
"""

from __future__ import annotations

import re

_NATURAL = re.compile(r"(\d+)")


def display_name(family: str | None, given: str | None, prefix: str = "") -> str:
    """'Dr Sylvie BERGER': the family name in capitals, as French wards write it."""
    parts = [prefix, given or "", (family or "").upper()]
    return " ".join(p for p in parts if p)


def natural_key(text: str | None) -> tuple:
    """'Lit 2' before 'Lit 10': numbers compared as numbers."""
    parts = _NATURAL.split((text or "").casefold())
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)
