"""Reading large messages for the listener: `message.read` and the ACK, in forked workers.

`message.read` takes about 0.06 ms for a usual message, but a large one takes longer
(measured: about 1 s for 15 MiB of short segments, which it has to split), and read in
the loop it would hold up every other feed while it lasts. So the
listener hands messages of 64 KiB and more to worker processes forked at its start,
each fed through a pipe of its own that the loop watches (`add_reader`): no thread, one
write and one read a message (about 0.15 ms of CPU: more than a usual message's
reading, hence the threshold). Messages given while every worker is busy wait in line,
in order.

A worker that dies (the out-of-memory killer, a message python-hl7 cannot survive)
answers for the message it held: AE, the bytes quarantined, as for any message that
could not be read; the others go on, and with none left the loop reads for itself.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import multiprocessing
import signal
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from zoneinfo import ZoneInfo

from ...children import die_with_parent
from . import message

LOG = logging.getLogger("releve.capture.hl7")
READ_FAILED = "the message could not be read"  # an error of ours, not the sender's


@dataclass(frozen=True)
class Verdict:
    """What became of a message once read: small, so cheap to send back from a worker."""
    code: str                  # AA, or AE/AR
    ack: bytes                 # the ACK message, unframed
    sender: str | None         # None: MSH unreadable
    control_id: str | None
    kind: str | None
    reason: str | None = None  # AE/AR: why (the ERR's text)
    event_time: str | None = None
    patient: str | None = None
    merged: str | None = None


def judge(raw: bytes, zone: ZoneInfo) -> Verdict:
    """Read one message and make its ACK. A failure of reading itself (a bug of ours)
    becomes an AE, so that the sender is answered and the bytes kept."""
    try:
        return _verdict(raw, zone)
    except Exception as error:
        LOG.error("%s: %s", READ_FAILED, type(error).__name__)  # its text may quote the message
        return failed()


def failed() -> Verdict:
    return Verdict("AE", message.acknowledgement(None, "AE", READ_FAILED), None, None, None, READ_FAILED)


def _verdict(raw: bytes, zone: ZoneInfo) -> Verdict:
    try:
        read = message.read(raw, zone)
    except message.Rejected as rejected:
        header = rejected.header
        ack = rejected.acknowledgement()  # its ERR with the condition and the location
        if header is None:
            return Verdict(rejected.code, ack, None, None, None, rejected.reason)
        return Verdict(rejected.code, ack, header.sender, header.control_id, header.kind, rejected.reason)
    header = read.header
    return Verdict("AA", message.acknowledgement(header, "AA"), header.sender, header.control_id,
                   header.kind, None, read.event_time, read.patient, read.merged)


class Worker:
    def __init__(self, process: BaseProcess, pipe: Connection):
        self.process, self.pipe = process, pipe
        self.waiting: asyncio.Future[Verdict] | None = None  # the message it is reading


class Workers:
    """`count` forked processes reading messages. Fork them before any thread starts
    (the log's committer), and before the log and the sockets are opened."""

    def __init__(self, count: int, zone: ZoneInfo):
        self.zone = zone
        self.workers: list[Worker] = []
        self.idle: list[Worker] = []
        self.line: collections.deque[tuple[bytes, asyncio.Future[Verdict]]] = collections.deque()
        self.loop = asyncio.get_running_loop()
        context = multiprocessing.get_context("fork")
        for _ in range(count):
            ours, theirs = context.Pipe()
            inherited = [worker.pipe for worker in self.workers]  # the other workers' ends
            process = context.Process(target=_work, args=(theirs, zone, inherited), daemon=True,
                                      name="hl7-reader")
            process.start()
            theirs.close()
            worker = Worker(process, ours)
            self.workers.append(worker)
            self.idle.append(worker)
            self.loop.add_reader(ours.fileno(), self._answered, worker)

    async def judge(self, raw: bytes) -> Verdict:
        """The message's verdict, from the first worker free (here if none is left)."""
        if not self.workers:
            return judge(raw, self.zone)
        future = self.loop.create_future()
        if self.idle:
            self._give(self.idle.pop(), raw, future)
        else:
            self.line.append((raw, future))
        return await future

    def _give(self, worker: Worker, raw: bytes, future: asyncio.Future[Verdict]) -> None:
        worker.waiting = future
        try:
            worker.pipe.send_bytes(raw)  # an idle worker is reading its pipe: this returns
        except OSError:
            self._lost(worker)

    def _answered(self, worker: Worker) -> None:
        try:
            verdict = worker.pipe.recv()
        except (EOFError, OSError):
            self._lost(worker)
            return
        self._settle(worker, verdict)
        self._next(worker)

    def _next(self, worker: Worker) -> None:
        while self.line:
            raw, future = self.line.popleft()
            if not future.cancelled():
                self._give(worker, raw, future)
                return
        self.idle.append(worker)

    def _lost(self, worker: Worker) -> None:
        self._close(worker)
        self.workers.remove(worker)
        LOG.error("a message-reading worker ended (exit code %s): %d left",
                  worker.process.exitcode, len(self.workers))
        self._settle(worker, failed())
        if not self.workers:  # read here what was waiting
            while self.line:
                raw, future = self.line.popleft()
                if not future.cancelled():
                    future.set_result(judge(raw, self.zone))

    def _settle(self, worker: Worker, verdict: Verdict) -> None:
        future, worker.waiting = worker.waiting, None
        if future is not None and not future.cancelled():
            future.set_result(verdict)

    def _close(self, worker: Worker) -> None:
        self.loop.remove_reader(worker.pipe.fileno())
        worker.pipe.close()
        worker.process.terminate()  # perhaps minutes into a huge message nobody waits for
        worker.process.join(5)

    def close(self) -> None:
        for worker in self.workers:
            self._close(worker)
        self.workers.clear()


def _work(pipe: Connection, zone: ZoneInfo, inherited: list[Connection]) -> None:
    """A worker: a message in, its verdict out, until the listener closes the pipe."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the listener, which stops us
    for other in inherited:
        other.close()
    while True:
        try:
            raw = pipe.recv_bytes()
        except (EOFError, OSError):
            return
        pipe.send(judge(raw, zone))
