"""Turning scanned blocks into one signed, encrypted segment appended to the vault.

The writer is shared by every capture source (files now, the FHIR server later): it
asks the vault for its head, scans blocks in worker processes, keeps only records that
differ from its state, writes the plaintext (header frame + record frames, all zstd),
and has the vault's segment.py encrypt it to every recipient and sign it; the vault
(source.py: a folder or a URL) appends it.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import shutil
import signal
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .. import collector
from ..children import die_with_parent
from ..errors import ReleveError
from ..files import open_private
from ..memory import keep_freed_memory
from ..vault import format as fmt
from ..vault import segment
from ..vault.keys import Signer, parse_recipient
from ..vault.source import Target
from ..vault.store import Staged, VaultError
from .plaincache import gather_current
from .scan import DEFAULT_MAX_RESOURCE, BlockResult, Task, scan, scan_in_worker, scan_page
from .state import StateError, WriterState

PARALLEL_THRESHOLD = 32 * 1024 * 1024
IN_FLIGHT_PER_WORKER = 3
SNAPSHOT = "snapshot"  # `write`'s kind for a source's first walk: full or delta, see there

Suspicion = str | None | Callable[[], str | None]
Observer = Callable[[Task, BlockResult], None]


class WriteError(ReleveError):
    """Input the writer refuses, named by file and line; no segment was written."""


@dataclass
class Written:
    seq: int
    kind: str
    puts: int
    deletes: int
    size: int
    sha256: str
    types: dict[str, dict[str, int]] = field(default_factory=dict)
    checkpoint: Written | None = None
    checkpoint_error: str | None = None


class _Duplicates(Exception):
    """The same resource more than once in one import: which occurrences to skip."""

    def __init__(self, skip: dict[int, frozenset[int]]):
        super().__init__("duplicate resources")
        self.skip = skip


class Writer:
    def __init__(self, vault: Target, signer: Signer, state_dir: Path,
                 max_resource: int = DEFAULT_MAX_RESOURCE, workers: int | None = None):
        self.vault = vault
        self.signer = signer
        self.state = WriterState(state_dir, vault.config.vault_id, vault.config.genesis)
        self.recipients = [parse_recipient(r) for r in vault.config.recipients]
        self.max_resource = max_resource
        self.workers = workers if workers is not None else min(os.cpu_count() or 1, 4)
        self.pool: cf.ProcessPoolExecutor | None = None

    # --- public ---------------------------------------------------------------------

    def write(self, tasks: Callable[[], Iterable[Task]], source: str, kind: str = "delta",
              size_hint: int = 0, suspect: Suspicion = None,
              progress: Callable[[int], None] | None = None,
              checkpoint: bool = True, observe: Observer | None = None,
              parallel: bool | None = None) -> Written | None:
        """Write one segment from the blocks `tasks()` yields; None if nothing changed.

        `kind` SNAPSHOT is a source's first walk of everything it has: a full segment
        if the state holds nothing yet, else a delta, for the state may hold another
        source's resources (an HL7 v2 feed's, capture/hl7), which a full segment would
        make every station drop. `tasks` is a factory because an import that holds the
        same resource more than once is scanned a second time, keeping only each
        resource's last occurrence.
        `suspect` may be a function, called once every block is scanned and before the
        segment is sealed, for a source that learns only at the end whether its data is
        poisoned (a capture streaming pages as they arrive); it may also raise, and then
        nothing is written. `observe` sees each block's result, in order. `parallel`
        (default: by `size_hint`) says whether the worker processes scan the blocks.
        """
        if parallel is None:
            parallel = size_hint >= PARALLEL_THRESHOLD
        parallel = parallel and self.workers > 1
        if parallel:
            self._start_pool()
        with self.state.locked():
            if kind == SNAPSHOT:  # decided under the lock: another source may write meanwhile
                self._settle(require_same_head=False)
                kind = "full" if self.state.is_empty() else "delta"
            # a full segment states the whole truth: the state need not know the vault's past
            head = self._settle(require_same_head=kind == "delta")
            try:
                written = self._write_once(tasks, source, kind, suspect, progress, parallel,
                                           observe=observe, head=head)
            except _Duplicates as duplicates:
                written = self._write_once(tasks, source, kind, suspect, None, parallel,
                                           duplicates.skip, observe)
            if written is not None and checkpoint and kind == "delta" and self._checkpoint_due():
                try:
                    written.checkpoint = self._checkpoint()
                except (StateError, WriteError, VaultError) as exc:
                    # the delta is safely appended; the checkpoint is tried again next time
                    written.checkpoint_error = str(exc)
            return written

    def settle(self) -> None:
        """Finish what a crash interrupted and check the state still describes the vault
        (StateError if not), before a caller holding the lock changes anything of its
        own (a replay sets its message log aside only then)."""
        with self.state.locked():
            self._settle()

    def checkpoint(self) -> Written:
        """Append a full segment holding the current state (on demand)."""
        with self.state.locked():
            self._settle()
            return self._checkpoint()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None
        self.state.close()

    def _start_pool(self) -> None:
        """Fork the workers once, with the state closed, and keep them for later segments.

        fork, not spawn: a spawned worker re-imports the whole CLI (typer, rich), 0.4 s
        each, and the workers touch nothing of the parent's but the tasks they are sent."""
        if self.pool is not None:
            return
        with self.state.closed():
            pool = cf.ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("fork"),
                                          initializer=_start_worker)
            pool.submit(int).result()  # the fork context starts every worker on first use
        self.pool = pool

    # --- one segment ------------------------------------------------------------------

    def _settle(self, require_same_head: bool = True) -> tuple[int, str]:
        """Finish what a crash interrupted, then check the state still describes the vault;
        the vault's head."""
        genesis = self.vault.config.genesis
        take_hint = getattr(self.vault, "take_hash_hint", None)  # a local vault's (store.py)
        if take_hint is not None:
            take_hint(self.state.get("vault_hash_hint"))
        self.state.settle(self.vault.has, genesis)
        vault_head = self.vault.head()
        state_head = self.state.head(genesis)
        if require_same_head and vault_head != state_head:
            history = " with another history" if vault_head[0] == state_head[0] else ""
            raise StateError(
                f"this writer's state ({self.state.dir}) knows the vault up to segment "
                f"{state_head[0]}, but the vault is at segment {vault_head[0]}{history}. "
                "Import a complete extract with --full, or rebuild the state with "
                "`releve vault rebuild-state`.")
        return vault_head

    def _write_once(self, tasks: Callable[[], Iterable[Task]], source: str, kind: str,
                    suspicion: Suspicion, progress: Callable[[int], None] | None,
                    parallel: bool, skip: dict[int, frozenset[int]] | None = None,
                    observe: Observer | None = None,
                    head: tuple[int, str] | None = None) -> Written | None:
        # the head just read by _settle, if given: a local vault hashes its last segment
        # to answer (0.1 s for the 100 MB first segment at 1000 beds), and the append
        # checks it again anyway
        seq, prev = head if head is not None else self.vault.head()
        seq += 1
        tmp = self.state.dir / "tmp"
        for leftover in tmp.iterdir():
            if leftover.is_file():
                leftover.unlink()
        records_path = tmp / "records.zst"
        types: dict[str, Counter] = {"put": Counter(), "delete": Counter()}
        late: Callable[[], str | None] | None = None
        suspect: str | None = None
        if callable(suspicion):
            late = suspicion  # judged at the end; until then the state is updated
        else:
            suspect = suspicion
        self.state.begin(seq, kind if suspect is None else "suspect")
        staged: Staged | None = None
        try:
            # a full segment into a state it set aside: the state's count tells repeats
            counted = kind == "full" and suspect is None
            with open_private(records_path) as records, collector.paused():
                for task, result in self._scan_all(tasks(), seq, kind, parallel, progress,
                                                   skip, counted):
                    if observe is not None:
                        observe(task, result)
                    records.write(result.frame)
                    if suspect is None:  # stations will not adopt a suspect segment:
                        # the writer's memory keeps the last good state too
                        self.state.apply(result.puts, result.gone)
                    types["put"].update(result.types)
                    types["delete"].update(result.deletes)
            if late is not None:
                suspect = late()
                if suspect is not None:  # forget the rows applied meanwhile
                    self.state.abandon()
                    self.state.begin(seq, "suspect")
            puts, deletes = sum(types["put"].values()), sum(types["delete"].values())
            if puts + deletes == 0 and kind == "delta" and suspect is None:
                self.state.abandon()
                return None
            descriptor = fmt.Descriptor(
                vault=self.vault.config.vault_id, seq=seq, prev=prev, kind=kind,
                time=fmt.utc_now(), source=source, puts=puts, deletes=deletes, suspect=suspect)
            by_type = {t: {"put": types["put"][t], "delete": types["delete"][t]}
                       for t in sorted(set(types["put"]) | set(types["delete"]))}
            plain_path = self._plaintext(descriptor, by_type, records_path)
            staged = self._encrypt(plain_path, tmp)
            signature = segment.sign(self.signer, staged.blake2b, descriptor)
            if suspect is None:
                os.replace(plain_path, self.state.plain_path(seq))
            else:
                plain_path.unlink()  # never part of a checkpoint
            self.state.prepare(seq, staged.sha256, kind if suspect is None else "suspect")
        except BaseException:
            if staged is not None:
                staged.path.unlink(missing_ok=True)
            self.state.abandon()
            raise
        self.vault.commit(seq, staged, signature)
        hint = getattr(self.vault, "hash_hint", None)
        self.state.confirm(hint() if hint is not None else None)
        return Written(seq, kind, puts, deletes, staged.size, staged.sha256, by_type)

    def _encrypt(self, plain_path: Path, tmp: Path) -> Staged:
        """The segment encrypted to every recipient, hashed as it is written, durable.

        A local vault receives it straight into its staging folder, where an append
        would have copied it: at 1000 beds, a first capture's 100 MB were written, synced,
        read back, hashed again and synced again, 1.5 s after the walk had ended. A vault
        over HTTP has it staged in `tmp`, then uploads it at the commit."""
        stager = self.vault.stager(tmp)
        try:
            with open(plain_path, "rb") as src:
                segment.encrypt(src, stager, self.recipients)
        except BaseException:
            stager.abort()
            raise
        return stager.finish()

    def _plaintext(self, descriptor: fmt.Descriptor, types: dict, records_path: Path) -> Path:
        """Header frame then the record frames: what `age -d | zstd -d` gives back."""
        plain_path = records_path.with_name("plain.zst")
        with open_private(plain_path) as out:
            out.write(segment.header_frame(fmt.Header(descriptor, types)))
            with open(records_path, "rb") as records:
                shutil.copyfileobj(records, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        records_path.unlink()
        return plain_path

    # --- scanning -----------------------------------------------------------------------

    def _scan_all(self, tasks: Iterable[Task], seq: int, kind: str, parallel: bool,
                  progress: Callable[[int], None] | None,
                  skip: dict[int, frozenset[int]] | None,
                  counted: bool = False) -> Iterator[tuple[Task, BlockResult]]:
        """Scan every block, in order, raising WriteError at the first bad line, and
        _Duplicates at the end if a resource occurred twice (unless `skip` is known).

        `counted`: every block's puts reach the pending state, which held nothing before
        (a full segment): then the state's count says whether any key came twice, and
        the 1.9 million keys of a first capture need no set of their own (a second of
        the writer's process, on the cores the page walk needs)."""
        lookups = kind != "full" and not self.state.is_empty()
        lines_before: Counter[str] = Counter()
        block_keys: list[str] = []
        distinct: set[str] = set()
        repeated = False
        for task, result in self._results(tasks, seq, lookups, parallel, skip or {}):
            if result.error is not None:
                raise WriteError(f"{_where(task, result.error_line or 0, lines_before)}: "
                                   f"{result.error}")
            lines_before[task.label] += result.lines
            if skip is None:
                block_keys.append(result.keys)  # one entry per block, so indexes match tasks
                if not counted:
                    keys = result.keys.split("\n") if result.keys else []
                    before = len(distinct)
                    distinct.update(keys)
                    repeated |= len(distinct) - before != len(keys)
            if progress:
                progress(task.end - task.start if task.data is None else len(task.data))
            yield task, result
        if skip is not None:
            return
        if counted:  # the last block is applied by now: the caller asked for the next
            written = sum(block.count("\n") + 1 for block in block_keys if block)
            repeated = written != self.state.pending_count()
        if repeated:
            earlier = _earlier_occurrences(block_keys)
            if earlier:  # else deletes of what was absent, that the count did not see
                raise _Duplicates(earlier)

    def _results(self, tasks: Iterable[Task], seq: int, lookups: bool, parallel: bool,
                 skip: dict[int, frozenset[int]]) -> Iterator[tuple[Task, BlockResult]]:
        numbered = ((index, task) for index, task in enumerate(tasks))
        if not parallel:
            lookup = self.state.digests if lookups else None
            for index, task in numbered:
                scanner = scan_page if task.page else scan
                yield task, scanner(task, lookup, self.max_resource,
                                    skip.get(index, frozenset()), seq=seq)
            return
        state_path = str(self.state.db_path) if lookups else None
        assert self.pool is not None
        window: list[tuple[Task, cf.Future]] = []
        try:
            for index, task in numbered:
                args = (task, state_path, self.max_resource, skip.get(index, frozenset()), seq)
                window.append((task, self.pool.submit(scan_in_worker, args)))
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
        found = gather_current(self.state, gathered)
        try:
            expected = self.state.count()
            if found != expected:
                # a full segment replaces the whole state: one with resources missing
                # would make every station drop them
                raise StateError(
                    f"cannot checkpoint: the writer's cache in {self.state.dir / 'plain'} holds "
                    f"{found} of the {expected} current resources. Rebuild the state with "
                    "`releve vault rebuild-state`, or import a complete extract with --full.")
            if expected == 0:
                raise StateError("nothing to checkpoint: the writer's state is empty")
            from .files import Source, ndjson_tasks

            source = Source(gathered, "ndjson", None)
            limit, self.max_resource = self.max_resource, 1 << 62  # checked when first imported
            try:
                written = self._write_once(lambda: ndjson_tasks(source), "checkpoint", "full",
                                           None, None, False)
            finally:
                self.max_resource = limit
        finally:
            gathered.unlink(missing_ok=True)
        assert written is not None
        return written


def _earlier_occurrences(block_keys: list[str]) -> dict[int, frozenset[int]]:
    """For each block, the ordinals of resources that occur again later in the import."""
    last: dict[str, tuple[int, int]] = {}
    split = [keys.split("\n") if keys else [] for keys in block_keys]
    for block, keys in enumerate(split):
        for ordinal, key in enumerate(keys):
            last[key] = (block, ordinal)
    skip: dict[int, set[int]] = {}
    for block, keys in enumerate(split):
        for ordinal, key in enumerate(keys):
            if last[key] != (block, ordinal):
                skip.setdefault(block, set()).add(ordinal)
    return {block: frozenset(ordinals) for block, ordinals in skip.items()}


def _where(task: Task, index: int, lines_before: Counter) -> str:
    if task.page:
        return task.label
    if task.line_labels is not None:
        return task.line_labels[index] if index < len(task.line_labels) else task.label
    # blocks come back in order, so every earlier block of this file has been counted
    return f"{task.label}: line {lines_before[task.label] + index + 1}"


def _start_worker() -> None:
    """Ctrl-C reaches the whole process group: a worker that died of it would leave the
    pool broken and the parent waiting on it. The parent alone stops, and stops them.
    Blocks of megabytes come one after the other: their memory is kept (memory.py); they
    make no reference cycles, so the cyclic collector is off (collector.py). A worker
    ends with the capture that forked it (children.py)."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    keep_freed_memory()
    collector.off_for_good()
