"""Reading segments back: decrypt, decompress, split into header and records.

This is what a station (or `vault cat`, or `verify --identity`) does with a segment;
it is the Python equivalent of `age -d -i KEY SEGMENT | zstd -d`.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import orjson
import pyrage
import zstandard

from . import format as fmt

if TYPE_CHECKING:
    from .store import LocalVault

READ_SIZE = 1 << 20


class DecryptError(Exception):
    """The segment cannot be opened with the given identity, or its plaintext is damaged."""


@dataclass(frozen=True)
class Record:
    """One plaintext line after the header: a put (the resource) or a delete."""

    line: bytes
    resource_type: str
    resource_id: str
    deleted: bool


def decrypt_to(path: Path, identities: list, out: BinaryIO) -> None:
    """Decrypt a segment file into `out` (still zstd-compressed)."""
    try:
        with open(path, "rb") as src:
            pyrage.decrypt_io(src, out, identities)
    except (pyrage.DecryptError, OSError) as exc:  # pyrage reports a truncated file as OSError
        raise DecryptError(f"{path.name}: cannot decrypt with this identity, or damaged "
                           f"({exc})") from exc


def plaintext_lines(path: Path, identities: list) -> Iterator[bytes]:
    """Every plaintext line of a segment, header first, each ending in a newline."""
    compressed = io.BytesIO()
    decrypt_to(path, identities, compressed)
    compressed.seek(0)
    reader = zstandard.ZstdDecompressor().stream_reader(compressed, read_across_frames=True)
    buffered = io.BufferedReader(reader, buffer_size=READ_SIZE)  # type: ignore[arg-type]
    try:
        for line in buffered:
            yield line
    except zstandard.ZstdError as exc:
        raise DecryptError(f"{path.name}: compressed plaintext is damaged ({exc})") from exc


def read_segment(path: Path, identities: list) -> tuple[fmt.Header, Iterator[Record]]:
    """The header and an iterator over the records of one segment."""
    lines = plaintext_lines(path, identities)
    first = next(lines, None)
    if first is None:
        raise DecryptError(f"{path.name}: empty plaintext")
    header = fmt.Header.from_line(first)
    return header, (parse_record(line, number) for number, line in enumerate(lines, start=2))


def parse_record(line: bytes, number: int) -> Record:
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise fmt.FormatError(f"plaintext line {number} is not JSON") from exc
    target = data.get("delete") if isinstance(data, dict) and "resourceType" not in data else data
    if not isinstance(target, dict):
        raise fmt.FormatError(f"plaintext line {number} is neither a resource nor a delete")
    rtype, rid = target.get("resourceType"), target.get("id")
    if not isinstance(rtype, str) or not isinstance(rid, str):
        raise fmt.FormatError(f"plaintext line {number} lacks resourceType or id")
    return Record(line, rtype, rid, deleted=target is not data)


def current_state(vault: "LocalVault", identities: list) -> dict[str, bytes]:
    """The latest version of every resource (`Type/id` -> line), replayed from the last
    full segment. Suspect segments are skipped, as a station skips them; both choices
    go by the signed descriptors, which `vault.info` checks."""
    infos = [vault.info(seq) for seq in vault.sequence_numbers()]
    adoptable = [info for info in infos if info.descriptor.suspect is None]
    fulls = [info.seq for info in adoptable if info.descriptor.kind == "full"]
    start = fulls[-1] if fulls else 1
    state: dict[str, bytes] = {}
    for info in adoptable:
        if info.seq < start:
            continue
        _, records = read_segment(vault.segment_path(info.seq), identities)
        if info.descriptor.kind == "full":
            state.clear()
        for record in records:
            key = f"{record.resource_type}/{record.resource_id}"
            if record.deleted:
                state.pop(key, None)
            else:
                state[key] = record.line
    return state
