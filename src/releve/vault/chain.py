"""Following a vault's chain and checking every link, whoever reads it.

A segment is trusted only once its bytes are hashed, its minisign signature checked
against a configured signer, its signed descriptor found to name this vault and this
number, and its `prev` found to be the hash of the segment before it (of config.json for
segment 1). `verify`, `vault cat`, a station's sync and a writer's rebuild all go through
these functions, so that no reader checks less than another. What a reader does next
(which segment to fetch, where to keep its head) is its own policy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from . import envelope
from . import format as fmt
from .format import Config, SegmentInfo, VaultError
from .minisign import MinisignError, Signature

CHUNK = 1 << 20


class BrokenSegment(VaultError):
    """The first segment of a vault that is not sound, and why."""

    def __init__(self, seq: int, reason: str):
        super().__init__(f"segment {seq}: {reason}")
        self.seq = seq
        self.reason = reason


@dataclass(frozen=True)
class Listed:
    """A segment as a vault lists it: only a hint until its signature is checked here."""

    seq: int
    sha256: str
    kind: str
    suspect: bool
    size: int | None = None  # bytes, as announced: a reader refuses too big a one unfetched


class Walked(Protocol):
    """A vault read whole, segment after segment (verify, cat): a folder (store.py) or a
    bucket (s3.py)."""

    @property
    def config(self) -> Config: ...
    def sequence_numbers(self) -> list[int]: ...
    def info(self, seq: int) -> SegmentInfo: ...
    def segment_path(self, seq: int) -> Path: ...
    def anomalies(self) -> tuple[list[str], list[str]]: ...


class Fetches(Protocol):
    """What the chain needs of a vault: a copy of a segment and its signature."""

    def fetch(self, seq: int, target: Path, limit: int | None = None) -> bytes: ...


# --- one segment ----------------------------------------------------------------------------------


def hash_file(path: Path) -> tuple[str, bytes, int]:
    """SHA-256 (hex, for the chain), BLAKE2b-512 (for the signature) and size, in one read."""
    sha = hashlib.sha256()
    b2 = hashlib.blake2b(digest_size=64)
    size = 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            sha.update(chunk)
            b2.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), b2.digest(), size


def check_signature(config: Config, seq: int, sig_text: bytes, digest: bytes) -> fmt.Descriptor:
    """Check a segment's minisign signature and signed descriptor against the config."""
    try:
        signature = Signature.parse(sig_text)
    except MinisignError as exc:
        raise VaultError(f"segment {seq}: {exc}") from exc
    signer = config.signer(signature.key_id)
    if signer is None:
        raise VaultError(f"segment {seq}: signed by an unknown key "
                         f"({signature.key_id[::-1].hex().upper()})")
    try:
        signature.verify(signer, digest=digest)
    except MinisignError as exc:
        raise VaultError(f"segment {seq}: {exc}") from exc
    try:
        descriptor = fmt.Descriptor.from_comment(signature.trusted_comment)
    except fmt.FormatError as exc:
        raise VaultError(f"segment {seq}: {exc}") from exc
    if descriptor.vault != config.vault_id:
        raise VaultError(f"segment {seq}: belongs to another vault ({descriptor.vault})")
    if descriptor.seq != seq:
        raise VaultError(f"segment {seq}: its signed number is {descriptor.seq} (moved or reordered)")
    return descriptor


def check_file(config: Config, seq: int, path: Path, signature: bytes) -> SegmentInfo:
    """A segment file checked against its signature: its hash, size and signed descriptor."""
    sha, b2, size = hash_file(path)
    return SegmentInfo(seq, sha, size, check_signature(config, seq, signature, b2))


def check_envelope(config: Config, seq: int, path: Path) -> None:
    """The keyless checks of a segment's age header (format 6): binary age, one X25519
    stanza per configured recipient, nothing else but grease."""
    try:
        envelope.check_recipients(envelope.stanza_types(path), len(config.recipients))
    except envelope.EnvelopeError as exc:
        raise BrokenSegment(seq, str(exc)) from exc


def fetch_checked(source: Fetches, config: Config, seq: int, target: Path,
                  prev: str | None, limit: int | None = None) -> SegmentInfo:
    """Copy segment `seq` into `target` (what is checked is what will be read) and check
    it; `prev` is the hash it must chain onto, None when a reader starts at a checkpoint;
    a copy longer than `limit` bytes stops (VaultError). Raises BrokenSegment on a broken
    link."""
    info = check_file(config, seq, target, source.fetch(seq, target, limit))
    if prev is not None and info.descriptor.prev != prev:
        raise BrokenSegment(seq, f"does not chain onto segment {seq - 1} as verified "
                                 "here (altered, removed or reordered)")
    check_envelope(config, seq, target)
    return info


# --- a whole vault --------------------------------------------------------------------------------


def follow(vault: Walked,
           progress: Callable[[SegmentInfo], None] | None = None) -> Iterator[SegmentInfo]:
    """Every segment of a vault from 1 to its head, each checked (signature,
    descriptor, number, link to the one before); raise BrokenSegment at the first that
    is not sound."""
    expected_prev = vault.config.genesis
    for position, seq in enumerate(vault.sequence_numbers(), start=1):
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
        check_envelope(vault.config, seq, vault.segment_path(seq))
        expected_prev = info.sha256
        if progress is not None:
            progress(info)
        yield info


def replay_from(infos: list[SegmentInfo]) -> list[SegmentInfo]:
    """The segments a reader applies to rebuild the current state: from the latest full
    segment that is not suspect (or from the first), suspect ones left out (format 7.5,
    7.6). Both choices go by the signed descriptors."""
    start = next((info.seq for info in reversed(infos)
                  if info.descriptor.kind == "full" and info.descriptor.suspect is None), 1)
    return [info for info in infos if info.seq >= start and info.descriptor.suspect is None]


# --- a reader that remembers (a station) ----------------------------------------------------------


def check_pinned(pinned: bytes | None, offered: bytes, where: Path) -> Config:
    """The vault config a reader trusts: the one it pinned at first contact (`pinned`,
    kept at `where`), or the offered one when it has none yet (the caller pins it).

    A vault whose config differs (other signers, other recipients) is refused: whoever could
    swap it could otherwise have the reader accept segments signed by their own key."""
    if pinned is None:
        return Config.parse(offered)
    if hashlib.sha256(pinned).digest() != hashlib.sha256(offered).digest():
        raise VaultError("the vault's config.json differs from the one this station pinned "
                         f"({where}): another or a tampered vault. Nothing was applied.")
    return Config.parse(pinned)


def check_listing(seq: int, sha: str, listing: list[Listed]) -> list[Listed]:
    """The segments after a reader's head (`seq`, `sha`); refuse a vault that no longer
    holds it (rolled back, or another history) or whose numbering has a gap."""
    newest = listing[-1].seq if listing else 0
    if seq and newest < seq:
        raise VaultError(f"the vault lists segments up to {newest} but this station already "
                         f"applied segment {seq}: the vault was rolled back or replaced. "
                         "Nothing was applied; the station keeps its state.")
    mine = next((entry for entry in listing if entry.seq == seq), None)
    if seq and mine is not None and mine.sha256 and mine.sha256 != sha:
        raise VaultError(f"the vault's segment {seq} is not the one this station applied "
                         "(another history). Nothing was applied.")
    pending = [entry for entry in listing if entry.seq > seq]
    for expected, entry in enumerate(pending, start=seq + 1):
        if entry.seq != expected:
            raise VaultError(f"the vault lists no segment {expected} (numbering jumps to "
                             f"{entry.seq}): a segment is missing")
    return pending
