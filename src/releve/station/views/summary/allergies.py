"""Allergies and intolerances, as fhir.clinical.allergies classifies them: the census,
the MAR and the forms read the same rules, so the summary never disagrees with them."""

from __future__ import annotations

from ....fhir.clinical import allergies as rules
from ....fhir.clinical.values import as_dict, as_list, as_text, effective, first_code
from ..collation import french_key
from .labels import ALLERGY_CATEGORY, ALLERGY_TYPE, SEVERITY
from .model import Allergy, Summary
from .reader import Reader


def allergy(resource: dict) -> Allergy:
    notes = [as_text(as_dict(n).get("text")) for n in as_list(resource.get("note"))]
    kind = resource.get("type")
    return Allergy(
        substance=rules.substance(resource), reactions=rules.manifestations(resource),
        severity=SEVERITY.get(rules.worst_severity(resource), ""),
        criticality=rules.criticality(resource),
        category=", ".join(ALLERGY_CATEGORY.get(c, as_text(c)) for c in as_list(resource.get("category"))
                           if as_text(c)),
        kind=ALLERGY_TYPE.get(kind, "") if isinstance(kind, str) else "",
        status=first_code(resource.get("verificationStatus")),
        recorded=effective(resource, "recordedDate", "onsetDateTime"),
        note=" ".join(n for n in notes if n), high=rules.high_risk(resource))


def allergies(reader: Reader, summary: Summary) -> None:
    statements: list[str] = []

    def read(resource: dict) -> Allergy | None:
        found = rules.kind(resource)
        if found == rules.STATEMENT:
            statements.append(rules.no_allergy_text(resource) or "")
        return allergy(resource) if found == rules.ALLERGY else None

    found = reader.each("AllergyIntolerance", read)
    found.sort(key=lambda a: (not a.high, french_key(a.substance)))
    summary.allergies = found
    summary.no_allergy_texts = list(dict.fromkeys(t for t in statements if t))
    summary.allergy_state = rules.state(len(found), len(statements))
