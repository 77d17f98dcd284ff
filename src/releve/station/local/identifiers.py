"""Pre-allocated downtime identifiers: the IPP and stay number ranges a station gives out.

A hospital reserves ranges of patient numbers (IPP) and stay numbers for its downtime;
each station is given its own ranges (`releve station identifiers`) and hands out their
numbers one by one, to admissions and to printed labels. The one rule that matters: a
number is never given twice. Hence:

- ranges never overlap: a range is refused when it overlaps another range of the same
  kind that this station holds, or one its peers announced (`peers-ranges.json`, filled
  by the peer pulls; `known_peer_ranges`), whatever their systems;
- every number given is a row of `id_given` in `local.sqlite`, taken under BEGIN
  IMMEDIATE, so two nurses admitting at the same second get two numbers;
- printing a label or a blank admission form *reserves* the numbers printed (state
  `printed`): a pre-stuck paper form may be used at any time, so the admission form never
  hands out a printed number; an admission typed later from such a form gives the label's
  number, which then turns `admitted`. A printed number that is never used is lost, a gap
  the HIS accepts; a number given to two patients it cannot undo.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import orjson

from ... import clock
from ...errors import ReleveError
from .accounts import connect, create_local_db, write_transaction

KINDS = ("ipp", "stay")
WARN_SHARE = 0.8  # at this share used, the station says the range is running out
PEERS_FILE = "peers-ranges.json"
DEFAULT_SYSTEMS = {"ipp": "urn:releve:mode-degrade:ipp", "stay": "urn:releve:mode-degrade:sejour"}
MAX_DIGITS = 18  # fits SQLite's 64-bit integers
RANGE = re.compile(r"\s*(\d{1,18})\s*-\s*(\d{1,18})\s*")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS id_ranges (
    kind   TEXT NOT NULL,              -- 'ipp' or 'stay'
    first  INTEGER NOT NULL,
    last   INTEGER NOT NULL,
    width  INTEGER NOT NULL,           -- digits written, zero-padded (0: as is)
    system TEXT NOT NULL,              -- the identifier system of its numbers
    added  TEXT NOT NULL,
    PRIMARY KEY (kind, first)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS id_given (
    kind   TEXT NOT NULL,
    number INTEGER NOT NULL,
    state  TEXT NOT NULL,              -- 'printed' (reserved on paper) or 'admitted'
    time   TEXT NOT NULL,
    PRIMARY KEY (kind, number)
) WITHOUT ROWID;
"""


class IdentifierError(ReleveError):
    """A range refused, or no number left: said in words for the operator or the nurse."""


@dataclass(frozen=True)
class Range:
    kind: str
    first: int
    last: int
    width: int = 0
    system: str = ""
    station: str = ""  # a peer's id, for a peer's range

    @property
    def size(self) -> int:
        return self.last - self.first + 1

    def text(self, number: int) -> str:
        return str(number).zfill(self.width)

    def overlaps(self, other: Range) -> bool:
        return self.kind == other.kind and self.first <= other.last and other.first <= self.last

    def label(self) -> str:
        return f"{self.text(self.first)}-{self.text(self.last)}"


@dataclass(frozen=True)
class Number:
    """One identifier given: its value as written, and its system."""

    kind: str
    value: str
    system: str


@dataclass(frozen=True)
class Usage:
    range: Range
    used: int

    @property
    def free(self) -> int:
        return self.range.size - self.used


def parse_range(kind: str, text: str, system: str) -> Range:
    """'900000-900999' as a Range; leading zeros are kept in the numbers written."""
    match = RANGE.fullmatch(text or "")
    if not match:
        raise IdentifierError(f"--{kind}: write the range as FROM-TO, digits only (e.g. 900000-900999)")
    first, last = int(match[1]), int(match[2])
    if last < first:
        raise IdentifierError(f"--{kind}: {match[2]} comes before {match[1]}")
    width = len(match[1]) if match[1].startswith("0") and len(match[1]) > 1 else 0
    return Range(kind, first, last, width, system)


