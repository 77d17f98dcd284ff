"""Capture from a FHIR R4 server: one cycle, one segment.

A cycle asks the server what changed since the high-water mark (system `_history`, which
sees deletes on every server, or a `_lastUpdated` search per type), keeps the newest
version of each resource, guards against poisoned data, and hands the records to the
writer. The high-water mark is the server's own clock at the start of the walk, minus an
overlap, and is saved only once the segment is safely in the vault: a resource updated
during the walk is seen again next cycle (the writer's dedup makes that free), and a
crash simply repeats the cycle.

The very first cycle has nothing to start from: it reads every resource type the server
can search and writes a full segment, or a delta when the writer's state already holds
resources (an HL7 v2 feed sharing the state writes there too, and a full segment would
make the stations drop what it wrote: writer.py SNAPSHOT).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from .. import clock
from ..errors import ReleveError
from ..fhir.client import FhirClient, FhirError, GarbageError
from ..files import open_private, private_folder, write_atomic
from ..vault.format import delete_line
from . import capabilities
from .export_watch import Notify
from .fhir_stream import PageStream
from .files import Source, ndjson_tasks
from .guard import Guard, removal_suspicion
from .writer import SNAPSHOT, WriteError, Writer, Written

STATUS_NAME = "capture.json"
OVERLAP = dt.timedelta(seconds=2)  # longest a version may take to appear after its stamp
QUIET = dt.timedelta(seconds=60)  # T0 this much older than the server's clock: no overlap
PAGE_SIZE = 1000
KEEP_MESSAGES = 20
ENTROPY_ENCRYPTED = 7.2  # bits per byte: JSON text is near 5, ciphertext near 8
CONTROL_ENCRYPTED = 0.02  # share of control bytes: none in text, ~0.1 in ciphertext


class CaptureError(ReleveError):
    """A cycle that could not complete; nothing was written and the mark did not move."""


@dataclass
class Status:
    """What `releve capture status` shows; saved atomically after every cycle."""

    fhir: str = ""
    mode: str = "history"
    since: str | None = None
    cycles: int = 0
    last_cycle: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    mode_reason: str = ""  # why this mode (capabilities.py)
    id_walk: dict[str, Any] = field(default_factory=dict)  # the last id walk (id_walk.py)
    interval: float | None = None  # seconds between the loop's cycles (None: --once runs)
    bulk_job: dict[str, Any] = field(default_factory=dict)  # the export job (bulk_cycle.py)

    @classmethod
    def load(cls, state_dir: Path) -> Status:
        path = state_dir / STATUS_NAME
        if not path.exists():
            return cls()
        data = orjson.loads(path.read_bytes())
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def save(self, state_dir: Path) -> None:
        private_folder(state_dir)
        write_atomic(state_dir / STATUS_NAME, orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2))

    def note(self, kind: str, message: str) -> None:
        stamped = f"{clock.now().isoformat()} {message}"
        target = self.errors if kind == "error" else self.alerts
        target.append(stamped)
        del target[:-KEEP_MESSAGES]


@dataclass
class Walk:
    """The newest version of each resource seen in one cycle."""

    newest: dict[str, tuple[str, int, bytes | None]] = field(default_factory=dict)
    invalid: int = 0
    seen: int = 0

    def offer(self, key: str, stamp: str, line: bytes | None) -> None:
        """Keep this version if it is newer than the one held (ties: the first seen, as
        history lists the newest first)."""
        self.seen += 1
        order = -self.seen
        held = self.newest.get(key)
        if held is None or (stamp, order) > held[:2]:
            self.newest[key] = (stamp, order, line)



def run_cycle(client: FhirClient, writer: Writer, status: Status, mode: str,
              guard: Guard | None = None,
              notify: Notify | None = None) -> Written | None:
    """One capture cycle. Raises CaptureError (status updated) when it cannot complete.
    `notify` is told what a long cycle is doing (a bulk export's progress and waits,
    its download: capture/export_watch.py)."""
    guard = guard or Guard()
    started, clock_started = clock.now(), time.monotonic()
    if mode == "bulk":
        from .bulk_cycle import bulk_cycle  # which imports this module
        return bulk_cycle(client, writer, status, started, guard, notify)
    if mode not in ("history", "search"):
        raise CaptureError(f"capture mode {mode!r} is not available (history, search or bulk)")
    try:
        if mode == "history" and status.since is not None:  # not the first cycle
            written, summary, suspect = _history_cycle(client, writer, status.since, guard)
        else:
            written, summary, suspect = _streamed_cycle(client, writer, mode, status.since, guard)
    except FhirError as exc:
        status.note("error", str(exc))
        already = status.last_cycle.get("garbage", False)
        status.last_cycle = {"started": started.isoformat(), "ok": False, "error": str(exc),
                             "garbage": isinstance(exc, GarbageError)}
        if isinstance(exc, GarbageError) and not already:
            _record_garbage(writer, status, exc, mode, client.base)
        raise CaptureError(str(exc)) from exc
    except WriteError as exc:
        status.note("error", str(exc))
        status.last_cycle = {"started": started.isoformat(), "ok": False, "error": str(exc)}
        raise CaptureError(str(exc)) from exc
    if suspect:
        status.note("alert", suspect)
    status.since = next_mark(summary.server_time, summary.server_date)
    status.cycles += 1
    status.last_cycle = {
        "started": started.isoformat(), "seconds": round(time.monotonic() - clock_started, 3),
        "ok": True, "kind": written_kind(written), "seen": summary.seen, "puts": summary.puts,
        "deletes": summary.deletes, "segment": written.seq if written else None,
        "suspect": suspect, "server_time": summary.server_time,
    }
    return written


@dataclass
class Summary:
    seen: int = 0
    puts: int = 0
    deletes: int = 0
    invalid: int = 0
    server_time: str = ""
    server_date: str | None = None  # HTTP Date of the response that gave server_time


Cycle = tuple["Written | None", Summary, "str | None"]


def _streamed_cycle(client: FhirClient, writer: Writer, mode: str, since: str | None,
                    guard: Guard) -> Cycle:
    """A snapshot (first cycle) or a search: the pages go to the writer's workers while
    later ones are still being fetched (fhir_stream.py). The guard judges at the end of
    the walk, before the segment is sealed; a search sees no deletions (the id walk
    of id_walk.py finds them)."""
    first = since is None
    walks: list[tuple[str, dict[str, Any]]]
    if first:
        walks = [(rtype, {"_count": PAGE_SIZE}) for rtype in searchable_types(client)]
    else:
        walks = [(rtype, {"_lastUpdated": f"ge{since}", "_sort": "_lastUpdated",
                          "_count": PAGE_SIZE}) for rtype in searchable_types(client)]
    stream = PageStream(client, walks, writer.state.dir / "capture-pages.spool")
    verdict: list[str | None] = []

    def judge() -> str | None:  # called once the walk is scanned for good
        stream.verdict()
        stream.release()
        verdict.append(_suspicion(Summary(invalid=stream.invalid), writer, guard, first))
        return verdict[0]

    try:
        written = writer.write(stream.tasks, f"capture {mode} {client.base}",
                               kind=SNAPSHOT if first else "delta", suspect=judge,
                               observe=stream.observe, parallel=True)
    finally:
        stream.close()
    summary = Summary(seen=stream.seen, puts=stream.puts, invalid=stream.invalid,
                      server_time=stream.server_time or _now_text(),
                      server_date=stream.server_date)
    return written, summary, verdict[0] if verdict else None


def _history_cycle(client: FhirClient, writer: Writer, since: str, guard: Guard) -> Cycle:
    """A later cycle in history mode: the newest version of each resource changed since
    the mark, deletions included; the guard judges once the records are applied, by the
    held resources they remove (a deletion of what the vault never held removes nothing)."""
    records = writer.state.dir / "capture-records.ndjson"
    verdict: list[str | None] = []
    try:
        summary = _walk_to_file(client, since, records)
        source = Source(records, "ndjson", None)
        written = writer.write(
            lambda: ndjson_tasks(source, allow_deletes=True) if source.size else iter(()),
            f"capture history {client.base}", kind="delta",
            suspect=lambda: kept_verdict(verdict, _suspicion(summary, writer, guard, False)),
            size_hint=source.size)
    finally:
        records.unlink(missing_ok=True)
    if written is not None:
        summary.deletes = written.deletes  # resources removed, not deletion entries
    return written, summary, verdict[-1] if verdict else None


def written_kind(written: Written | None) -> str:
    """What the status says a cycle wrote: a first cycle's kind is decided by the writer."""
    return written.kind if written is not None else "delta"


