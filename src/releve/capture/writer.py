"""Turning scanned blocks into one signed, encrypted segment appended to the vault.

The writer is shared by every capture source (files now, the FHIR server later): it
asks the vault for its head, scans blocks in worker processes, keeps only records that
differ from its state, writes the plaintext (header frame + record frames, all zstd),
encrypts it with age to every recipient, signs it in minisign's format, and appends it.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import io
import multiprocessing
import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

import pyrage
import zstandard

from ..vault import format as fmt
from ..vault.minisign import SecretKey, file_digest
from ..vault.keys import parse_recipient
from ..vault.store import Config
from .scan import BlockResult, DEFAULT_MAX_RESOURCE, Task, scan, scan_in_worker
from .state import StateError, WriterState

PARALLEL_THRESHOLD = 32 * 1024 * 1024
IN_FLIGHT_PER_WORKER = 3


class VaultTarget(Protocol):
    """What a writer needs of a vault, local or over HTTP."""

    config: Config

    def head(self) -> tuple[int, str]: ...
    def has(self, seq: int, sha256: str) -> bool: ...
    def append(self, seq: int, source: BinaryIO, signature: str) -> object: ...


class ImportError_(Exception):
    """Input that cannot be imported, named by file and line; nothing was written."""


@dataclass
class Written:
    seq: int
    kind: str
    puts: int
    deletes: int
    size: int
    sha256: str
    types: dict[str, dict[str, int]] = field(default_factory=dict)
    checkpoint: "Written | None" = None


class _Duplicate(Exception):
    """The same resource twice in one parallel run: redo it in order, one block at a time."""


class Writer:
    def __init__(self, vault: VaultTarget, signer: SecretKey, state_dir: Path,
                 max_resource: int = DEFAULT_MAX_RESOURCE, workers: int | None = None):
        self.vault = vault
        self.signer = signer
        self.state = WriterState(state_dir, vault.config.vault_id)
        self.recipients = [parse_recipient(r) for r in vault.config.recipients]
        self.max_resource = max_resource
        self.workers = workers if workers is not None else min(os.cpu_count() or 1, 4)

    # --- public ---------------------------------------------------------------------

    def write(self, tasks: Callable[[], Iterable[Task]], source: str, kind: str = "delta",
              size_hint: int = 0, suspect: str | None = None,
              progress: Callable[[int], None] | None = None,
              checkpoint: bool = True) -> Written | None:
        """Write one segment from the blocks `tasks()` yields; None if nothing changed.

        `tasks` is a factory because a parallel run that meets the same resource twice is
        redone sequentially, from the start, so that the last occurrence wins.
        """
        with self.state.locked():
            self._settle()
            parallel = self.workers > 1 and size_hint >= PARALLEL_THRESHOLD
            try:
                written = self._write_once(tasks, source, kind, suspect, progress, parallel)
            except _Duplicate:
                written = self._write_once(tasks, source, kind, suspect, None, False)
            if written is not None and checkpoint and kind == "delta" and self._checkpoint_due():
                written.checkpoint = self._checkpoint()
            return written

    def checkpoint(self) -> Written:
        """Append a full segment holding the current state (on demand)."""
        with self.state.locked():
            self._settle()
            return self._checkpoint()

    def close(self) -> None:
        self.state.close()

    # --- one segment ------------------------------------------------------------------

    def _settle(self) -> None:
        genesis = self.vault.config.genesis
        self.state.settle(self.vault.has, genesis)
        vault_head = self.vault.head()
        state_head = self.state.head(genesis)
        if vault_head != state_head:
            raise StateError(
                f"this writer's state ({self.state.dir}) knows the vault up to segment "
                f"{state_head[0]}, but the vault is at segment {vault_head[0]} "
                f"{'with another history' if vault_head[0] == state_head[0] else ''}. "
                "Import a complete extract with --full, or rebuild the state with "
                "`releve vault rebuild-state`.".replace("  ", " "))

    def _write_once(self, tasks: Callable[[], Iterable[Task]], source: str, kind: str,
                    suspect: str | None, progress: Callable[[int], None] | None,
                    parallel: bool) -> Written | None:
        seq, prev = self.vault.head()
        seq += 1
        tmp = self.state.dir / "tmp"
        for leftover in tmp.iterdir():
            leftover.unlink()
        records_path = tmp / "records.zst"
        types: dict[str, Counter] = {"put": Counter(), "delete": Counter()}
        self.state.begin(seq, kind)
        try:
            with open(records_path, "wb") as records:
                for result in self._scan_all(tasks(), kind, parallel, progress):
                    records.write(result.frame)
                    self.state.apply((c.key, c.digest) for c in result.changes)
                    types["put"].update(result.types)
                    types["delete"].update(result.deletes)
            puts, deletes = sum(types["put"].values()), sum(types["delete"].values())
            if puts + deletes == 0 and kind == "delta":
                self.state.abandon()
                return None
            descriptor = fmt.Descriptor(
                vault=self.vault.config.vault_id, seq=seq, prev=prev, kind=kind,
                time=fmt.utc_now(), source=source, puts=puts, deletes=deletes, suspect=suspect)
            by_type = {t: {"put": types["put"][t], "delete": types["delete"][t]}
                       for t in sorted(set(types["put"]) | set(types["delete"]))}
            plain_path = self._plaintext(descriptor, by_type, records_path)
            cipher_path = tmp / "segment.age"
            with open(plain_path, "rb") as src, open(cipher_path, "wb") as dst:
                pyrage.encrypt_io(src, dst, self.recipients)
                dst.flush()
                os.fsync(dst.fileno())
            signature = self.signer.sign(file_digest(cipher_path), descriptor.to_comment())
            sha = _sha256(cipher_path)
            os.replace(plain_path, self.state.plain_path(seq))
            self.state.prepare(seq, sha, kind)
        except BaseException:
            self.state.abandon()
            raise
        with open(cipher_path, "rb") as handle:
            self.vault.append(seq, handle, signature)
        self.state.confirm()
        cipher_size = cipher_path.stat().st_size
        cipher_path.unlink()
        return Written(seq, kind, puts, deletes, cipher_size, sha, by_type)

    def _plaintext(self, descriptor: fmt.Descriptor, types: dict, records_path: Path) -> Path:
        """Header frame then the record frames: what `age -d | zstd -d` gives back."""
        plain_path = records_path.with_name("plain.zst")
        header = fmt.Header(descriptor, types).to_line()
        with open(plain_path, "wb") as out:
            out.write(zstandard.ZstdCompressor(level=3).compress(header))
            with open(records_path, "rb") as records:
                shutil.copyfileobj(records, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        records_path.unlink()
        return plain_path

    # --- scanning -----------------------------------------------------------------------

    def _scan_all(self, tasks: Iterable[Task], kind: str, parallel: bool,
                  progress: Callable[[int], None] | None) -> Iterator[BlockResult]:
        """Scan every block, in order, raising ImportError_ at the first bad line."""
        lookups = None if kind == "full" or self.state.is_empty() else str(self.state.db_path)
        lines_before: Counter[str] = Counter()
        fingerprints: set[int] = set()
        seen: dict[str, bytes | None] | None = None if parallel else {}
        for task, result in self._results(tasks, lookups, parallel, seen):
            if result.error is not None:
                raise ImportError_(f"{_where(task, result.error_line or 0, lines_before)}: "
                                   f"{result.error}")
            lines_before[task.label] += result.lines
            if parallel:
                count = len(result.fingerprints) // 8
                before = len(fingerprints)
                fingerprints.update(memoryview(result.fingerprints).cast("Q"))
                if len(fingerprints) - before != count:
                    raise _Duplicate()
            if progress:
                progress(task.end - task.start if task.data is None else len(task.data))
            yield result

    def _results(self, tasks: Iterable[Task], lookups: str | None, parallel: bool,
                 seen: dict | None) -> Iterator[tuple[Task, BlockResult]]:
        if not parallel:
            for task in tasks:
                yield task, scan(task, lookups, self.max_resource, seen)
            return
        context = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(self.workers, mp_context=context) as pool:
            window: list[tuple[Task, cf.Future]] = []
            iterator = iter(tasks)
            try:
                for task in iterator:
                    window.append((task, pool.submit(scan_in_worker, (task, lookups, self.max_resource))))
                    if len(window) >= self.workers * IN_FLIGHT_PER_WORKER:
                        done_task, future = window.pop(0)
                        yield done_task, future.result()
                while window:
                    done_task, future = window.pop(0)
                    yield done_task, future.result()
            finally:
                for _, future in window:
                    future.cancel()

    # --- checkpoints --------------------------------------------------------------------

    def _checkpoint_due(self) -> bool:
        head, _ = self.state.head(self.vault.config.genesis)
        since = head - max(self.state.last_full, 0)
        return since >= self.vault.config.checkpoint_interval

    def _checkpoint(self) -> Written:
        """A full segment made of the latest version of every resource.

        The lines are gathered into a file before the segment begins, because beginning
        a full segment sets the current table aside.
        """
        gathered = self.state.dir / "checkpoint.ndjson"
        with open(gathered, "wb") as out:
            for seq in self.state.plain_segments():
                for batch in _batches(_plain_records(self.state.plain_path(seq)), 5000):
                    current = self.state.lookup([key for key, _ in batch])
                    for key, line in batch:
                        if current.get(key) == (hashlib.sha256(line).digest(), seq):
                            out.write(line + b"\n")
        try:
            if gathered.stat().st_size == 0:
                raise StateError("nothing to checkpoint: the writer's state is empty")
            from .files import Source, ndjson_tasks

            source = Source(gathered, "ndjson", None)
            written = self._write_once(lambda: ndjson_tasks(source), "checkpoint", "full",
                                       None, None, False)
        finally:
            gathered.unlink(missing_ok=True)
        assert written is not None
        return written


def _plain_records(path: Path) -> Iterator[tuple[str, bytes]]:
    """(key, line) of every put in a cached plaintext segment, header skipped."""
    with open(path, "rb") as handle:
        reader = zstandard.ZstdDecompressor().stream_reader(handle, read_across_frames=True)
        lines = io.BufferedReader(reader, buffer_size=1 << 20)
        next(lines, None)
        for line in lines:
            line = line.rstrip(b"\n")
            if line and not line.startswith(b'{"delete":'):
                yield _key_of(line), line


def _batches(items: Iterable, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _key_of(line: bytes) -> str:
    from .scan import _decode_resource

    resource = _decode_resource(line)
    return f"{resource.resourceType}/{resource.id}"


def _where(task: Task, index: int, lines_before: Counter) -> str:
    if task.line_labels is not None:
        return task.line_labels[index] if index < len(task.line_labels) else task.label
    # blocks come back in order, so every earlier block of this file has been counted
    return f"{task.label}: line {lines_before[task.label] + index + 1}"


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
