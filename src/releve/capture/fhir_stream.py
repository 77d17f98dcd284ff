"""A snapshot or search walk streamed into the writer while it is still being fetched.

A process of its own fetches the pages one after the other (the server is kept busy: it
never waits for capture to digest a page before the next request) and appends each
body, as the server sent it, to a spool file; the writer's worker processes split and
scan each page from there as soon as it is written (scan.py `scan_page`). Before, the
walk was written to a records file and only then imported: at 1000 beds the two phases
ran one after the other, 44 s against 16 s for a client that only pages. The fetcher was
then a thread of the writer's process, and waited for the interpreter lock whenever the
writer's thread held it (results, state rows), on the chain that paces the whole walk.

The spool keeps memory flat whatever the hospital's size, and lets the writer scan the
walk a second time when a resource occurred twice in it (the later occurrence wins):
the second pass reads the same pages from the spool, never the server again.

What the pages say about the walk (matches against `Bundle.total`, entries that are not
FHIR resources, the `next` link the fetcher followed) comes back with each page's scan;
it is judged once every page is scanned and before the segment is sealed (`verdict`),
so a walk that does not add up still writes nothing.
"""

from __future__ import annotations

import multiprocessing
import pickle
import queue
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from .. import collector
from ..children import die_with_parent
from ..fhir.client import FhirClient, FhirError, RawPage, check_total
from ..files import open_private
from ..memory import keep_freed_memory
from .scan import BlockResult, Task

SPOOL_QUEUE = 4  # pages fetched but not yet in the spool: a few megabytes at most
_Fetched = tuple[RawPage, int, bool]  # a page, the number of its walk, whether it is the first


@dataclass
class _WalkCount:
    path: str
    total: int | None = None
    delivered: int = 0


@dataclass
class _Spooled:
    task: Task
    walk: int
    first: bool  # the walk's first page: its total is the one to check against
    next: str | None  # the link the fetcher followed from this page
    time: str | None = None  # Bundle.meta.lastUpdated of the page
    date: str | None = None  # the response's HTTP Date


