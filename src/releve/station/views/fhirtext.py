"""How the pages write names and order places: display formatting only.

Reading FHIR (codes, texts, names from any server, without crashing) is
fhir/clinical/values.py's, with the clinical rules beside it.
"""

from __future__ import annotations

from .collation import french_key as natural_key  # noqa: F401  (the order of places: collation.py)


def display_name(family: str | None, given: str | None, prefix: str = "") -> str:
    """'Dr Sylvie BERGER': the family name in capitals, as French wards write it."""
    parts = [prefix, given or "", (family or "").upper()]
    return " ".join(p for p in parts if p)
