"""A segment's records, from the encrypted file to rows ready for the index.

The vault's segment.py decrypts in a thread that writes into a pipe, so the segment is
never held in memory whole (a full segment is about 100 MB compressed at 1,000 beds),
and this process parses meanwhile. The plaintext is
cut into blocks of a few megabytes at line boundaries; each block is placed in the
index's record file, then parsed into a `Batch` (rows for `records`, projection rows,
the keys it touches) in forked worker processes that read it back from the file:
parsing is most of an apply's CPU and the index writer runs meanwhile. For a new
generation the workers leave the rows in SQLite stages the index copies from (see
Staged). Blocks come back in order, so a later record still wins over an earlier one.

Only the members each record needs are decoded (msgspec: type, id, lastUpdated and the
patient reference), a whole block in one decoder call when every line is shaped as usual
(else line by line); the four projected types (Patient, Location, Encounter,
Appointment) are decoded whole with orjson.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import functools
import multiprocessing
import os
import signal
import sqlite3
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import accumulate, count, repeat
from operator import add, itemgetter
from pathlib import Path
from typing import Any, Protocol

import msgspec
import orjson

from .. import collector
from ..children import die_with_parent
from ..errors import ReleveError
from ..fhir.refs import target_id
from ..memory import keep_freed_memory
from ..vault import format as fmt
from ..vault import segment
from .private import create_private
from .text import fold

CURRENT_STAYS = ("planned", "arrived", "triaged", "in-progress", "onleave")
INS_SYSTEMS = ("urn:oid:1.2.250.1.213.1.4.8", "urn:oid:1.2.250.1.213.1.4.9",
               "urn:oid:1.2.250.1.213.1.4.10", "urn:oid:1.2.250.1.213.1.4.11")
BLOCK = 4 << 20  # bytes of plaintext per parsed block
PARALLEL_FROM = 1 << 20  # segment file bytes (about 20 MB of plaintext): smaller ones are parsed in the syncing process


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
    delete: _Key | None = None


_decoder = msgspec.json.Decoder(_Line)
_decode_line, _decode_lines = _decoder.decode, _decoder.decode_lines
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


def parse_line(line: bytes, number: int) -> Row:
    """A plaintext record line as a Row; `number` names it in errors (1 is the header)."""
    line = line.rstrip(b"\n")
    try:
        head = _decode_line(line)
    except msgspec.ValidationError:
        head = _loose_head(line, number)
    except msgspec.DecodeError as exc:
        raise RecordError(f"plaintext line {number} is not JSON") from exc
    if head.delete is not None and not head.resourceType:
        return Row(head.delete.resourceType, head.delete.id, deleted=True)
    if not head.resourceType or not head.id:
        raise RecordError(f"plaintext line {number} lacks resourceType or id")
    row = Row(head.resourceType, head.id, deleted=False, line=line,
              updated=head.meta.lastUpdated if head.meta else None)
    row.patient = row.id if row.type == "Patient" else _patient_of(head)
    if row.type in PROJECTED:
        resource = orjson.loads(line)
        if row.type == "Appointment" and row.patient is None:
            row.patient = _appointment_patient(resource)
        row.projection = _projection(row.type, resource, row.patient)
    return row


def _patient_of(head: _Line) -> str | None:
    """The first of subject, patient, beneficiary that references a Patient."""
    for ref in (head.subject, head.patient, head.beneficiary):
        if ref is not None and (pid := _patient_id(ref.reference)):
            return pid
    return None


_PATIENT_IDS: dict[str | None, str | None] = {}
_PATIENT_IDS_MAX = 1 << 18


def _patient_id(reference: str | None) -> str | None:
    """target_id(reference, "Patient"), remembered: a patient's resources all spell the
    same reference, and this runs for every record (measured: a tenth of the parse)."""
    try:
        return _PATIENT_IDS[reference]
    except KeyError:
        pass
    if len(_PATIENT_IDS) >= _PATIENT_IDS_MAX:
        _PATIENT_IDS.clear()
    found = _PATIENT_IDS[reference] = target_id(reference, "Patient")
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


def _appointment_patient(resource: dict) -> str | None:
    for participant in _list(resource.get("participant")):
        if isinstance(participant, dict) and (pid := target_id(participant.get("actor"), "Patient")):
            return pid
    return None


# --- projections ------------------------------------------------------------------------------


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _code(concept: Any) -> str | None:
    """The first code of a CodeableConcept (or Coding)."""
    if not isinstance(concept, dict):
        return None
    if isinstance(concept.get("code"), str):
        return concept["code"]
    for coding in _list(concept.get("coding")):
        if isinstance(coding, dict) and isinstance(coding.get("code"), str):
            return coding["code"]
    return None


def patient_row(resource: dict) -> tuple:
    names = [n for n in _list(resource.get("name")) if isinstance(n, dict)]
    chosen = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    family = _text(chosen.get("family"))
    given = " ".join(g for g in _list(chosen.get("given")) if isinstance(g, str)) or None
    every = []
    for name in names:
        every.append(_text(name.get("family")) or "")
        every.extend(g for g in _list(name.get("given")) if isinstance(g, str))
        every.append(_text(name.get("text")) or "")
    name_norm = " ".join(dict.fromkeys(_folded_words(" ".join(every))))
    ipp, ins = _identifiers(resource)
    deceased = bool(resource.get("deceasedBoolean")) or "deceasedDateTime" in resource
    active = resource.get("active", True) is not False
    pid = resource.get("id")
    return (pid, family, given, name_norm, _text(resource.get("birthDate")),
            _text(resource.get("gender")), ipp, ins, int(active), int(deceased),
            sort_key(family, given, pid))


def sort_key(family: str | None, given: str | None, pid: Any) -> str:
    """The order search results take at equal match: family, then given names, folded,
    then the id. The separator sorts below every folded character, so comparing these
    strings compares the three parts in turn, and SQLite can keep the order in an index."""
    return f"{_folded(family or '')}\x01{_folded(given or '')}\x01{pid if isinstance(pid, str) else ''}"


# fold is pure, and a hospital's patients share few distinct name words (measured: folding
# was half of a Patient's projection)
_folded = functools.lru_cache(maxsize=1 << 16)(fold)


def _folded_words(text: str) -> list[str]:
    """fold(text).split(), a whitespace-separated piece at a time: fold maps each
    character on its own and whitespace to a separator, so the words are the same."""
    return [word for piece in text.split() for word in _folded(piece).split()]


def _identifiers(resource: dict) -> tuple[str | None, str | None]:
    """IPP (the hospital's own patient number) and INS (the national health identifier).

    French servers mark the IPP with type PI and the INS with the INS OIDs; other servers'
    medical record number (type MR) stands in for the IPP."""
    ipp = ins = fallback = None
    for ident in _list(resource.get("identifier")):
        if not isinstance(ident, dict) or not isinstance(ident.get("value"), str):
            continue
        system, kind, value = ident.get("system"), _code(ident.get("type")), ident["value"]
        if system in INS_SYSTEMS or kind in ("NI", "INS"):
            ins = ins or value
        elif kind == "PI":
            ipp = ipp or value
        elif kind == "MR":
            fallback = fallback or value
    return ipp or fallback, ins


def location_row(resource: dict) -> tuple:
    phone = next((t.get("value") for t in _list(resource.get("telecom"))
                  if isinstance(t, dict) and t.get("system") == "phone"), None)
    part_of = target_id(resource.get("partOf"), "Location")
    return (resource.get("id"), _text(resource.get("name")), _code(resource.get("physicalType")),
            part_of, _text(resource.get("status")), _code(resource.get("operationalStatus")),
            phone if isinstance(phone, str) else None)


def stay_row(resource: dict, patient: str | None) -> tuple:
    period = period if isinstance(period := resource.get("period"), dict) else {}
    status = _text(resource.get("status"))
    attending = None
    for participant in _list(resource.get("participant")):
        if not isinstance(participant, dict):
            continue
        kinds = {_code(t) for t in _list(participant.get("type"))}
        who = target_id(participant.get("individual"), "Practitioner")
        if who and (attending is None or "ATND" in kinds):
            attending = who
            if "ATND" in kinds:
                break
    klass = resource.get("class")
    return (resource.get("id"), patient, status, _code(klass) if isinstance(klass, dict) else None,
            _text(period.get("start")), _text(period.get("end")), _current_location(resource),
            attending, int(status in CURRENT_STAYS))


def _current_location(resource: dict) -> str | None:
    """The most precise location the patient is in now: an active bed before a unit."""
    best, best_rank = None, -1
    for entry in _list(resource.get("location")):
        if not isinstance(entry, dict) or entry.get("status") in ("completed", "planned"):
            continue
        period = entry.get("period")
        if isinstance(period, dict) and period.get("end"):
            continue
        where = target_id(entry.get("location"), "Location")
        rank = {"bd": 3, "ro": 2, "wa": 1}.get(_code(entry.get("physicalType")) or "", 0)
        if where and rank > best_rank:
            best, best_rank = where, rank
    return best


def booking_row(resource: dict, patient: str | None) -> tuple:
    start = _text(resource.get("start"))
    room = None
    for participant in _list(resource.get("participant")):
        if isinstance(participant, dict) and (where := target_id(participant.get("actor"), "Location")):
            room = where
            break
    return (resource.get("id"), utc_day(start), start, _text(resource.get("end")), patient,
            room, _text(resource.get("status")))


def utc_day(instant: str | None) -> str | None:
    """The UTC calendar day of a FHIR dateTime (a date, or a time without offset, stays
    its own day). The index stays free of the station's time zone, which is a display
    setting: a view asks for the days around the one it shows and keeps the bookings
    that fall on it in the station's zone."""
    if not instant:
        return None
    try:
        when = dt.datetime.fromisoformat(instant.replace("Z", "+00:00"))
    except ValueError:
        return instant[:10] if len(instant) >= 10 else None
    if when.tzinfo is None:
        return when.date().isoformat()
    return when.astimezone(dt.UTC).date().isoformat()


PROJECTIONS = {  # resource type: (table, key column)
    "Patient": ("patients", "id"),
    "Location": ("locations", "id"),
    "Encounter": ("stays", "encounter"),
    "Appointment": ("bookings", "appointment"),
}


def _projection(rtype: str, resource: Any, patient: str | None) -> tuple | None:
    if not isinstance(resource, dict):
        return None
    if rtype == "Patient":
        return patient_row(resource)
    if rtype == "Location":
        return location_row(resource)
    if rtype == "Encounter":
        return stay_row(resource, patient)
    if rtype == "Appointment":
        return booking_row(resource, patient)
    return None




# --- blocks and batches --------------------------------------------------------------------------


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
    statement (index.py); or `stage` says where the worker left them."""

    rows: bytes = b"[]"
    deleted: list[tuple[str, str]] = field(default_factory=list)  # keys whose last record deletes
    projections: dict[str, list[tuple]] = field(default_factory=dict)
    puts: int = 0
    deletes: int = 0
    lines: int = 0  # lines in the block, blank ones included
    start: int = 0  # where the block starts in the record file
    stage: Staged | None = None  # rows and projections left in a worker's stage instead

    @property
    def keys(self) -> list[tuple[str, str]]:
        """Every resource the block touches: a delta removes them all before inserting rows."""
        if self.stage is not None:  # only a new generation takes staged rows: it removes nothing
            raise ValueError("a staged batch's keys are in its stage")
        return [(row[0], row[1]) for row in orjson.loads(self.rows)] + self.deleted


class Appender(Protocol):
    """Where blocks are placed before they are parsed: the index's record file."""

    path: Path

    def append(self, block: bytes) -> int: ...


def parse_block(data: bytes, first_number: int, start: int = 0) -> Batch:
    """Parse a block of whole lines placed at `start`; `first_number` is the plaintext
    line number of its first line (the header is line 1), to name a bad line."""
    batch = parse_offsets(data, first_number)
    batch.start = start
    return batch


def parse_offsets(data: bytes, first_number: int) -> Batch:
    """Parse a block into a Batch that does not hold the block (what a worker sends back)."""
    batch, rows = _parse(data, first_number)
    batch.rows = orjson.dumps(rows)
    return batch


def _parse(data: bytes, first_number: int) -> tuple[Batch, list[tuple]]:
    """A block's Batch, and its rows ([type, id, patient, updated, start, length] each)
    for the caller to hand on as JSON or through a stage."""
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()  # the block's last newline
    parsed = _parse_plain(data, lines)
    if parsed is None:
        parsed = _parse_careful(lines, first_number)
    parsed[0].lines = len(lines)
    return parsed


def _placed(path: str, start: int, length: int) -> bytes:
    """A placed block, read back in a worker."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.pread(fd, length, start)
    finally:
        os.close(fd)
    if len(data) != length:
        raise OSError(f"the record file ends before the block placed at {start}")
    return data


def parse_placed(path: str, start: int, length: int) -> Batch:
    """A worker's task for a delta: the Batch, its rows as JSON."""
    return parse_block(_placed(path, start, length), 0, start)


# --- stages ------------------------------------------------------------------------------------
#
# A generation build takes a block's rows from the worker that parsed it through a SQLite
# file, not through the pipe: the worker inserts them into its own *stage* and the index
# copies them with one INSERT ... SELECT, reading SQLite's own record format (measured on
# the 1000-bed segment: 0.9 us a row for the index, against 3.6 us to take them from JSON,
# where extracting the six values costs three times the insert; the worker's insert into
# its stage costs 2.5 us, on a core the parse leaves idle a third of the time).

STAGED_TABLES = {"rows": 6, "patients": 11, "locations": 7, "stays": 9, "bookings": 7}


@dataclass(frozen=True)
class Staged:
    """Where a block's rows wait in a stage: the stage file, and per table the first and
    last rowid of the block's rows (a table the block has no rows for is absent)."""

    path: str
    ranges: dict[str, tuple[int, int]]


def create_stage(path: Path) -> None:
    """An empty stage: WAL, so the index reads committed blocks while the worker writes."""
    create_private(path)  # before SQLite opens it
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript("".join(f"CREATE TABLE {table}({', '.join(f'c{i}' for i in range(width))});"
                               for table, width in STAGED_TABLES.items()))
    conn.close()


_STAGE: list = []  # in a worker: its stage's (connection, path), claimed at start


def stage_placed(path: str, start: int, length: int) -> Batch:
    """A worker's task for a generation build: parse a placed block and leave its rows
    and projections in this worker's stage."""
    batch, rows = _parse(_placed(path, start, length), 0)
    batch.start = start
    conn, stage = _STAGE
    ranges = {}
    conn.execute("BEGIN")
    try:
        for table, values in [("rows", rows), *batch.projections.items()]:
            if values:
                first = conn.execute(f"SELECT coalesce(max(rowid), 0) + 1 FROM {table}").fetchone()[0]
                marks = ",".join("?" * STAGED_TABLES[table])
                conn.executemany(f"INSERT INTO {table} VALUES ({marks})", values)
                ranges[table] = (first, first + len(values) - 1)  # one writer: rowids follow on
    except BaseException:
        conn.execute("ROLLBACK")  # the next block starts a transaction of its own
        raise
    conn.execute("COMMIT")
    batch.projections = {}
    batch.stage = Staged(stage, ranges)
    return batch


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
        heads = _decode_lines(data)
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
        if not rtype or not rid:
            if rtype or head.delete is None:
                return None
            batch.deleted.append((head.delete.resourceType, head.delete.id))
            continue
        meta = head.meta
        line = lines[number]
        subject = head.subject  # most resources: a subject, a patient seen before
        if rtype == "Patient":
            patient = rid
        elif subject is None or (patient := _PATIENT_IDS.get(subject.reference)) is None:
            patient = _patient_of(head)
        if rtype in PROJECTED:
            patient = _project(batch, rtype, line, patient)
        rows.append((rtype, rid, patient, meta.lastUpdated if meta is not None else None,
                     starts[number], len(line)))
    if len(set(map(_KEY, rows)).union(batch.deleted)) != len(heads):
        return None  # a resource twice in the block: the last record must win
    batch.puts, batch.deletes = len(rows), len(batch.deleted)
    return batch, rows


def _project(batch: Batch, rtype: str, line: bytes, patient: str | None) -> str | None:
    """Add a projected resource's projection row; returns its patient (an Appointment's
    is found among its participants)."""
    resource = orjson.loads(line)
    if rtype == "Appointment" and patient is None and isinstance(resource, dict):
        patient = _appointment_patient(resource)
    projection = _projection(rtype, resource, patient)
    if projection is not None:
        batch.projections.setdefault(PROJECTIONS[rtype][0], []).append(projection)
    return patient


def _parse_careful(lines: list[bytes], first_number: int) -> tuple[Batch, list[tuple]]:
    """Line by line: blank lines, loosely shaped resources, a resource repeated (the
    order of last occurrence is kept), and the line at fault named in the error."""
    last: dict[tuple[str, str], tuple[Row, int]] = {}
    batch = Batch()
    for offset, line in enumerate(lines):
        if not line:
            continue
        row = parse_line(line, first_number + offset)
        batch.deletes += row.deleted
        batch.puts += not row.deleted
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
    return batch, rows


def plaintext_blocks(stream: Any) -> Iterator[bytes]:
    """Blocks of whole lines, after the header line: a block's worth of bytes, then the
    rest of the line it ends in."""
    while chunk := stream.read(BLOCK):
        if not chunk.endswith(b"\n"):
            chunk += stream.readline()
        yield chunk


class Parser:
    """Parses blocks, in forked workers once a segment is large enough. The pool is forked
    before the segment is opened, so the workers hold none of it."""

    def __init__(self, workers: int | None = None, stage_dir: Path | None = None):
        self.workers = workers if workers is not None else min(os.cpu_count() or 1, 4)
        self.stage_dir = stage_dir  # where the workers' stages go (none: rows come as JSON)
        self.pool: cf.ProcessPoolExecutor | None = None

    def __enter__(self) -> Parser:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)

    def start(self, size: int) -> bool:
        """Fork the workers if a segment of `size` bytes is worth them. This must happen
        before the segment is opened: a worker forked later would inherit the write end of
        the decryption pipe, and the pipe would never reach its end."""
        if self.workers < 2 or size < PARALLEL_FROM:
            return False
        if self.pool is None:
            keep_freed_memory()  # blocks of megabytes one after another, here and in the forks
            context = multiprocessing.get_context("fork")
            stages = context.SimpleQueue()
            if self.stage_dir is not None:
                for number in range(self.workers):
                    path = self.stage_dir / f"stage-{number}.sqlite"
                    create_stage(path)
                    stages.put(str(path))
            self.pool = cf.ProcessPoolExecutor(self.workers, mp_context=context,
                                               initializer=_start_worker, initargs=(stages,))
            self.pool.submit(int).result()  # a fork pool starts its workers on first use
        return True

    def batches(self, blocks: Iterator[bytes], records: Appender, parallel: bool,
                staged: bool = False) -> Iterator[Batch]:
        """The blocks' Batches, in order, each block placed in `records` first; `staged`:
        the workers leave the rows in their stages when they have one (for a generation
        build, see Staged). A worker cannot know the number of its block's first line
        (the blocks before it are still being parsed), so a block it refuses is parsed
        again here, where the error can name the line."""
        number = 2  # line 1 is the header
        task = stage_placed if staged and self.stage_dir is not None else parse_placed
        placed = ((data, records.append(data)) for data in blocks)
        for data, start, future in self._submitted(placed, str(records.path), parallel, task):
            batch = parse_block(data, number, start) if future is None else \
                self._collect(future, data, number, start)
            number += batch.lines
            yield batch

    def _submitted(self, placed: Iterator[tuple[bytes, int]], path: str, parallel: bool,
                   task: Any) -> Iterator[tuple[bytes, int, cf.Future | None]]:
        """The blocks in order, each with its parse under way in a worker (None: to parse
        here); the workers are kept a few blocks ahead."""
        if not parallel or self.pool is None:
            for data, start in placed:
                yield data, start, None
            return
        in_flight: deque[tuple[bytes, int, cf.Future]] = deque()
        for data, start in placed:
            in_flight.append((data, start, self.pool.submit(task, path, start, len(data))))
            if len(in_flight) >= 2 * self.workers:
                yield in_flight.popleft()
        while in_flight:
            yield in_flight.popleft()

    @staticmethod
    def _collect(future: cf.Future, data: bytes, number: int, start: int) -> Batch:
        try:
            return future.result()
        except RecordError:
            return parse_block(data, number, start)  # raises again, naming the line


