"""One patient's resources, ready for the section modules to read.

A `Reader` holds the patient's resources by type, the station's clock and zone, and a
`Lookup` for what they point to outside the patient (practitioners, locations,
medications). Sections read a type with `each`, which sets aside a resource that
cannot be read under "Autres éléments" instead of failing the page, and marks the type
as read so that `others` lists only what no section showed. A resource a section chose
not to show (an ended order, a resolved problem) is remembered too, unless another
section showed it: `others` lists those in words, so nothing the record holds is hidden.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from ....fhir.clinical.values import (
    as_text,
    concept_text,
    first_code,
    human_name,
    instant,
    load,
    period,
    phone_of,
    pick_name,
    reference_text,
    resource_text,
)
from ....fhir.refs import target
from ...records.projections import CURRENT_STAYS

ERROR_STATUSES = ("entered-in-error",)


@dataclass(frozen=True)
class Mark:
    """Where a resource recorded on a station comes from, shown beside it."""

    key: str  # the journal entry: "<station>/<seq>"
    station: str
    time: str  # when it was written (UTC ISO)
    author: str  # the author's name
    role: str
    superseded: tuple[str, ...] = ()  # keys of the earlier versions it replaced
    duplicate_of: str | None = None  # another entry recording the same thing (merge flag)


@dataclass
class Recorded:
    """What the wards recorded about one patient during the downtime, for the summary:
    the current version of each resource, and the mark of each by id() of the resource."""

    patient: dict | None = None  # a patient admitted during the downtime
    resources: list[tuple[str, dict]] = field(default_factory=list)
    entries: dict[int, Mark] = field(default_factory=dict)


class Lookup:
    """Practitioners, locations and medications a record points to, read once each."""

    def __init__(self, conn: sqlite3.Connection, own: dict[tuple[str, str], dict]):
        self.conn = conn
        self.own = own
        self.cache: dict[tuple[str, str], dict | None] = {}

    def resource(self, rtype: str, rid: str) -> dict | None:
        key = (rtype, rid)
        if key in self.own:
            return self.own[key]
        if key not in self.cache:
            row = self.conn.execute("SELECT json FROM resources WHERE type = ? AND id = ?",
                                    key).fetchone()
            self.cache[key] = load(row[0]) if row else None
        return self.cache[key]

    def of(self, ref: Any, rtype: str | None = None) -> dict | None:
        found = target(ref)
        if found is None or (rtype and found[0] != rtype):
            return None
        return self.resource(*found)

    def person(self, ref: Any) -> str:
        """A Practitioner's (or PractitionerRole's, RelatedPerson's...) name for a reference."""
        shown = reference_text(ref)
        if shown:
            return shown
        found = target(ref)
        if found is None:
            return ""
        resource = self.resource(*found)
        if resource is None:
            return ""
        if found[0] == "PractitionerRole":
            return self.person(resource.get("practitioner")) or concept_text(resource.get("code"))
        name = resource.get("name")
        if isinstance(name, str):
            return name
        return human_name(pick_name(name))[0]

    def phone(self, ref: Any) -> str:
        resource = self.of(ref)
        if resource is None:
            return ""
        phones = phone_of(resource.get("telecom"))
        return phones[0] if phones else ""

    def location(self, location_id: str) -> dict:
        """The bed, room and unit a location is part of: {"bd": name, "ro": name, "wa": name}."""
        out: dict[str, str] = {}
        seen: set[str] = set()
        current: str | None = location_id
        while current and current not in seen and len(seen) < 8:
            seen.add(current)
            row = self.conn.execute("SELECT name, physical_type, part_of, phone FROM locations "
                                    "WHERE id = ?", (current,)).fetchone()
            if row is None:
                break
            name, kind, part_of, phone = row
            kind = kind or ("wa" if not out else "")
            if kind and kind not in out and name:
                out[kind] = name
                if kind == "wa" and phone:
                    out["phone"] = phone
            current = part_of
        return out


