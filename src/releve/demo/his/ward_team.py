"""Who gives the drugs in each ward, for the activity's administrations: the nurses the
HIS knows, from its PractitionerRoles (code `nurse`, location the ward).

A MedicationAdministration names its nurse (performer.actor, a Practitioner with the
name as display), as the generated hospital's do, so that the station's administration
record says who gave each dose. A ward without a nurse of its own borrows one from the
whole hospital; data with no nurse at all (Synthea) leaves the performer out.
"""

from __future__ import annotations

import random
import sqlite3
from typing import Any

import orjson

NURSE = "nurse"  # http://terminology.hl7.org/CodeSystem/practitioner-role


class WardTeams:
    """The nurses of each ward: `performer(ward, rng)` gives one as a FHIR performer."""

    def __init__(self, conn: sqlite3.Connection):
        self.by_ward: dict[str, list[dict[str, str]]] = {}
        self.everyone: list[dict[str, str]] = []
        names = _practitioner_names(conn)
        for role in _live(conn, "PractitionerRole"):
            if NURSE not in _codes(role) or role.get("active") is False:
                continue
            who = role.get("practitioner") or {}
            rid = str(who.get("reference", "")).removeprefix("Practitioner/")
            display = who.get("display") or names.get(rid)
            if not rid or not display:
                continue
            actor = {"reference": f"Practitioner/{rid}", "display": str(display)}
            self.everyone.append(actor)
            for place in role.get("location") or []:
                ward = str((place or {}).get("reference", "")).removeprefix("Location/")
                self.by_ward.setdefault(ward, []).append(actor)

    def performer(self, ward: str | None, rng: random.Random) -> list[dict[str, Any]] | None:
        """A nurse of `ward` (of the hospital when it has none) as MedicationAdministration
        .performer, or None when the HIS knows no nurse."""
        team = self.by_ward.get(ward or "") or self.everyone
        if not team:
            return None
        return [{"actor": dict(rng.choice(team))}]


def _live(conn: sqlite3.Connection, rtype: str) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT v.json FROM current c JOIN versions v ON v.lu = c.lu "
                        "WHERE c.type = ? AND c.deleted = 0 ORDER BY c.id", (rtype,))
    return [orjson.loads(json) for (json,) in rows]


def _codes(role: dict[str, Any]) -> set[str]:
    return {str(coding.get("code")) for concept in role.get("code") or []
            for coding in (concept or {}).get("coding") or []}


def _practitioner_names(conn: sqlite3.Connection) -> dict[str, str]:
    """Practitioner id -> "Given FAMILY" (or the name's text), for roles without a display."""
    names = {}
    for practitioner in _live(conn, "Practitioner"):
        for name in practitioner.get("name") or []:
            text = name.get("text") or " ".join(
                [*name.get("given", []), str(name.get("family", "")).upper()]).strip()
            if text:
                names[str(practitioner.get("id"))] = text
                break
    return names
