"""The report of a reconcile run (docs/way-back.md §1.6): one JSON document that the
terminal summary, the `--report` file and the crisis cell's PDF are all made from.

    {"reconcile": 1, "station", "server", "started", "finished", "dry_run",
     "counts": {state: n}, "identities": [...], "entries": [...]}

Entries are in the journal's time order, every entry of the run's scope, with its author
and time so that a person can find who to ask about one the HIS refused.
"""

from __future__ import annotations

from collections import Counter

from ..journal.entry import Entry
from ..journal.fates import DONE, Fate, Identity

VERSION = 1
NOT_REACHED = "pending"


def build(station: str, server: str, started: str, finished: str, dry_run: bool,
          entries: list[Entry], fates: dict[str, Fate | None], planned: dict[str, str],
          identities: dict[str, Identity], patients: dict[str, dict]) -> dict:
    rows = [entry_row(entry, fates.get(entry.key), planned.get(entry.key)) for entry in entries]
    concerned = {row["patient"] for row in rows}
    return {
        "reconcile": VERSION, "station": station, "server": server, "started": started,
        "finished": finished, "dry_run": dry_run,
        "counts": dict(sorted(Counter(row["state"] for row in rows).items())),
        "identities": [identity_row(ref, patients[ref], who) for ref, who in identities.items()
                       if ref in concerned],
        "entries": rows,
    }


def entry_row(entry: Entry, fate: Fate | None, planned: str | None) -> dict:
    resource = entry.resource
    ref = f"{resource['resourceType']}/{resource.get('id')}"
    patient = entry.patient or (ref if resource["resourceType"] == "Patient" else None)
    row = {"entry": entry.key, "kind": entry.kind, "patient": patient, "resource": ref,
           "author": entry.author.as_json(), "time": entry.time}
    if planned is not None and (fate is None or not fate.done):
        return row | {"state": NOT_REACHED, "his": None, "detail": planned, "status": None}
    if fate is None:
        return row | {"state": NOT_REACHED, "his": None, "detail": "not reached by this run",
                      "status": None}
    return row | {"state": fate.state, "his": fate.his, "detail": fate.detail,
                  "status": fate.status}


def identity_row(ref: str, patient: dict, who: Identity) -> dict:
    name: dict = next(iter(patient.get("name") or []), {})
    return {"patient": ref, "ipp": next(iter(ipps(patient)), None),
            "name": " ".join([str(name.get("family", "")).upper(), *name.get("given", [])]).strip(),
            "birthDate": patient.get("birthDate"), "proposal": who.proposal, "basis": who.basis,
            "his": who.his, "decision": who.decision, "decided_his": who.decided_his,
            "candidates": who.candidates}


def ipps(patient: dict) -> list[str]:
    """The patient's IPPs (identifiers of type PI or MR): a downtime patient's is the
    number on its wristband, how people name it."""
    return [str(i.get("value")) for i in patient.get("identifier") or [] if isinstance(i, dict)
            and ((i.get("type") or {}).get("coding") or [{}])[0].get("code") in ("PI", "MR")]


def complete(report: dict) -> bool:
    """Whether every entry of the report is done (the command's exit status 0); in a dry
    run, an entry the plan would send counts as done."""
    finished = DONE | {NOT_REACHED} if report["dry_run"] else DONE
    return all(row["state"] in finished for row in report["entries"])


def not_done(report: dict) -> list[dict]:
    """The entries a person has to look at, in the journal's order."""
    return [row for row in report["entries"] if row["state"] not in DONE]
