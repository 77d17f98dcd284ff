"""One journal entry: its bytes on disk, its hash, its signature (docs/journal.md §2).

A line of a journal file is a JSON object whose last member is `"sig"`:

    {"journal":1,"station":"…","seq":7,"prev":"…",…,"resource":{…},"sig":"…"}

The *body* is the line without its `,"sig":"…"` member: the bytes from the start of
the line to the last `,"sig":"` (excluded), followed by `}`. The body is what is
hashed (SHA-256, the next entry's `prev`) and signed (minisign's prehashed Ed25519, the
whole minisign signature text being the value of `sig`). Readers never re-encode JSON:
they cut the line's bytes, so `sed`, `sha256sum`, `jq -r .sig` and `minisign -V` check an
entry exactly as Relève does.

Why the signature sits inside the line rather than in a file beside it: one write and one
fsync make an entry durable, and a line is then the whole proof of itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import orjson

from ..fhir.clinical.values import first_code
from . import keys
from .errors import JournalError
from .keys import PublicKey, SecretKey

VERSION = 1
GENESIS = "0" * 64
SIG_MARK = b',"sig":"'
IDENTIFIER_SYSTEM = "urn:ietf:rfc:3986"  # the value is a urn:uuid: the HIS keeps it as is
MAX_LINE = 1 << 20  # an entry is a resource a person typed: 1 MiB is far beyond any


@dataclass(frozen=True)
class Author:
    """Who wrote an entry: the signed-in account (or API token), as the station knows it."""

    user: str
    name: str
    role: str

    def as_json(self) -> dict[str, str]:
        return {"user": self.user, "name": self.name, "role": self.role}


@dataclass(frozen=True)
class Draft:
    """What a form or the API asks to record; the journal adds the envelope.

    `resource` has no `id` nor journal identifier for something new: `Journal.append`
    gives it both. A correction names the entry it `supersedes` and keeps the resource's
    id and identifier (append copies them from that entry)."""

    kind: str
    patient: str | None  # "Patient/<id>": a patient of the vault, or one admitted here
    resource: dict
    supersedes: str | None = None  # "<station>/<seq>" of the entry replaced
    reason: str | None = None  # why a correction or cancellation was made


@dataclass(frozen=True)
class Entry:
    """An entry as read back (or just written): its parsed body and its exact line."""

    body: dict[str, Any]
    line: bytes  # without the final LF
    hash: str

    @property
    def station(self) -> str:
        return self.body["station"]

    @property
    def seq(self) -> int:
        return self.body["seq"]

    @cached_property
    def key(self) -> str:
        """How other entries and the pages name this one: "<station>/<seq>"."""
        return entry_key(self.station, self.seq)

    @property
    def kind(self) -> str:
        return self.body["kind"]

    @property
    def patient(self) -> str | None:
        return self.body.get("patient")

    @property
    def resource(self) -> dict:
        return self.body["resource"]

    @property
    def time(self) -> str:
        return self.body["time"]

    @cached_property
    def author(self) -> Author:
        raw = self.body["author"]
        return Author(raw["user"], raw.get("name", raw["user"]), raw["role"])

    @property
    def supersedes(self) -> str | None:
        return self.body.get("supersedes")

    @cached_property
    def when(self) -> float:
        """The clinical time of what was recorded (a measure's effective time, a note's
        date...), as a timestamp; the entry's own time when the resource has none. Kept:
        the journal keeps read entries, and pages sort hundreds of them by it."""
        for name in CLINICAL_TIMES:
            found = _timestamp(self.resource.get(name))
            if found is not None:
                return found
        return _timestamp(self.time) or 0.0

    @cached_property
    def code(self) -> str:
        """The first code of the resource's `code` (a measure's LOINC code), "" if none."""
        return first_code(self.resource.get("code"))

    @property
    def identifier(self) -> str | None:
        """The value of the resource's journal identifier (urn:uuid:…), kept into the HIS."""
        return journal_identifier(self.resource)


CLINICAL_TIMES = ("effectiveDateTime", "occurrenceDateTime", "sent", "date", "authoredOn",
                  "recorded", "deceasedDateTime")


def _timestamp(text: object) -> float | None:
    """A FHIR dateTime with a time and an offset as a timestamp, else None."""
    if not isinstance(text, str) or len(text) <= 10:
        return None
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.timestamp() if when.tzinfo is not None else None


def utc_text(when: dt.datetime) -> str:
    """Envelope times: UTC, milliseconds, Z (they sort as text)."""
    return when.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def entry_key(station: str, seq: int) -> str:
    return f"{station}/{seq}"


