"""The pharmacist's list: every downtime medication order, from every station held, whose
current version no check has validated yet (never checked, or « à modifier »).

It reads every held journal once (the journal has no index by kind, and this page is
opened by a pharmacist now and then, not by every nurse on every patient): a few
thousand entries parse in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..journal import files
from ..journal.book import Journal, versions
from ..journal.entry import Entry, parse
from ..journal.kinds import order as order_kind
from ..journal.kinds import order_check
from .views.summary.downtime_orders import order_text

PAGE = 1000


@dataclass(frozen=True)
class Pending:
    """An order to check: its current version and what a check said of it, if anything."""

    key: str
    patient_id: str
    text: str
    author: str
    time: str
    outcome: str  # "" (never checked) or "a-modifier"
    comment: str


def held(journal: Journal, kinds: tuple[str, ...]) -> list[Entry]:
    """Every held entry of these kinds, from every station's journal."""
    found: list[Entry] = []
    for station in files.held_stations(journal.dir):
        seq = 0
        while True:
            lines = journal.lines_after(station, seq, PAGE)
            if not lines:
                break
            for line in lines:
                entry = parse(line)
                seq = entry.seq
                if entry.kind in kinds:
                    found.append(entry)
    return found


def pending(journal: Journal) -> list[Pending]:
    """The orders waiting for a pharmacist, oldest first."""
    entries = held(journal, (order_kind.KIND, order_check.KIND))
    replaced = versions(entries).replaced_by
    checks: dict[str, Entry] = {}
    for entry in entries:
        key = order_check.checked_entry(entry.resource) if entry.kind == order_check.KIND else ""
        if key and entry.key not in replaced and (key not in checks or checks[key].time < entry.time):
            checks[key] = entry
    out = []
    for entry in entries:
        resource = entry.resource
        if entry.kind != order_kind.KIND or entry.key in replaced or not entry.patient \
                or resource.get("resourceType") != "MedicationRequest" \
                or resource.get("status") != "active" or not order_kind.is_downtime(resource):
            continue
        check = checks.get(entry.key)
        outcome = order_check.outcome_of(check.resource) if check else ""
        if outcome == "validee":
            continue
        out.append(Pending(entry.key, entry.patient.removeprefix("Patient/"), order_text(resource),
                           entry.author.name, entry.time, outcome,
                           order_check.comment_of(check.resource) if check else ""))
    return sorted(out, key=lambda p: p.time)
