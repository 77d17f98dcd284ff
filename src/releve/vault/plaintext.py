"""What a segment's plaintext must be (format 7.2 to 7.4), checked the same way by every
reader: `verify --identity`, `vault cat`, a writer's rebuild and a station's sync.

A reader refuses the whole segment at the first line that breaks a rule, and after the
last line if the records do not number what the header and the signed descriptor say.
Two readers applying these rules cannot disagree on whether a segment is sound, nor on
the state it makes. The station parses its records its own faster way (in blocks, in
worker processes) but calls `check_block`, `keys_sound`, `check_put` and `Tally` from
here, so the rules themselves exist once.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple, Protocol

import msgspec
import orjson

from . import format as fmt
from .chain import BrokenSegment
from .errors import VaultError
from .format import DELETE_PREFIX, ID_RE, TYPE_RE, FormatError
from .segment import DecryptError, open_plaintext

KEYS_RE = re.compile(rf"(?:{fmt.TYPE}/{fmt.ID}\n)*")  # keys, each followed by LF


class Mismatch(VaultError):
    """A plaintext that is not what its signed descriptor says."""


class Lines(Protocol):
    """A plaintext as read: its first line, then the others by iteration."""

    def readline(self, size: int = -1) -> bytes: ...
    def __iter__(self) -> Iterator[bytes]: ...


# --- the header line ------------------------------------------------------------------------------


def read_header(plaintext: Lines) -> fmt.Header:
    """The header line, at most 1 MiB, ended by LF, and a line as 7.2 says (not empty, no
    CR, UTF-8); FormatError if not. An empty plaintext is an EmptyPlaintext."""
    first = plaintext.readline(fmt.HEADER_LINE_MAX + 1)
    if not first:
        raise EmptyPlaintext("empty plaintext")
    if not first.endswith(b"\n"):
        if len(first) > fmt.HEADER_LINE_MAX:
            raise FormatError("plaintext header line is longer than 1 MiB")
        raise FormatError("plaintext does not end with a line feed")
    check_text(first, 1)
    return fmt.Header.from_line(first)


class EmptyPlaintext(FormatError):
    """A plaintext without even a header line."""


def check_header(header: fmt.Header, descriptor: fmt.Descriptor) -> None:
    """The plaintext's header must repeat the signed descriptor (texts shortened as a
    writer shortens them before signing)."""
    if header.descriptor.signed_form() != descriptor:
        raise Mismatch("plaintext header differs from the signed descriptor")


# --- record lines ---------------------------------------------------------------------------------


class Record(NamedTuple):
    """One plaintext line after the header, as read (its LF included; `number`: the
    header is line 1): a put (the resource) or a delete. A named tuple: a reader makes
    one for every line of every segment, and a frozen dataclass costs three times as
    much to make."""

    number: int
    line: bytes
    resource_type: str
    resource_id: str
    deleted: bool

    @property
    def key(self) -> str:
        return f"{self.resource_type}/{self.resource_id}"


_TYPES_SEEN: set[str] = set()


class _Deleted(msgspec.Struct):
    resourceType: Any = None
    id: Any = None


class _Head(msgspec.Struct):
    resourceType: Any = None
    id: Any = None
    delete: Any = None


_decode_head = msgspec.json.Decoder(_Head).decode


def record(line: bytes, number: int) -> Record:
    """A record line (its LF included) checked against every rule of format 7.4; `number`
    names it in errors (the header is line 1). Only the members that make the key are
    decoded (msgspec, 4 times faster than orjson on the demo hospital's Observations):
    every reader runs this on every line of every segment it applies."""
    if not line.endswith(b"\n"):
        raise FormatError("plaintext does not end with a line feed")
    check_text(line, number)
    try:
        head = _decode_head(line)  # the LF is JSON whitespace: no copy of the line without it
    except msgspec.ValidationError:
        raise FormatError(f"plaintext line {number} is neither a resource nor a delete") from None
    except msgspec.DecodeError:
        raise FormatError(f"plaintext line {number} is not JSON") from None
    deleted = head.resourceType is None and not names_resource_type(line)
    target: Any = head
    if deleted:
        if not isinstance(head.delete, dict):
            raise FormatError(f"plaintext line {number} is neither a resource nor a delete")
        target = _Deleted(head.delete.get("resourceType"), head.delete.get("id"))
    elif line.startswith(DELETE_PREFIX):
        raise FormatError(f"plaintext line {number} is a resource that begins like a delete")
    rtype, rid = target.resourceType, target.id
    check_target(rtype, rid, number)
    return Record(number, line, rtype, rid, deleted)


def check_put(line: bytes, resource_type: Any, resource_id: Any, number: int) -> None:
    """Rules 4 to 6 of format 7.4 for a line known to be a put (a station's parser, which
    decodes the line its own way)."""
    if line.startswith(DELETE_PREFIX):
        raise FormatError(f"plaintext line {number} is a resource that begins like a delete")
    check_target(resource_type, resource_id, number)


def check_target(resource_type: Any, resource_id: Any, number: int) -> None:
    """Rules 5 and 6 of format 7.4: the type and id of a put or of a delete's target."""
    if not isinstance(resource_type, str) or not isinstance(resource_id, str):
        raise FormatError(f"plaintext line {number} lacks resourceType or id")
    check_key(resource_type, resource_id, number)


def names_resource_type(line: bytes) -> bool:
    """Whether a JSON object's line has a top-level member `resourceType`, for the rare
    line a fast decoder read as without one (null, empty): a line that has the member is
    a resource, never a delete, whatever its value."""
    if b'"resourceType"' not in line and b"\\u" not in line:  # the name may be escaped
        return False
    return "resourceType" in orjson.loads(line)


def check_text(line: bytes, number: int) -> None:
    """A line, with or without its LF: not empty, no CR, valid UTF-8."""
    if not line or line == b"\n":
        raise FormatError(f"plaintext line {number} is empty")
    if b"\r" in line:
        raise FormatError(f"plaintext line {number} holds a carriage return")
    if not line.isascii():
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError(f"plaintext line {number} is not UTF-8") from None


def check_key(resource_type: str, resource_id: str, number: int) -> None:
    """The FHIR type and id syntax of a record (format 7.4). A segment holds a few dozen
    types: each is matched once, then found in a set."""
    if resource_type not in _TYPES_SEEN:
        if not TYPE_RE.fullmatch(resource_type):
            raise FormatError(f"plaintext line {number} has an invalid resource type")
        if len(_TYPES_SEEN) >= 4096:
            _TYPES_SEEN.clear()
        _TYPES_SEEN.add(resource_type)
    if not ID_RE.fullmatch(resource_id):
        raise FormatError(f"plaintext line {number} has an invalid id")


# --- many lines at once (the station's blocks) ----------------------------------------------------


def check_block(data: bytes, first_number: int) -> None:
    """check_text for every line of a block of whole lines (each ended by LF), in a few
    passes over the whole block: the usual block is ASCII without CR or blank line."""
    if not data.endswith(b"\n"):
        raise FormatError("plaintext does not end with a line feed")
    if b"\r" in data or b"\n\n" in data or data.startswith(b"\n") or not _utf8(data):
        for number, line in enumerate(data[:-1].split(b"\n"), start=first_number):
            check_text(line, number)


def _utf8(data: bytes) -> bool:
    """Whether a block is valid UTF-8, in one pass (decoded whole: a block of resources
    with accented names costs a few milliseconds, line by line it cost a third of the
    parse)."""
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def keys_sound(keys: Iterable[tuple[str, str]]) -> bool:
    """Whether every (type, id) has the syntax of check_key, in one regular-expression
    pass over them joined (a block's worth checked one by one costs three times as much);
    a reader that gets False looks line by line for the one to name."""
    return KEYS_RE.fullmatch("".join(f"{rtype}/{rid}\n" for rtype, rid in keys)) is not None


# --- counting -------------------------------------------------------------------------------------


@dataclass
class Tally:
    """Records counted by type, to be checked against the header's `types` and the
    signed counts once the last line is read."""

    types: dict[str, list[int]] = field(default_factory=dict)  # type: [puts, deletes]

    def add(self, resource_type: str, deleted: bool) -> None:
        counts = self.types.get(resource_type)
        if counts is None:
            counts = self.types[resource_type] = [0, 0]
        counts[deleted] += 1

    @classmethod
    def of(cls, puts: Iterable[str], deletes: Iterable[str]) -> Tally:
        """The tally of records given as the types of the puts and of the deletes."""
        tally = cls()
        for deleted, types in ((False, puts), (True, deletes)):
            for rtype, number in Counter(types).items():
                tally.types.setdefault(rtype, [0, 0])[deleted] += number
        return tally

    def merge(self, other: dict[str, list[int]]) -> None:
        for resource_type, (puts, deletes) in other.items():
            counts = self.types.setdefault(resource_type, [0, 0])
            counts[0] += puts
            counts[1] += deletes

    def check(self, header: fmt.Header, descriptor: fmt.Descriptor) -> None:
        """The records number what the descriptor signed, and by type what the header says."""
        puts = sum(counts[0] for counts in self.types.values())
        deletes = sum(counts[1] for counts in self.types.values())
        check_counts(descriptor, puts, deletes)
        found = {name: {"put": p, "delete": d} for name, (p, d) in self.types.items()}
        if found != header.types:
            wrong = sorted(set(found) ^ set(header.types)
                           | {name for name in found if found[name] != header.types.get(name)})
            raise Mismatch(f"plaintext header types do not match its records ({wrong[0]!r})")


def check_counts(descriptor: fmt.Descriptor, puts: int, deletes: int) -> None:
    """The records counted in a plaintext must number what the descriptor signed."""
    if (puts, deletes) != (descriptor.puts, descriptor.deletes):
        raise Mismatch(f"holds {puts} puts and {deletes} deletes, its signature says "
                       f"{descriptor.puts} and {descriptor.deletes}")


# --- a whole plaintext ----------------------------------------------------------------------------


def checked_records(plaintext: Lines, descriptor: fmt.Descriptor) -> Iterator[Record]:
    """Every record of a segment's plaintext, each checked, after the header is checked
    against the signed descriptor; the counts are checked after the last record (a
    reader applies nothing of a segment before it has been read to its end)."""
    header = read_header(plaintext)
    check_header(header, descriptor)
    tally = Tally()
    for number, line in enumerate(plaintext, start=2):
        found = record(line, number)
        tally.add(found.resource_type, found.deleted)
        yield found
    tally.check(header, descriptor)


def segment_records(path: Path, descriptor: fmt.Descriptor, identities: list,
                    tee: BinaryIO | None = None) -> Iterator[Record]:
    """checked_records of a segment file, decrypted; any fault is a BrokenSegment naming
    the segment. `tee` receives every plaintext line as it is read (`vault cat --segment`
    prints a segment as stored while it is checked)."""
    try:
        with open_plaintext(path, identities) as plaintext:
            yield from checked_records(plaintext if tee is None else _Tee(plaintext, tee),
                                       descriptor)
    except (DecryptError, FormatError, Mismatch) as exc:
        raise BrokenSegment(descriptor.seq, str(exc)) from exc


class _Tee:
    """Lines passed on as they are read."""

    def __init__(self, lines: Lines, out: BinaryIO):
        self.lines, self.out = lines, out

    def readline(self, size: int = -1) -> bytes:
        line = self.lines.readline(size)
        self.out.write(line)
        return line

    def __iter__(self) -> Iterator[bytes]:
        for line in self.lines:
            self.out.write(line)
            yield line
