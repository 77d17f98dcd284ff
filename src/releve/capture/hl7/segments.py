"""The segment writer: every interval, what the message log received becomes one segment.

One interval:
1. the messages accepted since the sequence number mapped through (log.py `after`);
2. the patient groups they touch: patients linked by merges (A40, A47...) are one group,
   known by the key the last merge (by event time) kept;
3. every message of each such group, old and new, mapped again (mapping/ `project`): a
   message may take back what earlier ones said (A11, A12, A13, a merge), and one that
   arrived late is put back at its event time, so a group's resources are always those
   of all its messages. Only its ADT messages and the new ones are read again, though:
   what each result, order or appointment gave alone is kept in the projection and
   merged again in event order (cached.py), so an interval costs what arrived, not the
   length of the stays it touches;
4. one segment through the capture's writer: the resources (unchanged ones cost nothing:
   the writer keeps only what differs from its state), a delete for each key the groups
   produced before and no longer produce (projection.py), and one Binary per new
   message holding its raw bytes, so that the vault alone can replay the feed;
5. the projection recorded (the sequence mapped through, each group's keys, the outputs
   of the messages mapped alone), in one transaction.

A crash between 4 and 5 maps the same messages again next time: same bytes, and the
writer's dedup writes nothing twice. A group whose mapping fails (a message the mapping
cannot handle) keeps what it produced before; its messages are in the vault all the
same, and the failure is counted in the status.

The writer's lock is shared with a FHIR capture on the same state folder: the two take
turns, and their segments make one chain (docs/hl7/README.md).
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import orjson

from ... import clock
from ...vault.format import delete_line
from ..scan import Task
from ..writer import Writer, Written
from . import cached
from .datatypes import PARIS, order_key
from .log import LogReader, Stored
from .mapping import ids, project
from .message import Message, read
from .projection import Group, Mapped, Output, Projection

SOURCE = "hl7"  # the segments' `source`
CONTENT_TYPE = "x-application/hl7-v2+er7"  # a raw message, as HL7 names its ER7 encoding
BATCH = 5_000  # new messages mapped in one interval at most (the rest: at once after)
log = logging.getLogger("releve.capture.hl7")


@dataclass
class Interval:
    """What one interval did, for the log line and the status (counts only)."""

    messages: int  # new messages taken from the log
    groups: int  # patient groups mapped again
    failed: int  # groups whose mapping failed (they keep what they produced before)
    through: int  # the log sequence number mapped through
    deletes: int  # keys no longer produced
    written: Written | None  # the segment, or None when nothing changed


def write_interval(reader: LogReader, projection: Projection, writer: Writer,
                   zone: ZoneInfo = PARIS, batch: int = BATCH,
                   interval: float | None = None) -> Interval | None:
    """One interval's segment; None when the log holds nothing new. `interval`: the
    seconds between two, noted for the status to judge the lag by."""
    planned = plan(reader, projection, zone, batch)
    if planned is None:
        return None
    return commit(planned, projection.gone(planned.mapped), projection, writer, interval)


@dataclass
class Plan:
    """What an interval maps before it writes: the new messages, the groups mapped again
    and the resources they produce now, and the outputs of the messages mapped anew
    (cached.py), recorded with the projection."""

    new: list[Stored]
    mapped: list[Mapped]
    resources: dict[str, dict]
    failed: int
    outputs: dict[int, Output] = field(default_factory=dict)


def plan(reader: LogReader, projection: Projection, zone: ZoneInfo = PARIS,
         batch: int = BATCH) -> Plan | None:
    """The messages after the sequence mapped through (at most `batch`) and every group
    they touch, mapped again; None when the log holds nothing new."""
    new = reader.after(projection.mapped_through, batch)
    if not new:
        return None
    linked = linked_groups(reader.merges())
    touched = {frozenset(linked.get(key, {key})) for stored in new
               for key in (stored.patient, stored.merged) if key}
    mapped: list[Mapped] = []
    resources: dict[str, dict] = {}
    outputs = cached.Outputs(projection, zone)
    failed = 0
    for members in sorted(touched, key=sorted):
        try:
            group, produced = map_group(reader.about(set(members)), members, zone, outputs)
        except Exception as exc:  # noqa: BLE001 - one bad group must not stop the feed
            failed += 1
            log.error("a patient group (%d patient keys) could not be mapped (%s); it "
                      "keeps what it produced before", len(members), type(exc).__name__)
            continue
        mapped.append(Mapped(group, frozenset(produced)))
        resources.update(produced)
    return Plan(new, mapped, resources, failed, outputs.fresh)


def commit(planned: Plan, gone: list[str], projection: Projection, writer: Writer,
           interval: float | None = None) -> Interval:
    """The plan's segment (its resources, the deletes of `gone`, the new messages' raw
    bytes) through the writer, then the projection recorded."""
    data = ndjson(planned.resources, gone, planned.new)
    written = writer.write(lambda: iter([Task(label="hl7 interval", data=data,
                                              allow_deletes=True)]),
                           SOURCE, parallel=False)
    through = planned.new[-1].seq
    projection.record(through, planned.mapped, {
        "last_interval": clock.now().isoformat(), "last_messages": len(planned.new),
        "last_groups": len(planned.mapped), "last_failed": planned.failed,
        "last_segment": written.seq if written else None, "interval": interval},
        sorted(planned.outputs.items()))
    return Interval(len(planned.new), len(planned.mapped), planned.failed, through, len(gone),
                    written)


def map_group(stored: Iterable[Stored], members: frozenset[str], zone: ZoneInfo,
              outputs: cached.Outputs | None = None) -> tuple[Group, dict[str, dict]]:
    """A group's messages (in log order) read again and mapped under its survivor. With
    `outputs`, the messages mapped alone whose output the projection keeps are not read
    again (cached.py): the same resources, at the cost of what is new."""
    if outputs is not None:
        survivor, produced = cached.map_group(stored, members, outputs)
        return Group(members, survivor), produced
    messages = [read(item.raw, zone) for item in sorted(stored, key=lambda s: s.seq)]
    survivor = surviving_key(messages, members)
    return Group(members, survivor), project(messages, survivor)


def surviving_key(messages: list[Message], members: frozenset[str]) -> str:
    """The key the group's last merge (by event time, then log order) kept; a group of
    one patient is that patient."""
    merges = [m for m in messages if m.merged and m.patient]
    if merges:
        last = max(enumerate(merges), key=lambda item: (order_key(item[1]), item[0]))[1]
        assert last.patient is not None
        return last.patient
    return min(members)


def linked_groups(merges: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    """Each patient key named by a merge, to every key linked to it by merges (the same
    set object for the whole group)."""
    group_of: dict[str, set[str]] = {}
    for away, kept in merges:
        first = group_of.setdefault(away, {away})
        second = group_of.setdefault(kept, {kept})
        if first is second:
            continue
        if len(first) < len(second):
            first, second = second, first
        first |= second
        for key in second:
            group_of[key] = first
    return group_of


def ndjson(resources: dict[str, dict], gone: list[str], new: list[Stored]) -> bytes:
    """The segment's lines: the resources (by key), the deletions, the raw messages."""
    lines = [orjson.dumps(resources[key]) + b"\n" for key in sorted(resources)]
    lines += [delete_line(*key.split("/", 1)) for key in gone]
    lines += [orjson.dumps(raw_binary(stored)) + b"\n" for stored in new]
    return b"".join(lines)