def segment_batches(path: Path, identities: list, descriptor: fmt.Descriptor,
                    parser: Parser, records: Appender, staged: bool = False) -> Iterator[Batch]:
    """Every record of a verified segment, in batches; the header must repeat the signed
    descriptor and the records must number what it says, or RecordError is raised after
    the last batch, before the index commits the segment, so a short one never lands."""
    parallel = parser.start(path.stat().st_size)  # forks, if it does, before the pipe exists
    stream = segment.open_plaintext(path, identities)
    puts = deletes = 0
    try:
        segment.check_header(fmt.Header.from_line(stream.readline()), descriptor)
        for batch in parser.batches(plaintext_blocks(stream), records, parallel, staged):
            puts += batch.puts
            deletes += batch.deletes
            yield batch
        segment.check_counts(descriptor, puts, deletes)
    except (segment.DecryptError, segment.Mismatch) as exc:
        reason = exc.reason if isinstance(exc, segment.DecryptError) else str(exc)
        raise RecordError(f"segment {descriptor.seq}: {reason}") from exc
    finally:
        stream.close()


def _start_worker(stages: Any) -> None:
    """Ctrl-C on `releve station sync` is for the parent, which stops the workers. A
    worker only parses, and parsing makes no reference cycles: the cyclic collector,
    which would otherwise walk every young record again and again, is off (measured: a
    fifth of the parse). Each worker takes a stage of its own, when there are stages; it
    ends with the sync (children.py)."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    collector.off_for_good()
    if not stages.empty():
        path = stages.get()
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA synchronous=OFF")  # a stage lives for one sync: nothing to keep
        conn.execute("PRAGMA busy_timeout=10000")
        _STAGE[:] = [conn, path]


