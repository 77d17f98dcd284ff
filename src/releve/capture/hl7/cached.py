"""Mapping a patient group again at the cost of what is new, not of its whole history.

A long stay gathers hundreds or thousands of results; reading them all again (python-hl7,
about a millisecond each) every interval that brings one more would cost seconds per
group. Yet only the ADT fold needs every ADT message of the group (an A11 undoes an A01);
results, orders and appointments are mapped one message at a time and then merged in
event order (mapping/ `assemble`). So each such message's output is kept in the
projection (projection.py `Output`) with its event order, and a group is mapped again
by reading only:

- its ADT messages, and any message holding an MRG segment (the merges that choose the
  survivor, and the old identifiers the Patient keeps);
- its messages whose output is not kept, or was kept for other bytes, another mapping
  (a new version of the code, another time zone) or another patient id (a merge moved
  them under a new survivor): they are mapped again;
- when no ADT message gives the Patient, the latest other message, which then does
  (the Patient's fallback reads only the latest, patients.py).

The outputs kept are then merged in event order, exactly as `project` merges them, so
the resources are byte for byte those of mapping every message again
(tests/test_hl7_capture.py checks it). A missing or stale output only costs a reading.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import hl7
import orjson

from .datatypes import order_key
from .log import Stored
from .mapping import assemble, ids, is_stay, message_resources
from .message import Message, read
from .projection import Output, Projection

_MERGE = b"MRG"  # every charset MSH-18 may name is ASCII-compatible (message.CHARSETS)


class Outputs:
    """The outputs an interval reads from the projection and those it makes, to be
    recorded with the projection (`fresh`), in the same transaction."""

    def __init__(self, projection: Projection, zone: ZoneInfo):
        self.projection = projection
        self.zone = zone
        self.fingerprint = fingerprint(zone.key)
        self.fresh: dict[int, Output] = {}

    def digest(self, raw: bytes) -> bytes:
        return hashlib.blake2b(raw, digest_size=16, key=self.fingerprint).digest()


def map_group(stored: Iterable[Stored], members: frozenset[str],
              outputs: Outputs) -> tuple[str, dict[str, dict]]:
    """The group's survivor and resources, as segments.map_group gives them, reading
    only what the kept outputs do not already say."""
    from .segments import surviving_key

    items = sorted(stored, key=lambda s: s.seq)
    zone = outputs.zone
    read_now = {s.seq: read(s.raw, zone) for s in items if is_stay(s.kind) or _MERGE in s.raw}
    survivor = surviving_key([read_now[seq] for seq in sorted(read_now)], members)
    patient_id = ids.patient(survivor)
    alone = [s for s in items if not is_stay(s.kind)]
    kept = outputs.projection.outputs(s.seq for s in alone)
    made: list[tuple[int, Output]] = []
    for s in alone:
        digest = outputs.digest(s.raw)
        output = kept.get(s.seq)
        if output is None or output.digest != digest or output.patient_id != patient_id:
            output = _output(_read(read_now, s, zone), digest, patient_id)
            outputs.fresh[s.seq] = output
        made.append((s.seq, output))
    made.sort(key=lambda item: (item[1].order, item[0]))
    if len(alone) == len(items) and (latest := _latest(made, survivor)) is not None:
        _read(read_now, next(s for s in alone if s.seq == latest), zone)
    stay = sorted((read_now[seq] for seq in sorted(read_now)), key=order_key)
    return survivor, assemble(stay, (orjson.loads(o.resources) for _, o in made), survivor)


def _read(read_now: dict[int, Message], stored: Stored, zone: ZoneInfo) -> Message:
    if stored.seq not in read_now:
        read_now[stored.seq] = read(stored.raw, zone)
    return read_now[stored.seq]


def _output(message: Message, digest: bytes, patient_id: str) -> Output:
    return Output(digest, patient_id, order_key(message), message.patient,
                  orjson.dumps(message_resources(message, patient_id)))


def _latest(made: list[tuple[int, Output]], survivor: str) -> int | None:
    """The log sequence number of the message the Patient comes from in a group without
    ADT message: the latest about the survivor, else the latest (patients.py;
    every kind carries a PID). `made` is in event order."""
    own = [seq for seq, o in made if o.patient == survivor] or [seq for seq, _ in made]
    return own[-1] if own else None


@cache
def fingerprint(zone: str) -> bytes:
    """What the outputs depend on besides the message: the mapping's code (every module
    of this package), python-hl7's version and the time zone of times without offset. A
    new version of any makes every kept output stale."""
    digest = hashlib.blake2b(f"{zone}\0{hl7.__version__}".encode(), digest_size=32)
    here = Path(__file__).resolve().parent
    for path in sorted(here.rglob("*.py")):
        digest.update(str(path.relative_to(here)).encode() + b"\0" + path.read_bytes())
    return digest.digest()
