"""The MLLP listener: receive HL7 v2 messages, log them durably, then acknowledge them.

An interface engine sends each message in an MLLP frame (<VT> message <FS><CR>) and
waits for its ACK before the next one; a message it saw no ACK for, it sends again. So
the ACK is a promise: AA is sent only once the message is committed to the message log
(`log.py`) and fsynced. A crash before the commit loses nothing the engine will not send
again; a crash after it loses nothing at all.

Each connection (one per feed, usually) is a coroutine that reads a frame with
python-hl7's MLLP stream reader, has the message read (`message.read`: the checks and
the header), queues it for the committer and waits. The committer is one thread owning
the log's connection: it takes everything queued meanwhile, writes it in one transaction
(one fsync for every connection: group commit), then wakes the connections, which send
their ACKs. The loop reads the usual messages itself (`message.read` takes about 0.06 ms
for a 1 kB message, less than handing it to another process would); one of `aside`
bytes or more (a report with its PDF, a feed sending a file by mistake: 15 MiB take
about a second to read) goes to one of `workers` forked processes
(`listener_workers.py`), so that it never holds up the loop the other feeds need.

A message that cannot be accepted (not HL7, an unknown type, a required segment missing)
is kept in the log's quarantine in the same transactions, and answered AE or AR with an
ERR segment saying why. A frame that breaks MLLP or exceeds `limit` closes its
connection only: the engine reconnects and the other feeds never notice.
docs/hl7/listener.md has the protocol's details, the log's schema and the limits.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sqlite3
import ssl as ssl_module
import threading
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import hl7.mllp

from ...errors import ReleveError
from .datatypes import PARIS
from .listener_workers import Verdict, Workers, judge
from .log import DUPLICATE, Arrival, GroupCommit, LogWriter, Refusal, received_now

LOG = logging.getLogger("releve.capture.hl7")
LIMIT = 16 * 1024 * 1024  # the largest message accepted, in bytes (a report with its PDF)
ASIDE = 64 * 1024         # messages of this size and more are read in a worker process
WORKERS = 2               # large messages read at once
STOP_POLL = 0.1           # seconds between looks at the `stop` event
DRAIN_SECONDS = 10.0      # at stop, how long messages already read get to be committed
# A full collection walks every object the process keeps (message.read's caches of parsed
# fields among them): 20 to 65 ms measured, sixty ACKs' latency, once every thousand or so
# messages. Its threshold (10 younger collections by default) raised a hundredfold: the
# collector still frees reference cycles, a hundred times later.
FULL_COLLECTION_AFTER = 1000


class ListenError(ReleveError):
    """The address cannot be listened on (in use, not this machine's, not allowed)."""


def serve(address: tuple[str, int], state: Path, *, ssl: ssl_module.SSLContext | None = None,
          zone: ZoneInfo = PARIS, ready: Callable[[int], None] | None = None,
          stop: threading.Event | None = None, limit: int = LIMIT, workers: int = WORKERS,
          aside: int = ASIDE) -> None:
    """Listen on `address` until `stop` is set or SIGTERM/SIGINT comes (those only when
    called from the main thread). `ready` gets the port once connections are accepted
    (port 0: the system's choice). Messages of `aside` bytes or more are read in one of
    `workers` processes (0: every message in the loop; `aside=0`: every one in them)."""
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], thresholds[1], FULL_COLLECTION_AFTER)
    try:
        asyncio.run(Listener(state, zone, limit, workers, aside).run(address, ssl, ready, stop))
    finally:
        gc.set_threshold(*thresholds)


class Connection:
    """One sender's connection: `busy` from a message's last byte to its ACK."""

    def __init__(self, writer: hl7.mllp.HL7StreamWriter):
        self.writer = writer
        self.busy = False
        self.sender: str | None = None  # the last sender this connection named


