"""Scanning blocks of ndjson: validate each resource, digest it, keep what changed.

This is the hot path of an import (every byte of input passes here once), so it runs in
worker processes, one per core, on blocks of a few megabytes. It validates with
msgspec rather than orjson: decoding only `resourceType` and `id` while still checking
the whole line's JSON syntax measured 3.3x faster on the Synthea data (914 vs 276 MB/s),
and that is most of the import's time. msgspec skips UTF-8 checks in the fields it does
not decode, so non-ASCII lines are checked separately.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from ..errors import ReleveError
from ..fhir.bundle import as_line, decode_key, decode_page, needs_rewrite, next_link
from ..fhir.exact import dumps_exact, loads_exact
from ..vault.format import DELETE_PREFIX, ID, TYPE, delete_line
from ..vault.segment import compress_block
from .state import StateReader, rows

KEY = f"{TYPE}/{ID}"  # FHIR type "/" FHIR id, as the vault format has them
KEY_RE = re.compile(KEY)
KEYS_RE = re.compile(f"(?:{KEY}\n)*{KEY}")  # keys joined by newlines, all valid
URN_HINT = re.compile(rb"urn:(?:uuid|oid):")
URN_REFERENCE = re.compile(rb'("reference"\s*:\s*")(urn:(?:uuid|oid):[^"\\]+)(")')
MIB = 1024 * 1024
DEFAULT_MAX_RESOURCE = 16 * MIB


class _Resource(msgspec.Struct):
    resourceType: str
    id: str


class _Delete(msgspec.Struct):
    delete: _Resource


_decode_resource = msgspec.json.Decoder(_Resource).decode
_decode_delete = msgspec.json.Decoder(_Delete).decode


@dataclass
class Task:
    """A block of input lines: a byte range of a plain file, or bytes already read."""

    label: str
    path: str | None = None
    start: int = 0
    end: int = 0
    data: bytes | None = None
    line_labels: list[str] | None = None  # for lines made from Bundle entries
    allow_deletes: bool = False
    page: bool = False  # the bytes are a searchset Bundle as the server sent it
    # an import's `urn:` references (urns.py): looked for (a first pass), or resolved
    # with this map, urn to `Type/id` (None: ambiguous), in a second pass
    find_urns: bool = False
    urns: dict[str, str | None] | None = None


@dataclass
class BlockResult:
    """What a worker sends back: kept compact (strings and bytes, no per-line objects)
    because pickling it is paid for every block."""

    frame: bytes = b""
    keys: str = ""  # every resource key of the block, in order, joined by newlines
    # what the writer's state records of the lines kept, ready for it (state.py `rows`)
    puts: list[tuple[bytes, bytes]] = field(default_factory=list)
    gone: list[bytes] = field(default_factory=list)
    lines: int = 0
    types: Counter = field(default_factory=Counter)
    deletes: Counter = field(default_factory=Counter)
    error_line: int | None = None
    error: str | None = None
    # of a page (Task.page): its matches, those that are not FHIR resources, its next link
    matches: int = 0
    invalid: int = 0
    total: int | None = None
    next: str | None = None
    urns: list[str] = field(default_factory=list)  # urn: references found (Task.find_urns)


class LineError(ReleveError):
    def __init__(self, index: int, message: str):
        super().__init__(message)
        self.index = index


def read_task(task: Task) -> bytes:
    if task.data is not None:
        return task.data
    assert task.path is not None
    with open(task.path, "rb") as handle:
        handle.seek(task.start)
        return handle.read(task.end - task.start)


Lookup = Callable[[list[str]], dict[str, bytes]]


def scan(task: Task, lookup: Lookup | None, max_size: int,
         skip: frozenset[int] = frozenset(), *, seq: int) -> BlockResult:
    """Validate and digest a block; keep the lines that differ from the writer's state.

    `skip` holds the ordinals (among the block's non-blank lines) of resources that occur
    again later in the same import: only the last occurrence of a resource is written, so
    that importing the same files twice writes nothing the second time.
    """
    result = BlockResult()
    data = read_task(task)
    if task.find_urns and task.urns is None:
        result.urns = urns_in(data)
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    result.lines = len(lines)
    parsed: list[tuple[str, bytes, bytes | None]] = []
    try:
        for index, line in enumerate(lines):
            if task.urns is not None and b"urn:" in line:
                line = resolve_urns(line, index, task.urns)
            item = _parse_line(line, index, max_size, task.allow_deletes)
            if item is not None:
                parsed.append(item)
    except LineError as exc:
        result.error_line, result.error = exc.index, str(exc)
        return result
    return _keep_changed(result, parsed, lookup, skip, seq=seq)


def _keep_changed(result: BlockResult, parsed: Sequence[tuple[str, bytes, bytes | None]],
                  lookup: Lookup | None, skip: frozenset[int], *, seq: int) -> BlockResult:
    """Fill `result` with the lines of `parsed` (key, line, digest) that differ from the
    writer's state, as one compressed frame."""
    result.keys = "\n".join(key for key, _, _ in parsed)
    if skip:
        parsed = [item for ordinal, item in enumerate(parsed) if ordinal not in skip]
    previous = lookup([key for key, _, _ in parsed]) if lookup and parsed else {}
    out: list[bytes] = []
    keys: list[str] = []
    digests: list[bytes | None] = []
    for key, body, digest in parsed:
        if digest == previous.get(key):
            continue  # unchanged version, or a delete of something already absent
        rtype = key.partition("/")[0]
        if digest is None:
            result.deletes[rtype] += 1
        else:
            result.types[rtype] += 1
        out.append(body)
        keys.append(key)
        digests.append(digest)
    result.puts, result.gone = rows(keys, digests, seq)
    if out:
        out.append(b"")  # so the joined block ends with a newline
        result.frame = compress_block(b"\n".join(out))
    return result


def scan_page(task: Task, lookup: Lookup | None, max_size: int,
              skip: frozenset[int] = frozenset(), *, seq: int) -> BlockResult:
    """`scan` for a searchset page as the server sent it (capture): its entries are split
    here, in the worker, rather than in the process that fetches the pages.

    The page's JSON syntax is checked once, by msgspec splitting it into entries, so the
    resources are not parsed again line by line as a file's are; UTF-8 (which msgspec
    does not check in what it skips) is checked once for the whole page, and so is the
    absence of line breaks. An entry that is not a FHIR resource (no resourceType or id,
    or not valid ones) is counted in `invalid` for the poisoned-data guard, not stored.
    """
    result = BlockResult()
    body = read_task(task)
    try:
        bundle = decode_page(body)
        if bundle.resourceType != "Bundle":
            raise msgspec.ValidationError(f"expected a Bundle, got {bundle.resourceType[:40]}")
    except msgspec.ValidationError as exc:
        result.error_line, result.error = 0, f"not a FHIR Bundle: {_plain(exc)}"
        return result
    except msgspec.DecodeError as exc:
        result.error_line, result.error = 0, f"malformed JSON: {_plain(exc)}"
        return result
    except RecursionError:
        result.error_line, result.error = 0, "resource nested too deeply"
        return result
    if not body.isascii():
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            result.error_line, result.error = 0, f"invalid UTF-8 at byte {exc.start} of the page"
            return result
    result.total, result.next = bundle.total, next_link(bundle.link)
    keys, lines, types = _page_resources(bundle, body, result)
    if lines and max(map(len, lines)) > max_size:
        result.error_line = next(n for n, line in enumerate(lines) if len(line) > max_size)
        result.error = (f"resource of {len(lines[result.error_line]) / MIB:.1f} MiB exceeds "
                        f"the {max_size / MIB:.1f} MiB limit")
        return result
    result.lines = len(keys)
    sha256 = hashlib.sha256
    if lookup is None and not skip:  # a snapshot into a full segment: every line is new
        result.keys = "\n".join(keys)
        result.puts, result.gone = rows(keys, [sha256(line).digest() for line in lines], seq)
        result.types = Counter(types)
        if lines:
            lines.append(b"")
            result.frame = compress_block(b"\n".join(lines))
        return result
    parsed = [(key, line, sha256(line).digest()) for key, line in zip(keys, lines, strict=True)]
    return _keep_changed(result, parsed, lookup, skip, seq=seq)


def _page_resources(bundle: Any, body: bytes,
                    result: BlockResult) -> tuple[list[str], list[Any], list[str]]:
    """The keys, bytes and types of a page's resources, in order; counts its matches and
    the entries that are not FHIR resources into `result`.

    Per entry, this is the hottest loop of a capture (1.9 million times at 1000 beds), so
    it does only what each entry needs: the keys are checked against KEY_RE in one
    regular-expression pass over the page's keys joined (0.24 against 0.64 ms a page of
    1000 checked one by one), the lengths in one pass after it (`scan_page`). A compact
    page (the usual) has no line break anywhere, and a resource with no top-level
    "delete" member cannot start with `{"delete":`: such a resource needs no rewriting,
    and is kept as the Raw slice of the page msgspec gives, hashed and joined without a
    copy of its own."""
    broken = b"\n" in body or b"\r" in body  # memchr-fast
    keys: list[str] = []
    lines: list[Any] = []
    types: list[str] = []
    matches = 0
    for entry in bundle.entry:
        if entry.search is not None and entry.search.mode != "match":
            continue
        matches += 1
        line = entry.resource
        try:
            head = decode_key(line) if len(line) else None
        except msgspec.ValidationError:
            head = None
        if head is None:
            keys.append("")  # never a valid key: dropped below
        else:
            keys.append(f"{head.resourceType}/{head.id}")
            if broken or len(head.delete):
                line = bytes(line)
                if needs_rewrite(line):
                    line = as_line(line)
        lines.append(line)
        types.append(head.resourceType if head is not None else "")
    result.matches = matches
    if keys and not KEYS_RE.fullmatch("\n".join(keys)):
        valid = [n for n, key in enumerate(keys) if KEY_RE.fullmatch(key)]
        result.invalid = len(keys) - len(valid)
        keys = [keys[n] for n in valid]
        lines = [lines[n] for n in valid]
        types = [types[n] for n in valid]
    return keys, lines, types


def _parse_line(line: bytes, index: int, max_size: int,
                allow_deletes: bool) -> tuple[str, bytes, bytes | None] | None:
    """(key, line to store without its newline, digest or None for a delete), or None
    for a blank line."""
    if line.endswith(b"\r"):
        line = line[:-1]
    if len(line) > max_size:
        raise LineError(index, f"resource of {len(line) / MIB:.1f} MiB exceeds the "
                               f"{max_size / MIB:.1f} MiB limit")
    if not line.strip():
        return None
    if line.startswith(DELETE_PREFIX):
        if allow_deletes:  # made by files.py from a Bundle's DELETE entry
            target = _decode_delete(line).delete
            key = f"{target.resourceType}/{target.id}"
            if not KEY_RE.fullmatch(key):
                raise LineError(index, f"cannot delete {key[:80]!r}: not a FHIR type and id")
            return key, delete_line(target.resourceType, target.id).rstrip(b"\n"), None
        line = _resource_type_first(line)
    elif b"\r" in line:  # a CR as JSON whitespace: no record line may hold one (7.2)
        line = _resource_type_first(line)
    try:
        resource = _decode_resource(line)
    except msgspec.ValidationError as exc:
        raise LineError(index, f"not a FHIR resource: {_plain(exc)}") from None
    except msgspec.DecodeError as exc:
        raise LineError(index, f"malformed JSON: {_plain(exc)}") from None
    except RecursionError:
        raise LineError(index, "resource nested too deeply") from None
    if not line.isascii():
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise LineError(index, f"invalid UTF-8 at byte {exc.start}") from None
    key = f"{resource.resourceType}/{resource.id}"
    if not KEY_RE.fullmatch(key):
        rtype, rid = resource.resourceType, resource.id
        if not KEY_RE.fullmatch(f"{rtype}/x"):
            raise LineError(index, f"resourceType {rtype[:40]!r} is not a FHIR resource type")
        raise LineError(index, f"id {rid[:80]!r} is not a valid FHIR id")
    return key, line, hashlib.sha256(line).digest()


def urns_in(data: bytes) -> list[str]:
    """The `urn:uuid:` and `urn:oid:` references of a block. One search of the whole
    block first: a block without any costs about a tenth of its scan."""
    if URN_HINT.search(data) is None:
        return []
    return sorted({urn.decode() for _, urn, _ in URN_REFERENCE.findall(data)})


def resolve_urns(line: bytes, index: int, targets: dict[str, str | None]) -> bytes:
    """The line with each `urn:` reference replaced by the `Type/id` it designates in the
    import; LineError naming the first that designates nothing, or several resources."""

    def replace(match: re.Match[bytes]) -> bytes:
        urn = match.group(2).decode()
        if urn not in targets:
            raise LineError(index, f"reference {urn} points to no resource of this import")
        target = targets[urn]
        if target is None:
            rid = urn.split(":", 2)[2]
            raise LineError(index, f"reference {urn} is ambiguous: several resources of this "
                                   f"import have the id {rid}")
        return match.group(1) + target.encode() + match.group(3)

    return URN_REFERENCE.sub(replace, line)


def _resource_type_first(line: bytes) -> bytes:
    """A resource whose first member is "delete" is rewritten with resourceType first, so
    that in a segment only delete records start with {"delete": (see docs/format.md); a
    line holding a CR between its tokens is rewritten the same way, compact."""
    try:
        data = loads_exact(line)
    except ValueError:  # orjson's and simplejson's decode errors both are
        return line  # the decoder below reports it
    if not isinstance(data, dict) or "resourceType" not in data:
        return line
    try:
        return dumps_exact({"resourceType": data["resourceType"], **data})
    except RecursionError:
        return line


def _plain(exc: Exception) -> str:
    text = str(exc)
    return text.replace("`", "")


_readers: dict[str, StateReader] = {}
PAGE_WORKER_NICE = 10  # see _yield_to_the_walk
_niced = False


def _yield_to_the_walk() -> None:
    """Lower this worker's priority, once, when it scans pages of a capture.

    A capture's walk is a chain, server then client, one page after the other; when the
    scan competes with it for the cores (the HIS on the same host, or two cores shared
    by server, fetcher and workers as in bench/capture.py), every page the server or the
    fetcher waits for delays the whole walk, while a scan that waits only runs later:
    the workers take the CPU the walk leaves idle."""
    global _niced
    if not _niced:
        _niced = True
        try:
            os.nice(PAGE_WORKER_NICE)
        except OSError:
            pass


def scan_in_worker(args: tuple[Task, str | None, int, frozenset[int], int]) -> BlockResult:
    """Entry point of a worker process; `state` is the writer state's path, if lookups
    are needed (one read-only handle per process, opened on first use); `seq` the
    segment being written."""
    task, state, max_size, skip, seq = args
    lookup = None
    if state is not None:
        if state not in _readers:
            _readers[state] = StateReader(Path(state))
        lookup = _readers[state].digests
    if task.page:
        _yield_to_the_walk()
        return scan_page(task, lookup, max_size, skip, seq=seq)
    return scan(task, lookup, max_size, skip, seq=seq)