@dataclass
class PageStream:
    """The pages of `walks` ((path, params) searches, walked in order) as writer tasks."""

    client: FhirClient
    walks: list[tuple[str, dict[str, Any]]]
    spool_path: Path
    server_time: str | None = None  # Bundle.meta.lastUpdated of the first page with one
    server_date: str | None = None  # the HTTP Date of that same response
    seen: int = 0  # entries that count toward Bundle.total
    puts: int = 0  # resources kept
    invalid: int = 0  # entries that are not FHIR resources
    _spooled: list[_Spooled] = field(default_factory=list)
    _by_start: dict[int, _Spooled] = field(default_factory=dict)
    _counts: list[_WalkCount] = field(default_factory=list)
    _complete: bool = False
    _removal: threading.Thread | None = None

    # --- the writer's side ----------------------------------------------------------

    def tasks(self) -> Iterator[Task]:
        """The pages as they arrive (first call), or again from the spool (later calls)."""
        self._counts = [_WalkCount(path) for path, _ in self.walks]
        self.seen = self.puts = self.invalid = 0
        if self._complete:
            for spooled in self._spooled:
                yield spooled.task
            return
        yield from self._live()

    def observe(self, task: Task, result: BlockResult) -> None:
        """Count one scanned page toward its walk; check its `next` link is the one the
        fetcher followed (read there from the part of the page before the entries)."""
        spooled = self._by_start[task.start]
        if result.next != spooled.next:
            raise FhirError(f"{task.label}: the page's next link reads differently "
                            "from its whole body; nothing is written from this walk")
        count = self._counts[spooled.walk]
        if spooled.first:
            count.total = result.total
        count.delivered += result.matches
        self.seen += result.matches
        self.invalid += result.invalid
        self.puts += result.lines

    def verdict(self) -> None:
        """Raise FhirError unless every walk delivered what its server announced."""
        for count in self._counts:
            check_total(count.path, count.total, count.delivered)

    def release(self) -> None:
        """Every page is scanned for good: remove the spool meanwhile, in a thread.

        Removing 2.5 GB that sit in the page cache took 1.35 s at 1000 beds after the
        segment was in the vault; here it runs while the segment is sealed."""
        if self._removal is None:
            self._removal = threading.Thread(target=self.spool_path.unlink,
                                             kwargs={"missing_ok": True},
                                             name="capture-spool-removal", daemon=True)
            self._removal.start()

    def close(self) -> None:
        if self._removal is not None:
            self._removal.join()
        self.spool_path.unlink(missing_ok=True)

    # --- the fetching process ---------------------------------------------------------

    def _live(self) -> Iterator[Task]:
        """The pages as the fetching process announces them; a thread drains its pipe so
        that the fetcher never waits for the scan (the pages wait in the spool)."""
        context = multiprocessing.get_context("fork")
        receiver, sender = context.Pipe(duplex=False)
        fetcher = context.Process(target=self._fetch, args=(sender,), name="capture-fetch",
                                  daemon=True)
        fetcher.start()
        sender.close()
        inbox: queue.SimpleQueue = queue.SimpleQueue()
        drain = threading.Thread(target=_drain, args=(receiver, inbox), name="capture-inbox",
                                 daemon=True)
        drain.start()
        try:
            while True:
                item = inbox.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                self._note_time(item)
                self._spooled.append(item)
                self._by_start[item.task.start] = item
                yield item.task
            self._complete = True
        finally:
            if fetcher.is_alive():
                fetcher.terminate()
            fetcher.join()
            drain.join()  # it has seen the end, or the pipe closed with the fetcher
            receiver.close()

    def _fetch(self, sender: Connection) -> None:
        """In the fetching process: fetch every page and hand it to the spooling thread;
        then None, or the exception that ended the walk.

        A process of its own, not a thread: the walk is a chain, server then fetcher, one
        page after the other, and in a thread the fetcher waited for the interpreter lock
        whenever the writer's own thread (results, state rows) held it, page after page.
        It opens its own connections: the parent's stay as they were, for later cycles."""
        die_with_parent()  # a capture killed with -9 leaves no fetcher behind (children.py)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops it
        keep_freed_memory()  # a page of megabytes after another (memory.py)
        collector.on()  # forked from the writer, which pauses it (collector.py)
        self.client.fresh_connections()
        pages: queue.Queue[_Fetched | BaseException | None] = queue.Queue(maxsize=SPOOL_QUEUE)
        failed = threading.Event()
        spooler = threading.Thread(target=self._spool, args=(pages, sender, failed),
                                   name="capture-spool", daemon=True)
        spooler.start()
        end: BaseException | None = None
        try:
            for item in self._pages():
                if failed.is_set():
                    break
                pages.put(item)
        except BaseException as exc:  # handed to the writer's side, which raises it
            end = exc
        finally:
            pages.put(end)  # the spooler takes every item up to this one, even after failing
            spooler.join()
            sender.close()

    def _pages(self) -> Iterator[_Fetched]:
        """Every page of every walk, with its walk's number and whether it is the first."""
        for number, (path, params) in enumerate(self.walks):
            first = True
            for page in self.client.walk(path, params):
                yield page, number, first
                first = False

    def _spool(self, pages: queue.Queue[_Fetched | BaseException | None], sender: Connection,
               failed: threading.Event) -> None:
        """In the fetching process, a thread: append each page to the spool, announce its
        place; pass on the end or the walk's exception.

        Not on the fetching thread: copying 2.5 GB into the spool (the page cache) was a
        quarter of the fetcher's time at 1000 beds, on the chain that paces the walk,
        while the server was computing the next page; here it runs meanwhile (the write
        does not hold the interpreter lock)."""
        ended = False  # whether the end (None, or the walk's exception) was taken
        try:
            # unbuffered: each page is in the file (the page cache) before a worker reads it
            with open_private(self.spool_path, buffering=0) as spool:
                offset = 0
                while True:
                    item = pages.get()
                    if item is None or isinstance(item, BaseException):
                        ended = True
                        break
                    page, number, first = item
                    _write_all(spool, page.body)
                    task = Task(label=page.where, path=str(self.spool_path), start=offset,
                                end=offset + len(page.body), page=True)
                    offset += len(page.body)
                    sender.send(_Spooled(task, number, first, page.head.next,
                                         page.head.time, page.date))
            sender.send(_portable(item) if item is not None else None)
        except BaseException as exc:
            failed.set()
            sender.send(_portable(exc))
            while not ended:  # the fetching thread stops at its next page, puts its end
                ended = _is_end(pages.get())

    def _note_time(self, spooled: _Spooled) -> None:
        if self.server_time is None and spooled.time:
            self.server_time, self.server_date = spooled.time, spooled.date


def _is_end(item: object) -> bool:
    return item is None or isinstance(item, BaseException)


def _drain(receiver: Connection, inbox: queue.SimpleQueue) -> None:
    """Move the fetcher's announcements into `inbox` as they come; None at the end."""
    try:
        while True:
            item = receiver.recv()
            inbox.put(item)
            if item is None or isinstance(item, BaseException):
                return
    except (EOFError, OSError):
        inbox.put(FhirError("the page fetcher stopped before the end of the walk; "
                            "nothing is written from this walk"))


def _portable(exc: BaseException) -> BaseException:
    """The exception itself if it survives the trip to the parent, else one that says what
    it was (an exception whose constructor takes other arguments than its message)."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return FhirError(f"{type(exc).__name__}: {exc}")


def _write_all(spool: Any, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = spool.write(view)
        view = view[written:]