class Reader:
    """One patient's resources by type, the clock, and what the sections set aside."""

    def __init__(self, conn: sqlite3.Connection, patient: dict, resources: list[tuple[str, dict]],
                 skipped: dict[str, int], now: dt.datetime, zone: str):
        self.zone = zone
        self.tz = ZoneInfo(zone)
        self.now = now.astimezone(self.tz)
        self.patient = patient
        self.by_type: dict[str, list[dict]] = {}
        own: dict[tuple[str, str], dict] = {}
        for rtype, resource in resources:
            self.by_type.setdefault(rtype, []).append(resource)
            if isinstance(resource.get("id"), str):
                own[(rtype, resource["id"])] = resource
        self.lookup = Lookup(conn, own)
        self.others: dict[str, list[str]] = {}
        self.skipped = skipped
        self.used: set[str] = set()
        self.shown: set[int] = set()  # id() of the resources a section showed
        self.unshown: dict[int, tuple[str, dict]] = {}  # read, not shown (yet)
        self.mistaken: set[int] = set()  # entered-in-error: counted, never shown
        self.entries: dict[int, Mark] = {}  # id() of a resource recorded on a station: its mark

    def recorded(self, resource: dict) -> Mark | None:
        """The journal entry a resource comes from, when the wards recorded it here."""
        return self.entries.get(id(resource))

    def when(self, text: Any) -> dt.datetime | None:
        return instant(text, self.tz)

    def sort_key(self, text: Any) -> float:
        when = self.when(text)
        return when.timestamp() if when else float("-inf")

    def each(self, rtype: str, read: Callable[[dict], Any]) -> list:
        """Read every resource of a type; a resource that fails goes to "Autres éléments"."""
        self.used.add(rtype)
        out = []
        for resource in self.by_type.get(rtype, []):
            if as_text(resource.get("status")) in ERROR_STATUSES:
                self.mistaken.add(id(resource))
                continue
            try:
                item = read(resource)
            except Exception:  # noqa: BLE001 - one odd resource never fails the page
                self.other(rtype, resource)
                self.shown.add(id(resource))
                self.unshown.pop(id(resource), None)
                continue
            if item is not None:
                out.append(item)
                self.shown.add(id(resource))
                self.unshown.pop(id(resource), None)
            elif id(resource) not in self.shown:
                self.unshown[id(resource)] = (rtype, resource)
        return out

    def resolve(self, holder: dict, ref: Any, rtype: str | None = None) -> dict | None:
        """What a reference of `holder` points to: one of its contained resources ("#id"),
        else a resource of the index."""
        wanted = as_text(ref.get("reference")) if isinstance(ref, dict) else ""
        if wanted.startswith("#"):
            return next((c for c in holder.get("contained") or [] if isinstance(c, dict)
                         and c.get("id") == wanted[1:] and (rtype is None or c.get("resourceType") == rtype)),
                        None)
        return self.lookup.of(ref, rtype)

    def aside(self, rtype: str, resource: dict) -> None:
        """A resource in force that the section reading its type does not show (a consent
        to share data, for the code-status section): listed under "Autres éléments"."""
        self.other(rtype, resource)
        self.shown.add(id(resource))
        self.unshown.pop(id(resource), None)

    def other(self, rtype: str, resource: dict) -> None:
        try:
            text = resource_text(resource)
        except Exception:  # noqa: BLE001
            text = ""
        self.others.setdefault(rtype, []).append(text)

    def current_encounter(self) -> dict | None:
        """The stay in progress: an inpatient one before an emergency visit, latest first."""
        candidates = [e for e in self.by_type.get("Encounter", [])
                      if e.get("status") in CURRENT_STAYS and e.get("status") != "planned"]
        if not candidates:
            return None

        def rank(encounter: dict) -> tuple:
            klass = first_code(encounter.get("class"))
            start = self.sort_key(period(encounter.get("period"))[0])
            return (encounter.get("status") == "in-progress", klass in ("IMP", "ACUTE"), start)

        return max(candidates, key=rank)
