"""A plaintext record line, read for what every record needs.

Only the members each record needs are decoded (msgspec: type, id, lastUpdated and the
patient reference), a whole block in one decoder call when every line is shaped as usual
(else line by line); the four projected types (Patient, Location, Encounter,
Appointment) are decoded whole with orjson. A Binary belongs to the patient its
securityContext names, or to the patient of the resource it names (index/contexts.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import orjson

from ...errors import ReleveError
from ...fhir.refs import target, target_id
from ...vault import plaintext
from ...vault.format import FormatError
from .projections import appointment_patient, contained_subject, projection_of


class RecordError(ReleveError):
    """A segment whose plaintext is not what its signature says (refused whole)."""


class _Ref(msgspec.Struct, gc=False):
    reference: str | None = None


class _Meta(msgspec.Struct, gc=False):
    lastUpdated: str | None = None


class _Key(msgspec.Struct, gc=False):
    resourceType: str
    id: str


class _Line(msgspec.Struct, gc=False):
    """The members of a line every record needs; the rest of the line is only skipped."""

    resourceType: str = ""
    id: str = ""
    meta: _Meta | None = None
    subject: _Ref | None = None
    patient: _Ref | None = None
    beneficiary: _Ref | None = None
    securityContext: _Ref | None = None  # a Binary's: the patient or resource it belongs to
    delete: _Key | None = None


_decoder = msgspec.json.Decoder(_Line)
_decode_line, decode_lines = _decoder.decode, _decoder.decode_lines
PROJECTED = frozenset({"Patient", "Location", "Encounter", "Appointment"})


@dataclass(slots=True)
class Row:
    """One record of a segment, ready for the tables."""

    type: str
    id: str
    deleted: bool
    line: bytes = b""
    patient: str | None = None
    updated: str | None = None
    projection: tuple | None = None  # the projection row, for the projected types
    contained: tuple | None = None  # its contained_subjects row, if its patient is contained
    context: tuple | None = None  # its security_contexts row: a Binary of a resource's patient


def parse_line(line: bytes, number: int) -> Row:
    """A plaintext record line as a Row, checked by the format's record rules (the block's
    text is checked before, vault/plaintext.py check_block); `number` names it in errors
    (1 is the header)."""
    line = line.rstrip(b"\n")
    try:
        head = _decode_line(line)
    except msgspec.ValidationError:
        head = _loose_head(line, number)
    except msgspec.DecodeError as exc:
        raise RecordError(f"plaintext line {number} is not JSON") from exc
    try:
        if head.delete is not None and not head.resourceType \
                and not plaintext.names_resource_type(line):
            plaintext.check_key(head.delete.resourceType, head.delete.id, number)
            return Row(head.delete.resourceType, head.delete.id, deleted=True)
        plaintext.check_put(line, head.resourceType, head.id, number)
    except FormatError as exc:
        raise RecordError(str(exc)) from None
    row = Row(head.resourceType, head.id, deleted=False, line=line,
              updated=head.meta.lastUpdated if head.meta else None)
    row.patient = row.id if row.type == "Patient" else patient_of(head)
    if row.patient is None and (contained := contained_of(head, line)) is not None:
        row.contained, row.patient = contained, contained[2]
    if row.patient is None:
        row.context = context_of(head)
    if row.type in PROJECTED:
        resource = orjson.loads(line)
        if row.type == "Appointment" and row.patient is None:
            row.patient = appointment_patient(resource)
        row.projection = projection_of(row.type, resource, row.patient)
    return row


def patient_of(head: _Line) -> str | None:
    """The first of subject, patient, beneficiary (a Binary's securityContext) that
    references a Patient."""
    for ref in (head.subject, head.patient, head.beneficiary, head.securityContext):
        if ref is not None and (pid := _patient_id(ref.reference)):
            return pid
    return None


def contained_of(head: _Line, line: bytes) -> tuple | None:
    """The contained_subjects row of a resource whose subject, patient or beneficiary is
    a Patient it contains ("#p1"), or None. The line is decoded whole only then: a
    resource without a patient is otherwise read no further."""
    local = [ref.reference for ref in (head.subject, head.patient, head.beneficiary)
             if ref is not None and ref.reference and ref.reference[0] == "#"]
    if not local:
        return None
    resource = orjson.loads(line)
    for reference in local:
        if (row := contained_subject(head.resourceType, head.id, resource, reference)) is not None:
            return row
    return None


def context_of(head: _Line) -> tuple | None:
    """The security_contexts row (index/contexts.py) of a Binary whose securityContext
    names a resource that is not a Patient (a DocumentReference, an Encounter): the
    Binary is filed under that resource's patient once both are in the index."""
    if head.resourceType != "Binary" or head.securityContext is None:
        return None
    found = target(head.securityContext.reference)
    return (head.id, *found) if found is not None and found[0] != "Patient" else None


PATIENT_IDS: dict[str | None, str | None] = {}
_PATIENT_IDS_MAX = 1 << 18


def _patient_id(reference: str | None) -> str | None:
    """target_id(reference, "Patient"), remembered: a patient's resources all spell the
    same reference, and this runs for every record (measured: a tenth of the parse)."""
    try:
        return PATIENT_IDS[reference]
    except KeyError:
        pass
    if len(PATIENT_IDS) >= _PATIENT_IDS_MAX:
        PATIENT_IDS.clear()
    found = PATIENT_IDS[reference] = target_id(reference, "Patient")
    return found


def _loose_head(line: bytes, number: int) -> _Line:
    """A resource whose `subject` or `meta` is not shaped as usual: read it the slow way."""
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise RecordError(f"plaintext line {number} is not JSON") from exc
    if not isinstance(data, dict):
        raise RecordError(f"plaintext line {number} is not a JSON object")
    delete = data.get("delete")
    if isinstance(delete, dict) and "resourceType" not in data:
        rtype, rid = delete.get("resourceType"), delete.get("id")
        if isinstance(rtype, str) and isinstance(rid, str):
            return _Line(delete=_Key(rtype, rid))
        raise RecordError(f"plaintext line {number}: a delete without resourceType and id")

    def ref(name: str) -> _Ref | None:
        value = data.get(name)
        text = value.get("reference") if isinstance(value, dict) else None
        return _Ref(text) if isinstance(text, str) else None

    meta = data.get("meta")
    updated = meta.get("lastUpdated") if isinstance(meta, dict) else None
    rtype, rid = data.get("resourceType"), data.get("id")
    return _Line(resourceType=rtype if isinstance(rtype, str) else "",
                 id=rid if isinstance(rid, str) else "",
                 meta=_Meta(updated if isinstance(updated, str) else None),
                 subject=ref("subject"), patient=ref("patient"), beneficiary=ref("beneficiary"))
