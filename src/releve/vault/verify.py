"""Checking a vault: everything that needs no key, and optionally the plaintext too.

Without a key: every segment's signature (by a configured signer), its signed
descriptor (this vault, its own number), numbering without gaps, and the hash chain
(each `prev` is the SHA-256 of the previous segment file). With an identity: the
plaintext header repeats the signed descriptor and the records match its counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import format as fmt
from .chain import Walked, follow
from .plaintext import segment_records


@dataclass
class Report:
    segments: int = 0
    bytes: int = 0
    full: int = 0
    suspect: list[int] = field(default_factory=list)
    records: int = 0
    head: str = ""
    warnings: list[str] = field(default_factory=list)
    # what no writer of Relève leaves: attempted rewrites and deletions (a bucket's versions)
    incidents: list[str] = field(default_factory=list)


def verify(vault: Walked, identities: list | None = None,
           progress: Callable[[int], None] | None = None) -> Report:
    """Return a report, or raise BrokenSegment naming the first segment that is not sound."""
    report = Report()
    report.head = vault.config.genesis
    for info in follow(vault):
        if identities is not None:
            report.records += _check_plaintext(vault.segment_path(info.seq), info.descriptor,
                                               identities)
        report.head = info.sha256
        report.segments += 1
        report.bytes += info.size
        report.full += info.descriptor.kind == "full"
        if info.descriptor.suspect is not None:
            report.suspect.append(info.seq)
        if progress:
            progress(info.size)
    report.incidents, report.warnings = vault.anomalies()
    return report


def _check_plaintext(path: Path, descriptor: fmt.Descriptor, identities: list) -> int:
    """The plaintext follows every rule of format 7 and repeats the signed descriptor."""
    return sum(1 for _ in segment_records(path, descriptor, identities))
