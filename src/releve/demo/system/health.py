"""`releve demo status`: one line per component of the running demo, and an exit status
that says whether all of them are well.

Each line reads what the component itself reports: the HIS and the servers over HTTP
(with --s3, the bucket as the stations' keys list it), the capture's status file (what
`releve capture status` prints), the HL7 listener's message log (its feeds: messages,
last one, rate, rejected), each station's sync status and index head (what `releve
station status` prints). A component is `ok`, or
`ALERT` (running, but raising an alarm: a suspect segment, a sync that failed), or
`DOWN`. Any line that is not `ok` makes the exit status 1.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from dataclasses import dataclass

import httpx
import orjson

from ... import clock as releve_clock
from ...capture.attention import stale_after
from ...capture.fhir_capture import Status as CaptureStatus
from ...capture.hl7.log import LogReader
from ...errors import ReleveError
from ...station.index.connection import reader
from ...station.index.head import read_head
from ...station.sync import Settings as StationSettings
from ...station.sync import Status as SyncStatus
from .place import WARDS, DemoError, Place, Run, Settings

OK, ALERT, DOWN = "ok", "ALERT", "DOWN"


@dataclass
class Line:
    component: str
    state: str
    detail: str


def check(place: Place) -> list[Line]:
    place.require_demo()
    run = place.load_run()
    settings = place.load_settings()
    lines = [demo_line(run)]
    attacked = place.attacked()
    lines.append(his_line(run, settings.his_port, attacked))
    lines.append(s3_vault_line(place, settings) if settings.s3_bucket
                 else vault_line(run, settings.reader_token))
    lines.append(capture_line(place, run))
    lines.append(hl7_line(place, run))
    for ward, _ in WARDS:
        lines.append(station_line(place, ward, run))
        lines.append(web_line(ward, run))
    return lines


def demo_line(run: Run | None) -> Line:
    if run is None or not alive(run.pid):
        return Line("demo", DOWN, "not running (start it with `releve demo`)")
    gone = [name for name, pid in run.processes.items() if not alive(pid)]
    if gone:
        return Line("demo", DOWN, f"running, but these components have stopped: {', '.join(gone)}")
    return Line("demo", OK, f"running (pid {run.pid}), {len(run.processes)} components")


def his_line(run: Run | None, port: int, attacked: dict | None) -> Line:
    url = f"http://127.0.0.1:{port}"
    try:
        answer = httpx.get(f"{url}/Patient", params={"_count": "1"}, timeout=10)
    except httpx.HTTPError:
        encrypted = f" (its database was encrypted at {clock(attacked['time'])})" if attacked else ""
        return Line("HIS", DOWN, f"{url}/ does not answer{encrypted}")
    try:
        bundle = orjson.loads(answer.content)
    except orjson.JSONDecodeError:
        return Line("HIS", DOWN, f"{url}/ answers {answer.status_code} with data that is not "
                                 "JSON: its database is encrypted")
    if answer.status_code != 200:
        return Line("HIS", DOWN, f"{url}/ answers {answer.status_code}")
    return Line("HIS", OK, f"{url}/ FHIR R4, {bundle.get('total', '?')} patients")


def vault_line(run: Run | None, token: str) -> Line:
    if run is None:
        return Line("vault server", DOWN, "not running")
    url = f"http://127.0.0.1:{run.vault_port}/v1"
    try:
        head = httpx.get(f"{url}/head", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        head.raise_for_status()
        seq = head.json()["seq"]
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        return Line("vault server", DOWN, f"{url} does not answer as a vault ({type(exc).__name__})")
    return Line("vault server", OK, f"{url} append-only, {seq} segments")


def s3_vault_line(place: Place, settings: Settings) -> Line:
    """The vault in the demo's bucket, read as a station reads it: with its keys."""
    from botocore.exceptions import BotoCoreError, ClientError

    from .object_store import Keys

    name = "vault (S3)"
    try:
        keys = Keys.load(place.object_store)
    except DemoError as exc:
        return Line(name, DOWN, str(exc))
    where = f"{settings.s3_url} at {keys.endpoint}"
    try:
        pages = keys.client("station").get_paginator("list_objects_v2").paginate(
            Bucket=settings.s3_bucket, Prefix=f"{settings.s3_prefix}/segments/")
        segments = sum(obj["Key"].endswith(".age") for page in pages
                       for obj in page.get("Contents", []))
    except ClientError as exc:
        return Line(name, DOWN, f"{where} refuses the stations' keys "
                                f"({exc.response.get('Error', {}).get('Code', '?')})")
    except BotoCoreError as exc:
        return Line(name, DOWN, f"{where} does not answer ({type(exc).__name__})")
    return Line(name, OK, f"{where}, Object Lock, {segments} segments")


