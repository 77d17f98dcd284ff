"""References on the way back: what an item waits for, and its body with the HIS's ids.

An entry refers to what the journal made by the journal's ids (`Patient/<uuid>`,
`MedicationRequest/<uuid>`). The HIS gives those resources ids of its own when it files
them (or a person says which HIS patient a downtime patient is), so each such reference
is rewritten from the `filed` rows before the item is sent; an item whose target is not
in the HIS yet waits for it. References to what the HIS already held (the vault's
patients, stays, beds) are left as they are.

References are found in the body as serialised, not by walking it: in compact JSON a
`"reference":"` with its quotes unescaped can only be a member named `reference` whose
value is a string (a quote inside a string is always escaped), so one regular expression
over the bytes finds every Reference's target, and rewriting is a substitution in those
bytes. A walk in Python of each body, at each pass of a wave and again to rewrite it,
was a quarter of reconcile's own time at 10,000 entries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import orjson

from ..journal.export import SOURCE_PREFIX
from .plan import HIS, HISTORY, Item

WAITING, WAITING_IDENTITY = "waiting", "waiting-identity"

# A member `reference` with a string value, the string captured. A value with an escape
# in it (a quote, a backslash) is passed over: no journal reference ("Type/<uuid>") has one.
REFERENCE = re.compile(rb'"reference":"([^"\\]*)"')


@dataclass
class Targets:
    """What references can be rewritten to, as the run knows it now."""

    created: dict[str, str]  # "Type/<journal id>" -> journal identifier
    owners: dict[str, str]  # journal identifier -> key of the entry of its current version
    filed: dict[str, str] = field(default_factory=dict)  # identifier -> "Type/<HIS id>"
    undecided: set[str] = field(default_factory=set)  # downtime patients nobody confirmed

    def his(self, reference: str) -> str | None:
        identifier = self.created.get(reference)
        return self.filed.get(identifier) if identifier else None


def links(item: Item, targets: Targets) -> tuple[str, ...]:
    """The references of the item to resources the journal created (those rewritten, and
    waited for), found once per item: a wave asks again at each of its passes."""
    if item.links is None:
        found = (r.decode() for r in REFERENCE.findall(orjson.dumps(item.resource)))
        item.links = tuple(dict.fromkeys(r for r in found if r in targets.created))
    return item.links


def blocker(item: Item, targets: Targets) -> tuple[str, str] | None:
    """(state, detail) of what keeps the item from being filed now, or None: a downtime
    patient nobody confirmed, or a target of the journal's not in the HIS yet."""
    own = f"{item.entry.resource['resourceType']}/{item.entry.resource.get('id')}"
    for patient in (item.entry.patient, own):
        if patient in targets.undecided:
            return WAITING_IDENTITY, patient or ""
    if item.method == HISTORY:
        if item.target not in targets.filed:
            return WAITING, targets.owners.get(item.target or "", item.target or "")
        return None
    for reference in links(item, targets):
        if reference == own:
            continue
        if reference in targets.undecided:
            return WAITING_IDENTITY, reference
        if targets.his(reference) is None:
            identifier = targets.created[reference]
            return WAITING, targets.owners.get(identifier, reference)
    return None


def body(item: Item, targets: Targets) -> bytes:
    """The resource as sent, serialised: references rewritten to the HIS's ids, no `id`
    unless the HIS gave it, `meta.source` naming the entry. Only the top level and `meta`
    change before serialising, so they alone are copied (the entry's own is left as is)."""
    resource = dict(item.resource)
    if item.method == HISTORY:
        first, *rest = resource["target"]
        resource["target"] = [{**first, "reference": targets.filed[item.target or ""]}, *rest]
        return orjson.dumps(resource)
    if item.method != HIS:
        resource.pop("id", None)
    meta = dict(resource.get("meta") or {})
    meta.pop("versionId", None)
    meta.pop("lastUpdated", None)
    meta["source"] = SOURCE_PREFIX + item.key
    resource["meta"] = meta
    raw = orjson.dumps(resource)
    if not links(item, targets):
        return raw
    return REFERENCE.sub(lambda found: _rewritten(found, targets), raw)


def _rewritten(found: re.Match[bytes], targets: Targets) -> bytes:
    his = targets.his(found.group(1).decode())
    return found.group(0) if his is None else b'"reference":' + orjson.dumps(his)
