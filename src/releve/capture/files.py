"""FHIR files into blocks of ndjson: Bulk ndjson (plain, .gz, .zst, .bz2, .xz) and JSON documents.
Which files an import reads is inputs.py's; a compressed one is read to its end
(unpack.py) or refused.

A JSON document is either one resource or a Bundle. document, message, searchset,
collection, transaction, batch and history Bundles are unpacked into their entries (a
document's Composition and a message's MessageHeader are entries like the others, kept as
resources); `urn:uuid:` references are resolved to `Type/id` across every file of the
same import (Synthea, for one, refers from one file to resources in another), and one
that points nowhere is an error (urns.py: the rule, the same for Bundles and ndjson).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from ..errors import ReleveError
from ..fhir.exact import dumps_exact, loads_exact
from ..vault.format import delete_line
from .scan import Task
from .unpack import UnpackError, unpacked

if TYPE_CHECKING:
    from .urns import Resolution

BLOCK_SIZE = 8 * 1024 * 1024
NDJSON_SUFFIXES = (".ndjson", ".jsonl")
JSON_SUFFIXES = (".json",)
COMPRESSED = {".gz": "gzip", ".zst": "zstd", ".bz2": "bzip2", ".xz": "xz"}
UNPACKED_BUNDLES = {"document", "message", "searchset", "collection", "transaction", "batch",
                    "history", "transaction-response", "batch-response"}
REFERENCE_RE = re.compile(rb'"reference":"(urn:(?:uuid|oid):[^"]+)"')
NOT_BLANK = re.compile(rb"\S")


class InputError(ReleveError):
    """Bad input, named by file and line (or Bundle entry)."""


@dataclass(frozen=True)
class Source:
    path: Path
    kind: str  # "ndjson" or "json"
    compression: str | None

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def discover(paths: list[Path]) -> list[Source]:
    """Every input file, in a stable order (see inputs.py)."""
    from .inputs import find_inputs

    return find_inputs(paths).sources


def classify(path: Path) -> Source | None:
    name = path.name.lower()
    compression = None
    for suffix, method in COMPRESSED.items():
        if name.endswith(suffix):
            compression, name = method, name[: -len(suffix)]
    if name.endswith(NDJSON_SUFFIXES):
        return Source(path, "ndjson", compression)
    if name.endswith(JSON_SUFFIXES):
        return Source(path, "json", compression)
    return None


def decompressed(source: Source) -> Iterator[bytes]:
    """The file's bytes, decompressed and checked to the end; InputError naming it if not."""
    assert source.compression is not None
    try:
        yield from unpacked(source.path, source.compression)
    except UnpackError as exc:
        raise InputError(f"{source.path}: {exc}") from None


def read_whole(source: Source) -> bytes:
    if source.compression is not None:
        return b"".join(decompressed(source))
    try:
        return source.path.read_bytes()
    except OSError as exc:
        raise InputError(f"{source.path}: cannot read ({exc.strerror or exc})") from None


def ndjson_tasks(source: Source, allow_deletes: bool = False,
                 blank_is_empty: bool = False) -> Iterator[Task]:
    """Blocks of whole lines. Plain files are cut into byte ranges the workers read
    themselves; compressed ones are decompressed here and handed over as bytes. A file
    with nothing in it is refused as empty; with `blank_is_empty` (an import), so is one
    of blank lines only (a capture's Bulk output may be a bare newline)."""
    if source.compression is None:
        if source.size == 0 or (blank_is_empty and _blank(source.path)):
            raise InputError(f"{source.path}: empty file")
        for task in _ranges(source.path):
            task.allow_deletes = allow_deletes
            yield task
        return
    pieces: list[bytes] = []
    held = 0
    blank, nothing = True, True
    for piece in decompressed(source):
        nothing = False
        blank = blank and NOT_BLANK.search(piece) is None
        pieces.append(piece)
        held += len(piece)
        if held < BLOCK_SIZE or b"\n" not in piece:
            continue
        data = b"".join(pieces)
        cut = data.rfind(b"\n") + 1
        yield Task(label=str(source.path), data=data[:cut], allow_deletes=allow_deletes)
        pieces, held = [data[cut:]], len(data) - cut
    if nothing or (blank_is_empty and blank):
        raise InputError(f"{source.path}: empty file")
    if held:
        yield Task(label=str(source.path), data=b"".join(pieces), allow_deletes=allow_deletes)


