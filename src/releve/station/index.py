"""The station's local index: every current resource, and the projections pages need.

One SQLite database per *generation*. Deltas are applied to the current generation in one
transaction per segment, together with the chain head they bring the station to, so a
kill -9 at any moment leaves either the segment wholly applied or not at all. A full
segment (a checkpoint, or a new station's first) is built into a fresh generation with
the journal off and the indexes created after the load, which is several times faster
than replacing every row in place; the switch is one atomic rename of the CURRENT file,
and pages keep reading the previous generation until it lands. A generation has its own
`-wal` and `-shm` files, so no write-ahead log can ever meet the wrong database.

Tables (docs/station.md is the normative description):
  meta(key, value)        the chain head and state the generation holds
  segments                every segment the station accounted for, applied or not, and why
  resources               the raw resource bytes as the HIS sent them, by (type, id),
                          with the patient they belong to and their lastUpdated
  patients, patient_names identity columns and a trigram full-text index of folded names
  locations               the tree of sites, units, rooms and beds
  stays                   encounters, with their current bed or unit and attending
  bookings                appointments (the OR schedule) by local day
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import orjson

from ..fhir.refs import target, target_id
from .text import fold

INDEX_DIR = "index"
CURRENT_NAME = "CURRENT"
FORMAT = "1"
PARIS = ZoneInfo("Europe/Paris")
CURRENT_STAYS = ("planned", "arrived", "triaged", "in-progress", "onleave")
INS_SYSTEMS = ("urn:oid:1.2.250.1.213.1.4.8", "urn:oid:1.2.250.1.213.1.4.9",
               "urn:oid:1.2.250.1.213.1.4.10", "urn:oid:1.2.250.1.213.1.4.11")
BATCH = 5000

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS segments(
  seq INTEGER PRIMARY KEY, sha256 TEXT NOT NULL, kind TEXT NOT NULL, time TEXT NOT NULL,
  source TEXT NOT NULL, puts INTEGER NOT NULL, deletes INTEGER NOT NULL,
  outcome TEXT NOT NULL, reason TEXT, accounted TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS resources(
  type TEXT NOT NULL, id TEXT NOT NULL, patient TEXT, updated TEXT, json BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS patients(
  id TEXT NOT NULL, family TEXT, given TEXT, name_norm TEXT NOT NULL, birth_date TEXT,
  gender TEXT, ipp TEXT, ins TEXT, active INTEGER NOT NULL, deceased INTEGER NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS patient_names USING fts5(name, tokenize='trigram');
CREATE TABLE IF NOT EXISTS locations(
  id TEXT NOT NULL, name TEXT, physical_type TEXT, part_of TEXT, status TEXT,
  operational TEXT, phone TEXT);
CREATE TABLE IF NOT EXISTS stays(
  encounter TEXT NOT NULL, patient TEXT, status TEXT, class TEXT, start TEXT, end TEXT,
  location TEXT, attending TEXT, current INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS bookings(
  appointment TEXT NOT NULL, day TEXT, start TEXT, end TEXT, patient TEXT, location TEXT,
  status TEXT);
"""

# created after a bulk load (a generation build), or at once for an empty one
INDEXES = """
CREATE UNIQUE INDEX IF NOT EXISTS resources_key ON resources(type, id);
CREATE INDEX IF NOT EXISTS resources_patient ON resources(patient, type) WHERE patient IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS patients_id ON patients(id);
CREATE INDEX IF NOT EXISTS patients_ipp ON patients(ipp) WHERE ipp IS NOT NULL;
CREATE INDEX IF NOT EXISTS patients_ins ON patients(ins) WHERE ins IS NOT NULL;
CREATE INDEX IF NOT EXISTS patients_birth ON patients(birth_date);
CREATE UNIQUE INDEX IF NOT EXISTS locations_id ON locations(id);
CREATE INDEX IF NOT EXISTS locations_part_of ON locations(part_of);
CREATE UNIQUE INDEX IF NOT EXISTS stays_encounter ON stays(encounter);
CREATE INDEX IF NOT EXISTS stays_location ON stays(location) WHERE current = 1;
CREATE INDEX IF NOT EXISTS stays_patient ON stays(patient);
CREATE UNIQUE INDEX IF NOT EXISTS bookings_appointment ON bookings(appointment);
CREATE INDEX IF NOT EXISTS bookings_day ON bookings(day, start);
"""


class IndexError_(Exception):
    """The index cannot be opened or does not belong to this station's vault."""


