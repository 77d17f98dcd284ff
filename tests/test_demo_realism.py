"""The demo hospital lives on the real clock: at any hour what is done is in the past and
what is planned is to come; its activity changes a ward at a believable pace, names the
nurse who gave each drug, and a discharge stops the stay's orders."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest

from releve import clock
from releve.demo.his.activity import RATES, Activity
from releve.demo.his.load import load_files
from releve.demo.his.store import Store
from releve.demo.hospital.generate import iter_resources, parse_now
from releve.fhir.clinical.orders import standing

DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T")
PLANNED_ACTIVITY = ("scheduled", "not-started")
PARIS = ZoneInfo("Europe/Paris")


def instants(value: object, path: str = "") -> Iterator[tuple[str, datetime]]:
    """Every date-time in a resource, with its path (list positions left out)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from instants(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for item in value:
            yield from instants(item, path)
    elif isinstance(value, str) and DATE_TIME.match(value):
        yield path, datetime.fromisoformat(value.replace("Z", "+00:00"))


def planned(resource: dict) -> list[tuple[str, datetime]]:
    """The instants of what is still to happen: booked operations, active surgical
    orders, the sessions of a plan still scheduled, and the end of a plan under way."""
    kind, status = resource["resourceType"], resource.get("status")
    if kind == "Appointment" and status in ("booked", "pending", "proposed"):
        return list(instants({k: resource[k] for k in ("start", "end") if k in resource}))
    if kind == "ServiceRequest" and status == "active" and "occurrenceDateTime" in resource:
        return list(instants({"occurrenceDateTime": resource["occurrenceDateTime"]}))
    if kind == "CarePlan":
        found = [item for activity in resource.get("activity", [])
                 if activity["detail"].get("status") in PLANNED_ACTIVITY
                 for item in instants(activity["detail"].get("scheduledPeriod", {}),
                                      "activity.detail.scheduledPeriod")]
        found += [item for activity in resource.get("activity", [])  # a pump still running
                  if activity["detail"].get("status") == "in-progress"
                  for item in instants(activity["detail"]["scheduledPeriod"].get("end"),
                                       "activity.detail.scheduledPeriod.end")]
        if status == "active":
            found += instants(resource.get("period", {}).get("end"), "period.end")
        return found
    return []


@pytest.mark.parametrize("pinned", ["2026-01-14T00:30:00+01:00", "2026-01-14T03:00:00+01:00",
                                    "2026-01-14T15:00:00+01:00", "2026-07-14T23:50:00+02:00"])
def test_at_any_hour_the_past_is_past_and_the_plans_to_come(monkeypatch, pinned):
    monkeypatch.setenv(clock.ENV, pinned)
    now = datetime.fromisoformat(pinned)
    assert parse_now(None) == now  # the hospital's now is the clock's
    in_future, overdue, kinds = [], [], set()
    for resource in iter_resources(seed=2, beds=30, patients=900, now=None):
        ahead = planned(resource)
        kinds.update(resource["resourceType"] for _ in ahead)
        overdue += [(resource["resourceType"], path) for path, when in ahead
                    if path.endswith(("start", "occurrenceDateTime")) and when <= now]
        in_future += [(resource["resourceType"], resource.get("status"), path)
                      for path, when in instants(resource) if when > now and (path, when) not in ahead]
    assert in_future == [], f"in the future at {pinned}: {sorted(set(in_future))[:10]}"
    assert overdue == [], f"planned but already begun at {pinned}: {sorted(set(overdue))[:10]}"
    assert {"Appointment", "CarePlan", "ServiceRequest"} <= kinds  # there are plans to check


def test_radiotherapy_done_today_counts_as_delivered(monkeypatch):
    """At 23:50 every session of the day is over: no plan keeps one of today scheduled."""
    monkeypatch.setenv(clock.ENV, "2026-01-14T23:50:00+01:00")
    today = parse_now(None).date()
    for resource in iter_resources(seed=2, beds=30, patients=900, now=None):
        if resource["resourceType"] != "CarePlan":
            continue
        for activity in resource["activity"]:
            start = datetime.fromisoformat(activity["detail"]["scheduledPeriod"]["start"])
            if start.date() == today:
                assert activity["detail"]["status"] == "completed", resource["title"]


# --- the activity ------------------------------------------------------------------------------


def _location(rid: str, kind: str, part_of: str | None = None) -> dict:
    resource = {"resourceType": "Location", "id": rid, "name": rid,
                "physicalType": {"coding": [{"code": kind}]}}
    if part_of:
        resource["partOf"] = {"reference": f"Location/{part_of}"}
    return resource


def _nurse(number: int, ward: str, given: str, family: str, display: bool = True) -> list[dict]:
    practitioner = {"resourceType": "Practitioner", "id": f"n{number}",
                    "name": [{"family": family, "given": [given]}]}
    who = {"reference": f"Practitioner/n{number}"}
    if display:
        who["display"] = f"{given} {family.upper()}"
    role = {"resourceType": "PractitionerRole", "id": f"r{number}", "active": True,
            "practitioner": who, "location": [{"reference": f"Location/{ward}"}],
            "code": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/practitioner-role",
                                  "code": "nurse"}]}]}
    return [practitioner, role]


