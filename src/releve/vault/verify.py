"""Checking a vault: everything that needs no key, and optionally the plaintext too.

Without a key: every segment's signature (by a configured signer), its signed
descriptor (this vault, its own number), numbering without gaps, and the hash chain
(each `prev` is the SHA-256 of the previous segment file). With an identity: the
plaintext header repeats the signed descriptor and the records match its counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import format as fmt
from .read import DecryptError, read_segment
from .store import LocalVault, VaultError


@dataclass
class Report:
    segments: int = 0
    bytes: int = 0
    full: int = 0
    suspect: list[int] = field(default_factory=list)
    records: int = 0
    head: str = ""
    warnings: list[str] = field(default_factory=list)


class BrokenSegment(Exception):
    def __init__(self, seq: int, reason: str):
        super().__init__(f"segment {seq}: {reason}")
        self.seq = seq
        self.reason = reason


def verify(vault: LocalVault, identities: list | None = None,
           progress: Callable[[int], None] | None = None) -> Report:
    """Return a report, or raise BrokenSegment naming the first segment that is not sound."""
    report = Report()
    expected_prev = vault.config.genesis
    numbers = vault.sequence_numbers()
    for position, seq in enumerate(numbers, start=1):
        if seq != position:
            raise BrokenSegment(position, "missing (the numbering jumps from "
                                          f"{position - 1} to {seq})")
        try:
            info = vault.info(seq)
        except VaultError as exc:
            raise BrokenSegment(seq, str(exc).removeprefix(f"segment {seq}: ")) from exc
        if info.descriptor.prev != expected_prev:
            if seq == 1:
                raise BrokenSegment(seq, "does not chain onto the vault's config.json "
                                         "(config altered or replaced)")
            raise BrokenSegment(seq, "does not chain onto the previous segment "
                                     "(previous segment altered, removed or reordered)")
        if identities is not None:
            report.records += _check_plaintext(vault.segment_path(seq), info.descriptor, identities)
        expected_prev = info.sha256
        report.segments += 1
        report.bytes += info.size
        report.full += info.descriptor.kind == "full"
        if info.descriptor.suspect is not None:
            report.suspect.append(seq)
        if progress:
            progress(info.size)
    report.head = expected_prev
    report.warnings.extend(_strays(vault, set(numbers)))
    return report


def _check_plaintext(path: Path, descriptor: fmt.Descriptor, identities: list) -> int:
    seq = descriptor.seq
    try:
        header, records = read_segment(path, identities)
        if header.descriptor.signed_form() != descriptor:
            raise BrokenSegment(seq, "plaintext header differs from the signed descriptor")
        counts: Counter[bool] = Counter(record.deleted for record in records)
    except (DecryptError, fmt.FormatError) as exc:
        raise BrokenSegment(seq, str(exc)) from exc
    if counts[False] != descriptor.puts or counts[True] != descriptor.deletes:
        raise BrokenSegment(seq, f"holds {counts[False]} puts and {counts[True]} deletes, "
                                 f"its descriptor says {descriptor.puts} and {descriptor.deletes}")
    return counts[False] + counts[True]


def _strays(vault: LocalVault, numbers: set[int]) -> list[str]:
    """Files in the segments folder that are not part of the log (worth a look, not fatal)."""
    warnings = []
    for entry in sorted(vault.segments_dir.iterdir()):
        name = entry.name
        if fmt.SEGMENT_RE.match(name):
            continue
        orphan = fmt.SIGNATURE_RE.match(name)
        if orphan:
            if int(orphan.group(1)) not in numbers:
                warnings.append(f"{name}: signature of an append that was cut short (harmless)")
            continue
        warnings.append(f"{name}: unexpected file in the segments folder")
    return warnings