@dataclass(frozen=True)
class SegmentMeta:
    """What the station verified of a segment before applying it (from its signature)."""

    seq: int
    sha256: str
    kind: str
    time: str
    source: str
    puts: int
    deletes: int
    suspect: str | None = None


@dataclass(frozen=True)
class Head:
    seq: int  # the last segment accounted for (applied, or skipped as suspect)
    sha256: str  # its hash: the next segment must chain onto it
    state_seq: int  # the last segment whose content is in the index
    state_time: str | None  # its capture time: how old the data shown is


# --- parsing the plaintext lines -------------------------------------------------------------


class _Ref(msgspec.Struct):
    reference: str | None = None


class _Meta(msgspec.Struct):
    lastUpdated: str | None = None


class _Key(msgspec.Struct):
    resourceType: str
    id: str


class _Line(msgspec.Struct):
    """The members of a line every record needs; the rest of the line is only skipped."""

    resourceType: str = ""
    id: str = ""
    meta: _Meta | None = None
    subject: _Ref | None = None
    patient: _Ref | None = None
    beneficiary: _Ref | None = None
    delete: _Key | None = None


_decode_line = msgspec.json.Decoder(_Line).decode
PROJECTED = frozenset({"Patient", "Location", "Encounter", "Appointment"})


@dataclass
class Row:
    """One record of a segment, ready for the tables."""

    type: str
    id: str
    deleted: bool
    line: bytes = b""
    patient: str | None = None
    updated: str | None = None
    resource: dict | None = None  # decoded only for the projected types


class RecordError(ValueError):
    """A plaintext line that is not a record (the segment is refused whole)."""


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
    if row.type == "Patient":
        row.patient = row.id
    else:
        for ref in (head.subject, head.patient, head.beneficiary):
            if ref is not None and (pid := target_id(ref.reference, "Patient")):
                row.patient = pid
                break
    if row.type in PROJECTED:
        row.resource = orjson.loads(line)
        if row.type == "Appointment" and row.patient is None:
            row.patient = _appointment_patient(row.resource)
    return row


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
    name_norm = " ".join(dict.fromkeys(w for w in fold(" ".join(every)).split()))
    ipp, ins = _identifiers(resource)
    deceased = bool(resource.get("deceasedBoolean")) or "deceasedDateTime" in resource
    active = resource.get("active", True) is not False
    return (resource.get("id"), family, given, name_norm, _text(resource.get("birthDate")),
            _text(resource.get("gender")), ipp, ins, int(active), int(deceased))


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
    period = resource.get("period") if isinstance(resource.get("period"), dict) else {}
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
    return (resource.get("id"), local_day(start), start, _text(resource.get("end")), patient,
            room, _text(resource.get("status")))


def local_day(instant: str | None) -> str | None:
    """The Europe/Paris calendar day of a FHIR dateTime (a date stays itself)."""
    if not instant:
        return None
    try:
        when = dt.datetime.fromisoformat(instant.replace("Z", "+00:00"))
    except ValueError:
        return instant[:10] if len(instant) >= 10 else None
    if when.tzinfo is None:
        return when.date().isoformat()
    return when.astimezone(PARIS).date().isoformat()


_PROJECTIONS = {
    "Patient": ("patients", "id"),
    "Location": ("locations", "id"),
    "Encounter": ("stays", "encounter"),
    "Appointment": ("bookings", "appointment"),
}


def _projection(row: Row) -> tuple | None:
    resource = row.resource or {}
    if row.type == "Patient":
        return patient_row(resource)
    if row.type == "Location":
        return location_row(resource)
    if row.type == "Encounter":
        return stay_row(resource, row.patient)
    if row.type == "Appointment":
        return booking_row(resource, row.patient)
    return None


_INSERTS = {
    "patients": "INSERT INTO patients(id, family, given, name_norm, birth_date, gender, ipp, "
                "ins, active, deceased) VALUES (?,?,?,?,?,?,?,?,?,?)",
    "locations": "INSERT INTO locations VALUES (?,?,?,?,?,?,?)",
    "stays": "INSERT INTO stays VALUES (?,?,?,?,?,?,?,?,?)",
    "bookings": "INSERT INTO bookings VALUES (?,?,?,?,?,?,?)",
}


# --- generations --------------------------------------------------------------------------------


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def current_generation(station_dir: Path) -> Path | None:
    """The database the CURRENT file names, or None for a station that holds no data yet."""
    pointer = station_dir / INDEX_DIR / CURRENT_NAME
    try:
        name = pointer.read_text().strip()
    except FileNotFoundError:
        return None
    path = station_dir / INDEX_DIR / name
    if not name.endswith(".sqlite") or "/" in name or not path.exists():
        raise IndexError_(f"{pointer} names {name!r}, which is not an index generation here")
    return path