class Listener:
    def __init__(self, state: Path, zone: ZoneInfo, limit: int, workers: int, aside: int):
        self.state, self.zone, self.limit, self.workers, self.aside = state, zone, limit, workers, aside
        self.pool: Workers | None = None
        self.committer: GroupCommit | None = None
        self.connections: dict[asyncio.Task, Connection] = {}
        self.stopping = False

    async def run(self, address: tuple[str, int], ssl: ssl_module.SSLContext | None,
                  ready: Callable[[int], None] | None, stop: threading.Event | None) -> None:
        loop = asyncio.get_running_loop()
        stopped = asyncio.Event()
        signals = [signal.SIGTERM, signal.SIGINT] if threading.current_thread() is threading.main_thread() else []
        if self.workers:  # forked before the log, the sockets and the committer's thread
            self.pool = Workers(self.workers, self.zone)
        writer: LogWriter | None = None
        server: asyncio.Server | None = None
        try:
            writer = LogWriter(self.state)
            self.committer = GroupCommit(writer, loop)
            try:
                server = await hl7.mllp.start_hl7_server(
                    self._serve_connection, address[0], address[1], ssl=ssl,
                    limit=self.limit + 1)  # python-hl7's limit counts the frame's <VT>
            except OSError as error:
                why = os.strerror(error.errno) if error.errno else str(error)  # asyncio's text repeats the address
                raise ListenError(f"cannot listen on {address[0]}:{address[1]}: {why}") from None
            for number in signals:
                loop.add_signal_handler(number, stopped.set)
            port = server.sockets[0].getsockname()[1]
            LOG.info("listening for HL7 v2 (MLLP%s) on %s:%d", " over TLS" if ssl else "", address[0], port)
            if ready is not None:
                ready(port)
            watch = asyncio.create_task(_watch(stop, stopped)) if stop is not None else None
            await stopped.wait()
            await self._close(server)
            if watch is not None:
                watch.cancel()
        finally:
            for number in signals:
                loop.remove_signal_handler(number)
            if server is not None:
                server.close()
            if self.committer is not None:
                await asyncio.to_thread(self.committer.close)  # what was queued is committed
                LOG.info("message log: %d entries in %d commits", self.committer.entries, self.committer.commits)
            elif writer is not None:
                writer.close()
            if self.pool is not None:
                self.pool.close()
        LOG.info("listener stopped")

    async def _close(self, server: asyncio.AbstractServer) -> None:
        """No new connection; idle ones closed; messages already read committed and
        acknowledged (for at most DRAIN_SECONDS), then their connections closed too."""
        self.stopping = True
        server.close()
        for connection in self.connections.values():
            if not connection.busy:
                connection.writer.transport.abort()
        if self.connections:
            _, late = await asyncio.wait(list(self.connections), timeout=DRAIN_SECONDS)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        await server.wait_closed()

    async def _serve_connection(self, reader: hl7.mllp.HL7StreamReader,
                                writer: hl7.mllp.HL7StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        connection = self.connections[task] = Connection(writer)
        peer = _peer(writer)
        LOG.info("connection from %s", peer)
        try:
            while not self.stopping:
                raw = await _next_message(reader, peer, self.limit)
                if raw is None:
                    break
                connection.busy = True
                if not await self._take(raw, connection, peer):
                    break
                connection.busy = False
        except OSError as error:  # reset, broken pipe, a TLS record that does not decrypt
            LOG.info("connection from %s lost: %s", peer, type(error).__name__)
        finally:
            del self.connections[task]
            if connection.busy:  # cut inside a message: no ACK, the engine sends it again
                writer.transport.abort()
            else:
                writer.close()
        LOG.info("connection from %s closed", peer)

    async def _take(self, raw: bytes, connection: Connection, peer: str) -> bool:
        """Judge, log and acknowledge one message: False if the connection must close."""
        received = received_now()
        verdict = await self._judge(raw)
        entry: Arrival | Refusal
        if verdict.sender is not None:
            connection.sender = verdict.sender  # to blame for what it sends unreadable later
        if verdict.code == "AA":
            assert verdict.sender is not None and verdict.control_id is not None and verdict.kind is not None
            entry = Arrival(received, verdict.sender, verdict.control_id, verdict.kind, verdict.event_time,
                            verdict.patient, verdict.merged, raw)
        else:
            sender = verdict.sender if verdict.sender is not None else connection.sender
            entry = Refusal(received, sender, verdict.control_id, verdict.kind, verdict.code,
                            verdict.reason or "", peer, raw)
        assert self.committer is not None
        try:
            outcome = await self.committer.submit(entry)
        except Exception as error:  # not acknowledged: the engine sends it again
            LOG.error("the message log could not be written (%s: %s): closing the connection from %s",
                      type(error).__name__, error if isinstance(error, sqlite3.Error) else "", peer)
            return False
        if outcome == DUPLICATE:
            LOG.debug("a message sent again by %s acknowledged, not stored again", entry.sender)
        elif isinstance(entry, Refusal):
            LOG.warning("message from %s rejected (%s): %s", entry.sender or peer, entry.code, entry.reason)
        connection.writer.writeblock(verdict.ack)
        await connection.writer.drain()
        return True

    async def _judge(self, raw: bytes) -> Verdict:
        if self.pool is not None and len(raw) >= self.aside:
            return await self.pool.judge(raw)
        return judge(raw, self.zone)


async def _next_message(reader: hl7.mllp.HL7StreamReader, peer: str, limit: int) -> bytes | None:
    """The next frame's content; None at the connection's end or when it must close."""
    try:
        return bytes(await reader.readblock())
    except asyncio.IncompleteReadError as end:
        if end.partial:
            LOG.warning("connection from %s ended inside a frame (%d bytes, not acknowledged)",
                        peer, len(end.partial))
    except ValueError:  # python-hl7's readblock: over the stream's limit, what was read dropped
        LOG.warning("a message from %s exceeds %d bytes: connection closed", peer, limit)
    except hl7.mllp.InvalidBlockError:
        LOG.warning("bytes from %s outside an MLLP frame: connection closed", peer)
    return None


async def _watch(stop: threading.Event, stopped: asyncio.Event) -> None:
    """Turn a thread's stop event into the loop's (polled: a wait on it would hold a
    thread that a stop by signal could not release)."""
    while not stop.is_set():
        await asyncio.sleep(STOP_POLL)
    stopped.set()


def _peer(writer: hl7.mllp.HL7StreamWriter) -> str:
    address = writer.get_extra_info("peername")
    return f"{address[0]}:{address[1]}" if address else "?"
