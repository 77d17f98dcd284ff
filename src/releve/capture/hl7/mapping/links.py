"""What results, orders and appointments share: the references to the patient, the stay
and the people, the order and appointment numbers that name a resource, the comments
(NTE) and the walk through a message's segment groups.

A resource made from an order or a result is named by the number its application gave
it (EI: the id and its assigning authority), never by the message that carried it, so
that the cancellation, the correction or the administration sent later about the same
order names the same resource.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from ....fhir.clinical.values import human_name
from .. import datatypes
from ..message import Message
from . import ids

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
Segment = Any  # a python-hl7 segment (hl7.Segment), as datatypes reads it
Number = tuple[str, str, "str | None"]  # an EI: (id, authority, the authority's OID)
# the names a resource gets when its message names nothing (a bare RXE, OBR or OBX): a
# later message naming nothing does not replace the name an earlier one gave (updates.py)
NO_DRUG, NO_REQUEST, NO_REPORT, NO_RESULT = "Médicament non précisé", "Demande", "Compte rendu", "Résultat"
UNNAMED = frozenset({NO_DRUG, NO_REQUEST, NO_REPORT, NO_RESULT})


def name(seg: Segment) -> str:
    """A segment's three letters."""
    return str(seg[0])


def walk(m: Message, starts: frozenset[str]) -> Iterator[list[Segment]]:
    """The segment groups of the message's first patient: each group begins at one of
    `starts` (ORC, OBR, SCH...) and runs to the next; a second PID (a batch of results
    about several patients) ends the walk, for what follows is about someone else."""
    group: list[Segment] = []
    patients = 0
    for seg in m.parsed:
        kind = name(seg)
        if kind == "PID":
            patients += 1
            if patients > 1:
                break
            continue
        if kind in starts:
            if group:
                yield group
            group = [seg]
        elif group:
            group.append(seg)
    if group:
        yield group


def among(group: Sequence[Segment], kind: str) -> list[Segment]:
    return [seg for seg in group if name(seg) == kind]


def text(value: str | None) -> str | None:
    """Text with its line breaks as "\\n", whatever the sender used (\\.br\\, CR)."""
    if value is None:
        return None
    value = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    return value or None


def subject(patient_id: str) -> dict:
    return {"reference": f"Patient/{patient_id}"}


def about(m: Message, patient_id: str, stay: str = "encounter") -> dict:
    """`subject` and, when PV1-19 names the stay, `encounter` (or the member `stay`
    names: a MedicationAdministration's is `context`)."""
    found = {"subject": subject(patient_id)}
    visit = encounter(m)
    if visit:
        found[stay] = visit
    return found


def unnumbered(m: Message, *place: str) -> str:
    """The key of something its application gave no number: the message and its place
    in it, the best there is (a later message cannot name it again)."""
    return "|".join(("message", m.header.sender, m.header.control_id, *place))


def encounter(m: Message) -> dict | None:
    """The stay (PV1-19) the message is about, named as the ADT mapping names it."""
    visit = datatypes.visit_key(m)
    return {"reference": f"Encounter/{ids.encounter(visit)}"} if visit else None


def person(m: Message, seg: Segment, field: int) -> dict | None:
    """A reference to the practitioner of an XCN field, with the name as display: the
    station shows it even when no ADT message ever named that practitioner."""
    reps = datatypes.repetitions(m, seg, field)
    found = datatypes.person(reps[0]) if reps else None
    if found is None:
        return None
    key, human = found
    ref = {"reference": f"Practitioner/{ids.practitioner(key)}"}
    shown = human_name(human)[0]
    if shown:
        ref["display"] = shown
    return ref


def number(m: Message, seg: Segment | None, field: int) -> Number | None:
    """An entity identifier (EI: an order or appointment number) as (id, authority,
    OID): the authority is the universal id when there is one, else the namespace."""
    if seg is None:
        return None
    value = datatypes.value(m, seg, field, 1)
    if not value:
        return None
    namespace = datatypes.value(m, seg, field, 2)
    universal = datatypes.value(m, seg, field, 3)
    kind = datatypes.value(m, seg, field, 4)
    oid = universal if universal and (kind or "ISO").upper() == "ISO" else None
    return value, universal or namespace or "", oid


def key(role: str, found: Number) -> str:
    """The text an id is made from: "placer|authority|id" or "filler|authority|id"."""
    value, authority, _ = found
    return f"{role}|{authority}|{value}"


def identifier(code: str, found: Number) -> dict:
    """An order or appointment number as an Identifier typed PLAC or FILL (v2-0203)."""
    value, _, oid = found
    made: dict = {"type": {"coding": [{"system": V2_0203, "code": code}]}}
    if oid:
        made["system"] = f"urn:oid:{oid}"
    made["value"] = value
    return made


def numbers(placer: Number | None, filler: Number | None) -> list[dict]:
    return ([identifier("PLAC", placer)] if placer else []) + \
        ([identifier("FILL", filler)] if filler else [])


def notes(m: Message, group: Sequence[Segment]) -> list[dict]:
    """The comments (NTE-3, each repetition a line) as Annotations, one per NTE."""
    found = []
    for seg in group:
        lines = [rep.get(1) for rep in datatypes.repetitions(m, seg, 3)]
        said = text("\n".join(line for line in lines if line))
        if said:
            found.append({"text": said})
    return found


def concept(m: Message, seg: Segment, field: int) -> dict | None:
    """The first CE/CWE of a field as a CodeableConcept."""
    reps = datatypes.repetitions(m, seg, field)
    return datatypes.concept(reps[0]) if reps else None


def concepts(m: Message, seg: Segment, field: int) -> list[dict]:
    """Every repetition of a CE/CWE field as CodeableConcepts."""
    return [c for c in (datatypes.concept(r) for r in datatypes.repetitions(m, seg, field)) if c]
