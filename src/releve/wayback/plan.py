"""From the journal's entries to what reconcile files, in which order (docs/way-back.md §1).

Entries are grouped by the resource they record (its journal identifier): a resource
recorded once is created, one corrected, cancelled or moved is filed as its current
version only, and every version it replaced becomes a Provenance of the history. Items
fall into waves so that what is referred to reaches the HIS before what refers to it:
patients, then stays, then orders, then the rest, then the history.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..journal.book import current
from ..journal.entry import IDENTIFIER_SYSTEM, Entry, made_in_downtime
from ..journal.export import SOURCE_PREFIX, provenance

# How an item is filed.
CREATE = "create"    # POST Type, ifNoneExist on the journal identifier
UPDATE = "update"    # PUT Type?identifier=…: creates if absent, updates if present
HIS = "his"          # PUT Type/<HIS id>: a resource the HIS held before the downtime
HISTORY = "history"  # a replaced version, as a Provenance filed by conditional create

WAVES = {"Patient": 1, "Encounter": 2, "MedicationRequest": 3, "ServiceRequest": 3}
OTHER_WAVE, HISTORY_WAVE = 4, 5
WAVE_NAMES = {1: "patients", 2: "stays", 3: "orders", 4: "care", 5: "history"}


@dataclass
class Item:
    """One resource to file: the entry whose version goes, how, and in which wave.

    `entry` is the current version of a resource, or the replaced version a history
    Provenance stands for; `resource` the body before its references are rewritten to
    the HIS's ids."""

    entry: Entry
    method: str
    rtype: str
    identifier: str
    resource: dict
    wave: int
    target: str | None = None  # HISTORY: the journal identifier of the resource corrected
    links: tuple[str, ...] | None = None  # references.links: found once, then kept

    @property
    def key(self) -> str:
        return self.entry.key

    def token(self) -> str:
        """The journal identifier as a FHIR token search value (system|value)."""
        return f"{IDENTIFIER_SYSTEM}|{self.identifier}"

    def condition(self) -> str:
        return f"identifier={self.token()}"


@dataclass
class Plan:
    items: list[Item] = field(default_factory=list)
    conflicts: dict[str, str] = field(default_factory=dict)  # entry key -> detail
    # "Type/<journal id>" of each resource the journal created -> its journal identifier
    created: dict[str, str] = field(default_factory=dict)
    # journal identifier -> the entry that carries its current version
    owners: dict[str, str] = field(default_factory=dict)
    replaced: dict[str, str] = field(default_factory=dict)  # replaced entry -> current entry

    def waves(self) -> list[tuple[int, list[Item]]]:
        return [(wave, [i for i in self.items if i.wave == wave]) for wave in sorted(WAVE_NAMES)]


def history_identifier(key: str) -> str:
    """The journal-like identifier of the Provenance of a replaced version: the same on
    every run and every station, so a conditional create files it once."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, SOURCE_PREFIX + key)}"


def build(entries: Iterable[Entry]) -> Plan:
    """The plan for every entry, in the journal's time order."""
    groups: dict[str, list[Entry]] = {}
    for entry in entries:
        if entry.identifier:
            groups.setdefault(entry.identifier, []).append(entry)
    plan = Plan()
    for identifier, chain in groups.items():
        _plan_resource(plan, identifier, chain)
    return plan


def _plan_resource(plan: Plan, identifier: str, chain: list[Entry]) -> None:
    last = chain[-1].resource
    rtype = last["resourceType"]
    new = made_in_downtime(chain[0])
    if new:
        plan.created[f"{rtype}/{last['id']}"] = identifier
    # a resource recorded once is its own current version: book.current's bookkeeping is
    # for chains (a tenth of reconcile's planning when most resources were never corrected)
    heads = current(chain) if len(chain) > 1 else chain
    if len(heads) != 1:
        detail = "two current versions: " + ", ".join(e.key for e in heads)
        for entry in chain:
            plan.conflicts[entry.key] = detail
        return
    head = heads[0]
    plan.owners[identifier] = head.key
    method = CREATE if len(chain) == 1 else UPDATE
    if not new:
        method = HIS
    plan.items.append(Item(head, method, rtype, identifier, head.resource,
                           WAVES.get(rtype, OTHER_WAVE)))
    for entry in chain:
        if entry is head:
            continue
        plan.replaced[entry.key] = head.key
        successor = next((e for e in chain if e.supersedes == entry.key), None)
        if successor is None:
            continue
        history = history_identifier(entry.key)
        plan.items.append(Item(entry, HISTORY, "Provenance", history,
                               history_body(successor, history), HISTORY_WAVE, target=identifier))


def history_body(successor: Entry, identifier: str) -> dict:
    """The Provenance of the correction `successor` made, identified for a conditional
    create; its target's reference is set once the resource is in the HIS."""
    body = provenance(successor)
    body["identifier"] = [{"system": IDENTIFIER_SYSTEM, "value": identifier}]
    return body
