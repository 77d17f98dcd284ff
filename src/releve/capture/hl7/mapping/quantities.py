"""Numbers, units and reference ranges of HL7 v2 results and orders, as FHIR Quantities.

Laboratories write numbers and units their own way: "5,2" with a French comma, "G/L"
for 10⁹/L in haematology (never grams), "µmol/l", "UI/L". A Quantity keeps the unit as
the laboratory wrote it (`unit`, what a nurse reads) and adds its UCUM code (`system`,
`code`) only when the sender said the unit is UCUM or the spelling is one Relève knows
for sure: a unit it cannot vouch for stays text, never a guessed code.
"""

from __future__ import annotations

import re

from .. import datatypes
from ..message import Message

UCUM = "http://unitsofmeasure.org"
UCUM_SYSTEMS = frozenset({"UCUM", "ISO+UCUM"})  # coding systems (CE-3) that name UCUM
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)$")
_BOUND = r"([+-]?\d+(?:[.,]\d+)?)"
_RANGE = re.compile(rf"^{_BOUND}\s*(?:-|–|à|to)\s*{_BOUND}$")
_LIMIT = re.compile(rf"^(<=|>=|<|>|≤|≥)\s*{_BOUND}$")
# UCUM codes common in laboratories and on orders, written as UCUM writes them
_CODES = frozenset({
    "%", "g/L", "g/dL", "mg/L", "mg/dL", "ug/L", "ug/mL", "ng/L", "ng/mL", "pg/mL", "mol/L",
    "mmol/L", "umol/L", "nmol/L", "pmol/L", "meq/L", "mosm/kg", "U/L", "U/mL", "[IU]/L",
    "m[IU]/L", "m[IU]/mL", "[iU]/L", "[iU]/mL", "m[iU]/L", "kU/L", "mU/L", "10*3/uL",
    "10*6/uL", "10*9/L", "10*12/L", "/uL", "fL", "pg", "s", "min", "h", "d", "mm/h", "mL/min",
    "mL/min/{1.73_m2}", "mm[Hg]", "kPa", "Cel", "/min", "kg", "g", "mg", "ug", "ng", "L", "dL",
    "mL", "uL", "cm", "m", "mmol", "umol", "[iU]", "[IU]", "U", "{ratio}", "{score}", "1",
    "mL/h", "mg/h", "ug/h", "[iU]/h", "ug/kg/min", "mg/kg", "mg/(24.h)", "mmol/(24.h)",
    "g/(24.h)", "mL/(24.h)", "[pH]", "mg/g", "mg/mmol",
})
# other spellings met in French and US messages -> UCUM; case matters first ("G/L" is
# giga per litre in French haematology, "g/L" grams per litre), then lower case
_EXACT = {"G/L": "10*9/L", "T/L": "10*12/L", "M/L": "10*6/L", "µmol/L": "umol/L",
          "µg/L": "ug/L", "µg": "ug", "µL": "uL", "°C": "Cel", "mmHg": "mm[Hg]"}
_LOWER = {"g/l": "g/L", "mg/l": "mg/L", "mmol/l": "mmol/L", "µmol/l": "umol/L",
          "umol/l": "umol/L", "nmol/l": "nmol/L", "pmol/l": "pmol/L", "µg/l": "ug/L",
          "ng/l": "ng/L", "ng/ml": "ng/mL", "pg/ml": "pg/mL", "mg/dl": "mg/dL", "g/dl": "g/dL",
          "ui/l": "[IU]/L", "iu/l": "[IU]/L", "mui/l": "m[IU]/L", "miu/l": "m[IU]/L",
          "mui/ml": "m[IU]/mL", "u/l": "U/L", "fl": "fL", "µ3": "fL", "sec": "s", "mn": "min",
          "ml": "mL", "l": "L", "dl": "dL", "µl": "uL", "mcg": "ug", "µg": "ug", "ui": "[iU]",
          "iu": "[iU]", "mmhg": "mm[Hg]", "°c": "Cel", "bpm": "/min", "/mn": "/min",
          "ml/h": "mL/h", "ml/min": "mL/min", "mm/h": "mm/h", "meq/l": "meq/L",
          "mosm/kg": "mosm/kg", "ml/min/1,73m²": "mL/min/{1.73_m2}",
          "ml/min/1.73m2": "mL/min/{1.73_m2}", "ml/min/1,73m2": "mL/min/{1.73_m2}",
          "ml/min/1.73m²": "mL/min/{1.73_m2}", "mg/24h": "mg/(24.h)",
          "mmol/24h": "mmol/(24.h)", "g/24h": "g/(24.h)", "ml/24h": "mL/(24.h)"}
COMPARATORS = {"<": "<", ">": ">", "<=": "<=", ">=": ">=", "≤": "<=", "≥": ">="}


def decimal(text: str | None) -> int | float | None:
    """A number as a JSON number: whole when written whole ("140" -> 140), a French
    comma read as a point; None when the text is not a plain number."""
    if text is None:
        return None
    text = text.strip().replace(" ", "")
    if not _NUMBER.match(text):
        return None
    text = text.replace(",", ".")
    if "." not in text:
        return int(text)
    return float(text)


def ucum_code(unit: str | None, system: str | None = None) -> str | None:
    """The UCUM code of a unit: the unit itself when the sender names UCUM as its coding
    system, else the code of a spelling Relève knows; None when unsure."""
    if not unit:
        return None
    unit = unit.strip()
    if system and system.strip().upper() in UCUM_SYSTEMS:
        return unit
    if unit in _CODES:
        return unit
    return _EXACT.get(unit) or _LOWER.get(unit.lower())


def quantity(value: int | float, unit: str | None, code: str | None,
             comparator: str | None = None) -> dict:
    """A Quantity as the demo hospital writes it: value, unit as written, UCUM code."""
    made: dict = {"value": value}
    if comparator:
        made["comparator"] = comparator
    if unit:
        made["unit"] = unit
    if code:
        made.update(system=UCUM, code=code)
    return made


def reference_range(text: str | None, unit: str | None, code: str | None) -> dict | None:
    """OBX-7 as a referenceRange: "3.5-5.1" (low and high), "<5" (high), ">10" (low);
    anything else ("négatif", "voir commentaire") is kept as the range's text."""
    if not text or not text.strip():
        return None
    text = " ".join(text.split())
    found = _RANGE.match(text)
    if found:
        low, high = decimal(found[1]), decimal(found[2])
        if low is not None and high is not None:
            return {"low": quantity(low, unit, code), "high": quantity(high, unit, code)}
    found = _LIMIT.match(text)
    if found:
        bound = decimal(found[2])
        if bound is not None:
            side = "high" if found[1] in ("<", "<=", "≤") else "low"
            return {side: quantity(bound, unit, code)}
    return {"text": text}


def unit_of(m: Message, seg: object, field: int) -> tuple[str | None, str | None]:
    """A CE unit field as (unit shown, UCUM code): the identifier ("mmol/L", "G/L", "mg";
    CE-2 is often UCUM's long name, "millimole per liter"), else the text; the code
    when the coding system says UCUM or the spelling is known."""
    identifier = datatypes.value(m, seg, field, 1)
    words = datatypes.value(m, seg, field, 2)
    code = ucum_code(identifier, datatypes.value(m, seg, field, 3)) or ucum_code(words)
    return identifier or words, code