def journal_identifier(resource: dict) -> str | None:
    for identifier in resource.get("identifier") or []:
        if isinstance(identifier, dict) and identifier.get("system") == IDENTIFIER_SYSTEM \
                and str(identifier.get("value", "")).startswith("urn:uuid:"):
            return identifier["value"]
    return None


def made_in_downtime(first: Entry) -> bool:
    """Whether the resource whose first entry is `first` was made during the downtime, so
    that the HIS has never held it (the way back creates it), rather than being a new
    version of one the HIS holds (a movement or a death on a vault patient keeps the
    HIS's id, §5.4). An admission gives its Patient and Encounter ids of its own before
    the append; every other new resource has the uuid of its journal identifier as id."""
    return first.kind == "admission" or \
        first.identifier == f"urn:uuid:{first.resource.get('id')}"


def trusted_comment(station: str, seq: int) -> str:
    return f"releve journal {station} {seq}"


def seal(body: dict[str, Any], key: SecretKey) -> Entry:
    """The line of a new entry: the body as JSON, then its signature as the last member."""
    encoded = orjson.dumps(body)
    signature = keys.sign(key, encoded, trusted_comment(body["station"], body["seq"]))
    line = encoded[:-1] + SIG_MARK[:-1] + orjson.dumps(signature) + b"}"
    return Entry(body, line, hashlib.sha256(encoded).hexdigest())


def split(line: bytes) -> tuple[bytes, str]:
    """(body bytes, signature text) of a line, or JournalError saying what is wrong."""
    if len(line) > MAX_LINE:
        raise JournalError(f"entry of {len(line)} bytes, more than {MAX_LINE}")
    cut = line.rfind(SIG_MARK)
    if cut < 0 or not line.endswith(b'"}'):
        raise JournalError("entry has no signature member at its end")
    try:
        signature = orjson.loads(line[cut + len(SIG_MARK) - 1:-1])
    except orjson.JSONDecodeError as exc:
        raise JournalError("entry's signature member is not a JSON string") from exc
    if not isinstance(signature, str):
        raise JournalError("entry's signature member is not a JSON string")
    return line[:cut] + b"}", signature


def parse(line: bytes) -> Entry:
    """An entry from its line, its envelope checked for shape (not its chain nor signature)."""
    raw, _ = split(line)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise JournalError(f"entry body is not JSON ({exc})") from exc
    check_envelope(body)
    return Entry(body, line, hashlib.sha256(raw).hexdigest())


def indexed(line: bytes, hash_: str) -> Entry:
    """An entry read back from the index, which checked it when it was read in: the line
    is parsed once as a whole (its `sig` member set aside), and not hashed again."""
    body = orjson.loads(line)
    body.pop("sig", None)
    return Entry(body, line, hash_)


def check_envelope(body: Any) -> None:
    """The members every entry has, of the right type (docs/journal.md §2.2)."""
    if not isinstance(body, dict):
        raise JournalError("entry body is not a JSON object")
    if body.get("journal") != VERSION:
        raise JournalError(f"entry of journal version {body.get('journal')!r}, not {VERSION}")
    for name, kind in (("station", str), ("seq", int), ("prev", str), ("time", str),
                       ("kind", str), ("author", dict), ("resource", dict)):
        if not isinstance(body.get(name), kind) or isinstance(body.get(name), bool):
            raise JournalError(f"entry member {name!r} missing or not a {kind.__name__}")
    if body["seq"] < 1:
        raise JournalError(f"entry number {body['seq']} is below 1")
    for name in ("user", "role"):
        if not isinstance(body["author"].get(name), str):
            raise JournalError(f"entry author has no {name!r}")
    if not isinstance(body["resource"].get("resourceType"), str):
        raise JournalError("entry resource has no resourceType")


def check_signature(entry: Entry, public: PublicKey) -> None:
    """The entry's minisign signature over its body, by the station's pinned key."""
    raw, text = split(entry.line)
    try:
        comment = keys.verify(public, raw, text)
    except JournalError as exc:
        raise JournalError(f"entry {entry.key}: bad signature ({exc})") from exc
    if comment != trusted_comment(entry.station, entry.seq):
        raise JournalError(f"entry {entry.key}: signature made for another entry ({comment!r})")


def check_link(entry: Entry, station: str, seq: int, prev: str) -> None:
    """That `entry` is the one expected after (seq - 1, prev) in `station`'s chain."""
    if entry.station != station:
        raise JournalError(f"entry {entry.key} in the journal of station {station}")
    if entry.seq != seq:
        raise JournalError(f"entry {entry.key} where entry {entry_key(station, seq)} was expected "
                           "(reordered, missing or repeated)")
    if entry.body["prev"] != prev:
        raise JournalError(f"entry {entry.key} does not follow entry {entry_key(station, seq - 1)} "
                           "(its prev hash differs: altered or reordered)")