def _blank(path: Path) -> bool:
    """Whether the file holds nothing but whitespace; one read for any real file."""
    try:
        with open(path, "rb") as handle:
            while data := handle.read(1 << 16):
                if NOT_BLANK.search(data):
                    return False
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return True


def _ranges(path: Path) -> Iterator[Task]:
    size = path.stat().st_size
    with open(path, "rb") as handle:
        start = 0
        while start < size:
            end = min(start + BLOCK_SIZE, size)
            if end < size:
                handle.seek(end)
                rest = handle.read(1 << 16)
                while b"\n" not in rest and rest:
                    more = handle.read(1 << 20)
                    if not more:
                        break
                    rest += more
                newline = rest.find(b"\n")
                end = size if newline < 0 else end + newline + 1
            yield Task(label=str(path), path=str(path), start=start, end=end)
            start = end


# --- JSON documents and Bundles ---------------------------------------------------------


def load_document(source: Source, exact: bool = True) -> Any:
    """A JSON document, parsed. With `exact`, numbers orjson would not write back exactly
    as given (1.50, 1E2, more than 15 digits) are parsed as Decimal and big ints: FHIR
    gives a decimal's precision meaning (0.010 is not 0.01)."""
    data = read_whole(source)
    if not data.strip():
        raise InputError(f"{source.path}: empty file")
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as bad:
            line = data.count(b"\n", 0, bad.start) + 1
            raise InputError(f"{source.path}: line {line}: invalid UTF-8") from None
        raise InputError(f"{source.path}: malformed JSON at line {exc.lineno}, "
                         f"column {exc.colno}: {exc.msg}") from None
    if not isinstance(document, dict) or not isinstance(document.get("resourceType"), str):
        raise InputError(f"{source.path}: not a FHIR resource (no resourceType)")
    return loads_exact(data) if exact else document


def entries(document: dict[str, Any]) -> list[tuple[int, Any]] | None:
    """(entry number as written, entry) of an unpacked Bundle in the order they apply, or
    None for a resource stored whole. A history Bundle lists the newest version first,
    so it is applied reversed (error messages keep the numbers as written)."""
    kind = document.get("type")
    if document.get("resourceType") != "Bundle" or not isinstance(kind, str) \
            or kind not in UNPACKED_BUNDLES:
        return None
    found = document.get("entry", [])
    if not isinstance(found, list):
        return []
    numbered = list(enumerate(found, start=1))
    return numbered[::-1] if kind == "history" else numbered


def uuid_targets(source: Source, document: dict[str, Any], into: dict[str, str]) -> None:
    """Record where each `urn:` fullUrl of a Bundle will live once imported."""
    for number, entry in entries(document) or []:
        full_url = entry.get("fullUrl") if isinstance(entry, dict) else None
        if isinstance(full_url, str) and full_url.startswith("urn:"):
            target = _entry_target(f"{source.path}: entry {number}", entry, full_url)
            if target is not None:
                into[full_url] = target


def _entry_target(where: str, entry: dict[str, Any], full_url: str | None) -> str | None:
    resource = entry.get("resource")
    request = request if isinstance(request := entry.get("request"), dict) else {}
    if not isinstance(resource, dict):
        return None
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str):
        raise InputError(f"{where}: resource has no resourceType")
    rid = resource.get("id")
    url = request.get("url")
    if rid is None and request.get("method") == "PUT" and isinstance(url, str):
        if "?" in url:
            raise InputError(f"{where}: conditional update {url[:80]!r} without a resource id "
                             "cannot be imported")
        parts = url.strip("/").split("/")
        rid = parts[1] if len(parts) == 2 and parts[0] == rtype else None
    if rid is None and full_url and full_url.startswith("urn:uuid:"):
        rid = full_url[len("urn:uuid:"):]
    if not isinstance(rid, str) or not rid:
        raise InputError(f"{where}: resource has no id")
    return f"{rtype}/{rid}"


