"""Current problems and the stay's diagnoses: active, recurring or relapsing, never a
refuted or mistaken one; a condition without a status is current until it has an
abatement."""

from __future__ import annotations

from ....fhir.clinical.values import as_list, codes, concept_text, effective, first_code
from .model import Problem, Summary
from .reader import Reader


def problems(reader: Reader, summary: Summary) -> None:
    def read(resource: dict) -> Problem | None:
        status = first_code(resource.get("clinicalStatus"))
        verification = first_code(resource.get("verificationStatus"))
        if verification in ("refuted", "entered-in-error"):
            return None
        if status:
            if status not in ("active", "recurrence", "relapse"):
                return None
        elif any(k.startswith("abatement") for k in resource):
            return None
        categories = set().union(*(codes(c) for c in as_list(resource.get("category")))) \
            if resource.get("category") else set()
        category = "Diagnostic du séjour" if "encounter-diagnosis" in categories else "Problème"
        return Problem(concept_text(resource.get("code")) or "Problème non précisé",
                       effective(resource, "onsetDateTime", "onsetPeriod", "onsetString",
                                 "recordedDate"),
                       status or "active", category)

    found = reader.each("Condition", read)
    found.sort(key=lambda p: -reader.sort_key(p.onset))
    summary.problems = found
