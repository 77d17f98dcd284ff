"""A running capture: the mode chosen from what the server declares, then its cycles, and
in search mode the id walk that finds deletions when it is due.

The choice is made once the server's CapabilityStatement can be read (a server down at
start is asked again at the next cycle) and kept for the life of the process: a server
does not lose system `_history` between two cycles, and its CapabilityStatement can be
large. A mode the server cannot serve at all (`--mode bulk` without `$export`) stops the
capture with a message naming the mode to use (ModeError): retrying would fail the same
way every cycle.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from ..fhir.client import FhirClient, FhirError
from . import id_walk
from .capabilities import Plan, plan
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
    walk_every: float = id_walk.EVERY  # seconds between two id walks (search mode)
    plan: Plan | None = None

    def cycle(self) -> list[Written]:
        """One cycle; the segments it wrote (the id walk's, if any, last). Raises
        CaptureError (status updated) when a part of it failed, ModeError when the mode
        asked for cannot work with this server."""
        started = dt.datetime.now(dt.UTC)
        chosen = self._chosen(started)
        written = run_cycle(self.client, self.writer, self.status, chosen.mode, self.guard)
        segments = [written] if written else []
        if chosen.mode != "search":
            return segments
        if self.status.last_cycle.get("kind") == "full":  # a snapshot lists every id itself
            self.status.id_walk = {"started": started.isoformat(), "ok": True, "listed": None,
                                   "deletes": 0, "segment": None, "refused": None}
        elif id_walk.due(self.status.id_walk.get("started"), self.walk_every, started):
            walked = self._walk(chosen, started)
            if walked is not None:
                segments.append(walked)
        return segments

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
        refused = self.status.id_walk.get("refused")
        try:
            result, fingerprint = id_walk.walk(self.client, self.writer, chosen, self.guard,
                                               refused)
        except (FhirError, WriteError) as exc:
            self.status.note("error", f"id walk: {exc}")
            self.status.id_walk = {**self.status.id_walk, "ok": False, "error": str(exc),
                                   "failed": started.isoformat()}
            raise CaptureError(f"id walk: {exc}") from exc
        written = result.written
        if result.suspect and not result.repeated:
            self.status.note("alert", f"id walk: {result.suspect}")
        self.status.id_walk = {
            "started": started.isoformat(), "ok": True, "listed": result.listed,
            "asked": chosen.id_walk_form, "deletes": 0 if result.suspect else len(result.gone),
            "segment": written.seq if written else None, "suspect": result.suspect,
            "refused": fingerprint,
        }
        if written is not None and not result.suspect:
            self.status.last_cycle["deletes"] = self.status.last_cycle.get("deletes", 0) + len(result.gone)
        return written

    def _failed(self, started: dt.datetime, message: str) -> None:
        self.status.note("error", message)
        self.status.last_cycle = {"started": started.isoformat(), "ok": False, "error": message}
        raise CaptureError(message)
