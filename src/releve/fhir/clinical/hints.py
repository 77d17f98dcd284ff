"""Safety hints on the current orders: what a pharmacist would ask about, never a block.

- DUPLICATE: the same drug ordered twice, by a shared code (any system) or the same name
  once accents, case and spacing are set aside.
- ANTICOAGULANTS: two anticoagulant orders at once. A coded order is one when an ATC
  code starts with B01A, except B01AC (platelet aggregation inhibitors: aspirin and
  clopidogrel together are an intended, common pairing, not two anticoagulants); an
  order without an ATC code is one when its name holds an anticoagulant's French or
  international name, or a French brand (ANTICOAGULANT_NAMES).
- PARACETAMOL: more than PARACETAMOL_MAX_MG in 24 h over every active order of
  paracetamol (ATC N02BE01/51/71 or the name). Each order counts its dose in mg
  (the high end of a range) times its doses per 24 h from the timing (set times per day,
  else frequency, or frequencyMax when given, per period). An as-needed order counts at
  its maxDosePerPeriod when the prescriber wrote one, else at dose × frequency as if
  every allowed dose were given: the most it allows. A dose not in mass units (tablets)
  or a timing without a rhythm cannot be counted and adds nothing.

Orders on hold count for the first two (they may resume), not for the 24-h total.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from .values import as_dict, as_list, as_text, codings, many, number, number_text

DUPLICATE, ANTICOAGULANTS, PARACETAMOL = "duplicate", "anticoagulants", "paracetamol"
ANTICOAGULANT_ATC = "B01A"
NOT_ANTICOAGULANT_ATC = "B01AC"  # platelet aggregation inhibitors
ANTICOAGULANT_NAMES = (  # accents removed; a name holding one of these is an anticoagulant
    "heparin", "calciparin", "enoxaparin", "lovenox", "tinzaparin", "innohep", "dalteparin",
    "fragmin", "nadroparin", "fraxiparin", "fraxodi", "fondaparinux", "arixtra", "danaparo",
    "orgaran", "argatroban", "bivalirudin", "apixaban", "eliquis", "rivaroxaban", "xarelto",
    "dabigatran", "pradaxa", "edoxaban", "lixiana", "warfarin", "coumadin", "fluindion",
    "previscan", "acenocoumarol", "sintrom",
)
PARACETAMOL_ATC = ("N02BE01", "N02BE51", "N02BE71")
PARACETAMOL_NAMES = ("paracetamol", "acetaminophen", "doliprane", "dafalgan", "efferalgan",
                     "perfalgan")
PARACETAMOL_MAX_MG = 4000.0  # per 24 h, the usual adult maximum
MASS_MG = {"mg": 1.0, "g": 1000.0, "ug": 0.001, "µg": 0.001, "mcg": 0.001}
SECONDS = {"s": 1, "min": 60, "h": 3600, "d": 86400, "wk": 7 * 86400, "mo": 30 * 86400}
MEALS = ("C", "AC", "PC")  # Timing.when codes that mean the three meals
DAY = 86400.0


@dataclass(frozen=True)
class Prescribed:
    """One current order as the hints read it."""

    name: str
    concept: Any  # the drug's CodeableConcept: the order's, or its Medication's code
    dosages: list[dict]
    active: bool = True  # False on hold


@dataclass(frozen=True)
class Hint:
    kind: str  # DUPLICATE, ANTICOAGULANTS or PARACETAMOL
    drugs: tuple[str, ...]
    total_mg: float = 0.0  # PARACETAMOL: the 24-h total counted

    @property
    def total_text(self) -> str:
        """The total in grams, French decimals: "5", "4,5"."""
        return number_text(round(self.total_mg / 1000, 2))


def folded(name: str) -> str:
    """A name without accents, case or extra spaces: what two spellings share."""
    plain = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return " ".join(plain.casefold().split())


def _codes(concept: Any) -> set[tuple[str, str]]:
    return {(as_text(c.get("system")), c["code"]) for c in codings(concept)
            if isinstance(c.get("code"), str) and c["code"]}


@dataclass(frozen=True)
class _Read:
    """What the rules compare of an order, worked out once."""

    order: Prescribed
    codes: set[tuple[str, str]]
    atc: list[str]
    name: str  # folded


def _read(order: Prescribed) -> _Read:
    found = _codes(order.concept)
    return _Read(order, found, [code.upper() for system, code in found if "atc" in system.casefold()],
                 folded(order.name))


def _is_anticoagulant(read: _Read) -> bool:
    if read.atc:
        return any(c.startswith(ANTICOAGULANT_ATC) and not c.startswith(NOT_ANTICOAGULANT_ATC)
                   for c in read.atc)
    return any(word in read.name for word in ANTICOAGULANT_NAMES)


def _is_paracetamol(read: _Read) -> bool:
    if read.atc:
        return any(c.startswith(PARACETAMOL_ATC) for c in read.atc)
    return any(word in read.name for word in PARACETAMOL_NAMES)


def hints(orders: list[Prescribed]) -> list[Hint]:
    """Every hint the current orders raise, duplicates first."""
    reads = [_read(o) for o in orders]
    found = _duplicates(reads)
    anticoagulants = [r.order.name for r in reads if _is_anticoagulant(r)]
    if len(anticoagulants) >= 2:
        found.append(Hint(ANTICOAGULANTS, tuple(anticoagulants)))
    paracetamol = [(r.order, daily_mg(r.order.dosages)) for r in reads if r.order.active and _is_paracetamol(r)]
    total = sum(mg for _, mg in paracetamol)
    if total > PARACETAMOL_MAX_MG:
        found.append(Hint(PARACETAMOL, tuple(o.name for o, mg in paracetamol if mg), total))
    return found


def _duplicates(reads: list[_Read]) -> list[Hint]:
    groups: list[list[_Read]] = []
    for read in reads:
        for group in groups:
            if read.codes & group[0].codes or read.name == group[0].name:
                group.append(read)
                break
        else:
            groups.append([read])
    return [Hint(DUPLICATE, tuple(r.order.name for r in group)) for group in groups if len(group) > 1]


# --- the 24-h amount -------------------------------------------------------------------------


def mass_mg(quantity: Any) -> float | None:
    quantity = as_dict(quantity)
    amount = number(quantity.get("value"))
    unit = as_text(quantity.get("code")) or as_text(quantity.get("unit"))
    factor = MASS_MG.get(unit) or MASS_MG.get(unit.casefold())
    return amount * factor if amount is not None and factor else None


def dose_mg(dosage: dict) -> float | None:
    """One dose in mg: the dose quantity, or the high end of a dose range."""
    for entry in [as_dict(e) for e in as_list(dosage.get("doseAndRate"))] + [dosage]:
        if "doseQuantity" in entry:
            return mass_mg(entry["doseQuantity"])
        if "doseRange" in entry:
            return mass_mg(as_dict(entry["doseRange"]).get("high"))
    return None


def doses_per_day(timing: Any) -> float:
    """How many doses a timing gives in 24 h (0 when it gives no rhythm)."""
    repeat = as_dict(as_dict(timing).get("repeat"))
    times = len({t for t in many(repeat.get("timeOfDay")) if isinstance(t, str)})
    whens = [w for w in many(repeat.get("when")) if isinstance(w, str)]
    times = times or sum(3 if w in MEALS else 1 for w in whens)
    period_value = number(repeat.get("period"))
    unit = SECONDS.get(as_text(repeat.get("periodUnit")))
    cycle = period_value * unit if period_value and unit else None
    if times:
        return times * DAY / (cycle if cycle and cycle >= DAY else DAY)
    frequency = number(repeat.get("frequencyMax")) or number(repeat.get("frequency")) or 1.0
    return frequency * DAY / cycle if cycle else 0.0


def max_per_day_mg(dosage: dict) -> float | None:
    """maxDosePerPeriod as mg per 24 h (a Ratio: R4 sends one, R5 a list)."""
    for ratio in [as_dict(r) for r in (dosage.get("maxDosePerPeriod"), *as_list(dosage.get("maxDosePerPeriod")))]:
        amount = mass_mg(ratio.get("numerator"))
        denominator = as_dict(ratio.get("denominator"))
        span = (number(denominator.get("value")) or 1.0) * SECONDS.get(
            as_text(denominator.get("code")) or as_text(denominator.get("unit")), 0)
        if amount is not None and span:
            return amount * DAY / span
    return None


def daily_mg(dosages: list[dict]) -> float:
    """The most an order allows in 24 h, in mg (see the module's note)."""
    total = 0.0
    for dosage in dosages:
        as_needed = dosage.get("asNeededBoolean") is True or "asNeededCodeableConcept" in dosage
        ceiling = max_per_day_mg(dosage) if as_needed else None
        if ceiling is not None:
            total += ceiling
            continue
        dose = dose_mg(dosage)
        if dose is not None:
            total += dose * doses_per_day(dosage.get("timing"))
    return total