def _stay(rid: str, patient: str, bed: str) -> dict:
    return {"resourceType": "Encounter", "id": rid, "status": "in-progress",
            "class": {"code": "IMP"}, "subject": {"reference": f"Patient/{patient}"},
            "location": [{"location": {"reference": f"Location/{bed}"}, "status": "active"}]}


def _order(rid: str, patient: str, stay: str) -> dict:
    return {"resourceType": "MedicationRequest", "id": rid, "status": "active", "intent": "order",
            "subject": {"reference": f"Patient/{patient}"}, "authoredOn": "2026-01-13T09:00:00+01:00",
            "encounter": {"reference": f"Encounter/{stay}"},
            "medicationCodeableConcept": {"text": "paracétamol 1 g"},
            "dosageInstruction": [{"text": "1 g toutes les 6 h", "timing": {"repeat": {
                "frequency": 1, "period": 6, "periodUnit": "h"}}}]}


@pytest.fixture
def two_wards(tmp_path: Path) -> Iterator[Store]:
    """Two wards of 12 beds, a nurse each (the second's role without a display), 40
    patients, a stay in each ward with an active order."""
    lines = [_location("cardio", "wa"), _location("pneumo", "wa")]
    lines += [_location(f"{ward}-{n}", "bd", ward) for ward in ("cardio", "pneumo") for n in range(12)]
    lines += [*_nurse(1, "cardio", "Claire", "Martin"), *_nurse(2, "pneumo", "Paul", "Petit", False)]
    lines += [{"resourceType": "Patient", "id": f"p{n}"} for n in range(40)]
    lines += [_stay("s1", "p1", "cardio-0"), _stay("s2", "p2", "pneumo-0"),
              _order("m1", "p1", "s1"), _order("m2", "p2", "s2")]
    path = tmp_path / "two-wards.ndjson"
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    store = Store(tmp_path / "his.db")
    load_files(store, [path])
    yield store
    store.close()


def _read(store: Store, rtype: str, rid: str) -> dict:
    found = store.read(rtype, rid)
    assert found.json is not None
    return orjson.loads(found.json)


def test_administrations_name_a_nurse_of_the_stays_ward(two_wards):
    activity = Activity(two_wards, random.Random(3))
    seen = {}
    for _ in range(30):
        given = _read(two_wards, "MedicationAdministration", activity.administration().split("/")[1])
        assert given["effectiveDateTime"] == clock.now().isoformat(timespec="seconds")
        seen[given["request"]["reference"]] = given["performer"][0]["actor"]
    assert seen == {"MedicationRequest/m1": {"reference": "Practitioner/n1", "display": "Claire MARTIN"},
                    "MedicationRequest/m2": {"reference": "Practitioner/n2", "display": "Paul PETIT"}}


def test_a_discharge_stops_the_stays_orders(two_wards):
    activity = Activity(two_wards, random.Random(3))
    activity.stays = {"s1": activity.stays["s1"]}  # the stay this discharge ends
    assert standing(_read(two_wards, "MedicationRequest", "m1"), clock.now(), PARIS).current
    assert activity.discharge() == "discharge Encounter/s1, 1 orders stopped"
    ended = _read(two_wards, "Encounter", "s1")["period"]["end"]
    order = _read(two_wards, "MedicationRequest", "m1")
    assert order["status"] == "completed"
    assert order["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"] == {
        "start": "2026-01-13T09:00:00+01:00", "end": ended}
    assert not standing(order, clock.now(), PARIS).current  # the station's rule: not current
    assert _read(two_wards, "MedicationRequest", "m2")["status"] == "active"  # another stay's
    assert "m1" not in activity.orders
    for _ in range(20):  # and nobody gives that drug any more
        assert "m1" not in activity.administration()


def test_a_ward_changes_a_few_times_a_minute(two_wards):
    activity = Activity(two_wards, random.Random(11))
    assert activity.wards == 2
    done: list[str] = []
    for _ in range(120):  # two hours of the hospital's life, a minute a step
        done += activity.step(minutes=1)
    per_ward_minute = len(done) / 2 / 120
    assert 2 <= per_ward_minute <= 4, per_ward_minute
    stays = [d for d in done if d.startswith(("admission", "discharge"))]
    assert 3 <= len(stays) <= 24, stays  # a stay begins or ends every 25 min in a ward
    assert sum(RATES.values()) < 4


def test_a_short_step_often_changes_nothing(two_wards):
    """Two seconds of two wards' life (the runner's default step): a change in one step
    out of five or so, not several in each."""
    activity = Activity(two_wards, random.Random(5))
    changes = sum(len(activity.step(minutes=2 / 60)) for _ in range(100))
    assert 3 <= changes <= 35, changes
