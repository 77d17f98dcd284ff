"""sync.json: how the station's syncs went, for `releve station status` and every page,
and what holds the next sync back (a held segment, an unreadable one: sync.py).

Written only by the sync that holds the station's lock (and by `releve station accept`,
which waits for it), atomically, so a page never reads half of it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson

from .. import clock
from ..files import write_atomic
from ..vault.format import SegmentInfo
from . import folder

KEEP = 20  # entries kept in sync.json's lists


@dataclass
class Status:
    """sync.json: what `releve station status` and every page show."""

    last_attempt: str | None = None
    last_success: str | None = None
    vault_seq: int | None = None
    error: str | None = None
    skipped: list[dict] = field(default_factory=list)  # suspect segments not adopted
    failures: list[dict] = field(default_factory=list)  # {"time", "reason"}, the last 20
    # {"seq", "sha256", "kind", "reason", "since"}: not adopted until accepted
    held: dict | None = None
    accepted: dict | None = None  # {"seq", "sha256", "by", "time"}: the next sync applies it
    # {"seq", "sha256", "reason", "since"}: signed but unreadable; passed at a checkpoint
    unreadable: dict | None = None

    @classmethod
    def load(cls, station_dir: Path) -> Status:
        path = folder.status_file(station_dir)
        if not path.exists():
            return cls()
        data = orjson.loads(path.read_bytes())
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def save(self, station_dir: Path) -> None:
        write_atomic(folder.status_file(station_dir),
                     orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2) + b"\n")


def failed(status: Status, reason: str) -> None:
    """A failed attempt: the last error, and the list of the latest ones."""
    status.error = reason
    status.failures = (status.failures + [{"time": status.last_attempt, "reason": reason}])[-KEEP:]


def hold(status: Status, segment: SegmentInfo, reason: str, share: float) -> None:
    """Hold `segment` as implausible under `share` (plausibility.py), since when it was
    first held if it already was."""
    known = status.held or {}
    same = known.get("seq") == segment.seq and known.get("sha256") == segment.sha256
    status.held = {"seq": segment.seq, "sha256": segment.sha256,
                   "kind": segment.descriptor.kind, "reason": reason, "share": share,
                   "since": known.get("since") if same else clock.utc_text("microseconds")}
    status.accepted = None


def unreadable(status: Status, segment: SegmentInfo, reason: str) -> None:
    status.unreadable = {"seq": segment.seq, "sha256": segment.sha256, "reason": reason,
                         "since": clock.utc_text("microseconds")}


def accepted_note(status: Status, segment: SegmentInfo) -> str | None:
    """The history note of an administrator's acceptance of this very segment (same
    number, same hash), or None when it was not accepted."""
    accepted, held = status.accepted, status.held or {}
    if accepted and accepted.get("seq") == segment.seq and accepted.get("sha256") == segment.sha256:
        return f"held ({held.get('reason')}), accepted by {accepted.get('by')}"
    return None


def blocking(status: Status, share: float) -> tuple[int, str] | None:
    """The segment a sync cannot go on from, and what it is: an unreadable one, or one
    held under the share still set (a changed setting has it judged again) and not
    accepted."""
    if status.unreadable is not None:
        return status.unreadable["seq"], "unreadable"
    held, accepted = status.held, status.accepted
    if (held is not None and held.get("share") == share
            and not (accepted and accepted.get("seq") == held["seq"])):
        return held["seq"], "held"
    return None


def forget_behind(status: Status, seq: int) -> None:
    """A held or unreadable segment the head has gone past (a checkpoint adopted past it,
    an index rebuilt) no longer holds the sync back."""
    for name in ("held", "unreadable"):
        entry = getattr(status, name)
        if entry is not None and entry["seq"] <= seq:
            setattr(status, name, None)
    if status.held is None:
        status.accepted = None
