"""A running capture: the mode chosen from what the server declares, then its cycles, and
in search and bulk modes the id walk that finds deletions when it is due.

The choice is made once the server's CapabilityStatement can be read (a server down at
start is asked again at the next cycle) and kept for the life of the process: a server
does not lose system `_history` between two cycles, and its CapabilityStatement can be
large. A mode the server cannot serve at all (`--mode bulk` without `$export`) stops the
capture with a message naming the mode to use (ModeError): retrying would fail the same
way every cycle.

The instants in the status (a cycle's start, the id walk's) come from releve.clock, the
clock `releve capture status` judges the lag with; durations and the id walk's period
within a process are measured on `time.monotonic()`, which a pinned clock does not stop.
An id walk that fails leaves the cycle's own segment standing: it is reported on its own
(`id_walk.ok`), and `capture status` asks for attention.

Bulk mode walks too: the Bulk Data IG lets a server leave deletions out of a `_since`
export (its `deleted` array is optional, and many servers never fill it), and a
deletion missed there would stay on every station for ever. A server that does report
them costs one walk a period, and the walk then finds nothing more.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field, replace

from .. import clock
from ..fhir.client import FhirClient, FhirError
from . import id_walk, probes
from .capabilities import Plan, plan
from .export_watch import Notify
from .fhir_capture import CaptureError, Status, run_cycle
from .guard import Guard
from .writer import WriteError, Writer, Written


@dataclass
class Capture:
    client: FhirClient
    writer: Writer
    status: Status
    asked: str = "auto"
    guard: Guard = field(default_factory=Guard)
    walk_every: float = id_walk.EVERY  # seconds between two id walks (search, bulk)
    plan: Plan | None = None
    walk_form: tuple[probes.IdParams, str] | None = None  # probed once per process
    walked_at: float | None = None  # time.monotonic() of this process's last walk or snapshot
    notify: Notify | None = None  # told a bulk export's progress, waits and download

    def cycle(self) -> list[Written]:
        """One cycle; the segments it wrote (the id walk's, if any, last). Raises
        CaptureError (status updated) when the cycle failed, ModeError when the mode
        asked for cannot work with this server; a failed id walk raises nothing."""
        started = clock.now()
        chosen = self._chosen(started)
        written = run_cycle(self.client, self.writer, self.status, chosen.mode, self.guard,
                            self.notify)
        segments = [written] if written else []
        if chosen.mode not in id_walk.MODES:
            return segments
        if self.status.last_cycle.get("kind") == "full":  # a snapshot lists every id itself
            self.status.id_walk = {"started": started.isoformat(), "ok": True, "listed": None,
                                   "deletes": 0, "segment": None, "refused": None}
            self.walked_at = time.monotonic()
        elif self._walk_due(started):
            walked = self._walk(chosen, started)
            if walked is not None:
                segments.append(walked)
        return segments

    def _walk_due(self, now: dt.datetime) -> bool:
        """Within a process by the monotonic clock (a pinned clock does not move); at its
        start, by the status's record of the last walk."""
        if self.walked_at is not None:
            return time.monotonic() - self.walked_at >= self.walk_every
        return id_walk.due(self.status.id_walk.get("started"), self.walk_every, now)

    def _chosen(self, started: dt.datetime) -> Plan:
        if self.plan is None:
            try:
                self.plan = plan(self.client, self.asked)
            except FhirError as exc:
                self._failed(started, str(exc))
            assert self.plan is not None
            self.status.mode, self.status.mode_reason = self.plan.mode, self.plan.why
        return self.plan

    def _walk(self, chosen: Plan, started: dt.datetime) -> Written | None:
        """Walk the ids; a failure is noted in the status's `id_walk`, not raised: the
        cycle's own segment is in the vault and stays good."""
        self.walked_at = time.monotonic()
        refused = self.status.id_walk.get("refused")
        try:
            params, why = self._walk_form(chosen)
            walking = replace(chosen, id_params=params)
            result, fingerprint = id_walk.walk(self.client, self.writer, walking, self.guard,
                                               refused)
        except (FhirError, WriteError) as exc:
            self.status.note("error", f"id walk: {exc}")
            self.status.id_walk = {**self.status.id_walk, "ok": False, "error": str(exc),
                                   "failed": started.isoformat()}
            return None
        written = result.written
        if result.suspect and not result.repeated:
            self.status.note("alert", f"id walk: {result.suspect}")
        self.status.id_walk = {
            "started": started.isoformat(), "ok": True, "listed": result.listed,
            "asked": walking.id_walk_form,
            "asked_why": why, "deletes": 0 if result.suspect else len(result.gone),
            "segment": written.seq if written else self._refused_segment(result),
            "suspect": result.suspect,
            "refused": fingerprint,
        }
        if written is not None and not result.suspect:
            self.status.last_cycle["deletes"] = self.status.last_cycle.get("deletes", 0) + len(result.gone)
        return written

    def _refused_segment(self, result: id_walk.WalkResult) -> int | None:
        """The suspect segment an earlier walk wrote for the set this walk found again
        (and did not write twice): the status keeps naming it."""
        return self.status.id_walk.get("segment") if result.repeated else None

    def _walk_form(self, chosen: Plan) -> tuple[probes.IdParams, str]:
        """How to ask for ids only: probed on a type the vault holds, once per process;
        while the vault holds nothing there is nothing to walk for, and no probe."""
        if self.walk_form is None:
            held = [rtype for rtype in chosen.types if self.writer.state.holds(rtype)]
            if not held:
                return (), "whole resources: nothing held yet to probe with"
            self.walk_form = probes.id_form(self.client, min(held, key=lambda t: (t != "Patient", t)))
        return self.walk_form

    def _failed(self, started: dt.datetime, message: str) -> None:
        self.status.note("error", message)
        self.status.last_cycle = {"started": started.isoformat(), "ok": False, "error": message}
        raise CaptureError(message)
