"""Which AllergyIntolerance records a nurse must see, and which are dangerous.

Every page and printout (summary, census, MAR, forms) classifies allergies here, so that
no two of them can disagree on a patient's allergies.

- Shown: every record not set aside. A record is set aside when its clinical status says
  it is over (inactive, resolved) or its verification says it is not true (refuted,
  entered-in-error). A record with no status is shown: an allergy nobody resolved is
  still an allergy.
- "No known allergy": a record coded with one of the SNOMED CT situations of NO_ALLERGY
  is a statement, never an allergy. It is what tells "asked, none" from "never asked".
- High risk (printed as severe, red on the census): criticality high, OR a reaction
  recorded as severe, OR a reaction manifesting as anaphylaxis (SNOMED CT 39579001 or the
  word in French or English). Criticality is the prescriber's estimate of future harm and
  is often left empty; a severe or anaphylactic past reaction is a fact, and on a day
  without the HIS a false alarm costs a phone call where a missed one can cost a life.
  So the fact wins even over a criticality recorded as low.
"""

from __future__ import annotations

from typing import Any

from .values import as_dict, as_list, as_text, codes, concept_text

NO_ALLERGY = {"716186003": "Aucune allergie connue",
              "409137002": "Aucune allergie médicamenteuse connue",
              "429625007": "Aucune allergie alimentaire connue",
              "428607008": "Aucune allergie environnementale connue",
              "428197003": "Aucune allergie connue au latex"}
OVER = {"inactive", "resolved"}  # clinicalStatus
UNTRUE = {"refuted", "entered-in-error"}  # verificationStatus
ANAPHYLAXIS_CODES = {"39579001"}  # SNOMED CT: anaphylaxis (disorder)
ANAPHYLAXIS_WORD = "anaphyla"  # anaphylaxie, anaphylactique, anaphylaxis, anaphylactic
SEVERITY_RANK = {"mild": 1, "moderate": 2, "severe": 3}
UNNAMED = "Substance non précisée"
ALLERGY, STATEMENT = "allergy", "no-allergy"


def set_aside(resource: dict) -> bool:
    """Over (inactive, resolved) or not true (refuted, entered in error)."""
    return bool(codes(resource.get("clinicalStatus")) & OVER
                or codes(resource.get("verificationStatus")) & UNTRUE)


def no_allergy_text(resource: dict) -> str | None:
    """The text of a "no known allergy" statement, None if the record names an allergy."""
    code = resource.get("code")
    found = codes(code) & NO_ALLERGY.keys()
    if not found:
        return None
    return concept_text(code) or NO_ALLERGY[min(found)]


def kind(resource: dict) -> str | None:
    """ALLERGY, STATEMENT ("no known allergy"), or None for a record set aside."""
    if set_aside(resource):
        return None
    return STATEMENT if no_allergy_text(resource) is not None else ALLERGY


def state(allergies: int, statements: int) -> str:
    """'known' (some allergy), 'none' (recorded as none), else 'unknown' (never asked)."""
    return "known" if allergies else "none" if statements else "unknown"


def reactions(resource: dict) -> list[dict]:
    return [as_dict(r) for r in as_list(resource.get("reaction"))]


def substance(resource: dict) -> str:
    """The allergen: the record's code, else a reaction's substance."""
    named = concept_text(resource.get("code")) or next(
        (t for t in (concept_text(r.get("substance")) for r in reactions(resource)) if t), "")
    return named or UNNAMED


def manifestations(resource: dict) -> list[str]:
    """What the reactions looked like, each once (a reaction's description if uncoded)."""
    found: list[str] = []
    for reaction in reactions(resource):
        items = as_list(reaction.get("manifestation"))
        texts = [concept_text(i) for i in items] if items else [as_text(reaction.get("description"))]
        found.extend(t for t in texts if t)
    return list(dict.fromkeys(found))


def worst_severity(resource: dict) -> str:
    """'severe', 'moderate', 'mild' or '': the worst reaction recorded."""
    levels = [r.get("severity") for r in reactions(resource)]
    known = [level for level in levels if isinstance(level, str) and level in SEVERITY_RANK]
    return max(known, key=SEVERITY_RANK.__getitem__, default="")


def anaphylaxis(resource: dict) -> bool:
    for reaction in reactions(resource):
        for item in as_list(reaction.get("manifestation")):
            if codes(item) & ANAPHYLAXIS_CODES or ANAPHYLAXIS_WORD in concept_text(item).casefold():
                return True
        if ANAPHYLAXIS_WORD in as_text(reaction.get("description")).casefold():
            return True
    return False


def criticality(resource: dict) -> str:
    value: Any = resource.get("criticality")
    return value if isinstance(value, str) else ""


def high_risk(resource: dict) -> bool:
    """Criticality high, a severe reaction, or anaphylaxis: see the module's docstring."""
    return criticality(resource) == "high" or worst_severity(resource) == "severe" \
        or anaphylaxis(resource)
