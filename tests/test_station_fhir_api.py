"""The station's local FHIR API: a device records with a token, checked as the forms are.

Real station folder, real HTTP on loopback, real tokens (`releve station token add`);
every refusal is checked to have written nothing (the journal file did not grow).
"""

from __future__ import annotations

import httpx
import orjson
import pytest

from releve.journal import files
from releve.journal.book import Journal
from releve.journal.kinds.note import SHIFT_SYSTEM
from releve.station.index.connection import reader
from releve.station.web.app import server_config

from conftest import copy_station, run_releve
from helpers import serving

FHIR = "application/fhir+json"


@pytest.fixture(scope="module")
def api(demo_station, tmp_path_factory):
    station = copy_station(demo_station, tmp_path_factory.mktemp("fhir-api") / "station")
    tokens = {}
    for name, role in (("scope-7", "nurse"), ("pharma", "pharmacist"), ("rea", "peer"),
                       ("dr-house", "physician")):
        made = run_releve("station", "token", "add", name, "--role", role, "--station", station.dir)
        tokens[role] = made.stdout.decode().strip()
    conn = reader(station.dir)
    patient = conn.execute("SELECT DISTINCT patient FROM stays WHERE current = 1 ORDER BY patient "
                           "LIMIT 1").fetchone()[0]
    conn.close()
    with serving(server_config(station.dir, "127.0.0.1", 0)) as url:
        yield {"url": url, "dir": station.dir, "tokens": tokens, "patient": patient}


def client(api: dict, role: str = "nurse") -> httpx.Client:
    return httpx.Client(base_url=api["url"], timeout=30,
                        headers={"Authorization": f"Bearer {api['tokens'][role]}"})


def pulse(patient: str, value: float = 88, unit: str = "/min", when: str = "2026-01-14T09:40:00+01:00") -> dict:
    return {"resourceType": "Observation", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": "vital-signs"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": f"Patient/{patient}"}, "effectiveDateTime": when,
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org",
                              "code": unit}}


def journal_size(api: dict) -> int:
    return files.file_size(api["dir"], Journal(api["dir"]).station)


def test_a_device_records_an_observation_and_reads_it_back(api):
    with client(api) as http:
        answer = http.post("/fhir/Observation", json=pulse(api["patient"], 92),
                           headers={"Content-Type": FHIR})
        assert answer.status_code == 201, answer.text
        assert answer.headers["content-type"].startswith(FHIR)
        recorded = answer.json()
        key = recorded["meta"]["source"].removeprefix("releve-journal:")
        entry = Journal(api["dir"]).entry(key)
        assert entry is not None and entry.kind == "observation"
        assert entry.author.user == "token:scope-7" and entry.author.role == "nurse"
        assert recorded["identifier"][0] == {"system": "urn:ietf:rfc:3986",
                                             "value": f"urn:uuid:{recorded['id']}"}
        assert answer.headers["location"] == f"/fhir/Observation/{recorded['id']}"
        found = http.get("/fhir/Observation", params={"patient": api["patient"]}).json()
    assert found["resourceType"] == "Bundle" and found["type"] == "searchset"
    local = [e["resource"] for e in found["entry"]
             if e["resource"].get("meta", {}).get("source", "").startswith("releve-journal:")]
    assert [r["valueQuantity"]["value"] for r in local if r["id"] == recorded["id"]] == [92]
    assert found["total"] > len(local)  # the vault's observations are there too


def test_a_note_and_an_order_go_through_their_own_rules(api):
    note = {"resourceType": "Communication", "status": "completed",
            "subject": {"reference": f"Patient/{api['patient']}"},
            "sent": "2026-01-14T09:50:00+01:00",
            "payload": [{"contentString": "Patient calme, douleur 2/10."}]}
    with client(api) as http:
        refused = http.post("/fhir/Communication", json=note)
        # a transmission names the shift it is for: the form requires it, the API too
        assert refused.status_code == 422 and refused.json()["issue"][0]["expression"] == ["topic"]
        note["topic"] = {"coding": [{"system": SHIFT_SYSTEM, "code": "nuit"}]}
        answer = http.post("/fhir/Communication", json=note)
    assert answer.status_code == 201, answer.text
    key = answer.json()["meta"]["source"].removeprefix("releve-journal:")
    assert Journal(api["dir"]).entry(key).kind == "transmission"
    order = {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
             "subject": {"reference": f"Patient/{api['patient']}"},
             "medicationCodeableConcept": {"text": "Paracétamol 1 g"}}
    size = journal_size(api)
    with client(api) as http:
        refused = http.post("/fhir/MedicationRequest", json=order)
    assert refused.status_code == 403  # a nurse's token never prescribes
    assert refused.json()["issue"][0]["code"] == "forbidden"
    assert journal_size(api) == size