def document_tasks(source: Source, document: dict[str, Any], targets: dict[str, str],
                   strict: bool = True) -> Iterator[Task]:
    """ndjson blocks made from one JSON document, references to a Bundle entry of the
    import resolved; with `strict`, any other `urn:` reference is an error here, else it
    is left for the second pass of urns.py."""
    unpacked = entries(document)
    items = [(None, document)] if unpacked is None else unpacked
    lines: list[bytes] = []
    labels: list[str] = []
    size = 0
    for number, entry in items:
        where = f"{source.path}: entry {number}" if number else str(source.path)
        line = _entry_line(where, entry if number else {"resource": entry}, targets, strict)
        if line is None:
            continue
        lines.append(line)
        labels.append(where)
        size += len(line)
        if size >= BLOCK_SIZE:
            yield Task(label=str(source.path), data=b"".join(lines), line_labels=labels,
                       allow_deletes=True)
            lines, labels, size = [], [], 0
    if lines:
        yield Task(label=str(source.path), data=b"".join(lines), line_labels=labels,
                   allow_deletes=True)


def _entry_line(where: str, entry: Any, targets: dict[str, str], strict: bool) -> bytes | None:
    if not isinstance(entry, dict):
        raise InputError(f"{where}: not a Bundle entry")
    request = request if isinstance(request := entry.get("request"), dict) else {}
    method = request.get("method")
    if method == "PATCH":
        raise InputError(f"{where}: PATCH entries cannot be imported (they carry a patch, "
                         "not the resource)")
    if method == "DELETE":
        url = request.get("url")
        if not isinstance(url, str) or "?" in url or url.count("/") != 1:
            raise InputError(f"{where}: DELETE needs a plain 'Type/id' url (got {url!r})")
        rtype, rid = url.split("/")
        return delete_line(rtype, rid)
    resource = entry.get("resource")
    if resource is None:
        if method in ("GET", "HEAD", None):
            return None  # a read request or a bare outcome carries no data
        raise InputError(f"{where}: {method} entry without a resource")
    if not isinstance(resource, dict):
        raise InputError(f"{where}: the entry's resource is not a JSON object")
    search = search if isinstance(search := entry.get("search"), dict) else {}
    if search.get("mode") == "outcome":
        return None
    full_url = full_url if isinstance(full_url := entry.get("fullUrl"), str) else None
    target = _entry_target(where, {"resource": resource, "request": request}, full_url)
    assert target is not None
    rtype, _, rid = target.partition("/")
    # resourceType first: only delete records may start with {"delete": (docs/format.md)
    try:
        body = dumps_exact({"resourceType": rtype, **resource, "id": rid})
    except RecursionError:
        raise InputError(f"{where}: resource nested too deeply") from None
    if b'"reference":"urn:' in body:
        body = _resolve(where, body, targets, strict)
    return body + b"\n"


def _resolve(where: str, body: bytes, targets: dict[str, str], strict: bool) -> bytes:
    def replace(match: re.Match[bytes]) -> bytes:
        urn = match.group(1).decode()
        target = targets.get(urn)
        if target is None:
            if not strict:
                return match.group(0)
            raise InputError(f"{where}: reference {urn} points to no resource of this import")
        return b'"reference":"' + target.encode() + b'"'

    return REFERENCE_RE.sub(replace, body)


def total_size(sources: list[Source]) -> int:
    return sum(os.path.getsize(s.path) for s in sources)


def import_tasks(sources: list[Source], resolution: Resolution | None = None) -> Iterator[Task]:
    """Every block of an import, in order. JSON documents are read twice: once to learn
    where each `urn:uuid:` fullUrl will live, once to write them with references resolved.
    Without a `resolution`, only references to Bundle entries are resolved (any other
    `urn:` reference of a Bundle is an error, ndjson lines are left as written); with
    one, the blocks are made for its pass (urns.py)."""
    targets: dict[str, str] = {}
    for source in sources:
        if source.kind == "json":
            uuid_targets(source, load_document(source, exact=False), targets)
    if resolution is not None:
        resolution.full_urls = targets
    for source in sources:
        if source.kind == "ndjson":
            tasks = ndjson_tasks(source, blank_is_empty=True)
        else:
            tasks = document_tasks(source, load_document(source), targets,
                                   strict=resolution is None)
        for task in tasks:
            if resolution is not None:
                task.find_urns, task.urns = True, resolution.targets
            yield task
