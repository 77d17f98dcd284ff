"""A segment's blocks, parsed in order: here, or in forked workers once the segment is
large enough."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from ...memory import keep_freed_memory
from ...vault import format as fmt
from ...vault import plaintext, segment
from .batches import Batch, parse_block
from .lines import RecordError
from .stages import create_stage
from .worker import parse_placed, stage_placed, start_worker

BLOCK = 4 << 20  # bytes of plaintext per parsed block
PARALLEL_FROM = 1 << 20  # segment file bytes (about 20 MB of plaintext): smaller ones are parsed in the syncing process


class Appender(Protocol):
    """Where blocks are placed before they are parsed: the index's record file."""

    path: Path

    def append(self, block: bytes) -> int: ...


def plaintext_blocks(stream: Any) -> Iterator[bytes]:
    """Blocks of whole lines, after the header line: a block's worth of bytes, then the
    rest of the line it ends in."""
    while chunk := stream.read(BLOCK):
        if not chunk.endswith(b"\n"):
            chunk += stream.readline()
        yield chunk


class Parser:
    """Parses blocks, in forked workers once a segment is large enough. The pool is forked
    before the segment is opened, so the workers hold none of it."""

    def __init__(self, workers: int | None = None, stage_dir: Path | None = None):
        self.workers = workers if workers is not None else min(os.cpu_count() or 1, 4)
        self.stage_dir = stage_dir  # where the workers' stages go (none: rows come as JSON)
        self.pool: cf.ProcessPoolExecutor | None = None

    def __enter__(self) -> Parser:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)

    def start(self, size: int) -> bool:
        """Fork the workers if a segment of `size` bytes is worth them. This must happen
        before the segment is opened: a worker forked later would inherit the write end of
        the decryption pipe, and the pipe would never reach its end."""
        if self.workers < 2 or size < PARALLEL_FROM:
            return False
        if self.pool is None:
            keep_freed_memory()  # blocks of megabytes one after another, here and in the forks
            context = multiprocessing.get_context("fork")
            stages = context.SimpleQueue()
            if self.stage_dir is not None:
                for number in range(self.workers):
                    path = self.stage_dir / f"stage-{number}.sqlite"
                    create_stage(path)
                    stages.put(str(path))
            self.pool = cf.ProcessPoolExecutor(self.workers, mp_context=context,
                                               initializer=start_worker, initargs=(stages,))
            self.pool.submit(int).result()  # a fork pool starts its workers on first use
        return True

    def batches(self, blocks: Iterator[bytes], records: Appender, parallel: bool,
                staged: bool = False) -> Iterator[Batch]:
        """The blocks' Batches, in order, each block placed in `records` first; `staged`:
        the workers leave the rows in their stages when they have one (for a generation
        build, see Staged). A worker cannot know the number of its block's first line
        (the blocks before it are still being parsed), so a block it refuses is parsed
        again here, where the error can name the line."""
        number = 2  # line 1 is the header
        task = stage_placed if staged and self.stage_dir is not None else parse_placed
        placed = ((data, records.append(data)) for data in blocks)
        for data, start, future in self._submitted(placed, str(records.path), parallel, task):
            batch = parse_block(data, number, start) if future is None else \
                self._collect(future, data, number, start)
            number += batch.records
            yield batch

    def _submitted(self, placed: Iterator[tuple[bytes, int]], path: str, parallel: bool,
                   task: Any) -> Iterator[tuple[bytes, int, cf.Future | None]]:
        """The blocks in order, each with its parse under way in a worker (None: to parse
        here); the workers are kept a few blocks ahead."""
        if not parallel or self.pool is None:
            for data, start in placed:
                yield data, start, None
            return
        in_flight: deque[tuple[bytes, int, cf.Future]] = deque()
        for data, start in placed:
            in_flight.append((data, start, self.pool.submit(task, path, start, len(data))))
            if len(in_flight) >= 2 * self.workers:
                yield in_flight.popleft()
        while in_flight:
            yield in_flight.popleft()

    @staticmethod
    def _collect(future: cf.Future, data: bytes, number: int, start: int) -> Batch:
        try:
            return future.result()
        except RecordError:
            return parse_block(data, number, start)  # raises again, naming the line


def segment_batches(path: Path, identities: list, descriptor: fmt.Descriptor,
                    parser: Parser, records: Appender, staged: bool = False) -> Iterator[Batch]:
    """Every record of a verified segment, in batches; the header must repeat the signed
    descriptor and the records must number what it says, or RecordError is raised after
    the last batch, before the index commits the segment, so a short one never lands."""
    parallel = parser.start(path.stat().st_size)  # forks, if it does, before the pipe exists
    stream = segment.open_plaintext(path, identities)
    tally = plaintext.Tally()
    try:
        header = plaintext.read_header(stream)
        plaintext.check_header(header, descriptor)
        for batch in parser.batches(plaintext_blocks(stream), records, parallel, staged):
            tally.merge(batch.types)
            yield batch
        tally.check(header, descriptor)
    except (segment.DecryptError, fmt.FormatError, plaintext.Mismatch, RecordError) as exc:
        reason = exc.reason if isinstance(exc, segment.DecryptError) else str(exc)
        raise RecordError(f"segment {descriptor.seq}: {reason}") from exc
    finally:
        stream.close()