def known_peer_ranges(station_dir: Path) -> list[Range]:
    """The ranges the peers announced, from `peers-ranges.json` (docs/journal.md §5.7):

        {"<peer station id>": {"ranges": [{"kind": "ipp", "first": "900000",
                                           "last": "900999", "system": "urn:…"}, …]}, …}

    A missing file means no peer known yet; a file that cannot be read is an error (a
    range checked against nothing could overlap a peer's)."""
    path = Path(station_dir) / PEERS_FILE
    try:
        raw = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return []
    except orjson.JSONDecodeError as exc:
        raise IdentifierError(f"{path}: not JSON ({exc})") from exc
    found = []
    try:
        for station, entry in raw.items():
            for item in entry.get("ranges") or []:
                first, last = str(item["first"]), str(item["last"])
                kind = item["kind"]
                if kind in KINDS:
                    found.append(Range(kind, int(first), int(last), 0, str(item.get("system", "")),
                                       station))
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise IdentifierError(f"{path}: not the expected shape ({exc})") from exc
    return found


class Identifiers:
    """A station's ranges and the numbers it gave, in its local.sqlite."""

    def __init__(self, station_dir: Path) -> None:
        self.dir = Path(station_dir)
        self.path = create_local_db(self.dir, _SCHEMA, IdentifierError)

    def add(self, wanted: Range) -> Range:
        """Keep a new range, once it overlaps nothing known (own ranges, peers' ranges)."""
        peers = known_peer_ranges(self.dir)
        with connect(self.path) as db, write_transaction(db):
            for other in [*_ranges(db, wanted.kind), *peers]:
                if wanted.overlaps(other):
                    whose = f"station {other.station}'s" if other.station else "this station's"
                    raise IdentifierError(f"{wanted.kind} range {wanted.label()} overlaps "
                                          f"{whose} range {other.label()}: refused")
            db.execute("INSERT INTO id_ranges (kind, first, last, width, system, added) "
                       "VALUES (?, ?, ?, ?, ?, ?)", (wanted.kind, wanted.first, wanted.last,
                                                     wanted.width, wanted.system, _now()))
        return wanted

    def ranges(self, kind: str | None = None) -> list[Range]:
        with connect(self.path) as db:
            return [r for k in ((kind,) if kind else KINDS) for r in _ranges(db, k)]

    def usage(self) -> list[Usage]:
        """Each range with how many of its numbers were given (admitted or printed)."""
        with connect(self.path) as db:
            return [Usage(r, db.execute("SELECT count(*) FROM id_given WHERE kind = ? AND number "
                                        "BETWEEN ? AND ?", (r.kind, r.first, r.last)).fetchone()[0])
                    for k in KINDS for r in _ranges(db, k)]

    def running_out(self) -> list[str]:
        """A sentence per kind whose ranges are 80 % used or more (English, for the CLI;
        the pages say it in French from `shares`)."""
        return [f"downtime {kind} numbers: {used} of {total} used ({round(100 * used / total)} %); "
                "assign a new range with `releve station identifiers`"
                for kind, (used, total) in self.shares().items()
                if total == 0 or used >= WARN_SHARE * total]

    def shares(self) -> dict[str, tuple[int, int]]:
        """(used, total) per kind, over the kind's ranges: only kinds with a range."""
        out: dict[str, tuple[int, int]] = {}
        for use in self.usage():
            used, total = out.get(use.range.kind, (0, 0))
            out[use.range.kind] = (used + use.used, total + use.range.size)
        return out

    def peek(self, kind: str, count: int = 1) -> list[Number]:
        """The next free numbers, not taken: what a form shows before it is sent."""
        with connect(self.path) as db:
            return _next_free(db, kind, count)

    def take(self, kind: str, label: str | None = None, state: str = "admitted",
             count: int = 1) -> list[Number]:
        """Give numbers for good: the next free ones, or the printed label's number typed
        from a pre-stuck form (which must be one of ours, printed, and not yet admitted)."""
        with connect(self.path) as db, write_transaction(db):
            return _take(db, kind, label, state, count)

    def take_admission(self, ipp_label: str | None, stay_label: str | None) -> tuple[Number, Number]:
        """An IPP and a stay number together: both or neither."""
        with connect(self.path) as db, write_transaction(db):
            return _take(db, "ipp", ipp_label, "admitted", 1)[0], \
                _take(db, "stay", stay_label, "admitted", 1)[0]

    def reserve(self, count: int) -> list[tuple[Number, Number]]:
        """(IPP, stay number) pairs for printed labels or forms: reserved for good (see the
        module's docstring), both kinds or neither."""
        with connect(self.path) as db, write_transaction(db):
            return list(zip(_take(db, "ipp", None, "printed", count),
                            _take(db, "stay", None, "printed", count), strict=True))

    def document(self) -> dict:
        """This station's ranges as its peers read them (the shape of one member of
        peers-ranges.json): for the peers part to serve with the station's status."""
        return {"ranges": [{"kind": r.kind, "first": r.text(r.first), "last": r.text(r.last),
                            "system": r.system} for r in self.ranges()]}


