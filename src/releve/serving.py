"""uvicorn as Relève's two servers run it, so that slow clients cannot take them down.

`releve vault serve` and `releve station serve` both run under uvicorn (h11). Left as it
is, uvicorn waits for a request head for ever: it arms no timer before the first request
(its keep-alive timer starts only once a response is sent), so every client that opens a
connection and sends half a request line keeps a file descriptor. 1,100 of them under
the usual limit of 1,024 descriptors, and `accept()` fails with EMFILE: the server stops
answering everyone, nurses included, for as long as the clients stay.

What uvicorn offers does not fit: `limit_concurrency` answers 503 to a *complete* request
once too many connections are open, so it would hand the slow clients' victory to them
(the nurse gets the 503); `timeout_keep_alive` only runs between requests; h11's
`max_incomplete_event_size` (16 KiB, kept) bounds a request head's size, not its time.
An ASGI middleware cannot help either: the app is called only once the head is complete.
So the limits are enforced where the bytes arrive, in a subclass of uvicorn's h11
protocol (`GuardedProtocol`):

- **head timeout**: from the connection's start, or the end of the previous response on a
  kept-alive connection, the whole request head must arrive within `head_timeout`
  seconds, else the connection is closed;
- **body idle timeout**: while a request body is expected, a gap of more than
  `body_timeout` seconds without a byte closes the connection (the app then sees the
  client gone: the vault drops what it staged). Time when uvicorn itself stopped reading
  (the app is slower than the client) does not count;
- **a cap on open connections**, below the file-descriptor limit: a connection over the
  cap closes the oldest connection still waiting for its request head (a browser or a
  capture sends its head within milliseconds of connecting, a slow client is the one
  waiting longest), or, if there is none, is closed itself. Timeouts alone are not
  enough: a client opens 1,100 connections anew every `head_timeout` seconds at no cost.
- **accepting in small batches** (`backlog`): asyncio accepts up to `backlog` connections
  in one go, and a connection reaches the protocol (which counts it, and closes another)
  two turns of the event loop later, its socket freed one turn after that: up to three
  batches are open beyond the cap. The cap is therefore lowered, if need be, to the soft
  limit on open files less three batches and what the app holds itself (RESERVED_FDS):
  at 1,024 files, 1,024 - 3 x 128 - 128 = 512 connections.

Measured on the vault (1,100 then 3,000 stalled clients, `ulimit -n 1024`, loopback):
before, a normal request got no answer within 5 s (EMFILE, accepting retried every
second); after, it is answered in 0.06-0.2 s, the process never holds more than ~770
descriptors, and every stalled client is cut within `head_timeout`
(tests/test_servers_stay_up.py checks it for both servers).

Not covered: a client that sends a body one byte just inside each `body_timeout`, or
reads its response very slowly, keeps its connection; such connections are not closed
for newcomers (one may be a capture's upload), so `max_connections` of them would make
the server refuse new ones until they end. A minimum rate would be the next step.
"""

from __future__ import annotations

import asyncio
import resource
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, ClassVar

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

RESERVED_FDS = 128  # the app's own: listening socket, logs, SQLite, segment files, threads'


@dataclass(frozen=True)
class Limits:
    """How long a client may take, and how many connections may be open at once."""

    head_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 500
    backlog: int = 128

    def connection_cap(self) -> int:
        """`max_connections`, lowered so that the cap, three accept batches and the app's
        own files fit under the soft limit on open files (RLIMIT_NOFILE)."""
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return self.max_connections
        room = soft - 3 * self.backlog - RESERVED_FDS
        return max(16, min(self.max_connections, room))


DEFAULT = Limits()


def server_config(app: Any, host: str, port: int, limits: Limits, **options: Any) -> uvicorn.Config:
    """A uvicorn config serving `app` with `limits` enforced (`options` as uvicorn's)."""
    protocol = type("GuardedProtocol", (GuardedProtocol,),
                    {"limits": limits, "cap": limits.connection_cap(), "waiting": OrderedDict()})
    return uvicorn.Config(app, host=host, port=port, http=protocol, backlog=limits.backlog, **options)


class GuardedProtocol(H11Protocol):
    """uvicorn's h11 protocol with the head and body timeouts and the connection cap.

    `server_config` makes one subclass per server, holding its limits and its connections
    waiting for a request head, oldest first (the ones to close first when over the cap)."""

    limits: ClassVar[Limits]
    cap: ClassVar[int]
    waiting: ClassVar[OrderedDict[GuardedProtocol, None]]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._await_head()
        if len(self.connections) > self.cap:
            oldest = next(iter(self.waiting))
            (oldest if oldest is not self else self)._close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        """Every arrival of bytes (and every response's end) passes here: set the timer
        for what the connection now waits for from the client."""
        super().handle_events()
        state = self.conn.their_state
        if self.transport.is_closing():
            self._disarm()
        elif state is h11.IDLE:
            self._await_head()
        elif state is h11.SEND_BODY:
            self._await_body()
        else:
            self._disarm()

    def _await_head(self) -> None:
        """The head's deadline runs from the first time the connection waits for it:
        bytes that trickle in do not push it back."""
        if self not in self.waiting:
            self._disarm()
            self.waiting[self] = None
            self._timer = self.loop.call_later(self.limits.head_timeout, self._close)

    def _await_body(self) -> None:
        self._disarm()
        self._timer = self.loop.call_later(self.limits.body_timeout, self._body_idle)

    def _body_idle(self) -> None:
        if self.flow.read_paused:  # uvicorn stopped reading, not the client
            self._await_body()
        else:
            self._close()

    def _disarm(self) -> None:
        self.waiting.pop(self, None)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _close(self) -> None:
        self._disarm()
        if not self.transport.is_closing():
            self.transport.close()
