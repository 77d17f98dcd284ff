"""Reading FHIR values from any server without trusting them.

A station meets resources from any HIS: French or US codes, missing members, members of
the wrong JSON type, a bare Coding where a CodeableConcept belongs, partial dates
("1970", "1970-05"). Every getter here accepts anything and answers an empty value
rather than raising, so that one odd resource never costs a nurse a page.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any
from zoneinfo import ZoneInfo

import orjson

_PARTIAL = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
# a JSON number whose trailing zero a float drops (7.10, 1.0); the same text inside a
# string is followed by a quote, and a time's fraction by Z or an offset
_TRAILING_ZERO = re.compile(rb"\.[0-9]*0(?=[\s,}\]])")


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


class Written(float):
    """A FHIR decimal that remembers how it was written: 7.10 is not 7.1 to a lab."""

    text: str

    def __new__(cls, text: str) -> Written:
        made = super().__new__(cls, text)
        made.text = text
        return made


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
    """2,5 - 4000 - 0,25 - 7,10: a decimal as the HIS wrote it (`Written`), else without
    trailing zeros, French decimal comma by default; never rounded to fewer digits than
    a float holds."""
    if isinstance(value, bool):
        return ""
    written = getattr(value, "text", None)
    if isinstance(written, str) and "e" not in written.lower():
        return written.lstrip("+").replace(".", decimal)
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    shown = f"{value:.15g}"
    if "e" in shown:
        shown = f"{value:.15f}".rstrip("0")
    return shown.replace(".", decimal)


def given_number(value: Any) -> str:
    """A number member as sent (a JSON number, or the text of one some servers send),
    written the French way; "" if it is not a number."""
    if number(value) is None:
        return ""
    return value.strip().replace(".", ",") if isinstance(value, str) else number_text(value)


def load(raw: bytes | str) -> dict | None:
    """One stored resource as a dict; None if it is not a JSON object."""
    try:
        value = orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError):
        return None
    return value if isinstance(value, dict) else None


def load_written(raw: bytes | str) -> dict | None:
    """Like `load`, decimals kept as written (`Written`) when a float would alter one: the
    slower parser runs only on the resources that need it."""
    data = raw.encode() if isinstance(raw, str) else raw
    if not isinstance(data, bytes) or not _TRAILING_ZERO.search(data):
        return load(raw)
    try:
        value = json.loads(data, parse_float=Written)
    except (ValueError, RecursionError):
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
    return _concept(concept, True)


def concept_words(concept: Any) -> str:
    """A CodeableConcept's words (its text, else a display), never a bare code: for what
    a nurse must read as words or not at all."""
    return _concept(concept, False)


def _concept(concept: Any, or_code: bool) -> str:
    if isinstance(concept, str):
        return concept.strip() if or_code else ""
    if isinstance(concept, list):
        return ", ".join(t for t in (_concept(c, or_code) for c in concept) if t)
    concept = as_dict(concept)
    text = as_text(concept.get("text"))
    if text:
        return text
    found = codings(concept)
    for coding in found:
        if as_text(coding.get("display")):
            return as_text(coding["display"])
    if or_code:
        for coding in found:
            if as_text(coding.get("code")):
                return as_text(coding["code"])
    return as_text(concept.get("display"))


# http://terminology.hl7.org/CodeSystem/data-absent-reason, in French words
ABSENT = {
    "unknown": "inconnu", "asked-unknown": "inconnu (demandé)",
    "temp-unknown": "inconnu pour l'instant", "not-asked": "non demandé",
    "asked-declined": "refusé par le patient", "masked": "masqué",
    "not-applicable": "sans objet", "unsupported": "non pris en charge",
    "as-text": "voir le texte", "error": "erreur", "not-a-number": "pas un nombre",
    "negative-infinity": "−∞", "positive-infinity": "+∞", "not-performed": "non mesuré",
    "not-permitted": "non autorisé",
}


def absent_text(reason: Any) -> str:
    """Why a value is missing (dataAbsentReason), in words: 'non mesuré', 'masqué'..."""
    for code in (first_code(reason), *sorted(codes(reason))):
        if code in ABSENT:
            return ABSENT[code]
    return concept_words(reason) or "non renseigné"


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
    amount = given_number(value.get("value"))
    unit = as_text(value.get("unit")) or as_text(value.get("code"))
    comparator = as_text(value.get("comparator"))
    if not amount:
        return unit_text(unit) if unit and not value.get("code") else ""
    return " ".join(p for p in (comparator + amount, unit_text(unit)) if p)


# UCUM codes (and the ASCII spellings HIS copy from them) as a ward writes them: the one
# table every page and printout shows units through.
UNITS = {
    "Cel": "°C", "[degF]": "°F", "[degC]": "°C", "mm[Hg]": "mmHg", "cm[H2O]": "cmH₂O",
    "[pH]": "", "1": "", "{ratio}": "", "{score}": "", "{#}": "", "/min": "/min", "d": "j",
    "wk": "sem.", "mo": "mois", "a": "ans", "[in_i]": "pouces", "[lb_av]": "livres",
    "meq/L": "mEq/L", "mosm/kg": "mOsm/kg", "mcg": "µg", "[drp]": "gouttes", "{tbl}": "cp",
    "[ppb]": "ppb", "[ppm]": "ppm", "/[HPF]": "/champ", "/[LPF]": "/champ",
}
_EGFR = re.compile(r"/\{?1[.,]73[ _]?m2\}?$")
_POWER = re.compile(r"10\s*(?:\*|\^)\s*(-?\d+)")
_MICRO = re.compile(r"(?<![A-Za-z])u(?=(?:mol|g|L|l|kat|U|m|s|Eq|eq|\[iU\]|\[IU\]|IU)(?![a-z]))")
_AREA = re.compile(r"(?<![A-Za-z])([cdmµ]?m)([23])(?![0-9])")
_ANNOTATION = re.compile(r"\{[^{}]*\}")
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def unit_text(unit: str) -> str:
    """10*3/uL -> 10³/µL, umol/L -> µmol/L, mL/min/{1.73_m2} -> mL/min/1,73 m², Cel -> °C,
    mm[Hg] -> mmHg, [iU]/L -> UI/L; a unit already written for people is left as it is."""
    unit = unit.strip() if isinstance(unit, str) else ""
    if unit in UNITS:
        return UNITS[unit]
    egfr = _EGFR.search(unit)
    if egfr:
        unit = unit[:egfr.start()] + "/1,73 m²"
    unit = _POWER.sub(lambda m: "10" + m[1].translate(_SUPERSCRIPT), unit)
    unit = _MICRO.sub("µ", unit)
    unit = unit.replace("[iU]", "UI").replace("[IU]", "UI").replace("mm[Hg]", "mmHg")
    unit = _AREA.sub(lambda m: m[1] + ("²" if m[2] == "2" else "³"), unit)
    unit = _ANNOTATION.sub("", unit).replace("//", "/").replace("(24.h)", "24 h").strip()
    return "" if unit in ("/", ".") else unit


def range_text(value: Any) -> str:
    """'3,5 – 5,1 mmol/L', '≤ 125 pg/mL', '≥ 60': a range as a ward reads it."""
    value = as_dict(value)
    low, high = as_dict(value.get("low")), as_dict(value.get("high"))
    low_text, high_text = quantity_text(low), quantity_text(high)
    if low_text and high_text:
        low_unit = as_text(low.get("unit")) or as_text(low.get("code"))
        high_unit = as_text(high.get("unit")) or as_text(high.get("code"))
        if low_unit == high_unit and number(low.get("value")) is not None:
            return f"{given_number(low.get('value'))} – {high_text}"
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


def resource_text(resource: dict, codes_too: bool = True) -> str:
    """The best human text of a resource of any type; with `codes_too` False, words only
    (no bare code, no status code) or ""."""
    device = next((as_text(as_dict(n).get("name")) for n in as_list(resource.get("deviceName"))
                   if as_text(as_dict(n).get("name"))), "")
    if device:
        return device
    for name in ("code", "vaccineCode", "medicationCodeableConcept", "type", "category",
                 "serviceType"):
        text = _concept(resource.get(name), codes_too)
        if text:
            return text
    for name in ("title", "description", "name", "status") if codes_too else ("title", "description", "name"):
        value = resource.get(name)
        text = as_text(value) if not isinstance(value, list) else \
            ", ".join(human_name(v)[0] if isinstance(v, dict) else as_text(v) for v in value)
        if text:
            return text
    return ""
