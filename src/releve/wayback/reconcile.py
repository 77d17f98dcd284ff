"""`releve journal reconcile`: the station's merged journal filed into the restored HIS.

One run: read every held entry (all stations'), plan the resources and their waves
(plan.py), learn who the downtime patients are (downtime_patients.py: a person's
decision, else a fresh proposal), then file wave after wave, each item once its targets
are in the HIS (references.py), each Bundle's fates committed before the Bundle after
the next is sent (filing.py, Recorder below). What an earlier run finished is not sent
again; what it left refused or failed is.

A dry run sends no write and records nothing: the same walk, with every item that would
be sent taken as filed, so the report is the plan (state `pending`, detail: how).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .. import clock
from ..errors import ReleveError
from ..fhir.client import FhirClient
from ..journal.book import Journal
from ..journal.entry import Entry, utc_text
from ..journal.fates import Fate, Fates, Identity
from ..journal.index import since
from . import reconcile_report
from .downtime_patients import downtime_patients, refresh
from .filing import Answer, Filer
from .plan import CREATE, HIS, HISTORY, WAVE_NAMES, Item, Plan, build
from .reconcile_report import ipps
from .references import Targets, blocker, body

Progress = Callable[[int, int], None]  # (items answered, items to file)


class UnknownPatient(ReleveError):
    """--only names no patient the journal has entries about."""


class Recorder:
    """Commits one answer's fates while the next Bundle is in flight, in order, by one
    background writer: before a Bundle's fates are handed over, the commit of the one
    before is waited for, so when Bundle n+2 goes out Bundle n's fates are committed.
    Every request is conditional: killed, at most the last two Bundles' answers are not
    written, and the next run finds what they filed (`already`)."""

    def __init__(self, store: Fates, run: int):
        self.store = store
        self.run = run
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fates")
        self._pending: Future | None = None

    def record(self, fates: list[Fate], filed: list[tuple[str, str, str]]) -> None:
        self.wait()
        self._pending = self._writer.submit(self.store.record, fates, filed, self.run)

    def wait(self) -> None:
        """Until every fate handed over is committed (a failed commit is raised here)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._writer.shutdown(wait=True)


@dataclass
class Walk:
    """What one run knows as it goes: the fates it learnt, what the HIS holds."""

    plan: Plan
    targets: Targets
    fates: dict[str, Fate]
    scope: set[str]
    dry_run: bool
    store: Fates
    run: int = 0
    filer: Filer | None = None
    progress: Progress | None = None
    total: int = 0
    answered: int = 0
    planned: dict[str, str] = field(default_factory=dict)  # dry run: entry -> how
    recorder: Recorder | None = None

    def learn(self, fates: list[Fate], filed: list[tuple[str, str, str]]) -> None:
        """What the next Bundle's references need (the HIS ids filed) is known here at
        once; the fates are committed by the recorder, behind by at most one Bundle."""
        if self.recorder is not None:
            self.recorder.record(fates, filed)
        for fate in fates:
            self.fates[fate.entry] = fate
        for identifier, his, _ in filed:
            self.targets.filed[identifier] = his

    def answers(self, answers: list[Answer]) -> None:
        """One answer of the server, committed while the next request is in flight."""
        self.learn([fate for _, fate in answers],
                   [(item.identifier, fate.his, item.key) for item, fate in answers
                    if fate.his and fate.done])
        self.answered += len(answers)
        if self.progress is not None:
            self.progress(self.answered, self.total)


def reconcile(station_dir: Path, client: FhirClient, only: str | None = None,
              dry_run: bool = False, progress: Progress | None = None) -> dict:
    """Run reconcile on a station's folder; the report (reconcile_report.py)."""
    started = utc_text(clock.now())
    journal = Journal(station_dir)
    entries = list(since(journal.db()))
    patients = downtime_patients(entries)
    scope = in_scope(entries, only, patients)
    store = Fates(station_dir)
    try:
        return _run(client, journal.station, started, entries, scope, patients, store, dry_run,
                    progress)
    finally:
        store.close()


def _run(client: FhirClient, station: str, started: str, entries: list[Entry],
         scope: list[Entry], patients: dict[str, dict], store: Fates, dry_run: bool,
         progress: Progress | None) -> dict:
    plan = build(entries)
    identities = refresh(client, None if dry_run else store, patients)
    if dry_run:  # a dry run stores no proposal, and reads the decisions made all the same
        identities |= {ref: who for ref, who in store.identities().items()
                       if ref in patients and who.decision is not None}
    targets = Targets(plan.created, plan.owners,
                      {identifier: his for identifier, (his, _) in store.filed().items()},
                      {ref for ref, who in identities.items() if who.decision is None})
    walk = Walk(plan, targets, store.fates(), {e.key for e in scope}, dry_run, store,
                progress=progress)
    if not dry_run:
        walk.run = store.start_run(client.base)
        walk.filer = Filer(client, walk.answers)
        walk.recorder = Recorder(store, walk.run)
    try:
        settle_identities(walk, identities)
        settle_conflicts(walk)
        walk.total = sum(1 for item in plan.items if wanted(walk, item))
        for _, items in plan.waves():
            file_wave(walk, [item for item in items if wanted(walk, item)])
            if walk.recorder is not None:
                walk.recorder.wait()
    finally:
        if walk.recorder is not None:
            walk.recorder.close()
    report = reconcile_report.build(
        station, client.base, started, utc_text(clock.now()), dry_run, scope,
        {key: walk.fates.get(key) for key in walk.scope}, walk.planned, identities, patients)
    if not dry_run:
        store.finish_run(walk.run, report["counts"])
    return report


