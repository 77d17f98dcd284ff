"""What in a capture's state needs someone to look: `releve capture status` prints these
reasons and exits 1, `releve demo status` raises its alert on the same age rule.

A capture needs attention when its last cycle failed, when that cycle wrote a segment
marked suspect (the stations hold their last safe copy), when no cycle has started for
STALE_CYCLES intervals and a minute (the vault's data is getting old), when a cycle
took longer than the interval (the capture falls behind the HIS), when the FHIR
server made it wait longer than the interval (Retry-After, or backoff after errors), and
in search and bulk modes when the last id walk failed (deletions stop reaching the vault)
or wrote a suspect segment (a mass deletion refused: the stations keep their copy until
a later walk finds the server whole again).
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import time
from collections.abc import Callable
from typing import Any

from .. import clock
from . import id_walk
from .fhir_capture import Status

STALE_CYCLES = 3
GRACE_SECONDS = 60.0
DEFAULT_INTERVAL = 30.0  # `releve capture --interval`'s default
WHY_BYTES = 240  # room for the reason of the longest wait


def stale_after(interval: float) -> float:
    """Seconds without a new cycle after which the capture is said to be stuck."""
    return STALE_CYCLES * interval + GRACE_SECONDS


def concerns(status: Status, interval: float | None = None) -> list[str]:
    """Each reason this capture needs attention, in words; empty when all is well.
    `interval`: the seconds between cycles (default: what the running loop recorded)."""
    cycle = status.last_cycle
    if not cycle:
        return ["no cycle has run yet"]
    interval = interval or status.interval or DEFAULT_INTERVAL
    reasons = []
    if not cycle.get("ok"):
        reasons.append(f"the last cycle failed: {cycle.get('error')}")
    walk = status.id_walk
    if status.mode in id_walk.MODES and walk and not walk.get("ok"):
        reasons.append(f"the id walk failed: {walk.get('error')} (deletions on the server "
                       "do not reach the vault until a walk succeeds)")
    if status.mode in id_walk.MODES and walk.get("suspect"):
        reasons.append(f"segment {walk.get('segment')} of the id walk is marked suspect: "
                       f"{walk['suspect']} (cleared when a later walk succeeds)")
    if cycle.get("suspect"):
        reasons.append(f"segment {cycle.get('segment')} is marked suspect: {cycle['suspect']}")
    age = seconds_since(cycle.get("started"))
    if age is not None and age > stale_after(interval):
        reasons.append(f"no cycle for {age:.0f} s (one every {interval:g} s expected)")
    if cycle.get("seconds", 0) > interval:
        reasons.append(f"the last cycle took {cycle['seconds']:.0f} s, longer than the "
                       f"interval ({interval:g} s): the capture falls behind")
    if cycle.get("longest_wait", 0) > interval:
        why = f" ({cycle['longest_wait_why']})" if cycle.get("longest_wait_why") else ""
        reasons.append(f"the FHIR server made the capture wait {cycle['longest_wait']:.0f} s"
                       f"{why}, longer than the interval ({interval:g} s)")
    return reasons


def seconds_since(instant: str | None) -> float | None:
    if not instant:
        return None
    try:
        when = dt.datetime.fromisoformat(instant.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (clock.now() - when).total_seconds()


class Waits:
    """The FHIR client's pauses: each pause before a retry said as it begins (`waiting`),
    and the longest pause of the current cycle noted for the status, with its reason
    when it was a retry's (the pauses between a bulk export's polls are the client's
    sleep too, said by fhir/bulk.py's observer).

    The longest is kept in memory shared with the processes forked later: a search or a
    snapshot fetches its pages in a process of its own (fhir_stream.py), whose waits
    count as much as the parent's."""

    def __init__(self, say: Callable[[str], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.say, self.sleep = say, sleep
        self._longest = multiprocessing.Value("d", 0.0)
        self._why: Any = multiprocessing.Array("c", WHY_BYTES)  # a SynchronizedString
        self.told: tuple[float, str] | None = None  # the retry pause about to begin

    @property
    def longest(self) -> float:
        return float(self._longest.value)

    @property
    def why(self) -> str:
        return bytes(self._why.value).decode(errors="ignore")

    def waiting(self, seconds: float, why: str) -> None:
        """The client's `waiting`: said before its sleep."""
        if self.say is not None:
            self.say(f"waiting {seconds:.0f} s: {why}")
        self.told = seconds, why

    def __call__(self, seconds: float) -> None:
        told, self.told = self.told, None
        with self._longest.get_lock():
            if seconds >= self._longest.value:
                self._longest.value = seconds
                why = told[1] if told and told[0] == seconds else ""
                self._why.value = why.encode()[:WHY_BYTES - 1]
        self.sleep(seconds)

    def note(self, status: Status) -> None:
        """Record the cycle's longest pause (and why) in the status; start the next count."""
        status.last_cycle["longest_wait"] = round(self.longest, 1)
        if self.why:
            status.last_cycle["longest_wait_why"] = self.why
        with self._longest.get_lock():
            self._longest.value, self._why.value = 0.0, b""
