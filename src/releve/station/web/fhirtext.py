"""Reading the few FHIR shapes the station's pages show, from any server, without crashing.

Pages meet data from the demo hospital, from Synthea, from the official examples and from
whatever the hospital's HIS writes: a field may be missing, of the wrong type, coded in a
system the station does not know, or carry only `text`. Every helper here accepts
anything and returns text (possibly empty) rather than raising: a nurse must always get
the page, even when one resource on it is odd.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

_NATURAL = re.compile(r"(\d+)")


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def text_of(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def concept_text(concept: Any) -> str:
    """What a CodeableConcept says to a human: its text, else a coding's display, else a code."""
    concept = as_dict(concept)
    if text := text_of(concept.get("text")):
        return text
    codings = [as_dict(c) for c in as_list(concept.get("coding"))]
    for coding in codings:
        if display := text_of(coding.get("display")):
            return display
    for coding in codings:
        if code := text_of(coding.get("code")):
            return code
    return text_of(concept.get("display")) or text_of(concept.get("code"))


def codes(concept: Any) -> set[str]:
    """Every code of a CodeableConcept (or Coding), whatever its system."""
    concept = as_dict(concept)
    found = {c["code"] for c in map(as_dict, as_list(concept.get("coding")))
             if isinstance(c.get("code"), str)}
    if isinstance(concept.get("code"), str):
        found.add(concept["code"])
    return found


def human_name(resource: Any) -> tuple[str, str, str]:
    """(prefix, family, given) of a Patient's or Practitioner's official (else first) name."""
    names = [as_dict(n) for n in as_list(as_dict(resource).get("name"))]
    chosen = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    family = text_of(chosen.get("family"))
    given = " ".join(g for g in as_list(chosen.get("given")) if isinstance(g, str))
    prefix = " ".join(p for p in as_list(chosen.get("prefix")) if isinstance(p, str))
    if not family and not given and (text := text_of(chosen.get("text"))):
        return prefix, text, ""
    return prefix, family, given


def display_name(family: str | None, given: str | None, prefix: str = "") -> str:
    """'Dr Sylvie BERGER': the family name in capitals, as French wards write it."""
    parts = [prefix, given or "", (family or "").upper()]
    return " ".join(p for p in parts if p)


def loads(raw: bytes | str) -> dict:
    """One stored resource as a dict; an unreadable one as an empty dict (never raises)."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def natural_key(text: str | None) -> tuple:
    """'Lit 2' before 'Lit 10': numbers compared as numbers."""
    parts = _NATURAL.split((text or "").casefold())
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)