def _write_pointer(index_dir: Path, name: str) -> None:
    temp = index_dir / f".{CURRENT_NAME}.tmp"
    with open(temp, "w") as handle:
        handle.write(name + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, index_dir / CURRENT_NAME)
    fd = os.open(index_dir, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _generation_name(number: int) -> str:
    return f"gen-{number:08d}.sqlite"


def _next_generation(index_dir: Path) -> tuple[int, Path]:
    numbers = [int(p.name[4:12]) for p in index_dir.glob("gen-*.sqlite") if p.name[4:12].isdigit()]
    number = max(numbers, default=0) + 1
    return number, index_dir / _generation_name(number)


def remove_stale_generations(station_dir: Path) -> None:
    """Drop generations CURRENT does not name: builds a crash interrupted, superseded ones.

    A page still reading a superseded one keeps its open file (POSIX) until it reopens."""
    current = current_generation(station_dir)
    for path in (station_dir / INDEX_DIR).glob("gen-*.sqlite*"):
        if current is None or not path.name.startswith(current.name):
            path.unlink(missing_ok=True)


# --- the index ----------------------------------------------------------------------------------


class Index:
    """The writable index a sync holds; pages open their own read-only connections."""

    def __init__(self, station_dir: Path, vault_id: str, genesis: str):
        self.station_dir = Path(station_dir)
        self.dir = self.station_dir / INDEX_DIR
        self.dir.mkdir(mode=0o700, exist_ok=True)
        self.vault_id = vault_id
        self.genesis = genesis
        path = current_generation(self.station_dir)
        if path is None:
            path = self._new_generation(empty=True)
        self.conn = connect(path)
        self._check_meta()

    def close(self) -> None:
        self.conn.close()

    # --- what the index holds --------------------------------------------------------------

    def head(self) -> Head:
        meta = dict(self.conn.execute("SELECT key, value FROM meta"))
        return Head(int(meta.get("seq", 0)), meta.get("sha256", self.genesis),
                    int(meta.get("state_seq", 0)), meta.get("state_time"))

    def counts(self) -> dict[str, int]:
        return dict(self.conn.execute("SELECT type, count(*) FROM resources GROUP BY type"))

    # --- applying segments ---------------------------------------------------------------------

    def apply_delta(self, segment: SegmentMeta, rows: Iterable[Row]) -> int:
        """Apply a delta in one transaction with the head it leads to; returns records."""
        count = 0
        with self._transaction():
            for batch in _batches(rows):
                last = list({(r.type, r.id): r for r in batch}.values())  # later line wins
                self._remove([(r.type, r.id) for r in last])
                _insert_rows(self.conn, [r for r in last if not r.deleted], names=True)
                count += len(batch)
            self._account(segment, "applied", None, state=True)
        return count

    def skip(self, segment: SegmentMeta, reason: str) -> None:
        """Account for a segment whose content the station does not adopt (suspect): the
        chain moves on, the data shown stays the last good state."""
        with self._transaction():
            self._account(segment, "skipped", reason, state=False)

    def rebuild(self, segment: SegmentMeta, rows: Iterable[Row]) -> int:
        """Load a full segment into a new generation, then switch to it atomically."""
        path = self._new_generation(empty=False)
        build = sqlite3.connect(path, isolation_level=None)
        try:
            build.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;")
            build.executescript(SCHEMA)
            build.execute("BEGIN")
            count = 0
            previous = list(self.conn.execute("SELECT * FROM segments"))
            build.executemany("INSERT INTO segments VALUES (?,?,?,?,?,?,?,?,?,?)", previous)
            for batch in _batches(rows):
                _insert_rows(build, [r for r in batch if not r.deleted], names=False)
                count += len(batch)
            build.execute("COMMIT")
            _deduplicate(build)
            build.execute("INSERT INTO patient_names(rowid, name) SELECT rowid, name_norm FROM patients")
            build.executescript(INDEXES)
            _set_meta(build, self._identity_meta())
            _account_in(build, segment, "applied", None, state=True)
            build.execute("PRAGMA journal_mode=WAL")
            build.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except BaseException:
            build.close()
            path.unlink(missing_ok=True)
            raise
        build.close()
        _fsync_file(path)
        _write_pointer(self.dir, path.name)
        self.conn.close()
        self.conn = connect(path)
        remove_stale_generations(self.station_dir)
        return count

    # --- internals --------------------------------------------------------------------------

    def _new_generation(self, empty: bool) -> Path:
        _, path = _next_generation(self.dir)
        if empty:
            conn = connect(path)
            conn.executescript(SCHEMA + INDEXES)
            _set_meta(conn, self._identity_meta())
            conn.close()
            _write_pointer(self.dir, path.name)
        return path

    def _identity_meta(self) -> dict[str, str]:
        return {"format": FORMAT, "vault_id": self.vault_id, "genesis": self.genesis}

    def _check_meta(self) -> None:
        meta = dict(self.conn.execute("SELECT key, value FROM meta"))
        if meta.get("format") != FORMAT:
            raise IndexError_(f"the station index is format {meta.get('format')!r}, "
                              f"this Relève reads format {FORMAT}")
        if meta.get("vault_id") != self.vault_id or meta.get("genesis") != self.genesis:
            raise IndexError_("the station index was filled from another vault")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def _remove(self, keys: list[tuple[str, str]]) -> None:
        conn = self.conn
        conn.executemany("DELETE FROM resources WHERE type = ? AND id = ?", keys)
        for rtype, (table, column) in _PROJECTIONS.items():
            ids = [(rid,) for kind, rid in keys if kind == rtype]
            if not ids:
                continue
            if table == "patients":
                conn.executemany("DELETE FROM patient_names WHERE rowid IN "
                                 "(SELECT rowid FROM patients WHERE id = ?)", ids)
            conn.executemany(f"DELETE FROM {table} WHERE {column} = ?", ids)

    def _account(self, segment: SegmentMeta, outcome: str, reason: str | None,
                 state: bool) -> None:
        _account_in(self.conn, segment, outcome, reason, state)


def _insert_rows(conn: sqlite3.Connection, rows: list[Row], names: bool) -> None:
    """Insert resources and their projections; `names` fills the name index row by row
    (a generation build fills it once at the end, before patients.id has an index)."""
    conn.executemany("INSERT INTO resources VALUES (?,?,?,?,?)",
                     [(r.type, r.id, r.patient, r.updated, r.line) for r in rows])
    by_table: dict[str, list[tuple]] = {}
    for row in rows:
        if row.type in _PROJECTIONS and (values := _projection(row)) is not None:
            by_table.setdefault(_PROJECTIONS[row.type][0], []).append(values)
    for table, values in by_table.items():
        conn.executemany(_INSERTS[table], values)
        if table == "patients" and names:
            conn.executemany("INSERT INTO patient_names(rowid, name) SELECT rowid, name_norm "
                             "FROM patients WHERE id = ?", [(v[0],) for v in values])


def _deduplicate(conn: sqlite3.Connection) -> None:
    """A full segment holds each resource once (the writer guarantees it); should one hold a
    resource twice, the later line wins, as it would have in a delta."""
    conn.execute("DELETE FROM resources WHERE rowid NOT IN "
                 "(SELECT max(rowid) FROM resources GROUP BY type, id)")
    for table, column in _PROJECTIONS.values():
        conn.execute(f"DELETE FROM {table} WHERE rowid NOT IN "
                     f"(SELECT max(rowid) FROM {table} GROUP BY {column})")


def _account_in(conn: sqlite3.Connection, segment: SegmentMeta, outcome: str,
                reason: str | None, state: bool) -> None:
    conn.execute("INSERT OR REPLACE INTO segments VALUES (?,?,?,?,?,?,?,?,?,?)",
                 (segment.seq, segment.sha256, segment.kind, segment.time, segment.source,
                  segment.puts, segment.deletes, outcome, reason, utc_text()))
    values = {"seq": str(segment.seq), "sha256": segment.sha256}
    if state:
        values.update(state_seq=str(segment.seq), state_time=segment.time)
    _set_meta(conn, values)


def _set_meta(conn: sqlite3.Connection, values: dict[str, str]) -> None:
    conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(values.items()))


def _batches(rows: Iterable[Row]) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def utc_text() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def reader(station_dir: Path) -> sqlite3.Connection | None:
    """A read-only connection to the current generation (None before the first sync)."""
    path = current_generation(Path(station_dir))
    return None if path is None else connect(path, readonly=True)


def key_of(reference: Any) -> str | None:
    """`Type/id` of a reference, as the resources table is keyed."""
    found = target(reference)
    return f"{found[0]}/{found[1]}" if found else None
