"""Alerts (Flag), code status and diet: what the census shows at a glance and the
summary in full, read by the same rules.

- A Flag is active when its status is active (or missing) and its period has not ended.
- Its kind: fall risk, do-not-resuscitate (the code status the census shows) or
  isolation, from SNOMED CT codes first, then from the words of its text.
- A NutritionOrder is in force when active, on hold (shown as suspended) or without a
  status; a draft is a proposal nobody signed yet, and is not served.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from .values import (
    as_dict,
    as_list,
    as_text,
    codes,
    concept_text,
    concept_words,
    end_instant,
    period,
    resource_text,
)

FALL_CODES = {"129839007", "414188008"}  # SNOMED CT: at risk for falls; fall risk
DNR_CODES = {"304253006", "439569004"}  # SNOMED CT: not for resuscitation; DNR
ISOLATION_CODES = {"40174006", "183919006", "170497006"}  # SNOMED CT isolation procedures
FALL, DNR, ISOLATION, OTHER = "fall", "dnr", "isolation", "other"
# the words of a do-not-resuscitate order (never of resuscitation itself: a "réanimation :
# oui" or "full code" flag is not one); the short ones as whole words
DNR_WORDS = ("ne pas réanimer", "ne pas reanimer", "non-réanimation", "non réanimation",
             "pas de réanimation", "non réanimable", "do not resuscitate", "do-not-resuscitate",
             "not for resuscitation", "not to be resuscitated", "dnr", "dnar", "npr", "ntbr",
             "no cpr", "pas de rcp")
DIET_IN_FORCE = ("active", "on-hold", None)


def says(words: str, vocabulary: tuple[str, ...]) -> bool:
    """Whether `words` holds one of `vocabulary`: a word of four letters or less whole, a
    longer word or a phrase anywhere (case ignored)."""
    words = words.casefold()
    whole = set(re.findall(r"\w+", words))
    return any(w in whole if len(w) <= 4 else w in words for w in vocabulary)


def flag_active(resource: dict, now: dt.datetime, zone: ZoneInfo) -> bool:
    if resource.get("status") not in ("active", None):
        return False
    ended = end_instant(period(resource.get("period"))[1], zone)
    return ended is None or ended > now


KIND_TEXT = {FALL: "Risque de chute", DNR: "Ne pas réanimer", ISOLATION: "Isolement"}


def flag_text(resource: dict) -> str:
    """The flag in words: its own, else its kind's, else 'Alerte (code X)', never a bare code."""
    code = resource.get("code")
    words = concept_words(code)
    if words:
        return words
    kind = KIND_TEXT.get(flag_kind(resource))
    if kind:
        return kind
    bare = concept_text(code)
    return f"Alerte (code {bare})" if bare else "Alerte"


def flag_kind(resource: dict) -> str:
    """FALL, DNR, ISOLATION or OTHER."""
    code = resource.get("code")
    found = codes(code)
    words = concept_text(code).casefold()
    categories = concept_text(as_list(resource.get("category"))).casefold()
    if found & FALL_CODES or "chute" in words or "fall" in words:
        return FALL
    if found & DNR_CODES or says(words, DNR_WORDS):
        return DNR
    if found & ISOLATION_CODES or "isol" in words or "isol" in categories:
        return ISOLATION
    return OTHER


def diet_in_force(resource: dict) -> bool:
    return resource.get("status") in DIET_IN_FORCE


def diet_suspended(resource: dict) -> bool:
    return resource.get("status") == "on-hold"


def diet_labels(resource: dict) -> list[str]:
    """The diets ordered: the oral diet's types, the enteral formula."""
    oral = as_dict(resource.get("oralDiet"))
    labels = [concept_text(t) for t in as_list(oral.get("type"))]
    enteral = as_dict(resource.get("enteralFormula"))
    if enteral:
        labels.append(as_text(enteral.get("baseFormulaProductName"))
                      or concept_text(enteral.get("baseFormulaType")) or "Nutrition entérale")
    return [label for label in labels if label]


def diet_text(resource: dict) -> str:
    """'Régime hyposodé, Mixé': the diets, else the order's own text, else 'Régime'."""
    return ", ".join(diet_labels(resource)) or as_text(as_dict(resource.get("oralDiet")).get("instruction")) \
        or resource_text(resource) or "Régime"