def _ranges(db: sqlite3.Connection, kind: str) -> list[Range]:
    return [Range(kind, *row) for row in db.execute(
        "SELECT first, last, width, system FROM id_ranges WHERE kind = ? ORDER BY first", (kind,))]


def _next_free(db: sqlite3.Connection, kind: str, count: int) -> list[Number]:
    """The lowest numbers no row of id_given holds, range after range."""
    found: list[Number] = []
    for chosen in _ranges(db, kind):
        taken = {row[0] for row in db.execute(
            "SELECT number FROM id_given WHERE kind = ? AND number BETWEEN ? AND ?",
            (kind, chosen.first, chosen.last))}
        number = chosen.first
        while number <= chosen.last and len(found) < count:
            if number not in taken:
                found.append(Number(kind, chosen.text(number), chosen.system))
            number += 1
        if len(found) == count:
            break
    return found


def _take(db: sqlite3.Connection, kind: str, label: str | None, state: str,
          count: int) -> list[Number]:
    if label:
        return [_take_label(db, kind, label)]
    found = _next_free(db, kind, count)
    if len(found) < count:
        raise IdentifierError(used_up(kind))
    db.executemany("INSERT INTO id_given (kind, number, state, time) VALUES (?, ?, ?, ?)",
                   [(kind, int(n.value), state, _now()) for n in found])
    return found


def _take_label(db: sqlite3.Connection, kind: str, label: str) -> Number:
    """A number printed on a label, now given to the patient admitted from that form."""
    text = label.strip()
    chosen = next((r for r in _ranges(db, kind) if text.isdigit() and len(text) <= MAX_DIGITS
                   and r.first <= int(text) <= r.last), None)
    if chosen is None:
        raise IdentifierError(f"{kind}:not-ours")
    row = db.execute("SELECT state FROM id_given WHERE kind = ? AND number = ?",
                     (kind, int(text))).fetchone()
    if row is None or row[0] != "printed":
        raise IdentifierError(f"{kind}:{'given' if row else 'not-printed'}")
    db.execute("UPDATE id_given SET state = 'admitted', time = ? WHERE kind = ? AND number = ?",
               (_now(), kind, int(text)))
    return Number(kind, chosen.text(int(text)), chosen.system)


def used_up(kind: str) -> str:
    return f"{kind}:used-up"


def _now() -> str:
    return clock.now().isoformat(timespec="seconds")


def vault_systems(conn: sqlite3.Connection | None, sample: int = 2000) -> dict[str, str]:
    """The systems the vault's numbers use, as defaults for new ranges: the system of the
    IPP most patients carry (type PI, else MR: the identifier the summary shows as IPP,
    records/projections.py), and the one most stays carry; else the documented URNs."""
    found = dict(DEFAULT_SYSTEMS)
    if conn is None:
        return found
    for kind, rtype, wanted in (("ipp", "Patient", ("PI", "MR")), ("stay", "Encounter", ("VN", ""))):
        counts: dict[str, int] = {}
        rows = conn.execute("SELECT json FROM resources WHERE type = ? LIMIT ?", (rtype, sample))
        for (raw,) in rows:
            for ident in _identifiers_of(raw):
                if ident[1] in wanted and ident[0]:
                    counts[ident[0]] = counts.get(ident[0], 0) + (2 if ident[1] == wanted[0] else 1)
        if counts:
            found[kind] = max(sorted(counts), key=counts.__getitem__)
    return found


def _identifiers_of(raw: str | bytes) -> list[tuple[str, str]]:
    """(system, type code) of each identifier of a resource's JSON ('' when absent)."""
    try:
        resource = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return []
    out = []
    for ident in resource.get("identifier") or [] if isinstance(resource, dict) else []:
        if not isinstance(ident, dict) or not isinstance(ident.get("system"), str):
            continue
        codings = (ident.get("type") or {}).get("coding") or [] if isinstance(ident.get("type"), dict) else []
        code = next((c.get("code") for c in codings if isinstance(c, dict) and c.get("code")), "")
        out.append((ident["system"], code if isinstance(code, str) else ""))
    return out
