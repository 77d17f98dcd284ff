"""The report of `releve verify`: JSON for tools, HTML and PDF for people (`--out R.json`
writes R.json, R.html and R.pdf, each 0600: they name patients' resources).

JSON: {"verify": 1, "vault", "server", "started", "finished", "as_of", "reference":
{"segments", "time", "cut", "skipped"}, "verdict", "types": {type: {counts...,
"verdict"}}, "server_additions": {type: {path: n}}, "resources": [{"type", "id",
"status", "explained", "identifier", "lastUpdated", "after_reference"}...], "diffs":
{type: [{"id", "changes": [{"path", "before", "after"}]}]}}. `resources` lists every
resource not identical and is written as it is read from the scratch database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from ...files import open_private
from .compare import Outcome

COUNTS = ("vault", "his", "identical", "changed", "changed_explained", "missing", "extra",
          "extra_explained")


def summary(outcome: Outcome) -> dict[str, Any]:
    """Everything but the list of resources: small whatever the hospital's size."""
    return {
        "verify": 1, "vault": outcome.reference.vault_id, "server": outcome.server,
        "started": outcome.started, "finished": outcome.finished, "as_of": outcome.as_of,
        "reference": {"segments": outcome.reference.segments, "time": outcome.reference.time,
                      "cut": outcome.reference.cut, "skipped": outcome.reference.skipped},
        "verdict": outcome.verdict,
        "types": {rtype: {**{k: v for k, v in asdict(result).items() if k in COUNTS},
                          "verdict": result.verdict,
                          **({"error": result.error} if result.error else {})}
                  for rtype, result in sorted(outcome.types.items())
                  if result.vault or result.his or result.error},
        "server_additions": outcome.additions,
    }


def after(updated: str | None, reference: str | None) -> bool | None:
    """Whether a lastUpdated is after the reference time (None when either is unknown)."""
    if not updated or not reference:
        return None
    try:
        one = dt.datetime.fromisoformat(updated.replace("Z", "+00:00"))
        other = dt.datetime.fromisoformat(reference.replace("Z", "+00:00"))
        if one.tzinfo is None or other.tzinfo is None:
            return None
        return one > other
    except ValueError:
        return None


def resource_entry(row: tuple, reference: str | None) -> dict[str, Any]:
    key, rtype, status, explained, identifier, updated, _ = row
    entry = {"type": rtype, "id": key.partition("/")[2], "status": status,
             "explained": bool(explained), "identifier": identifier, "lastUpdated": updated}
    if status == "extra":
        entry["after_reference"] = after(updated, reference)
    return entry


def diffs(outcome: Outcome, rtype: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """The field diffs kept (the first `show` changed resources of each type)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for key, kind, _, explained, _, _, diff in outcome.rows(rtype, "changed"):
        if diff is not None:
            found.setdefault(kind, []).append({"id": key.partition("/")[2],
                                               "explained": bool(explained),
                                               "changes": orjson.loads(diff)})
    return found


def write_json(outcome: Outcome, path: Path) -> None:
    with open_private(path) as handle:
        _write(outcome, handle)


def _write(outcome: Outcome, handle: BinaryIO) -> None:
    head = orjson.dumps(summary(outcome))
    handle.write(head[:-1] + b',"resources":[')
    reference = outcome.reference.time
    for number, row in enumerate(outcome.rows()):
        handle.write((b"," if number else b"") + b"\n" + orjson.dumps(resource_entry(row, reference)))
    handle.write(b'\n],"diffs":' + orjson.dumps(diffs(outcome), default=str) + b"}\n")
