"""`releve capture hl7`: receive the hospital's HL7 v2 feeds over MLLP and write what they
say into the vault; and the feeds' lines of `releve capture status`.

Two processes (docs/hl7/README.md): this one runs the listener, which acknowledges a
message once it is durable in the message log and never waits on the vault; a child
writes every interval's segment. The child is started again if it dies (the messages
wait in the log meanwhile), and dies with this process (children.py).
"""

from __future__ import annotations

import multiprocessing
import signal
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.markup import escape

from .console import Say, clear_errors, fail, out
from .tls import check_tls
from .tokens import TOKEN_FILE, WRITER_TOKEN
from .writing import open_writer

REFUSED_RECENTLY = 3600.0  # seconds during which a refused message asks for attention
STOP_SECONDS = 30.0  # how long the child may take to finish its segment when stopped


def capture_hl7(
    listen: str = typer.Option(..., help="HOST:PORT to listen on for MLLP (port 0: any)"),
    vault: str = typer.Option(..., help="Vault folder or URL"),
    token_file: Path | None = TOKEN_FILE,
    token: str | None = WRITER_TOKEN,
    signing_key: Path = typer.Option(..., help="Signer's minisign secret key"),
    state: Path = typer.Option(..., help="Capture state folder: the writer state (shared with "
                                          "a FHIR capture of the same vault) and hl7/"),
    interval: float = typer.Option(30.0, min=0.05, help="Seconds between two segments"),
    tls_cert: Path | None = typer.Option(None, exists=True, dir_okay=False,
                                         help="MLLP over TLS with this certificate (PEM, "
                                              "chain included)"),
    tls_key: Path | None = typer.Option(None, exists=True, dir_okay=False,
                                        help="The certificate's private key (PEM, "
                                             "unencrypted; keep it 0600)"),
    timezone: str = typer.Option("Europe/Paris", help="Time zone of the times the messages "
                                                      "give without an offset"),
) -> None:
    """Listen for HL7 v2 messages (MLLP), acknowledge each once it is safely stored, and
    write what arrived to the vault every interval, one segment each time."""
    check_tls(tls_cert, tls_key)
    host, port = listen_address(listen)
    zone = time_zone(timezone)
    context = server_tls(tls_cert, tls_key)
    from ..capture.hl7.listener import serve
    from ..capture.hl7.log import hold

    with clear_errors():
        open_writer(vault, token, signing_key, state).close()  # refused now, not in the child
        hold(state).close()  # another listener, or a replay: refused before the child starts

    say = Say("capture.hl7")
    child = SegmentWriterProcess(Options(vault, token, signing_key, state, interval, timezone),
                                 say)
    child.start()
    try:
        with clear_errors():  # the port taken, another listener on the state (log.py `hold`)
            serve((host, port), state, ssl=context, zone=zone)  # which says where it listens
    except KeyboardInterrupt:
        pass
    finally:
        child.stop()
        say.note("HL7 capture stopped")


def listen_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        fail(f"--listen must be HOST:PORT, not {text!r}", 2)
    return host.strip("[]"), int(port)


def time_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        fail(f"--timezone: unknown time zone {name!r} (e.g. Europe/Paris)", 2)