def kept_verdict(verdict: list[str | None], reason: str | None) -> str | None:
    """Keep a late verdict for the status (the writer may judge twice: a resource met
    twice makes it scan again)."""
    verdict.append(reason)
    return reason


def _walk_to_file(client: FhirClient, since: str, path: Path) -> Summary:
    """Walk the history since the mark and write the newest version of each resource
    to `path`, one ndjson line a record. A history lists the newest version first, so its
    versions are sorted out in memory: a delta is small."""
    summary = Summary()
    walk = Walk()
    for page in client.pages("_history", {"_since": since, "_count": PAGE_SIZE}, history=True):
        if not summary.server_time and page.time:
            summary.server_time, summary.server_date = page.time, page.date
        summary.invalid += page.invalid
        for item in page.items:
            summary.seen += 1
            walk.offer(f"{item.rtype}/{item.rid}", item.stamp, item.line)
    with open_private(path) as out:
        for key, (_, _, line) in walk.newest.items():
            if line is None:
                out.write(delete_line(*key.split("/", 1)))
                summary.deletes += 1
            else:
                out.write(line + b"\n")
                summary.puts += 1
    summary.server_time = summary.server_time or _now_text()
    return summary


def _record_garbage(writer: Writer, status: Status, exc: GarbageError, mode: str,
                    base: str) -> None:
    """The HIS answers garbage: put an empty suspect segment in the vault, once per
    episode, so that every station and the crisis cell learn it from the vault itself."""
    reason = garbage_reason(exc)
    status.note("alert", reason)
    written = writer.write(lambda: iter(()), f"capture {mode} {base}", suspect=reason)
    status.last_cycle.update(suspect=reason, segment=written.seq if written else None)