def in_scope(entries: list[Entry], only: str | None, patients: dict[str, dict]) -> list[Entry]:
    """Every entry, or those about one patient: `Patient/<id>`, an id, or a downtime IPP."""
    if only is None:
        return entries
    wanted = only if only.startswith("Patient/") else next(
        (ref for ref, patient in patients.items() if only in ipps(patient)), f"Patient/{only}")
    found = [e for e in entries if wanted in (e.patient, about(e))]
    if not found:
        raise UnknownPatient(f"the journal has no entry about {only}")
    return found


def about(entry: Entry) -> str:
    """"Type/id" of the entry's resource (a Patient entry is about that patient)."""
    return f"{entry.resource['resourceType']}/{entry.resource.get('id')}"


def wanted(walk: Walk, item: Item) -> bool:
    """Whether the item is this run's to file: in scope, and not finished by a run before
    (a history Provenance is finished when its version is `replaced`)."""
    if item.key not in walk.scope or item.key in walk.plan.conflicts:
        return False
    fate = walk.fates.get(item.key)
    if item.method == HISTORY:
        return fate is None or fate.state != "replaced"
    return fate is None or not fate.done


def settle_identities(walk: Walk, identities: dict[str, Identity]) -> None:
    """A downtime patient a person matched to a HIS patient is not created: its entries
    are `matched`, and references to it become the HIS patient's."""
    matched = {walk.plan.created[ref]: who.target for ref, who in identities.items()
               if who.target is not None and ref in walk.plan.created}
    if not matched:
        return
    filed = [(identifier, his, walk.plan.owners.get(identifier, ""))
             for identifier, his in matched.items()]
    fates = []
    for item in walk.plan.items:
        his = matched.get(item.identifier) or matched.get(item.target or "")
        if his is not None and item.key in walk.scope and not _is(walk, item.key, "matched"):
            fates.append(Fate(item.key, "matched", his))
    walk.learn(fates, filed)


def settle_conflicts(walk: Walk) -> None:
    fates = [Fate(key, "conflict", None, detail) for key, detail in walk.plan.conflicts.items()
             if key in walk.scope and not _is(walk, key, "conflict", detail)]
    if fates:
        walk.learn(fates, [])


def _is(walk: Walk, key: str, state: str, detail: str | None = None) -> bool:
    fate = walk.fates.get(key)
    return fate is not None and fate.state == state and (detail is None or fate.detail == detail)


def file_wave(walk: Walk, items: list[Item]) -> None:
    """File a wave: what is ready, then again what that made ready (a target in the same
    wave), until nothing more is; what is left says what it waits for."""
    pending = list(items)
    blocked: list[tuple[Item, tuple[str, str]]] = []
    while pending:
        ready, blocked = [], []
        for item in pending:
            reason = blocker(item, walk.targets)
            if reason is None:
                ready.append(item)
            else:
                blocked.append((item, reason))
        if not ready:
            break
        send(walk, ready)
        pending = [item for item, _ in blocked]
    waiting = [Fate(item.key, state, None, detail) for item, (state, detail) in blocked
               if not _is(walk, item.key, state, detail)]
    if waiting:
        walk.learn(waiting, [])


def send(walk: Walk, items: list[Item]) -> None:
    if walk.filer is not None:
        walk.filer.file([(item, body(item, walk.targets)) for item in items])
        return
    for item in items:  # a dry run: taken as filed, so that what waits for it is planned
        walk.planned[item.key] = how(item)
        walk.targets.filed.setdefault(item.identifier, f"{item.rtype}/(new)")


def how(item: Item) -> str:
    """How an item would be sent, for the dry run's plan: its wave, then the request."""
    wave = f"wave {item.wave} ({WAVE_NAMES[item.wave]}): "
    if item.method == HIS:
        return wave + f"PUT {item.rtype}/{item.resource.get('id')} (a resource the HIS held)"
    if item.method == HISTORY:
        return wave + f"POST Provenance if none has identifier {item.identifier}"
    if item.method == CREATE:
        return wave + f"POST {item.rtype} if none has identifier {item.identifier}"
    return wave + f"PUT {item.rtype}?identifier={item.identifier} (its current version)"
