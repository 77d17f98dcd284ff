"""Replaying the HL7 v2 feeds from the vault alone (`releve capture hl7-replay`).

Every message the listener accepted is in the vault as it arrived, a Binary beside what
it produced (segments.py `raw_binary`). A better mapping, or a capture host lost with
its message log, is caught up from those alone:

1. the vault's current state is read (vault/state.py, as `releve vault cat` reads it:
   every segment checked, the chain followed) for the raw messages, in the order
   received, and for the resources of this source (`v2-` ids);
2. a fresh message log is made of them (log.py, each message read again by today's
   reader: one it now refuses goes to the quarantine, as the listener would have put
   it), the old STATE/hl7/ set aside beside it, renamed, never deleted;
3. every patient group is mapped again and ONE segment is written through the segment
   writer's own code (segments.py), with a delete for each `v2-` resource the vault
   holds that the new mapping no longer produces (the raw messages excepted); the
   writer's dedup leaves out the resources that come out the same;
4. the fresh projection is recorded, so a listener started afterwards carries on from
   the last message replayed.

The writer's state lock is held throughout (a FHIR capture on the same state waits its
turn, and cannot write between the reading of the vault and the segment), and the
message log's (log.py `hold`): a listener running on the state makes the replay refuse,
and one started during it refuses to start. A dry run does the same reading and mapping
in a scratch folder and writes nothing.

A writer state that does not match the vault is refused before anything moves. A
replay that fails after setting the old folder aside (the vault unwritable, a crash)
leaves a complete fresh log whose projection is empty: a listener started then maps it
all again (the writer's dedup writes only what differs), and the replay can simply be
run again.
"""

from __future__ import annotations

import base64
import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

import orjson

from ... import clock
from ...vault.chain import Walked
from ...vault.state import current_records
from ..writer import Writer, Written
from .datatypes import PARIS
from .listener_workers import judge
from .log import FOLDER, Arrival, LogReader, LogWriter, Refusal, hold
from .mapping import ids
from .projection import Projection
from .segments import CONTENT_TYPE, Plan, commit, plan

PEER = "vault"  # the quarantine's `peer` of a message a replay refused
WRITE_BATCH = 1_000  # messages written to the fresh log in one transaction
EVERYTHING = 2**62  # plan's batch: a replay maps every message at once, in one segment


@dataclass(frozen=True)
class Raw:
    """A raw message as the vault keeps it."""

    received: str  # the Binary's meta.lastUpdated: when the listener received it
    id: str
    raw: bytes


@dataclass
class Held:
    """What the vault's current state holds of the HL7 v2 feeds."""

    messages: list[Raw]  # in the order received
    made_here: dict[str, dict]  # "Type/id" -> resource, of `v2-` ids, raw messages aside


@dataclass
class Summary:
    """What a replay did, or would do (counts only: no patient data)."""

    messages: int  # raw messages found in the vault
    quarantined: int  # of those, refused by today's reader
    failed: int  # patient groups the mapping failed on (their resources left as they are)
    produced: int  # resources the new mapping produces
    changed: int  # of those, new or different from the vault's
    deleted: list[str]  # keys the new mapping no longer produces
    written: Written | None = None  # the segment (None: dry run, or nothing changed)
    set_aside: Path | None = None  # where the old STATE/hl7/ went


def held(vault: Walked, identities: list) -> Held:
    """The raw messages and this source's resources in the vault's current state."""
    messages: list[Raw] = []
    made_here: dict[str, dict] = {}
    for key, line in current_records(vault, identities):
        kind, _, resource_id = key.partition("/")
        if not ids.made_here(resource_id):
            continue
        resource = orjson.loads(line)
        if kind == "Binary" and resource.get("contentType") == CONTENT_TYPE:
            received = (resource.get("meta") or {}).get("lastUpdated") or ""
            messages.append(Raw(received, resource_id, base64.b64decode(resource["data"])))
        else:
            made_here[key] = resource
    messages.sort(key=lambda raw: (raw.received, raw.id))
    return Held(messages, made_here)


