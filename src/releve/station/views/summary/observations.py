"""Vital signs, results and the blood group, each measured thing as a series with its
latest value first, its trend and its flag against the reference range."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from ....fhir.clinical import vitals
from ....fhir.clinical.values import (
    absent_text,
    as_dict,
    as_list,
    as_text,
    codes,
    concept_text,
    effective,
    first_code,
    given_number,
    number,
    period,
    quantity_text,
    range_text,
    unit_text,
)
from ....journal.kinds.observation import warnings_of
from ..collation import french_key
from .labels import RESULT_GROUP
from .model import BloodGroup, Series, Summary, Value
from .reader import Reader

SERIES_VALUES = 10  # values kept per result code (the latest and its trend)
SHOWN_VALUES = 6  # values a page shows of one measure: the latest and the five before it
MAX_SERIES = 80  # result codes shown (newest first)
BLOOD_GROUP = "882-1"
BLOOD_ABO = "883-9"
BLOOD_RH = "10331-7"
BLOOD_CODES = {BLOOD_GROUP, BLOOD_ABO, BLOOD_RH, "34530-6", "34474-7"}
BP_PANEL = {vitals.BP_PANEL, "55284-4", "35094-2"}
SYSTOLIC = vitals.SYSTOLIC
DIASTOLIC = vitals.DIASTOLIC
# LOINC code -> (key, French label, order on the page): the recorded measures, and two more
VITALS: dict[str, tuple[str, str, int]] = {
    **{code: (m.key, m.label, m.order) for code, m in vitals.BY_CODE.items()},
    "8302-2": ("height", "Taille", 9), "39156-5": ("bmi", "IMC", 10),
}
ABNORMAL = {"H": "↑", "HH": "↑↑", "HU": "↑↑", "L": "↓", "LL": "↓↓", "LU": "↓↓", "A": "!",
            "AA": "!!", ">": "↑", "<": "↓", "POS": "!", "DET": "!", "R": "!", "W": "!"}


def observations(reader: Reader, summary: Summary) -> None:
    series: dict[str, Series] = {}
    blood: list[tuple[float, BloodGroup]] = []

    def add(key: str, label: str, group: str, value: Value, order: int = 99) -> None:
        found = series.get(key)
        if found is None:
            found = series[key] = Series(key, label, group, [], order)
        found.values.append(value)

    def read(resource: dict) -> bool:
        if resource.get("status") in ("cancelled", "entered-in-error"):
            return True
        code = resource.get("code")
        found = codes(code)
        when_text = effective(resource, "effectiveDateTime", "effectivePeriod", "effectiveInstant",
                              "issued")
        when = reader.when(when_text)
        if found & BLOOD_CODES:
            text = blood_text(resource)
            if text:
                blood.append((when.timestamp() if when else float("-inf"), BloodGroup(text, when_text)))
            return True
        categories = set().union(*(codes(c) for c in as_list(resource.get("category")))) \
            if resource.get("category") else set()
        label = concept_text(code) or "Résultat"
        add_vital = marked(resource, add)
        if found & BP_PANEL or (found & {SYSTOLIC, DIASTOLIC} and resource.get("component")):
            blood_pressure(resource, when_text, when, add_vital)
            return True
        vital = next((VITALS[c] for c in sorted(found) if c in VITALS), None)
        if vital is None and "vital-signs" in categories:
            vital = ("code:" + (first_code(code) or label), label, 50)
        if vital is not None:
            value = read_value(resource, when_text, when)
            if value is not None:
                add_vital(vital[0], vital[1], "vital", value, vital[2])
            return True
        components = [as_dict(c) for c in as_list(resource.get("component"))]
        value = read_value(resource, when_text, when)
        group = next((RESULT_GROUP[c] for c in ("laboratory", "imaging", "exam", "procedure", "survey",
                                                "social-history", "therapy", "activity")
                      if c in categories), RESULT_GROUP[""])
        key = "code:" + (first_code(code) or label)
        if value is not None:
            add(key, label, group, value)
        for component in components:
            part = read_value(component, when_text, when)
            if part is None:
                continue
            name = concept_text(component.get("code")) or "Composant"
            add(f"{key}/{first_code(component.get('code')) or name}", f"{label} : {name}",
                group, part)
        if value is None and not components:
            note = as_text(resource.get("valueString")) or (absent_text(resource["dataAbsentReason"])
                                                             if "dataAbsentReason" in resource else "")
            add(key, label, group, Value(when_text, when, note or "—", None, "", ""))
        return True

    local: dict[int, dict] = {}  # id() of a value recorded on a station: its Observation

    def marked(resource: dict, add: Callable[..., None]) -> Callable[..., None]:
        """`add` for a vital sign recorded on a station: its value carries the entry's
        mark (who, where); its warning is worked out once the trend is cut (below)."""
        mark = reader.recorded(resource)
        if mark is None:
            return add

        def add_marked(key: str, label: str, group: str, value: Value, order: int = 99) -> None:
            value.mark = mark
            local[id(value)] = resource
            add(key, label, group, value, order)

        return add_marked

    reader.each("Observation", read)
    if blood:
        summary.blood_group = max(blood, key=lambda pair: pair[0])[1]
    for item in series.values():
        item.values.sort(key=lambda v: v.instant.timestamp() if v.instant else float("-inf"),
                         reverse=True)
        del item.values[SERIES_VALUES:]
        for value in item.values:
            if id(value) in local:  # an implausible value recorded here: the warning it had
                value.warning = " ".join(w.message() for w in warnings_of(local[id(value)]))
                value.flag = value.flag or ("!" if value.warning else "")
    vitals = [s for s in series.values() if s.group == "vital"]
    vitals.sort(key=lambda s: s.order)
    results = [s for s in series.values() if s.group != "vital"]
    results.sort(key=lambda s: (s.group != "Biologie", -(s.latest.instant.timestamp()
                                                          if s.latest.instant else float("-inf")),
                                french_key(s.label)))
    summary.vitals = vitals
    summary.results = results[:MAX_SERIES]


def blood_pressure(resource: dict, when_text: str | None, when: dt.datetime | None,
                   add: Callable[..., None]) -> None:
    systolic = diastolic = None
    for component in as_list(resource.get("component")):
        component = as_dict(component)
        found = codes(component.get("code"))
        if SYSTOLIC in found:
            systolic = read_value(component, when_text, when)
        elif DIASTOLIC in found:
            diastolic = read_value(component, when_text, when)
    if systolic is None and diastolic is None:
        value = read_value(resource, when_text, when)
        if value is not None:
            add("bp", "Pression artérielle", "vital", value, 3)
        return
    text = f"{systolic.text if systolic else '?'}/{diastolic.text if diastolic else '?'}"
    flag = (systolic.flag if systolic else "") or (diastolic.flag if diastolic else "")
    add("bp", "Pression artérielle", "vital",
        Value(when_text, when, text, systolic.number if systolic else None, "mmHg", flag), 3)


def read_value(holder: dict, when_text: str | None, when: dt.datetime | None) -> Value | None:
    """The value of an Observation or of a component, with its flag and range."""
    amount: float | None = None
    unit = ""
    if "valueQuantity" in holder:
        quantity = as_dict(holder["valueQuantity"])
        amount = number(quantity.get("value"))
        unit = unit_text(as_text(quantity.get("unit")) or as_text(quantity.get("code")))
        text = (as_text(quantity.get("comparator")) + given_number(quantity.get("value"))) \
            if amount is not None else ""
    elif "valueCodeableConcept" in holder:
        text = concept_text(holder["valueCodeableConcept"])
    elif "valueString" in holder:
        text = as_text(holder["valueString"])
    elif "valueBoolean" in holder:
        text = "Oui" if holder["valueBoolean"] is True else "Non"
    elif "valueInteger" in holder:
        amount = number(holder["valueInteger"])
        text = given_number(holder["valueInteger"])
    elif "valueRange" in holder:
        text = range_text(holder["valueRange"])
    elif "valueRatio" in holder:
        ratio = as_dict(holder["valueRatio"])
        text = f"{quantity_text(ratio.get('numerator'))}/{quantity_text(ratio.get('denominator'))}"
    elif "valueDateTime" in holder or "valuePeriod" in holder or "valueTime" in holder:
        text = as_text(holder.get("valueDateTime") or holder.get("valueTime")) or \
            " – ".join(p for p in period(holder.get("valuePeriod")) if p)
    elif "valueSampledData" in holder:
        text = "Données échantillonnées"
    elif "dataAbsentReason" in holder:
        text = absent_text(holder["dataAbsentReason"])
    else:
        return None
    ranges = [as_dict(r) for r in as_list(holder.get("referenceRange"))]
    flag = ""
    for interpretation in as_list(holder.get("interpretation")):
        for code in codes(interpretation):
            flag = flag or ABNORMAL.get(code, "")
    if not flag and amount is not None and ranges:
        low = number(as_dict(ranges[0].get("low")).get("value"))
        high = number(as_dict(ranges[0].get("high")).get("value"))
        flag = "↑" if high is not None and amount > high else "↓" if low is not None and amount < low else ""
    return Value(when_text, when, text or "—", amount, unit, flag, ranges[0] if ranges else {})


def blood_text(resource: dict) -> str:
    """ABO and RhD of a blood-group Observation: its value, or its two components."""
    value = concept_text(resource.get("valueCodeableConcept")) or as_text(resource.get("valueString"))
    if value:
        return value
    parts = [concept_text(as_dict(c).get("valueCodeableConcept")) or as_text(as_dict(c).get("valueString"))
             for c in as_list(resource.get("component"))]
    return " ".join(p for p in parts if p)

