"""The pharmacist's check of a downtime medication order (kind "order-check").

Shape: a Provenance whose `target` is the MedicationRequest and whose agent is of type
"verifier" (docs/journal.md §5.6 says why a Provenance rather than a changed order:
the order stays the physician's own words, signed by them, and the check is a separate
act by another person, which is what Provenance records and what a HIS files as the
pharmaceutical validation). The outcome is the `activity` (OUTCOMES), a comment its
text. The exact version checked is named in `entity` (role "source") by its journal
entry: a correction of the order after the check makes it « à valider » again.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..entry import Draft
from . import MAX_SHORT, Checked, Context, Fields, Invalid, Problem, fhir_time

KIND = "order-check"
OUTCOME_SYSTEM = "urn:releve:validation-pharmaceutique"
OUTCOMES = {"validee": "Validée", "a-modifier": "À modifier"}
ENTRY_SYSTEM = "urn:releve:saisie"  # the identifier of one journal entry: "<station>/<seq>"
VERIFIER = {"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
            "code": "verifier", "display": "Verifier"}


def from_form(raw: Mapping[str, object], context: Context) -> Draft:
    """The check of the order `target` ("MedicationRequest/<id>") in its version `entry`
    (the journal key); both, and `verifier` (the pharmacist's name), are set by the page
    from the order shown and the signed-in user; the pharmacist chooses the outcome and,
    for « à modifier », says what."""
    fields = Fields(raw, context)
    outcome = fields.choice("outcome", OUTCOMES)
    comment = fields.text("comment", required=outcome == "a-modifier", limit=MAX_SHORT)
    fields.done()
    activity: dict = {"coding": [{"system": OUTCOME_SYSTEM, "code": outcome,
                                  "display": OUTCOMES[outcome]}]}
    if comment:
        activity["text"] = comment
    agent: dict = {"type": {"coding": [VERIFIER]}}
    verifier = str(raw.get("verifier") or "").strip()
    if verifier:
        agent["who"] = {"display": verifier}
    target = str(raw.get("target") or "")
    resource = {"resourceType": "Provenance", "target": [{"reference": target}],
                "occurredDateTime": fhir_time(context.now), "recorded": fhir_time(context.now),
                "activity": activity, "agent": [agent],
                "entity": [{"role": "source", "what": {
                    "reference": target,
                    "identifier": {"system": ENTRY_SYSTEM, "value": str(raw.get("entry") or "")}}}]}
    check(resource, context)
    return Draft(KIND, context.patient, resource)


def check(resource: dict, context: Context) -> Checked:
    """The rules of a check, for the form's resource and one posted to the API."""
    if resource.get("resourceType") != "Provenance":
        raise Invalid([Problem("resourceType", "Une validation est une Provenance.")])
    problems: list[Problem] = []
    targets = [t.get("reference") for t in resource.get("target") or [] if isinstance(t, dict)]
    if len(targets) != 1 or not str(targets[0]).startswith("MedicationRequest/"):
        problems.append(Problem("target", "La validation porte sur une prescription de médicament."))
    code = outcome_of(resource)
    if code not in OUTCOMES:
        problems.append(Problem("outcome", "Choisissez une des valeurs proposées."))
    comment = comment_of(resource)
    if code == "a-modifier" and not comment:
        problems.append(Problem("comment", "Ce champ est obligatoire."))
    if len(comment) > MAX_SHORT:
        problems.append(Problem("comment", "Texte trop long ({n} caractères, {limit} au plus).",
                                {"n": len(comment), "limit": MAX_SHORT}))
    if not any(c.get("code") == "verifier" for a in resource.get("agent") or []
               for c in (a.get("type") or {}).get("coding") or []):
        problems.append(Problem("agent", "Le pharmacien qui valide est absent."))
    if not checked_entry(resource):
        problems.append(Problem("entity", "La saisie validée n'est pas nommée."))
    if problems:
        raise Invalid(problems)
    return Checked(resource)


def outcome_of(resource: dict) -> str:
    codings = (resource.get("activity") or {}).get("coding") or [{}]
    return str(codings[0].get("code") or "")


def comment_of(resource: dict) -> str:
    return str((resource.get("activity") or {}).get("text") or "")


def checked_entry(resource: dict) -> str:
    """The journal key of the order's version this check is about ("" if none)."""
    for entity in resource.get("entity") or []:
        identifier = ((entity or {}).get("what") or {}).get("identifier") or {}
        if identifier.get("system") == ENTRY_SYSTEM and identifier.get("value"):
            return str(identifier["value"])
    return ""
