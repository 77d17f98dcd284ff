"""`urn:uuid:` references of an import: one rule for Bundles and ndjson.

A reference `urn:uuid:X` (or `urn:oid:X`) is the resource of the same import that the
Bundle entry with fullUrl `urn:uuid:X` holds, or else the resource of the same import
whose id is X (ndjson has no fullUrl: a resource carries its uuid identity as its id, as
Synthea's and most exporters' do). It becomes `Type/id`; one that designates nothing, or
several resources of different types, is refused, naming the file, its line (or Bundle
entry) and the reference. Nothing is written then.

Looking for these references costs a search of every block, done in the import's worker
processes while they scan it. Where the target is cannot be known before every file is
read, so an import that holds some is written twice: the first pass finds the references
and the keys of every resource (it writes nothing: the segment is refused before it is
sealed), the second resolves them, line by line, in the workers. An import without any
(the usual) is written once, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..errors import ReleveError
from .files import Source, import_tasks
from .scan import BlockResult, Task
from .writer import Writer, Written

Judge = Callable[[], "str | None"]


class _SecondPass(ReleveError):
    """The first pass met `urn:` references: write again with them resolved."""


class Resolution:
    """What the first pass learns (the references, and every resource's key), and the
    map the second pass resolves with."""

    def __init__(self) -> None:
        self.full_urls: dict[str, str] = {}  # Bundle entries' urn fullUrl: `Type/id`
        self.targets: dict[str, str | None] | None = None  # set for the second pass
        self.wanted: set[str] = set()
        self.keys: list[str] = []  # each block's keys, newline-joined (BlockResult.keys)

    def observe(self, task: Task, result: BlockResult) -> None:
        if self.targets is None:
            self.wanted.update(result.urns)
            self.keys.append(result.keys)

    def settle(self) -> None:
        """Once the first pass has seen every block: if it met references, compute where
        they point and have the segment refused, to be written again."""
        if self.targets is None and self.wanted:
            self.targets = resolve(self.wanted, self.full_urls, self.keys)
            self.keys = []
            raise _SecondPass("urn: references to resolve")


def resolve(wanted: Iterable[str], full_urls: dict[str, str],
            block_keys: Iterable[str]) -> dict[str, str | None]:
    """urn: `Type/id` of each wanted reference that designates one resource; None for
    one that designates several; absent if it designates none."""
    targets: dict[str, str | None] = {}
    by_id: dict[str, str] = {}
    for urn in wanted:
        if urn in full_urls:
            targets[urn] = full_urls[urn]
        else:
            by_id[urn.split(":", 2)[2]] = urn
    found: dict[str, set[str]] = {}
    for block in block_keys if by_id else ():
        for key in block.split("\n") if block else ():
            designated = by_id.get(key.partition("/")[2])
            if designated is not None:
                found.setdefault(designated, set()).add(key)
    for urn, candidates in found.items():
        targets[urn] = next(iter(candidates)) if len(candidates) == 1 else None
    return targets


def write_import(writer: Writer, sources: list[Source], source: str, *,
                 judge: Judge | None = None, progress: Callable[[int], None] | None = None,
                 **options: Any) -> Written | None:
    """writer.write for the files of an import, `urn:` references resolved; `judge`
    says, once every block is scanned, whether the segment is suspect (Writer.write)."""
    resolution = Resolution()

    def first_pass_judge() -> str | None:
        resolution.settle()
        return judge() if judge is not None else None

    try:
        return writer.write(lambda: import_tasks(sources, resolution), source,
                            suspect=first_pass_judge, progress=progress,
                            observe=resolution.observe, **options)
    except _SecondPass:
        return writer.write(lambda: import_tasks(sources, resolution), source,
                            suspect=judge, **options)
