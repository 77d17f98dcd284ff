"""Rebuilding a lost or stale writer state from the vault itself.

The vault is the truth and the writer's state only a memory of it: when the state is
lost (a new capture host) or stale (restored from a backup), it is rebuilt by reading
the chain back with a station identity, through the same checks a station makes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..files import open_private
from ..vault import format as fmt
from ..vault import plaintext, segment
from ..vault.chain import BrokenSegment, fetch_checked
from ..vault.frames import FrameError
from ..vault.source import Source
from ..vault.store import SegmentInfo, VaultError
from .state import StateError, WriterState


def rebuild_state(source: Source, identities: list, state_dir: Path) -> int:
    """Rebuild a lost or stale writer state from the vault itself, with a station identity.

    Follows the chain from segment 1 with the vault's chain.py (signatures, numbering,
    links; the vault may be reached over a network), then reads from the last full
    segment that is not suspect to the head, keeping each segment's compressed plaintext
    as the checkpoint cache. What is replayed is the copy that was checked: copies are
    kept from the latest full segment on, and dropped before it.
    Returns the number of resources in the rebuilt state.
    """
    config = source.config
    state = WriterState(state_dir, config.vault_id, config.genesis)
    scratch = state.dir / "tmp"
    copies: dict[int, Path] = {}
    try:
        with state.locked():
            head_seq, head_hash = source.head()
            descriptors, copies = _fetch_chain(source, scratch, head_seq, head_hash)
            start = next((seq for seq in range(head_seq, 0, -1)
                          if descriptors[seq].kind == "full" and descriptors[seq].suspect is None), 1)
            state.reset()
            last_full = 0
            for seq in range(start, head_seq + 1):
                if descriptors[seq].suspect is not None:
                    continue  # stations do not adopt it; neither does the writer's memory
                with open_private(state.plain_path(seq)) as plain:
                    segment.decrypt_to(copies[seq], identities, plain)
                if descriptors[seq].kind == "full":
                    state.clear_current()
                    last_full = seq
                _replay_plain(state, seq, descriptors[seq])
            state.finish_reset(head_seq, head_hash, last_full)
            count = state.count()
    finally:
        for path in copies.values():
            path.unlink(missing_ok=True)
    state.close()
    return count


def _fetch_chain(source: Source, scratch: Path, head_seq: int,
                 head_hash: str) -> tuple[dict[int, fmt.Descriptor], dict[int, Path]]:
    """Every segment's signed descriptor, 1 to the head, each checked and chained; the
    checked copies from the latest full segment that is not suspect on."""
    descriptors: dict[int, fmt.Descriptor] = {}
    copies: dict[int, Path] = {}
    try:
        prev = source.config.genesis
        for seq in range(1, head_seq + 1):
            path = scratch / f"download-{seq}.age"
            copies[seq] = path
            info = _fetch_checked(source, seq, path, prev)
            descriptors[seq], prev = info.descriptor, info.sha256
            if info.descriptor.kind == "full" and info.descriptor.suspect is None:
                for earlier in [n for n in copies if n < seq]:
                    copies.pop(earlier).unlink(missing_ok=True)
        if prev != head_hash:
            raise StateError("cannot rebuild: the vault's head changed during the rebuild")
    except BaseException:
        for path in copies.values():
            path.unlink(missing_ok=True)
        raise
    return descriptors, copies


def _fetch_checked(source: Source, seq: int, path: Path, prev: str) -> SegmentInfo:
    try:
        return fetch_checked(source, source.config, seq, path, prev)
    except BrokenSegment as exc:
        raise StateError(f"cannot rebuild: segment {seq} {exc.reason}") from exc
    except VaultError as exc:
        raise StateError(f"cannot rebuild from an unsound vault: {exc}") from exc
    except OSError as exc:
        raise StateError(f"cannot rebuild: segment {seq} unreadable ({exc.strerror}); "
                         "verify the vault") from exc


def _replay_plain(state: WriterState, seq: int, descriptor: fmt.Descriptor) -> None:
    """Apply a cached plaintext segment to `current`, every rule of the format checked
    as a station checks it; the last record of a key wins."""
    pending: dict[str, bytes | None] = {}
    try:
        with segment.open_compressed(state.plain_path(seq)) as lines:
            for found in plaintext.checked_records(lines, descriptor):
                pending[found.key] = None if found.deleted else \
                    hashlib.sha256(found.line[:-1]).digest()  # the put line, without its LF
                if len(pending) >= 10000:
                    _flush(state, pending, seq)
    except (segment.DecryptError, FrameError, fmt.FormatError, plaintext.Mismatch) as exc:
        raise StateError(f"cannot rebuild: segment {seq}: {exc}; verify the vault") from exc
    _flush(state, pending, seq)


def _flush(state: WriterState, pending: dict[str, bytes | None], seq: int) -> None:
    state.replay(pending, seq)
    pending.clear()
