"""Deletions in search and bulk modes: a walk over the ids the server still has.

A search by `_lastUpdated` finds what was created or changed, never what was deleted,
and a Bulk `_since` export may leave deletions out (its `deleted` array is optional).
Without system `_history`, capture therefore walks, every so often, the ids of each
searchable type (asking for ids only where the CapabilityStatement says the
server can: `_elements=id`, else `_summary=true`, else whole resources), and compares
them with what the writer holds: a resource held but no longer listed was deleted.

Paging through a server that is being changed can skip an entry (offset paging shifts
when something before it goes), so each candidate is confirmed by a read (404 or 410:
gone) before it becomes a deletion; a number of candidates that the mass-deletion guard
refuses anyway is not read one by one. The deletions go in a segment of their own,
judged by the same guard as the cycles (capture/guard.py): the candidates are held
resources, each once, so their number is the number of resources the walk would
remove. A refused set is written suspect once, not again at every walk while the
server stays the same.

The writer's state may hold another source's resources too: those an HL7 v2 feed made
(capture/hl7), whose ids begin with `v2-`. The server never lists them, and they are
not its to delete: the walk leaves them alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from ..fhir.client import FhirClient, FhirError
from ..vault.format import delete_line
from .capabilities import Plan
from .guard import Guard, mass_deletion
from .hl7.mapping.ids import made_here
from .scan import Task
from .writer import Writer, Written

PAGE_SIZE = 1000
EVERY = 300.0  # seconds between two walks, by default (`--deletion-walk-every`)
MODES = ("search", "bulk")  # the capture modes whose cycles may not see every deletion


@dataclass
class WalkResult:
    listed: int  # ids the server listed
    gone: list[str]  # Type/id held, listed no more, confirmed gone (or not read: suspect)
    suspect: str | None
    written: Written | None
    repeated: bool  # a refused set already written suspect by an earlier walk


def due(last: str | None, every: float, now: dt.datetime) -> bool:
    """Whether a walk is due, the last one having started at `last` (ISO 8601)."""
    if not last:
        return True
    try:
        when = dt.datetime.fromisoformat(last)
    except ValueError:
        return True
    return (now - when).total_seconds() >= every


def walk(client: FhirClient, writer: Writer, plan: Plan, guard: Guard,
         refused: str | None) -> tuple[WalkResult, str | None]:
    """Walk every searchable type's ids, write the deletions found; the result, and the
    fingerprint of a set the guard refused (None when it accepted). Raises FhirError if
    a walk does not add up, and then nothing is written."""
    listed = 0
    candidates: list[str] = []
    for rtype in plan.types:
        present = list_ids(client, rtype, dict(plan.id_params))
        listed += len(present)
        candidates += [f"{rtype}/{rid}" for rid in writer.state.held_ids(rtype)
                       if rid not in present and not made_here(rid)]
    held = writer.state.count()
    suspect = mass_deletion(len(candidates), held, guard)
    gone = candidates if suspect else confirmed_gone(client, candidates)
    fingerprint = _fingerprint(gone) if suspect else None
    if not gone or (suspect and fingerprint == refused):
        return WalkResult(listed, gone, suspect, None, bool(gone)), fingerprint
    data = b"".join(delete_line(*key.split("/", 1)) for key in gone)
    written = writer.write(lambda: iter([Task(label="id walk", data=data, allow_deletes=True)]),
                           f"capture id-walk {client.base}", kind="delta", suspect=suspect)
    return WalkResult(listed, gone, suspect, written, False), fingerprint


def list_ids(client: FhirClient, rtype: str, params: dict[str, str]) -> set[str]:
    """The ids the server lists for `rtype`, every page (their sum checked against
    `Bundle.total` by the client)."""
    ids: set[str] = set()
    for page in client.pages(rtype, {**params, "_count": PAGE_SIZE}):
        if page.invalid:
            raise FhirError(f"{rtype}: {page.invalid} entries of the id walk are not "
                            "resources; no deletion is written from this walk")
        ids.update(item.rid for item in page.items if item.rtype == rtype)
    return ids


def confirmed_gone(client: FhirClient, keys: list[str]) -> list[str]:
    """Those of `keys` the server says are gone when read (404 Not Found, 410 Gone)."""
    gone = []
    for key in keys:
        response = client.get(key)
        if response.status_code in (404, 410):
            gone.append(key)
        elif response.status_code >= 400:
            raise FhirError(f"{key.split('/')[0]} read: HTTP {response.status_code}; "
                            "no deletion is written from this walk")
    return gone


def _fingerprint(keys: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()