def rebuild_log(state: Path, messages: list[Raw], lock: IO[str], zone: ZoneInfo) -> int:
    """A fresh message log in STATE/hl7/ from the vault's raw messages, each read again
    as the listener would; how many went to the quarantine."""
    writer = LogWriter(state, held=lock)
    quarantined = 0
    try:
        for start in range(0, len(messages), WRITE_BATCH):
            batch = [entry(raw, zone) for raw in messages[start:start + WRITE_BATCH]]
            quarantined += sum(isinstance(item, Refusal) for item in batch)
            writer.write(batch)
    finally:
        writer.close()
    return quarantined


def entry(raw: Raw, zone: ZoneInfo) -> Arrival | Refusal:
    """A vault's message as the listener would log it today."""
    verdict = judge(raw.raw, zone)
    if verdict.code == "AA":
        assert verdict.sender is not None and verdict.control_id is not None
        assert verdict.kind is not None
        return Arrival(raw.received, verdict.sender, verdict.control_id, verdict.kind,
                       verdict.event_time, verdict.patient, verdict.merged, raw.raw)
    return Refusal(raw.received, verdict.sender, verdict.control_id, verdict.kind,
                   verdict.code, verdict.reason or "", PEER, raw.raw)


def mapped(state: Path, zone: ZoneInfo) -> tuple[Plan | None, Projection]:
    """Every group of the log in STATE/hl7/ mapped again, and a fresh projection there."""
    reader = LogReader(state)
    projection = Projection(state)
    try:
        return plan(reader, projection, zone, EVERYTHING), projection
    except BaseException:
        projection.close()
        raise
    finally:
        reader.close()


def retired(found: Held, planned: Plan | None) -> list[str]:
    """The `v2-` keys the vault holds and the new mapping no longer produces. None when a
    group failed to map (its resources cannot be told from the others', so none go), nor
    when the vault holds no message to map (nothing to replay)."""
    if planned is None or planned.failed:
        return []
    return sorted(key for key in found.made_here if key not in planned.resources)


def changed(found: Held, planned: Plan | None) -> int:
    """The resources the new mapping produces that the vault lacks or holds otherwise."""
    if planned is None:
        return 0
    return sum(found.made_here.get(key) != resource
               for key, resource in planned.resources.items())


def summary(found: Held, quarantined: int, planned: Plan | None) -> Summary:
    return Summary(len(found.messages), quarantined, planned.failed if planned else 0,
                   len(planned.resources) if planned else 0, changed(found, planned),
                   retired(found, planned))


def dry_run(vault: Walked, identities: list, zone: ZoneInfo = PARIS) -> Summary:
    """What a replay would do, worked out in a scratch folder: nothing else is written."""
    found = held(vault, identities)
    with tempfile.TemporaryDirectory(prefix="releve-hl7-replay-") as scratch:
        state = Path(scratch)
        lock = hold(state)
        try:
            quarantined = rebuild_log(state, found.messages, lock, zone)
            planned, projection = mapped(state, zone)
            projection.close()
        finally:
            lock.close()
    return summary(found, quarantined, planned)


def replay(vault: Walked, identities: list, writer: Writer, state: Path,
           zone: ZoneInfo = PARIS) -> Summary:
    """Replay the feeds from the vault into one segment (see the module's docstring).
    Raises LogBusy, having changed nothing, while a listener runs on `state`."""
    with writer.state.locked():
        writer.settle()  # a state that does not match the vault: refused, nothing moved
        lock = hold(state)
        try:
            found = held(vault, identities)
            aside = set_aside(state)
            quarantined = rebuild_log(state, found.messages, lock, zone)
            planned, projection = mapped(state, zone)
            try:
                done = summary(found, quarantined, planned)
                done.set_aside = aside
                if planned is not None:
                    done.written = commit(planned, done.deleted, projection, writer).written
            finally:
                projection.close()
        finally:
            lock.close()
    return done


def set_aside(state: Path) -> Path | None:
    """STATE/hl7/ renamed STATE/hl7.replaced-<UTC time>: nothing of it is lost."""
    folder = state / FOLDER
    if not folder.exists():
        return None
    stamp = clock.now().astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    target = state / f"{FOLDER}.replaced-{stamp}"
    number = 1
    while target.exists():
        number += 1
        target = state / f"{FOLDER}.replaced-{stamp}-{number}"
    folder.rename(target)
    return target
