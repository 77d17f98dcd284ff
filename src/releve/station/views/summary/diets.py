"""Diets in force (NutritionOrder), by fhir.clinical.alerts, with what the kitchen and the
nurse must know of each: texture, thickened fluids, exclusions, supplements."""

from __future__ import annotations

from ....fhir.clinical import alerts
from ....fhir.clinical.values import as_dict, as_list, as_text, concept_text, effective
from .model import Diet, Summary
from .reader import Reader


def details(resource: dict) -> list[str]:
    oral = as_dict(resource.get("oralDiet"))
    found = [concept_text(as_dict(t).get("modifier")) for t in as_list(oral.get("texture"))]
    found += [concept_text(as_dict(f).get("type")) for f in as_list(oral.get("fluidConsistencyType"))]
    found.append(as_text(oral.get("instruction")))
    excluded = [concept_text(x) for x in as_list(resource.get("excludeFoodModifier"))]
    if any(excluded):
        found.append("Exclure : " + ", ".join(x for x in excluded if x))
    found += [concept_text(x) for x in as_list(resource.get("foodPreferenceModifier"))]
    for supplement in as_list(resource.get("supplement")):
        supplement = as_dict(supplement)
        found.append(as_text(supplement.get("productName")) or concept_text(supplement.get("type")))
    found.append(as_text(as_dict(resource.get("enteralFormula")).get("administrationInstruction")))
    if alerts.diet_suspended(resource):
        found.insert(0, "Suspendu")
    return found


def diets(reader: Reader, summary: Summary) -> None:
    def read(resource: dict) -> Diet | None:
        if not alerts.diet_in_force(resource):
            return None
        text = alerts.diet_text(resource)
        shown = [d for d in details(resource) if d and d != text]
        return Diet(text, list(dict.fromkeys(shown)), effective(resource, "dateTime"))

    summary.diets = reader.each("NutritionOrder", read)
