"""Reading FHIR values from any server without trusting them.

A station meets resources from any HIS: French or US codes, missing members, members of
the wrong JSON type, a bare Coding where a CodeableConcept belongs, partial dates
("1970", "1970-05"). Every getter here accepts anything and answers an empty value
rather than raising, so that one odd resource never costs a nurse a page.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo

import orjson

_PARTIAL = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def many(value: Any) -> list:
    """A list member some servers send as a single value."""
    return value if isinstance(value, list) else [value] if isinstance(value, str) else []


def as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def as_text(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, (int, float)):
        return number_text(value)
    return ""


def number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.replace(",", "."))
        except ValueError:
            return None
    return None


def number_text(value: float | int, decimal: str = ",") -> str:
    """2,5 - 4000 - 0,25: no trailing zeros, French decimal comma by default."""
    if isinstance(value, bool):
        return ""
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return f"{value:.6g}".replace(".", decimal)


def load(raw: bytes | str) -> dict | None:
    """One stored resource as a dict; None if it is not a JSON object."""
    try:
        value = orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError):
        return None
    return value if isinstance(value, dict) else None


# --- codes -------------------------------------------------------------------------------------


def codings(concept: Any) -> list[dict]:
    """The Codings of a CodeableConcept; a bare Coding sent in its place counts as one."""
    concept = as_dict(concept)
    found = [c for c in as_list(concept.get("coding")) if isinstance(c, dict)]
    if isinstance(concept.get("code"), str):
        found.append(concept)
    return found


def codes(concept: Any) -> set[str]:
    """Every code of a CodeableConcept (or Coding), whatever its system."""
    return {c["code"] for c in codings(concept) if isinstance(c.get("code"), str)}


def first_code(concept: Any) -> str:
    if isinstance(concept, str):
        return concept
    for coding in codings(concept):
        if isinstance(coding.get("code"), str):
            return coding["code"]
    return ""


def concept_text(concept: Any) -> str:
    """What a person reads of a CodeableConcept: its text, else a display, else a code."""
    if isinstance(concept, str):
        return concept.strip()
    if isinstance(concept, list):
        return ", ".join(t for t in (concept_text(c) for c in concept) if t)
    concept = as_dict(concept)
    text = as_text(concept.get("text"))
    if text:
        return text
    found = codings(concept)
    for coding in found:
        if as_text(coding.get("display")):
            return as_text(coding["display"])
    for coding in found:
        if as_text(coding.get("code")):
            return as_text(coding["code"])
    return as_text(concept.get("display"))


def reference_text(ref: Any) -> str:
    return as_text(as_dict(ref).get("display"))


# --- dates -------------------------------------------------------------------------------------


def period(value: Any) -> tuple[str | None, str | None]:
    value = as_dict(value)
    start, end = value.get("start"), value.get("end")
    return (start if isinstance(start, str) else None, end if isinstance(end, str) else None)


def instant(text: Any, zone: ZoneInfo) -> dt.datetime | None:
    """A FHIR date, dateTime or instant as an aware datetime (dates at local midnight)."""
    if not isinstance(text, str) or not text:
        return None
    text = text.strip()
    match = _PARTIAL.match(text)
    if match:
        year, month, day = int(match[1]), int(match[2] or 1), int(match[3] or 1)
        try:
            return dt.datetime(year, month, day, tzinfo=zone)
        except ValueError:
            return None
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=zone)


def end_instant(text: Any, zone: ZoneInfo) -> dt.datetime | None:
    """When a period's end is over: an end given as a date includes that whole day."""
    when = instant(text, zone)
    if when is not None and len(text) <= 10:
        when += dt.timedelta(days=1)
    return when


def effective(resource: dict, *names: str) -> str | None:
    """The first of `names` that holds a date (a Period's start counts)."""
    for name in names:
        value = resource.get(name)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, dict):
            start, end = period(value)
            if start or end:
                return start or end
    return None


# --- quantities --------------------------------------------------------------------------------


def quantity_text(value: Any) -> str:
    value = as_dict(value)
    amount = number(value.get("value"))
    unit = as_text(value.get("unit")) or as_text(value.get("code"))
    comparator = as_text(value.get("comparator"))
    if amount is None:
        return unit if unit and not value.get("code") else ""
    return " ".join(p for p in (comparator + number_text(amount), unit_text(unit)) if p)


def unit_text(unit: str) -> str:
    """UCUM spellings a ward does not read: mm[Hg], [iU], Cel, {score}."""
    unit = {"Cel": "°C", "[degF]": "°F", "mm[Hg]": "mmHg", "/min": "/min", "{score}": ""}.get(unit, unit)
    return unit.replace("[iU]", "UI").replace("[IU]", "UI").replace("ug", "µg") \
        if unit not in ("ug/L",) else unit


def range_text(value: Any) -> str:
    """'3,5 – 5,1 mmol/L', '≤ 125 pg/mL', '≥ 60': a range as a ward reads it."""
    value = as_dict(value)
    low, high = as_dict(value.get("low")), as_dict(value.get("high"))
    low_text, high_text = quantity_text(low), quantity_text(high)
    if low_text and high_text:
        low_unit = as_text(low.get("unit")) or as_text(low.get("code"))
        high_unit = as_text(high.get("unit")) or as_text(high.get("code"))
        if low_unit == high_unit and number(low.get("value")) is not None:
            return f"{number_text(number(low.get('value')) or 0)} – {high_text}"
        return f"{low_text} – {high_text}"
    if high_text:
        return f"≤ {high_text}"
    return f"≥ {low_text}" if low_text else ""


# --- people ------------------------------------------------------------------------------------


def human_name(value: Any) -> tuple[str, str, str]:
    """(display, family, given) of a HumanName: "DUPONT Marie", family in capitals."""
    value = as_dict(value)
    family = value["family"].strip() if isinstance(value.get("family"), str) else ""
    given = " ".join(g.strip() for g in as_list(value.get("given")) if isinstance(g, str) and g.strip())
    if not family and not given:
        text = as_text(value.get("text"))
        return text, "", ""
    shown = " ".join(p for p in (family.upper(), given) if p)
    return shown, family, given


def pick_name(names: Any) -> dict:
    """The official name, else the usual one, else the first."""
    names = [n for n in as_list(names) if isinstance(n, dict)]
    for use in ("official", "usual"):
        for name in names:
            if name.get("use") == use:
                return name
    return names[0] if names else {}


def name_parts(resource: Any) -> tuple[str, str, str]:
    """(prefix, family, given) of a Patient's or Practitioner's chosen name; a name given
    only as text stands as the family name."""
    chosen = pick_name(as_dict(resource).get("name"))
    _, family, given = human_name(chosen)
    prefix = " ".join(p for p in as_list(chosen.get("prefix")) if isinstance(p, str))
    if not family and not given:
        return prefix, as_text(chosen.get("text")), ""
    return prefix, family, given


def phone_of(telecom: Any) -> list[str]:
    return [as_text(t.get("value")) for t in as_list(telecom)
            if isinstance(t, dict) and t.get("system") in ("phone", "sms", None)
            and as_text(t.get("value"))]


def resource_text(resource: dict) -> str:
    """The best human text of a resource of any type."""
    for name in ("code", "vaccineCode", "medicationCodeableConcept", "type", "category",
                 "serviceType"):
        text = concept_text(resource.get(name))
        if text:
            return text
    for name in ("title", "description", "name", "status"):
        value = resource.get(name)
        text = as_text(value) if not isinstance(value, list) else \
            ", ".join(human_name(v)[0] if isinstance(v, dict) else as_text(v) for v in value)
        if text:
            return text
    return ""
