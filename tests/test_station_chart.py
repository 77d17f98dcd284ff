"""The patient summary: what it computes (the 24 h plan, allergies, cycles), that it holds
for every patient it meets (demo hospital, Synthea, deliberately odd resources), and the
page and documents over real HTTP, with their latency."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import orjson
import pytest
from jinja2 import ChoiceLoader, DictLoader
from starlette.applications import Starlette
from starlette.middleware import Middleware

from releve import clock
from releve.fhir.refs import target_id
from releve.station.i18n import english
from releve.station.index.connection import connect
from releve.station.index.schema import SCHEMA
from releve.station.local.accounts import User
from releve.station.views import summary as chart
from releve.station.web import base as web_base
from releve.station.web.app import install_globals
from releve.station.web.base import Station
from releve.station.web.patient import routes

from conftest import StationFixture, copy_station
from helpers import serving

PARIS = ZoneInfo("Europe/Paris")
UTC = dt.UTC
BASE_STUB = ("<!doctype html><html lang='{{ lang }}'><title>{% block title %}{% endblock %}</title>"
             "<main>{% block content %}{% endblock %}</main></html>")


def paris(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=PARIS)


def hours(times: list[dt.datetime]) -> list[str]:
    return [t.astimezone(PARIS).strftime("%d %H:%M") for t in times]


# --- the timing expansion, as a pure function ------------------------------------------------


def test_every_6_hours_from_the_bounds_start() -> None:
    timing = {"repeat": {"frequency": 1, "period": 6, "periodUnit": "h",
                         "boundsPeriod": {"start": "2026-03-01T09:30:00+01:00"}}}
    due = chart.due_times(timing, paris(2026, 3, 2, 6), paris(2026, 3, 3, 6))
    assert hours(due) == ["02 09:30", "02 15:30", "02 21:30", "03 03:30"]


def test_time_of_day_list_and_bounds_end() -> None:
    timing = {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d",
                         "timeOfDay": ["08:00:00", "14:00:00", "20:00:00"],
                         "boundsPeriod": {"start": "2026-03-01T10:00:00+01:00",
                                          "end": "2026-03-02T15:00:00+01:00"}}}
    due = chart.due_times(timing, paris(2026, 3, 2, 6), paris(2026, 3, 3, 6))
    assert hours(due) == ["02 08:00", "02 14:00"]


def test_once_a_day_without_set_times_has_its_time_to_set() -> None:
    """period 1 d and nothing else: once a day, at a time nobody set, so no invented time
    (the page says "heure à définir"). Read with an integer period, this once raised
    AttributeError on Python 3.11."""
    for period in (1, 1.0):
        timing = {"repeat": {"period": period, "periodUnit": "d"}}
        assert chart.due_times(timing, paris(2026, 3, 2, 6), paris(2026, 3, 3, 6)) == []
        assert not chart.set_times(timing)
    first = {"repeat": {"period": 1, "periodUnit": "d", "boundsPeriod": {"start": "2026-03-01T09:00:00+01:00"}}}
    assert chart.set_times(first)
    assert hours(chart.due_times(first, paris(2026, 3, 2, 6), paris(2026, 3, 3, 6))) == ["02 09:00"]


def test_when_morning_and_evening_at_ward_hours() -> None:
    timing = {"repeat": {"when": ["MORN", "EVE"]}}
    due = chart.due_times(timing, paris(2026, 3, 2, 6), paris(2026, 3, 3, 6))
    assert hours(due) == ["02 08:00", "02 18:00"]
    meals = chart.due_times({"repeat": {"when": ["ACM", "ACV"], "offset": 30}},
                            paris(2026, 3, 2, 0), paris(2026, 3, 3, 0))
    assert hours(meals) == ["02 07:30", "02 17:30"]
    bedtime = chart.due_times({"repeat": {"when": ["HS"]}}, paris(2026, 3, 2, 6), paris(2026, 3, 3, 6))
    assert hours(bedtime) == ["02 22:00"]


def test_bid_and_tid_without_times_are_not_given_invented_hours() -> None:
    window = (paris(2026, 3, 2, 6), paris(2026, 3, 3, 6))
    bid = chart.due_times({"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}}, *window)
    tid = chart.due_times({"repeat": {"frequency": 3, "period": 1, "periodUnit": "d",
                                      "boundsPeriod": {"start": "2026-03-01"}}}, *window)
    assert bid == [] and tid == []
    timed = chart.due_times({"repeat": {"frequency": 2, "period": 1, "periodUnit": "d",
                                        "timeOfDay": ["08:00", "20:00"]}}, *window)
    assert hours(timed) == ["02 08:00", "02 20:00"]


def test_count_days_of_week_events_and_dst() -> None:
    counted = {"repeat": {"frequency": 1, "period": 8, "periodUnit": "h", "count": 3,
                          "boundsPeriod": {"start": "2026-03-02T02:00:00+01:00"}}}
    assert hours(chart.due_times(counted, paris(2026, 3, 2, 6), paris(2026, 3, 3, 6))) == \
        ["02 10:00", "02 18:00"]  # the first of the three was at 02:00
    weekly = {"repeat": {"timeOfDay": ["09:00"], "dayOfWeek": ["mon", "thu"]}}
    assert hours(chart.due_times(weekly, paris(2026, 3, 2, 0), paris(2026, 3, 9, 0))) == \
        ["02 09:00", "05 09:00"]
    events = {"event": ["2026-03-02T07:00:00Z", "2026-03-04T07:00:00Z"]}
    assert hours(chart.due_times(events, paris(2026, 3, 2, 0), paris(2026, 3, 3, 0))) == ["02 08:00"]
    # the night the clocks go forward: 08:00 and 20:00 local still, 23 hours apart
    spring = chart.due_times({"repeat": {"timeOfDay": ["08:00", "20:00"]}},
                             paris(2026, 3, 29, 0), paris(2026, 3, 30, 0))
    assert [t.utcoffset() for t in spring] == [dt.timedelta(hours=2)] * 2


def test_unreadable_timings_give_no_times() -> None:
    window = (paris(2026, 3, 2, 6), paris(2026, 3, 3, 6))
    for timing in (None, "daily", {}, {"repeat": "x"}, {"repeat": {"period": "six", "periodUnit": "h"}},
                   {"repeat": {"frequency": 1, "period": 0, "periodUnit": "h"}},
                   {"repeat": {"timeOfDay": ["25:00", 8, None]}},
                   {"repeat": {"frequency": 1, "period": 1, "periodUnit": "parsec"}}):
        assert chart.due_times(timing, *window) == []


def _order(rid: str, dosage: dict, status: str = "active", **extra: object) -> dict:
    return {"resourceType": "MedicationRequest", "id": rid, "status": status, "intent": "order",
            "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": {"text": rid.upper()}, "dosageInstruction": [dosage], **extra}


def test_orders_prn_and_ended_in_a_summary() -> None:
    now = paris(2026, 3, 2, 6)
    resources = [
        _order("q6h", {"timing": {"repeat": {"frequency": 1, "period": 6, "periodUnit": "h",
                                             "boundsPeriod": {"start": "2026-03-01T00:00:00+01:00"}}}}),
        _order("prn", {"text": "si douleur", "asNeededBoolean": True,
                       "timing": {"repeat": {"frequency": 1, "period": 4, "periodUnit": "h"}}}),
        _order("ended", {"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d",
                                               "boundsPeriod": {"end": "2026-03-01T20:00:00+01:00"}}}}),
        _order("stopped", {"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}}},
               status="stopped"),
        _order("held", {"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}}},
               status="on-hold"),
    ]
    found = chart.summary(_index(resources), "p1", now)
    assert found is not None
    by_id = {m.id: m for m in found.medications}
    assert set(by_id) == {"q6h", "prn", "held", "ended"}  # ended, still active: shown to check
    assert by_id["ended"].ended == "2026-03-01T20:00:00+01:00" and by_id["ended"].due == []
    assert [(n.id, n.reason) for n in found.not_current] == [("stopped", "stopped")]
    assert [d.local for d in by_id["q6h"].due] == ["06:00", "12:00", "18:00", "00:00"]
    assert by_id["q6h"].due[-1].day_offset == 1
    assert by_id["prn"].as_needed and by_id["prn"].due == [] and by_id["prn"] in found.as_needed
    assert by_id["held"].due == [] and by_id["held"].status == "on-hold"
    assert by_id["q6h"].frequency == "toutes les 6 h"


# --- a patient index in memory ---------------------------------------------------------------


def _index(resources: list[dict], patient: dict | None = None, extra: list[dict] = ()) -> sqlite3.Connection:
    """An index holding one patient's resources (and `extra` ones of nobody's): pages read
    the `resources` relation, here a table of its own instead of the view over a record file."""
    conn = sqlite3.connect(":memory:")
    conn.executescript(SCHEMA)
    conn.execute("CREATE TABLE resources(type TEXT, id TEXT, patient TEXT, updated TEXT, json BLOB)")
    patient = patient or {"resourceType": "Patient", "id": "p1", "name": [{"family": "Test", "given": ["Ana"]}]}
    rows = [("Patient", patient["id"], patient["id"], None, orjson.dumps(patient))]
    for resource in resources:
        rid = resource.get("id") if isinstance(resource.get("id"), str) else f"x{len(rows)}"
        rtype = resource.get("resourceType") if isinstance(resource.get("resourceType"), str) else "Unknown"
        rows.append((rtype, rid, patient["id"], None, orjson.dumps(resource)))
    for resource in extra:
        rows.append((resource["resourceType"], resource["id"], None, None, orjson.dumps(resource)))
    conn.executemany("INSERT INTO resources VALUES (?,?,?,?,?)", rows)
    return conn


# --- odd resources: nothing raises, the known parts show ---------------------------------------


ODD = [
    {"resourceType": "AllergyIntolerance", "id": "a1", "criticality": "high",
     "code": {"coding": [{"system": "http://snomed.info/sct", "code": "764146007", "display": "Penicillin"}]},
     "reaction": [{"manifestation": [{"text": "Anaphylaxie"}], "severity": "severe"}],
     "extension": [{"url": "http://example.org/x", "valueString": "y"}], "patient": {"reference": "Patient/p1"}},
    {"resourceType": "AllergyIntolerance", "id": "a2", "code": "not a concept", "reaction": "oops",
     "criticality": 3, "category": "food", "patient": {"reference": "Patient/p1"}},
    {"resourceType": "AllergyIntolerance", "id": "a3", "clinicalStatus": {"coding": [{"code": "resolved"}]},
     "code": {"text": "Latex"}, "patient": {"reference": "Patient/p1"}},
    {"resourceType": "MedicationRequest", "id": "m1", "status": "active",
     "contained": [{"resourceType": "Medication", "id": "med", "code": {"text": "Amoxicilline 1 g"}}],
     "medicationReference": {"reference": "#med"}, "subject": {"reference": "Patient/p1"},
     "dosageInstruction": [{"timing": {"repeat": {"timeOfDay": ["09:00"]}},
                            "doseAndRate": [{"doseQuantity": {"value": "1", "unit": "g"}}]}]},
    {"resourceType": "MedicationRequest", "id": "m2", "status": "active",
     "medicationReference": {"reference": "Medication/missing"}, "subject": {"reference": "Patient/p1"},
     "dosageInstruction": "twice a day"},
    {"resourceType": "MedicationRequest", "id": "m3", "status": "active",
     "medicationReference": {"reference": "Medication/known"}, "subject": {"reference": "Patient/p1"},
     "dosageInstruction": [None, 3, {"text": "1 cp le soir", "timing": {"repeat": {"when": "EVE"}}}]},
    {"resourceType": "MedicationAdministration", "id": "ma1", "status": "not-done",
     "effectiveDateTime": "2026-03-02", "medicationCodeableConcept": {"text": "Doliprane"},
     "statusReason": [{"text": "Refus"}], "subject": {"reference": "Patient/p1"}},
    {"resourceType": "Observation", "id": "o1", "status": "final",
     "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]},
     "valueQuantity": {"value": "38.5", "unit": "Cel"}, "effectiveDateTime": "2026-03-01",
     "subject": {"reference": "Patient/p1"}},
    {"resourceType": "Observation", "id": "o2", "code": {"text": "Aspect"},
     "valueCodeableConcept": {"coding": [{"display": "Trouble"}]}, "subject": {"reference": "Patient/p1"},
     "effectiveDateTime": "1970"},
    {"resourceType": "Observation", "id": "o3", "code": {"text": "Commentaire"}, "valueString": "RAS",
     "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "1970-05"},
    {"resourceType": "Observation", "id": "o4", "code": {"coding": [{"code": "85354-9"}]},
     "component": [{"code": {"coding": [{"code": "8480-6"}]}, "valueQuantity": {"value": 150}},
                   {"code": {"coding": [{"code": "8462-4"}]}, "valueQuantity": {"value": 95}}],
     "subject": {"reference": "Patient/p1"}, "effectivePeriod": {"start": "2026-03-01T10:00:00Z"}},
    {"resourceType": "Observation", "id": "o5", "code": {"text": "Gaz du sang"},
     "component": [{"code": {"text": "pH"}, "valueQuantity": {"value": 7.31}}, "junk"],
     "subject": {"reference": "Patient/p1"}},
    {"resourceType": "Observation", "id": "o6", "code": {"coding": [{"code": "882-1"}]},
     "valueString": "A négatif", "subject": {"reference": "Patient/p1"}},
    {"resourceType": "Observation", "id": "o7", "code": None, "value": [], "subject": {"reference": "Patient/p1"}},
    {"resourceType": "Condition", "id": "c1", "clinicalStatus": {"coding": [{"code": "active"}]},
     "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006", "display": "Diabetes"}]},
     "onsetDateTime": "1970-05", "subject": {"reference": "Patient/p1"}},
    {"resourceType": "Condition", "id": "c2", "code": {"text": "Old fracture"},
     "abatementDateTime": "1990", "subject": {"reference": "Patient/p1"}},
    {"resourceType": "Condition", "id": "c3", "clinicalStatus": "active", "code": 42,
     "subject": {"reference": "Patient/p1"}},
    {"resourceType": "Flag", "id": "f1", "status": "active", "code": {"text": "Risque de chute"},
     "subject": {"reference": "Patient/p1"}},
    {"resourceType": "DocumentReference", "id": "d1", "content": [{"attachment": {"url": "http://his/doc/1"}}],
     "subject": {"reference": "Patient/p1"}, "date": 20260301},
    {"resourceType": "CarePlan", "id": "cp1", "status": "active", "title": "Chimiothérapie adjuvante",
     "activity": [{"detail": {"status": "completed"}}, {"detail": {"status": "scheduled",
                  "scheduledPeriod": {"start": "2026-03-05"}}}, "junk"], "subject": {"reference": "Patient/p1"}},
    {"resourceType": "Encounter", "id": "e1", "status": "in-progress", "class": "IMP",
     "participant": "nobody",
     "location": [{"location": {"display": "Lit 12"}, "physicalType": {"coding": [{"code": "bd"}]}}],
     "subject": {"reference": "Patient/p1"}},
    {"resourceType": "Appointment", "id": "ap1", "status": "booked", "start": "2026-03-04T08:00:00+01:00",
     "description": "Coloscopie", "participant": [{"actor": {"reference": "Patient/p1"}}, {"actor": 5}]},
    {"resourceType": "FooBarResource", "id": "z1", "code": {"text": "Chose inconnue"},
     "subject": {"reference": "Patient/p1"}},
    {"resourceType": "Immunization", "id": "i1", "vaccineCode": {"text": "Grippe"},
     "patient": {"reference": "Patient/p1"}},
    {"resourceType": "NutritionOrder", "id": "n1", "status": "active", "oralDiet": {"type": "soft", "texture": [1]},
     "patient": {"reference": "Patient/p1"}},
]
ODD_PATIENT = {"resourceType": "Patient", "id": "p1", "birthDate": "1970", "gender": 7,
               "name": [{"family": ["wrong"], "given": "Ana"}, {"use": "official", "family": "Dupont",
                                                                 "given": ["Marie", 3]}],
               "identifier": [{"type": {"coding": [{"code": "PI"}]}, "value": "IPP42"}, "junk"],
               "telecom": {"system": "phone"}, "address": [{"line": "1 rue", "city": "Dax"}],
               "contact": [{"name": {"family": "Dupont", "given": ["Paul"]},
                            "telecom": [{"system": "phone", "value": "06"}]}, 5],
               "extension": [{"url": "x", "valueBoolean": True}]}


def test_odd_resources_build_and_show_what_they_can() -> None:
    conn = _index(ODD, ODD_PATIENT, extra=[{"resourceType": "Medication", "id": "known",
                                            "code": {"coding": [{"display": "Metformine 500 mg"}]}}])
    found = chart.summary(conn, "p1", paris(2026, 3, 2, 6))
    assert found is not None
    assert found.identity.name == "DUPONT Marie" and found.identity.ipp == "IPP42"
    assert found.identity.birth_date == "1970" and found.identity.contacts[0].phone == "06"
    assert found.allergy_state == "known"
    assert [a.substance for a in found.allergies][0] == "Penicillin"
    assert found.allergies[0].high and "Anaphylaxie" in found.allergies[0].reactions
    assert "Latex" not in [a.substance for a in found.allergies]
    drugs = {m.id: m for m in found.medications}
    assert drugs["m1"].drug == "Amoxicilline 1 g" and drugs["m1"].dose == "1 g"
    assert [d.local for d in drugs["m1"].due] == ["09:00"]
    assert drugs["m2"].drug == "Médicament non précisé"
    assert drugs["m3"].drug == "Metformine 500 mg" and [d.local for d in drugs["m3"].due] == ["18:00"]
    assert found.administrations[0].status == "not-done" and found.administrations[0].reason == "Refus"
    vitals = {v.key: v for v in found.vitals}
    assert vitals["temp"].latest.text == "38,5" and vitals["temp"].latest.unit == "°C"
    assert vitals["bp"].latest.text == "150/95"
    labels = {r.label: r.latest.text for r in found.results}
    assert labels["Aspect"] == "Trouble" and labels["Commentaire"] == "RAS"
    assert labels["Gaz du sang : pH"] == "7,31"
    assert found.blood_group is not None and found.blood_group.text == "A négatif"
    assert sorted(p.text for p in found.problems) == ["Diabetes", "Problème non précisé"]
    assert found.flags[0].text == "Risque de chute"
    assert found.documents[0].has_content
    assert found.oncology[0].kind == "chemotherapy" and found.oncology[0].done == 1
    assert found.oncology[0].next_number == 2 and found.oncology[0].total == 2
    assert found.stay is not None and found.stay.bed == "Lit 12"
    assert found.upcoming[0].what == "Coloscopie"
    others = {o.type: o for o in found.others}
    assert "Chose inconnue" in others["FooBarResource"].texts
    assert [i.text for i in found.chart.immunizations] == ["Grippe"]


def test_no_known_allergy_versus_not_recorded() -> None:
    nka = {"resourceType": "AllergyIntolerance", "id": "n", "patient": {"reference": "Patient/p1"},
           "code": {"coding": [{"system": "http://snomed.info/sct", "code": "716186003",
                                "display": "No known allergy"}]}}
    assert chart.summary(_index([nka]), "p1").allergy_state == "none"
    assert chart.summary(_index([]), "p1").allergy_state == "unknown"
    assert chart.summary(_index([]), "nobody") is None


def test_garbage_everywhere_never_raises() -> None:
    """Every resource above with each member in turn replaced by values of the wrong type."""
    junk = [None, 0, "x", [], {}, [None], {"coding": "x"}, True]
    for number, resource in enumerate(ODD):
        for key in resource:
            if key in ("resourceType", "id", "subject", "patient"):
                continue
            for value in junk:
                broken = {**resource, key: value}
                assert chart.summary(_index([broken]), "p1", paris(2026, 3, 2, 6)) is not None, (number, key)


# --- the demo hospital -------------------------------------------------------------------------


def _demo_now() -> dt.datetime:
    """The demo hospital's now: 06:00 in Paris on the tests' pinned day."""
    return dt.datetime.combine(clock.today(PARIS), dt.time(6), tzinfo=PARIS)


def _resources(conn: sqlite3.Connection, patient: str, rtype: str) -> list[dict]:
    return [orjson.loads(r[0]) for r in conn.execute(
        "SELECT json FROM resources WHERE patient = ? AND type = ?", (patient, rtype))]


@pytest.fixture(scope="module")
def demo_db(demo_station: StationFixture) -> Iterator[sqlite3.Connection]:
    from releve.station.index.generations import current_generation

    conn = connect(current_generation(demo_station.dir), readonly=True)
    yield conn
    conn.close()


def test_inpatient_with_severe_allergy_orders_and_plan(demo_db: sqlite3.Connection) -> None:
    now = _demo_now()
    rows = demo_db.execute(
        "SELECT s.patient, max(CAST(a.json AS TEXT) LIKE '%\"criticality\":\"high\"%') AS high FROM stays s "
        "JOIN resources a ON a.patient = s.patient AND a.type = 'AllergyIntolerance' "
        "JOIN resources m ON m.patient = s.patient AND m.type = 'MedicationAdministration' "
        "WHERE s.current = 1 AND s.class = 'IMP' GROUP BY s.patient ORDER BY high DESC, s.patient").fetchall()
    assert rows, "the demo hospital has an inpatient with an allergy and administrations"
    pid = rows[0][0]
    found = chart.summary(demo_db, pid, now)
    assert found is not None and found.stay is not None and found.stay.bed
    allergies = _resources(demo_db, pid, "AllergyIntolerance")
    assert sorted(a["code"]["text"] for a in allergies) == sorted(a.substance for a in found.allergies)
    for allergy in allergies:  # the severe ones first and marked
        shown = next(a for a in found.allergies if a.substance == allergy["code"]["text"])
        assert shown.high == (allergy.get("criticality") == "high"
                              or allergy["reaction"][0].get("severity") == "severe")
    orders = [o for o in _resources(demo_db, pid, "MedicationRequest") if o["status"] == "active"]
    assert sorted(o["medicationCodeableConcept"]["text"] for o in orders) == \
        sorted(m.drug for m in found.medications)
    by_id = {m.id: m for m in found.medications}
    for order in orders:
        dosage = order["dosageInstruction"][0]
        repeat = dosage["timing"]["repeat"]
        times = repeat.get("timeOfDay", [])
        expected = []
        for day in (now.date(), now.date() + dt.timedelta(days=1)):
            for hhmm in times:
                when = dt.datetime.combine(day, dt.time.fromisoformat(hhmm), tzinfo=PARIS)
                if now <= when < now + dt.timedelta(hours=24):
                    expected.append(when)
        if not times:  # as needed: listed without times
            assert by_id[order["id"]].as_needed and by_id[order["id"]].due == []
            continue
        assert [d.when for d in by_id[order["id"]].due] == sorted(expected), order["id"]
    given = [a for a in _resources(demo_db, pid, "MedicationAdministration")
             if now - dt.timedelta(hours=24) <= dt.datetime.fromisoformat(a["effectiveDateTime"]) <= now]
    assert sorted(a["effectiveDateTime"] for a in given) == sorted(a.when for a in found.administrations)
    for administration in found.administrations:
        if administration.request in by_id:
            assert administration in by_id[administration.request].given


def _care_plans(conn: sqlite3.Connection, word: str) -> list[dict]:
    return [orjson.loads(r[0]) for r in conn.execute(
        "SELECT json FROM resources WHERE type = 'CarePlan' AND CAST(json AS TEXT) LIKE ?", (f"%{word}%",))]


@pytest.mark.parametrize("word,kind", [("367336001", "chemotherapy"), ("108290001", "radiotherapy")])
def test_oncology_cycle_n_of_n(demo_db: sqlite3.Connection, word: str, kind: str) -> None:
    plans = _care_plans(demo_db, word)
    assert plans
    for plan in plans:
        pid = target_id(plan["subject"], "Patient")
        found = chart.summary(demo_db, pid, _demo_now())
        treatment = next(o for o in found.oncology if o.kind == kind)
        statuses = [a["detail"]["status"] for a in plan["activity"]]
        done = statuses.count("completed")
        assert treatment.done == done and treatment.total == len(statuses)
        first_pending = next(a["detail"] for a in plan["activity"] if a["detail"]["status"] != "completed")
        assert treatment.next_number == done + 1
        assert treatment.next_label == first_pending["code"]["text"]
        assert f"{done + 1}/{len(statuses)}" in treatment.next_label
        assert treatment.next_date == first_pending["scheduledPeriod"]["start"]


def test_or_booking_and_its_note(demo_db: sqlite3.Connection) -> None:
    now = _demo_now()
    row = demo_db.execute("SELECT patient, start FROM bookings WHERE start > ? ORDER BY start",
                          (now.isoformat(),)).fetchone()
    assert row
    found = chart.summary(demo_db, row[0], now)
    assert any(u.when == row[1] and u.kind == "Appointment" for u in found.upcoming)
    assert not any(u.kind == "ServiceRequest" for u in found.upcoming)  # the same booking once


def test_every_demo_inpatient_builds_fast(demo_db: sqlite3.Connection) -> None:
    ids = [r[0] for r in demo_db.execute("SELECT patient FROM stays WHERE current = 1")]
    started = time.perf_counter()
    for pid in ids:
        assert chart.summary(demo_db, pid, _demo_now()) is not None
    assert (time.perf_counter() - started) / len(ids) < 0.05


# --- the page over HTTP --------------------------------------------------------------------------


class _SignedIn:
    """Stands in for the app's sign-in middleware: every request is a nurse's."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {})["user"] = User("infirmiere", "nurse", "Infirmière Test", False, "")
        await self.app(scope, receive, send)