@pytest.mark.parametrize("body, status, words", [
    (b"{not json", 400, "n'est pas du JSON"),
    (b'{"resourceType": "Patient"}', 400, "n'est pas de type Observation"),
    ("impossible", 422, "impossible pour « Pouls »"),
    ("unit", 422, "Unité attendue"),
    ("future", 422, "dans le futur"),
    ("stranger", 422, "Patient inconnu"),
])
def test_a_refused_resource_gets_an_operation_outcome_and_writes_nothing(api, body, status, words):
    patient = api["patient"]
    made = {"impossible": pulse(patient, 900), "unit": pulse(patient, 88, "bpm"),
            "future": pulse(patient, 88, when="2026-01-14T13:00:00+01:00"),
            "stranger": pulse("no-such-patient")}
    size = journal_size(api)
    with client(api) as http:
        if isinstance(body, bytes):
            answer = http.post("/fhir/Observation", content=body, headers={"Content-Type": FHIR})
        else:
            answer = http.post("/fhir/Observation", json=made[body])
    assert answer.status_code == status, answer.text
    outcome = answer.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert any(words.lower() in issue["diagnostics"].lower() for issue in outcome["issue"]), outcome
    assert journal_size(api) == size


def test_roles_and_tokens_are_enforced(api):
    size = journal_size(api)
    for role, status in (("pharmacist", 403), ("peer", 403)):
        with client(api, role) as http:
            assert http.post("/fhir/Observation", json=pulse(api["patient"])).status_code == status
    anonymous = httpx.post(f"{api['url']}/fhir/Observation", json=pulse(api["patient"]),
                           headers={"Origin": api["url"]})
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Bearer")
    with client(api) as http:
        assert http.post("/fhir/Patient", json={"resourceType": "Patient"}).status_code == 405
        assert http.get("/fhir/Observation").status_code == 400
    assert journal_size(api) == size
    with client(api, "peer") as http:  # a peer pulls journals; it reads no patient
        refused = http.get("/fhir/Observation", params={"patient": api["patient"]})
    assert refused.status_code == 403 and refused.json()["issue"][0]["code"] == "forbidden"


def test_every_api_read_and_write_is_audited(api):
    from releve.station.local.audit import Audit

    with client(api) as http:
        http.post("/fhir/Observation", json=pulse(api["patient"], 77))
        http.get("/fhir/Observation", params={"patient": api["patient"]})
    entries = Audit(api["dir"]).entries(limit=20)
    seen = {(e.user, e.action, e.page) for e in entries}
    assert ("token:scope-7", "record", "fhir-api") in seen
    assert ("token:scope-7", "view", "fhir-api") in seen


def test_each_api_request_is_audited_once(api):
    """A write is audited by the recording (not a second time as a token use), a read by
    the search; a refused request, which no handler audited, as the token's use."""
    from releve.station.local.audit import Audit

    audit = Audit(api["dir"])

    def rows_of(send) -> list[tuple]:
        before = audit.entries(limit=1)[0].seq
        send()
        return [(e.user, e.action, e.page, e.detail) for e in audit.entries(limit=50)
                if e.seq > before]

    with client(api) as http:
        wrote = rows_of(lambda: http.post("/fhir/Observation", json=pulse(api["patient"], 79)))
        read = rows_of(lambda: http.get("/fhir/Observation", params={"patient": api["patient"]}))
    with client(api, "peer") as http:
        refused = rows_of(lambda: http.get("/fhir/Observation", params={"patient": api["patient"]}))
    assert [row[:3] for row in wrote] == [("token:scope-7", "record", "fhir-api")]
    assert [row[:3] for row in read] == [("token:scope-7", "view", "fhir-api")]
    assert refused == [("token:rea", "token", "/fhir/Observation", "GET 403")]


def test_a_pump_records_an_administration_under_the_forms_rules(api):
    """An as-given dose of one of the patient's active orders, without a planned time
    (an as-needed or unplanned dose): recorded; the same for another patient's order, or
    with a planned time the plan does not have, is refused and nothing is written."""
    import datetime as dt

    from releve.journal.kinds import administration as kind
    from releve.station.index.connection import reader as open_index

    conn = open_index(api["dir"])
    patient, order_id, raw = conn.execute(
        "SELECT patient, id, json FROM resources WHERE type = 'MedicationRequest' AND patient IN "
        "(SELECT patient FROM stays WHERE current = 1) AND CAST(json AS TEXT) LIKE '%\"status\":\"active\"%' "
        "ORDER BY patient, id LIMIT 1").fetchone()
    conn.close()
    order = orjson.loads(raw)
    now = dt.datetime.fromisoformat("2026-01-14T10:00:00+01:00")
    context = kind.AdministrationContext(now=now, zone="Europe/Paris", patient=f"Patient/{patient}",
                                         role="nurse", orders={f"MedicationRequest/{order_id}": order})
    dose = kind.prescribed_dose(order) or {}
    values = {"outcome": "given", "time": "09:55", "request": order_id,
              "dose": str(dose.get("value", "")), "unit": str(dose.get("unit", ""))}
    resource = kind.from_form(values, context).resource
    with client(api) as http:
        answer = http.post("/fhir/MedicationAdministration", json=resource)
        assert answer.status_code == 201, answer.text
        recorded = answer.json()
        assert recorded["request"]["reference"] == f"MedicationRequest/{order_id}"
        size = journal_size(api)
        planned = {**resource, "extension": [{"url": kind.PLANNED_URL,
                                              "valueDateTime": "2026-01-14T03:17:00+01:00"}]}
        refused = http.post("/fhir/MedicationAdministration", json=planned)
        assert refused.status_code == 422
        assert "pas au plan" in refused.json()["issue"][0]["diagnostics"]
        stranger = {**resource, "request": {"reference": "MedicationRequest/not-this-patients"}}
        refused = http.post("/fhir/MedicationAdministration", json=stranger)
        assert refused.status_code == 422
        assert journal_size(api) == size
