"""A block of whole lines into a Batch: each resource once, its line placed by offset."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import accumulate, chain, count, repeat
from operator import add, itemgetter

import msgspec
import orjson

from ...vault import plaintext
from ...vault.format import FormatError
from .lines import (
    PATIENT_IDS,
    PROJECTED,
    RecordError,
    Row,
    contained_of,
    context_of,
    decode_lines,
    parse_line,
    patient_of,
)
from .projections import PROJECTIONS, appointment_patient, projection_of
from .stages import Staged

CONTAINED = "contained_subjects"  # the rows of resources whose patient they contain
CONTEXTS = "security_contexts"  # the rows of Binaries of another resource's patient


@dataclass
class Batch:
    """One block's records as the index takes them. Within the block a later record for
    the same resource has already won.

    The block itself is already in the generation's record file, at `start`: it is
    placed there before it is parsed, and a worker reads it from there (the page cache)
    rather than through a pipe. `rows` is a JSON array with one [type, id, patient,
    updated, start, length] per resource to insert, where start (from 1) and length place
    its line in the block: what a worker sends back is a few small values a record, not
    the records again, and the index inserts the rows placing the lines in one
    statement (index/inserts.py); or `stage` says where the worker left them."""

    rows: bytes = b"[]"
    deleted: list[tuple[str, str]] = field(default_factory=list)  # keys whose last record deletes
    projections: dict[str, list[tuple]] = field(default_factory=dict)
    types: dict[str, list[int]] = field(default_factory=dict)  # type: [puts, deletes], every record
    start: int = 0  # where the block starts in the record file
    stage: Staged | None = None  # rows and projections left in a worker's stage instead

    @property
    def keys(self) -> list[tuple[str, str]]:
        """Every resource the block touches: a delta removes them all before inserting rows."""
        if self.stage is not None:  # only a new generation takes staged rows: it removes nothing
            raise ValueError("a staged batch's keys are in its stage")
        return [(row[0], row[1]) for row in orjson.loads(self.rows)] + self.deleted

    @property
    def records(self) -> int:
        """The block's records, each counted (a resource put twice, twice): its lines,
        since the format allows no blank one."""
        return sum(puts + deletes for puts, deletes in self.types.values())


def parse_block(data: bytes, first_number: int, start: int = 0) -> Batch:
    """Parse a block of whole lines placed at `start`; `first_number` is the plaintext
    line number of its first line (the header is line 1), to name a bad line."""
    batch = parse_offsets(data, first_number)
    batch.start = start
    return batch


def parse_offsets(data: bytes, first_number: int) -> Batch:
    """Parse a block into a Batch that does not hold the block (what a worker sends back)."""
    batch, rows = parse_rows(data, first_number)
    batch.rows = orjson.dumps(rows)
    return batch


def parse_rows(data: bytes, first_number: int) -> tuple[Batch, list[tuple]]:
    """A block's Batch, and its rows ([type, id, patient, updated, start, length] each)
    for the caller to hand on as JSON or through a stage."""
    try:
        plaintext.check_block(data, first_number)
    except FormatError as exc:
        raise RecordError(str(exc)) from None
    lines = data.split(b"\n")
    lines.pop()  # after the block's last newline
    return _parse_plain(data, lines) or _parse_careful(lines, first_number)


_KEY = itemgetter(0, 1)  # a row's (type, id)


def _starts(lines: list[bytes]) -> list[int]:
    """Where each line starts in the block, counted from 1 (SQL's substr)."""
    # line k starts after the k lines before it and their k newlines
    return list(map(add, accumulate(map(len, lines), initial=0), count(1)))


def _parse_plain(data: bytes, lines: list[bytes]) -> tuple[Batch, list[tuple]] | None:
    """The common block, in one decoder call: every line one JSON object shaped as
    usual, each resource once. Anything else returns None, for _parse_careful to judge
    line by line (and name the line at fault)."""
    # each line starts an object, so a line holding two values or none makes the counts differ
    if not all(map(bytes.startswith, lines, repeat(b"{"))):
        return None
    try:
        heads = decode_lines(data)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    if len(heads) != len(lines):
        return None
    batch = Batch()
    rows = []
    starts = _starts(lines)
    patient: str | None
    for number, head in enumerate(heads):
        rtype, rid = head.resourceType, head.id
        line = lines[number]
        if not rtype or not rid:
            if rtype or head.delete is None or plaintext.names_resource_type(line):
                return None
            batch.deleted.append((head.delete.resourceType, head.delete.id))
            continue
        meta = head.meta
        subject = head.subject  # most resources: a subject, a patient seen before
        if rtype == "Patient":
            patient = rid
        elif subject is None or (patient := PATIENT_IDS.get(subject.reference)) is None:
            patient = patient_of(head)
            if patient is None and (contained := contained_of(head, line)) is not None:
                patient = contained[2]
                batch.projections.setdefault(CONTAINED, []).append(contained)
            elif patient is None and rtype == "Binary" and (context := context_of(head)):
                batch.projections.setdefault(CONTEXTS, []).append(context)
        if rtype in PROJECTED:
            patient = _project(batch, rtype, line, patient)
        rows.append((rtype, rid, patient, meta.lastUpdated if meta is not None else None,
                     starts[number], len(line)))
    if len(set(map(_KEY, rows)).union(batch.deleted)) != len(heads):
        return None  # a resource twice in the block: the last record must win
    if not plaintext.keys_sound(chain(map(_KEY, rows), batch.deleted)) \
            or _put_begins_like_delete(data, lines, rows):
        return None  # the careful parse names the line
    batch.types = plaintext.Tally.of(map(itemgetter(0), rows),
                                     (rtype for rtype, _ in batch.deleted)).types
    return batch, rows


def _put_begins_like_delete(data: bytes, lines: list[bytes], rows: list[tuple]) -> bool:
    """Whether a resource's line begins with `{"delete":` (format 7.4): one search of the
    block first, since only a delete's line may, and deletes are rare."""
    if not data.startswith(plaintext.DELETE_PREFIX) and b'\n{"delete":' not in data:
        return False
    starts = {row[4] for row in rows}  # a put's line start, counted from 1
    return any(line.startswith(plaintext.DELETE_PREFIX) and start in starts
               for line, start in zip(lines, _starts(lines), strict=False))


def _project(batch: Batch, rtype: str, line: bytes, patient: str | None) -> str | None:
    """Add a projected resource's projection row; returns its patient (an Appointment's
    is found among its participants)."""
    resource = orjson.loads(line)
    if rtype == "Appointment" and patient is None and isinstance(resource, dict):
        patient = appointment_patient(resource)
    projection = projection_of(rtype, resource, patient)
    if projection is not None:
        batch.projections.setdefault(PROJECTIONS[rtype][0], []).append(projection)
    return patient


def _parse_careful(lines: list[bytes], first_number: int) -> tuple[Batch, list[tuple]]:
    """Line by line: loosely shaped resources, a resource repeated (the order of last
    occurrence is kept), and the line at fault named in the error."""
    last: dict[tuple[str, str], tuple[Row, int]] = {}
    batch = Batch()
    tally = plaintext.Tally()
    for offset, line in enumerate(lines):
        row = parse_line(line, first_number + offset)
        tally.add(row.type, row.deleted)
        key = (row.type, row.id)
        last.pop(key, None)  # re-inserted at the end: order of last occurrence
        last[key] = (row, offset)
    rows = []
    starts = _starts(lines)
    for (rtype, rid), (row, offset) in last.items():
        if row.deleted:
            batch.deleted.append((rtype, rid))
            continue
        rows.append((rtype, rid, row.patient, row.updated, starts[offset], len(lines[offset])))
        if row.projection is not None:
            batch.projections.setdefault(PROJECTIONS[row.type][0], []).append(row.projection)
        if row.contained is not None:
            batch.projections.setdefault(CONTAINED, []).append(row.contained)
        if row.context is not None:
            batch.projections.setdefault(CONTEXTS, []).append(row.context)
    batch.types = tally.types
    return batch, rows