def raw_binary(stored: Stored) -> dict:
    """A message as received (the bytes inside the MLLP frame, in their own character
    set), as a Binary: replaying the feed needs nothing but the vault. Its
    `meta.lastUpdated` is when the listener received it, the order of a replay."""
    return {"resourceType": "Binary", "id": ids.message(stored.sender, stored.control_id),
            "meta": {"lastUpdated": stored.received}, "contentType": CONTENT_TYPE,
            "data": base64.b64encode(stored.raw).decode("ascii")}


def run(open_reader: Callable[[], LogReader], projection: Projection, writer: Writer,
        interval: float, stop: threading.Event, zone: ZoneInfo = PARIS) -> None:
    """Write an interval's segment every `interval` seconds (the first at once, for what
    arrived while the capture was down) until `stop` is set; after an interval that
    took a whole batch, the next at once (catching up a backlog a batch at a time keeps
    the writer's memory bounded). An interval that fails (the vault unreachable, the
    state lock held too long) is logged and tried again at the next: the messages wait,
    durable, in the log."""
    reader: LogReader | None = None
    while not stop.is_set():
        done = None
        try:
            if reader is None:
                reader = open_reader()
            done = write_interval(reader, projection, writer, zone, interval=interval)
        except Exception as exc:  # noqa: BLE001 - the loop outlives a bad interval
            log.error("interval failed, tried again in %g s: %s", interval, exc)
        if done is not None:
            log.info("%s", described(done))
        if done is None or done.messages < BATCH:
            stop.wait(interval)


def described(done: Interval) -> str:
    segment = (f"segment {done.written.seq}: {done.written.puts} put, "
               f"{done.written.deletes} deleted") if done.written else "nothing changed"
    failed = f", {done.failed} groups FAILED" if done.failed else ""
    return (f"interval: {done.messages} new messages (through {done.through}), "
            f"{done.groups} patient groups mapped{failed}: {segment}")
