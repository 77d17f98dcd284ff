"""Who looks after the patient: the stay's participants, the care teams, the GP, each
with a phone number when the index knows one."""

from __future__ import annotations

from typing import Any

from ....fhir.clinical.values import as_dict, as_list, concept_text, first_code
from ....fhir.refs import target
from .labels import ROLE
from .model import Member, Summary
from .reader import Reader


def care_team(reader: Reader, summary: Summary) -> None:
    members: list[Member] = []
    seen: set[tuple[str, str]] = set()

    def add(name: str, role: str, ref: Any) -> None:
        if not name or (name, role) in seen:
            return
        seen.add((name, role))
        members.append(Member(name, role, reader.lookup.phone(ref)))

    encounter = reader.current_encounter()
    if encounter is not None:
        for participant in as_list(encounter.get("participant")):
            participant = as_dict(participant)
            kinds = [first_code(t) for t in as_list(participant.get("type"))]
            role = next((ROLE[k] for k in kinds if k in ROLE), concept_text(as_list(participant.get("type"))))
            add(reader.lookup.person(participant.get("individual")), role or "Intervenant",
                participant.get("individual"))

    def team(resource: dict) -> bool:
        if resource.get("status") not in ("active", "proposed", None):
            return False
        for participant in as_list(resource.get("participant")):
            participant = as_dict(participant)
            member = participant.get("member")
            found = target(member)
            if found and found[0] in ("Patient", "Organization"):
                continue
            add(reader.lookup.person(member), concept_text(as_list(participant.get("role"))) or "Équipe", member)
        return True

    reader.each("CareTeam", team)
    for ref in as_list(reader.patient.get("generalPractitioner")):
        add(reader.lookup.person(ref), "Médecin traitant", ref)
    summary.care_team = members