@pytest.fixture
def serve():
    """Serve a station's summary routes under uvicorn on a loopback port; yields a client."""
    servers = contextlib.ExitStack()

    def start(station_dir: Path) -> httpx.Client:
        here = Station(station_dir)
        if not (web_base.TEMPLATES / "base.html").exists():
            here.env.loader = ChoiceLoader([here.env.loader, DictLoader({"base.html": BASE_STUB})])
        install_globals(here)
        app = Starlette(routes=routes, middleware=[Middleware(_SignedIn)])
        app.state.station = here
        url = servers.enter_context(serving(app, seconds=10, access_log=False))
        return httpx.Client(base_url=url, timeout=10)

    with servers:
        yield start


def test_every_synthea_patient_page(synthea_station: StationFixture, serve, tmp_path: Path) -> None:
    station = copy_station(synthea_station, tmp_path / "station")
    client = serve(station.dir)
    conn = web_base.Station(station.dir).db()
    ids = [r[0] for r in conn.execute("SELECT id FROM patients")]
    assert len(ids) == 100
    for pid in ids:
        found = chart.summary(conn, pid)
        assert found is not None
        page = client.get(f"/patients/{pid}")
        assert page.status_code == 200, pid
        html = page.text
        patient = _resources(conn, pid, "Patient")[0]
        name = next(n for n in patient["name"] if n.get("use") == "official") if any(
            n.get("use") == "official" for n in patient["name"]) else patient["name"][0]
        assert name["family"].upper() in html and name["given"][0] in html
        allergies = _resources(conn, pid, "AllergyIntolerance")
        active = [a for a in allergies if a["clinicalStatus"]["coding"][0]["code"] == "active"]
        for allergy in active:
            assert _escape(allergy["code"]["text"]) in html
        for allergy in allergies:
            if allergy not in active:
                assert allergy["code"]["text"] not in [a.substance for a in found.allergies]
        if not active:
            assert "Allergies non renseignées" in html
        for order in _resources(conn, pid, "MedicationRequest"):
            if order["status"] == "active":
                assert _escape(order["medicationCodeableConcept"]["text"]) in html
    entries = station_audit(station.dir)
    assert sum(1 for e in entries if e.page == "summary" and e.action == "view") == 100


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&#39;")