def capture_line(place: Place, run: Run | None) -> Line:
    status = CaptureStatus.load(place.capture)
    cycle = status.last_cycle
    capturing = run if run is not None and "capture" in run.processes else None
    if not cycle:
        return Line("capture", OK if capturing is not None else DOWN, "no cycle yet")
    started = cycle.get("started", "")
    lag = seconds_since(started)
    written = f", segment {cycle['segment']}" if cycle.get("segment") else ""
    summary = (f"last cycle {clock(started)} ({lag:.0f} s ago) "
               f"{'ok' if cycle.get('ok') else 'FAILED'}{written}, {status.cycles} cycles")
    if status.alerts:
        when, _, alert = status.alerts[-1].partition(" ")
        return Line("capture", ALERT, f"{summary}; {len(status.alerts)} alert(s), last at "
                                      f"{clock(when)}: {alert}")
    if capturing is None:
        return Line("capture", DOWN, f"not running; {summary}")
    if not cycle.get("ok"):
        return Line("capture", ALERT, f"{summary}; error: {cycle.get('error')}")
    if lag > stale_after(capturing.capture_interval):
        return Line("capture", ALERT, f"{summary}; no cycle for {lag:.0f} s")
    return Line("capture", OK, summary)


def hl7_line(place: Place, run: Run | None) -> Line:
    """The HL7 v2 listener and what its feeds sent: `HL7 feed`, not `capture ...`, whose
    lines are the FHIR capture's."""
    name = "HL7 feed"
    if run is None or "capture-hl7" not in run.processes:
        return Line(name, DOWN, "listener not running")
    where = f"127.0.0.1:{run.hl7_port}"
    try:
        feeds = LogReader(place.capture).feeds()
    except (ReleveError, sqlite3.Error) as exc:
        return Line(name, ALERT, f"{where}: the message log cannot be read ({type(exc).__name__})")
    if not feeds:
        return Line(name, OK, f"{where}: listening, no message yet")
    parts = [f"{feed.sender}: {feed.count} messages, last {feed.last_kind} at "
             f"{clock(feed.last_received)}, {feed.per_minute} in the last minute"
             f"{f', {feed.rejected} rejected' if feed.rejected else ''}" for feed in feeds]
    rejected = any(feed.rejected for feed in feeds)
    return Line(name, ALERT if rejected else OK, f"{where}: " + "; ".join(parts))


def station_line(place: Place, ward: str, run: Run | None) -> Line:
    directory = place.station(ward)
    settings, status = StationSettings.load(directory), SyncStatus.load(directory)
    conn = reader(directory)
    name = f"station {ward}"
    if conn is None:
        return Line(name, DOWN if status.error else OK, "no data yet (waiting for the first sync)")
    try:
        head = read_head(conn)
    finally:
        conn.close()
    if not head.state_time:
        return Line(name, OK, "no data yet (the first sync is under way)")
    age = seconds_since(head.state_time)
    parts = [f"data as of {clock(head.state_time)} ({age / 60:.0f} min old)",
             f"segment {head.state_seq}, chain at {head.seq}, vault at {status.vault_seq}"]
    if status.skipped:
        parts.append(f"suspect segment {status.skipped[-1]['seq']} not adopted")
    if settings.downtime:
        parts.append(f"downtime declared since {clock(settings.downtime.get('since'))}")
    if status.error:
        return Line(name, ALERT, "; ".join([*parts, f"last sync failed: {status.error}"]))
    if run is None or f"sync-{ward}" not in run.processes:
        return Line(name, DOWN, "; ".join(["sync not running", *parts]))
    return Line(name, OK, "; ".join(parts))


def web_line(ward: str, run: Run | None) -> Line:
    name = f"web {ward}"
    if run is None:
        return Line(name, DOWN, "not running")
    url = f"http://127.0.0.1:{run.web_ports[ward]}/"
    try:
        answer = httpx.get(f"{url}health", timeout=10)
    except httpx.HTTPError:
        return Line(name, DOWN, f"{url} does not answer")
    if answer.status_code != 200:
        return Line(name, DOWN, f"{url} answers {answer.status_code}")
    return Line(name, OK, url)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not running
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def seconds_since(instant: str) -> float:
    """Seconds from an instant the capture or a segment stamped to now, by the one clock
    they were stamped with (releve.clock: pinned by RELEVE_NOW, else the real one)."""
    try:
        when = dt.datetime.fromisoformat(instant.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return float("nan")
    return (releve_clock.now() - when).total_seconds()


def clock(instant: str | None) -> str:
    """'2026-12-02 10:29:57 UTC' from an ISO instant (the logs' and status files' zone)."""
    try:
        when = dt.datetime.fromisoformat(str(instant).replace("Z", "+00:00"))
    except ValueError:
        return str(instant or "never")
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