def garbage_reason(exc: GarbageError) -> str:
    """What the alarm says: ciphertext (ransomware under the server) or mere non-JSON
    (an HTML error page from a proxy), by its entropy or, for a short answer mixing
    JSON framing and ciphertext, by its control bytes."""
    binary = exc.entropy > ENTROPY_ENCRYPTED or exc.binary >= CONTROL_ENCRYPTED
    looks = "looks encrypted" if binary else "is not JSON"
    return f"the FHIR server's answer {looks} ({exc.entropy:.1f} bits/byte)"


def searchable_types(client: FhirClient) -> list[str]:
    return list(capabilities.searchable_types(client.capabilities()))


def _suspicion(summary: Summary, writer: Writer, guard: Guard, first: bool) -> str | None:
    """Why this cycle's data looks poisoned, or None, judged once its records are
    applied to the writer's pending state. The reason is public metadata (it is in the
    signed descriptor): counts only, never data.

    Entropy is judged on answers that are not JSON (see GarbageError), not on resources:
    valid JSON is text, and attachments (base64 PDFs) are legitimately dense."""
    reasons = []
    if summary.invalid:
        reasons.append(f"{summary.invalid} entries are not valid FHIR resources")
    mass = None if first else removal_suspicion(writer.state, guard)
    if mass:
        reasons.append(mass)
    return "; ".join(reasons) or None


def next_mark(instant: str, server_date: str | None) -> str:
    """The next cycle's `_since` after a walk whose server time (T0) is `instant`.

    The overlap exists for versions stamped before T0 that the server had not yet made
    visible when the walk began (a transaction in flight): they can only have been
    stamped within OVERLAP before the server's clock at that moment. Servers that date
    a search by their clock (T0 = now) always need it. Servers that date it by the newest
    version it sees (the demo HIS does) give a T0 that may be much older than their
    clock; when the response's HTTP Date (the server's clock, truncated to the second)
    is QUIET or more past T0, every version still in flight then was stamped after T0,
    and `_since=T0` (inclusive) finds it: the next cycle then does not read again the
    versions written just before T0 (after a bulk load: 33,000 of them, 3x the 1% change
    of the benchmark)."""
    try:
        when = dt.datetime.fromisoformat(instant.replace("Z", "+00:00"))
    except ValueError:
        return instant
    clock = _http_date(server_date)
    if clock is not None and when.tzinfo is not None and clock - when >= QUIET:
        return when.isoformat()
    return (when - OVERLAP).isoformat()


def _http_date(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


def _now_text() -> str:
    """The real clock, for a high-water mark the server gave no time for: the mark is
    compared with the server's stamps, which a pinned releve.clock does not move."""
    return dt.datetime.now(dt.UTC).isoformat()