def station_audit(station_dir: Path) -> list:
    from releve.station.local.audit import Audit

    return Audit(station_dir).entries(limit=1000)


def test_demo_pages_english_404_and_latency(demo_station: StationFixture, serve, tmp_path: Path) -> None:
    station = copy_station(demo_station, tmp_path / "station")
    client = serve(station.dir)
    conn = Station(station.dir).db()
    ids = [r[0] for r in conn.execute("SELECT patient FROM stays WHERE current = 1 AND class = 'IMP'")]
    client.get(f"/patients/{ids[0]}")  # templates compiled, connection opened
    timings = []
    for pid in ids:
        started = time.perf_counter()
        page = client.get(f"/patients/{pid}")
        timings.append(time.perf_counter() - started)
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        assert "/static/patient.css" in page.text and "Traitements en cours" in page.text
    timings.sort()
    p50, p95 = timings[len(timings) // 2], timings[int(len(timings) * 0.95)]
    print(f"\npatient summary over HTTP, {len(ids)} demo inpatients: "
          f"p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms")
    assert p95 < 0.5  # a sanity bound on a shared machine; the target (50 ms) is measured above
    english_page = client.get(f"/patients/{ids[0]}?lang=en").text
    assert "Active medications" in english_page and "Allergies and intolerances" in english_page
    assert client.get("/patients/no-such-patient").status_code == 404
    audited = [e for e in station_audit(station.dir) if e.page == "summary"]
    assert {e.patient for e in audited} >= set(ids)


def test_every_french_text_has_english() -> None:
    import re

    template = (web_base.TEMPLATES / "patient.html").read_text()
    texts = re.findall(r'_\("((?:[^"\\]|\\.)*)"\)', template) + re.findall(r'_\("((?:[^"\\]|\\.)*)",', template)
    labels = [*chart.SEX.values(), *chart.CRITICALITY.values(), *chart.SEVERITY.values(),
              *chart.ALLERGY_CATEGORY.values(), *chart.ALLERGY_TYPE.values(), *chart.ORDER_STATUS.values(),
              *chart.ADMIN_STATUS.values(), *chart.ROLE.values(), *chart.CLASS.values(),
              *chart.RESULT_GROUP.values(), *(v[1] for v in chart.VITALS.values())]
    missing = [t for t in texts + labels if t not in english()]
    assert not missing


# --- documents -------------------------------------------------------------------------------------


def _document(rid: str, attachment: dict) -> dict:
    return {"resourceType": "DocumentReference", "id": rid, "status": "current",
            "subject": {"reference": "Patient/p1"}, "type": {"text": "Compte rendu"},
            "content": [{"attachment": attachment}]}


def test_documents_are_served_inert(demo_station: StationFixture, serve, tmp_path: Path) -> None:
    station = copy_station(demo_station, tmp_path / "station")
    conn = Station(station.dir).db()
    text_doc = conn.execute("SELECT id, patient, json FROM resources WHERE type = 'DocumentReference' "
                            "AND CAST(json AS TEXT) LIKE '%text/plain%' LIMIT 1").fetchone()
    pdf_doc = conn.execute("SELECT id, patient FROM resources WHERE type = 'DocumentReference' "
                           "AND CAST(json AS TEXT) LIKE '%application/pdf%' LIMIT 1").fetchone()
    from releve.station.folder import records_path
    from releve.station.index.generations import current_generation
    from releve.station.index.record_file import RecordAppender

    generation = current_generation(station.dir)
    writable = sqlite3.connect(generation)
    records = RecordAppender(records_path(generation))
    odd = [_document("html1", {"contentType": "text/html", "title": "<b>évil</b>/../x",
                               "data": base64.b64encode(b"<script>alert(1)</script>").decode()}),
           _document("url1", {"contentType": "application/pdf", "url": "https://his.example/doc/9"}),
           _document("latin1", {"contentType": "text/plain; charset=iso-8859-1",
                                "data": base64.b64encode("Fièvre".encode("latin-1")).decode()})]
    for d in odd:
        line = orjson.dumps(d)
        writable.execute("INSERT INTO records VALUES (?,?,?,?,?,?)",
                         (d["resourceType"], d["id"], text_doc[1], None, records.append(line), len(line)))
    records.close()
    writable.commit()
    writable.close()
    client = serve(station.dir)
    expected = base64.b64decode(orjson.loads(text_doc[2])["content"][0]["attachment"]["data"])
    page = client.get(f"/patients/{text_doc[1]}/documents/{text_doc[0]}")
    assert page.status_code == 200 and page.content == expected
    assert page.headers["content-type"] == "text/plain; charset=utf-8"
    for header, value in (("x-content-type-options", "nosniff"), ("cache-control", "no-store")):
        assert page.headers[header] == value
    assert "script-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["content-disposition"].startswith("inline; filename=")
    pdf = client.get(f"/patients/{pdf_doc[1]}/documents/{pdf_doc[0]}")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    html = client.get(f"/patients/{text_doc[1]}/documents/html1")
    assert html.headers["content-type"] == "application/octet-stream"
    assert html.headers["content-disposition"].startswith("attachment; filename=\"b_evil_b_._x.bin\"")
    url = client.get(f"/patients/{text_doc[1]}/documents/url1")
    assert url.headers["content-type"].startswith("text/plain") and "https://his.example/doc/9" in url.text
    assert client.get(f"/patients/{text_doc[1]}/documents/latin1").text == "Fièvre"
    if pdf_doc[1] != text_doc[1]:  # another patient's document is not found under this one
        assert client.get(f"/patients/{pdf_doc[1]}/documents/{text_doc[0]}").status_code == 404
    assert client.get(f"/patients/{text_doc[1]}/documents/nope").status_code == 404
    summary_page = client.get(f"/patients/{text_doc[1]}").text
    assert f"/patients/{text_doc[1]}/documents/{text_doc[0]}" in summary_page
    audited = [e for e in station_audit(station.dir) if e.page == "document"]
    assert any(e.patient == text_doc[1] and e.detail == text_doc[0] for e in audited)
