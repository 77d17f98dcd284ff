"""`releve journal export`: the entries as FHIR R4 ndjson, one resource per line.

Each line is the entry's resource as recorded, its journal identifier (urn:uuid:) in
`identifier`, with `meta.source` naming the entry ("releve-journal:<station>/<seq>") and
`meta.lastUpdated` its time, so that a tool that knows nothing of the envelope can still
file each resource exactly once. An entry that replaces another is followed by a
Provenance saying so (activity UPDATE, or NULLIFY for a cancellation), targetting the
resource by its identifier, with the author, the time and the reason.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson

from .entry import IDENTIFIER_SYSTEM, Entry

SOURCE_PREFIX = "releve-journal:"
PROVENANCE_ACTIVITY = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"


def exported(entry: Entry) -> dict:
    resource = dict(entry.resource)
    meta = dict(resource.get("meta") or {})
    meta["source"] = SOURCE_PREFIX + entry.key
    meta["lastUpdated"] = entry.time
    resource["meta"] = meta
    return resource


def provenance(entry: Entry) -> dict:
    """How the HIS learns that a resource was corrected or cancelled, and by whom."""
    cancelled = entry.resource.get("status") == "entered-in-error"
    author = entry.author
    out: dict = {
        "resourceType": "Provenance",
        "target": [{"type": entry.resource["resourceType"],
                    "identifier": {"system": IDENTIFIER_SYSTEM, "value": entry.identifier}}],
        "recorded": entry.time,
        "activity": {"coding": [{"system": PROVENANCE_ACTIVITY,
                                 "code": "NULLIFY" if cancelled else "UPDATE"}]},
        "agent": [{"who": {"display": f"{author.name} ({author.role})"}}],
        "meta": {"source": SOURCE_PREFIX + entry.key},
    }
    if entry.body.get("reason"):
        out["reason"] = [{"text": entry.body["reason"]}]
    return out


def ndjson(entries: Iterator[Entry]) -> Iterator[bytes]:
    for entry in entries:
        yield orjson.dumps(exported(entry)) + b"\n"
        if entry.supersedes:
            yield orjson.dumps(provenance(entry)) + b"\n"