def server_tls(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    """MLLP over TLS with the hospital's certificate, when one is given."""
    if cert is None or key is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        fail(f"cannot load the TLS certificate and key: {exc}", 2)
    return context


# --- the segment writer's process ------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """What the child needs, sent to it (a spawned process shares nothing else)."""

    vault: str
    token: str | None
    signing_key: Path
    state: Path
    interval: float
    timezone: str


class SegmentWriterProcess:
    """The child writing the segments, watched by a thread of this process: started
    again an interval after it ends unexpectedly, stopped (SIGTERM, then SIGKILL after
    STOP_SECONDS) when the listener stops.

    Spawned, not forked: the listener's process has threads (asyncio, the log's commit
    thread), and a fork copies their locks in whatever state they are. The watching
    thread lives as long as the process, so the child's parent-death signal (sent when
    the thread that started it ends) comes only when this process ends."""

    def __init__(self, options: Options, say: Say):
        self.options, self.say = options, say
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.process: Any = None
        self.thread = threading.Thread(target=self._watch, name="hl7-segments", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _watch(self) -> None:
        context = multiprocessing.get_context("spawn")
        while True:
            with self.lock:
                if self.stopping.is_set():
                    return
                self.process = context.Process(target=segment_writer, args=(self.options,),
                                               name="releve capture hl7: segments")
                self.process.start()
            self.process.join()
            if self.stopping.is_set():
                return
            self.say.problem("segment writer", f"exited with status {self.process.exitcode}; "
                                               f"started again in {self.options.interval:g} s")
            self.stopping.wait(self.options.interval)

    def stop(self) -> None:
        with self.lock:
            self.stopping.set()
            process = self.process
        if process is not None and process.is_alive():
            process.terminate()  # the child ends after the segment it may be writing
            process.join(STOP_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()
        self.thread.join(STOP_SECONDS)


def segment_writer(options: Options) -> None:
    """The child: a segment every interval until SIGTERM (or the parent's death)."""
    from .. import logs
    from ..capture.hl7 import segments
    from ..capture.hl7.log import LogReader
    from ..capture.hl7.projection import Projection
    from ..children import die_with_parent

    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent stops it, in order
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    logs.configure()
    writer = open_writer(options.vault, options.token, options.signing_key, options.state)
    projection = Projection(options.state)
    try:
        segments.run(lambda: LogReader(options.state), projection, writer, options.interval,
                     stop, ZoneInfo(options.timezone))
    finally:
        projection.close()
        writer.close()


# --- `releve capture status`: the feeds ------------------------------------------------------


def has_feeds(state: Path) -> bool:
    """Whether an HL7 capture has run with this state folder."""
    from ..capture.hl7.log import log_path

    return log_path(state).exists()


def print_feeds(state: Path) -> list[str]:
    """Each feed's last message, rate and rejected count, the quarantine's last entries,
    and how far the segment writer has come; the reasons they need attention. Counts,
    times, senders and reasons only: never a message's content."""
    from ..capture.attention import seconds_since, stale_after
    from ..capture.hl7.log import LogReader
    from ..capture.hl7.projection import recorded

    reader = LogReader(state)
    try:
        feeds, quarantined, last_seq = reader.feeds(), reader.quarantined(5), reader.last_seq()
    finally:
        reader.close()
    meta = recorded(state)
    received = sum(feed.count for feed in feeds)
    out.print(f"HL7 v2 feeds: {len(feeds)}, {received} messages received, "
              f"{sum(feed.rejected for feed in feeds)} rejected", highlight=False)
    for feed in feeds:
        out.print(f"  feed {escape(feed.sender or '(unreadable MSH)')}: last message "
                  f"{escape(feed.last_kind or '-')} at {feed.last_received}, {feed.count} "
                  f"accepted, {feed.per_minute}/min over the last minute, {feed.duplicates} "
                  f"sent again, {feed.rejected} rejected", highlight=False)
    for entry in quarantined:
        out.print(f"  quarantined {entry.received} from {escape(entry.sender or '(unreadable MSH)')}"
                  f" ({entry.code}): {escape(entry.reason)}", highlight=False)
    reasons = []
    refused = [entry for entry in quarantined
               if (age := seconds_since(entry.received)) is not None and age < REFUSED_RECENTLY]
    if refused:
        reasons.append("HL7 messages were refused in the last hour (the quarantine above): an "
                       "engine never sends a refused message again, so correct the feed or "
                       "Relève, then have the engine send them again")
    last = meta.get("last_interval")
    if last is None:
        out.print("segment writer: no segment yet", highlight=False)
        if feeds:
            reasons.append("the HL7 segment writer has written nothing yet")
        return reasons
    out.print(f"segment writer: messages mapped through {meta.get('mapped_through')}, last "
              f"interval {last} ({meta.get('last_messages')} messages, segment "
              f"{meta.get('last_segment')})", highlight=False)
    age = seconds_since(str(last))
    waiting = last_seq > int(meta.get("mapped_through") or 0)
    if age is not None and age > stale_after(float(meta.get("interval") or 30.0)) and waiting:
        reasons.append(f"HL7 messages wait: no segment for {age:.0f} s")
    if meta.get("last_failed"):
        reasons.append(f"the last HL7 interval could not map {meta['last_failed']} patient "
                       "groups (their messages are kept; see the capture's log)")
    return reasons
