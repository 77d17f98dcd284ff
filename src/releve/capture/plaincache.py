"""The writer's cache of plaintext segments (`state/plain/<seq>.zst`), read back.

The writer keeps each good segment's compressed plaintext from the last full segment on,
so that a checkpoint needs no station identity: the latest version of every resource is
in those files, and the state's digests tell which line is the latest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..files import open_private
from ..vault import plaintext, segment
from ..vault.format import FormatError
from ..vault.frames import FrameError
from .state import StateError, WriterState

LOOKUP_BATCH = 5000


def cached_records(path: Path) -> Iterator[tuple[str, bytes | None]]:
    """(`Type/id`, put line without its LF) of each record after the header, every line
    checked by the format's record rules (the cache is read as a vault's plaintext is); a
    delete comes as (key, None). A damaged cache is a StateError saying how to mend it."""
    try:
        with segment.open_compressed(path) as lines:
            plaintext.read_header(lines)
            for number, line in enumerate(lines, start=2):
                found = plaintext.record(line, number)
                yield found.key, None if found.deleted else found.line[:-1]
    except (FrameError, FormatError) as exc:
        raise StateError(f"the writer's cache {path} is damaged ({exc}): rebuild the state "
                         "with `releve vault rebuild-state`") from exc


def gather_current(state: WriterState, out_path: Path) -> int:
    """Write the latest line of every current resource to `out_path`; how many.

    A line is current when the state holds its digest under the segment it came from:
    older versions, and resources deleted since, fall out."""
    found: set[str] = set()
    with open_private(out_path) as out:
        for seq in state.plain_segments():
            puts = ((key, line) for key, line in cached_records(state.plain_path(seq))
                    if line is not None)
            for batch in _batches(puts, LOOKUP_BATCH):
                current = state.lookup([key for key, _ in batch])
                for key, line in batch:
                    if key not in found and current.get(key) == (hashlib.sha256(line).digest(), seq):
                        found.add(key)
                        out.write(line + b"\n")
    return len(found)


def _batches(items: Iterable, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
