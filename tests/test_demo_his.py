"""The demo HIS over real HTTP on loopback: FHIR R4 read, search and paging, history,
Bulk export, transactions and batches, the activity simulator.

Read-only checks run against the 100 Synthea patients served by `releve demo his --load`
in a subprocess; checks that write run against small data in an in-process server.
"""

from __future__ import annotations

import contextlib
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from releve.demo.his.activity import Activity, ActivityRunner
from releve.demo.his.bulk import Exports
from releve.demo.his.fhir import HisError
from releve.demo.his.load import load_files
from releve.demo.his.server import create_app, serve
from releve.demo.his.store import Store

from conftest import RELEVE
from helpers import ServerProcess, answers, free_port, serving, start_server, wait_until

# --- helpers ---------------------------------------------------------------------------------


def start_his(*args: str | Path, env: dict[str, str] | None = None) -> tuple[ServerProcess, str]:
    """`releve demo his ARGS` on a free port, once its metadata answers; it and its base."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server, _ = start_server([*RELEVE, "demo", "his", "--port", str(port), *args],
                             lambda: answers(f"{base}/metadata"), what="the demo HIS",
                             seconds=90, env=env)
    return server, base


@contextlib.contextmanager
def running(app) -> Iterator[httpx.Client]:
    """The app under uvicorn in a thread, on a free port; a client for it."""
    with serving(app, seconds=10) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


def walk(client: httpx.Client, url: str, params: dict | None = None) -> tuple[list[dict], list[dict]]:
    """Every page of a search or history: (pages, entries)."""
    pages, entries = [], []
    response = client.get(url, params=params)
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        entries += page.get("entry", [])
        following = [link["url"] for link in page["link"] if link["relation"] == "next"]
        if not following:
            return pages, entries
        response = client.get(following[0])


def ids(entries: list[dict]) -> list[str]:
    return [e["resource"]["id"] for e in entries]


def export(client: httpx.Client, **params: str) -> dict:
    """Kick off a Bulk export, poll it to the end, return its manifest."""
    kickoff = client.get("/$export", params=params, headers={"Prefer": "respond-async",
                                                              "Accept": "application/fhir+json"})
    assert kickoff.status_code == 202, kickoff.text
    status_url = kickoff.headers["Content-Location"]
    for _ in range(600):
        status = client.get(status_url)
        if status.status_code == 200:
            manifest = status.json()
            manifest["status_url"] = status_url
            return manifest
        assert status.status_code == 202 and "X-Progress" in status.headers
        time.sleep(0.05)
    raise AssertionError("export did not finish")


def ndjson(client: httpx.Client, files: list[dict]) -> list[dict]:
    lines = []
    for item in files:
        response = client.get(item["url"])
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/fhir+ndjson")
        found = [orjson.loads(line) for line in response.content.splitlines() if line]
        assert len(found) == item["count"]
        lines += found
    return lines


def synthea_resources(folder: Path) -> dict[str, set[str]]:
    """Type -> ids, straight from the Synthea Bundles."""
    found: dict[str, set[str]] = {}
    for path in sorted(folder.glob("*.json")):
        for entry in orjson.loads(path.read_bytes()).get("entry", []):
            resource = entry["resource"]
            rid = resource.get("id") or entry["fullUrl"].removeprefix("urn:uuid:")
            found.setdefault(resource["resourceType"], set()).add(rid)
    return found


def small_data(folder: Path) -> Path:
    """5 patients, a unit with 4 beds, one stay, 60 observations, one active order."""
    lines = [{"resourceType": "Location", "id": "unit", "name": "Cardiologie A",
              "physicalType": {"coding": [{"code": "wa"}]}}]
    for b in range(1, 5):
        lines.append({"resourceType": "Location", "id": f"bed{b}", "name": f"Lit {b}",
                      "physicalType": {"coding": [{"code": "bd"}]},
                      "partOf": {"reference": "Location/unit"}})
    for p in range(1, 6):
        lines.append({"resourceType": "Patient", "id": f"p{p}",
                      "name": [{"family": f"Durand{p}", "given": ["Élise"]}]})
    lines.append({"resourceType": "Encounter", "id": "e1", "status": "in-progress",
                  "class": {"code": "IMP"}, "subject": {"reference": "Patient/p1"},
                  "location": [{"location": {"reference": "Location/bed1"}, "status": "active"}]})
    lines.append({"resourceType": "MedicationRequest", "id": "m1", "status": "active",
                  "intent": "order", "subject": {"reference": "Patient/p1"},
                  "encounter": {"reference": "Encounter/e1"},
                  "medicationCodeableConcept": {"text": "paracétamol 1 g"}})
    for o in range(1, 61):
        lines.append({"resourceType": "Observation", "id": f"o{o}", "status": "final",
                      "code": {"text": "Température"}, "subject": {"reference": f"Patient/p{o % 5 + 1}"},
                      "valueQuantity": {"value": 37.0, "unit": "Cel"}})
    path = folder / "small.ndjson"
    # 37.0 written as 37.50: the server must keep a decimal's precision
    path.write_bytes(b"".join(orjson.dumps(line).replace(b"37.0", b"37.50") + b"\n"
                              for line in lines))
    return path


@pytest.fixture
def small(tmp_path: Path) -> Iterator[tuple[httpx.Client, Store]]:
    store = Store(tmp_path / "his.db")
    assert load_files(store, [small_data(tmp_path)]) == 72
    with running(create_app(store, export_dir=tmp_path / "exports")) as client:
        yield client, store
    store.close()


@pytest.fixture(scope="module")
def synthea(synthea_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """`releve demo his --load` the 100 Synthea patients, as a subprocess."""
    db = tmp_path_factory.mktemp("his") / "his.db"
    server, base = start_his("--load", synthea_dir, "--db", db)
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            yield client
    finally:
        server.stop()


# --- against Synthea --------------------------------------------------------------------------


def test_capability_statement(synthea):
    response = synthea.get("/metadata")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    capability = response.json()
    assert capability["resourceType"] == "CapabilityStatement"
    assert capability["fhirVersion"] == "4.0.1"
    rest = capability["rest"][0]
    patient = next(r for r in rest["resource"] if r["type"] == "Patient")
    assert {"read", "vread", "search-type", "history-type"} <= {i["code"] for i in patient["interaction"]}
    assert patient["searchParam"][0]["name"] == "_lastUpdated"
    assert {i["code"] for i in rest["interaction"]} == {"transaction", "batch", "history-system"}
    assert rest["operation"][0]["name"] == "export"


def test_synthea_paging_returns_every_patient_once(synthea, synthea_dir):
    expected = synthea_resources(synthea_dir)
    pages, entries = walk(synthea, "/Patient", {"_count": 7})
    assert len(pages) == 15 and all(page["total"] == 100 for page in pages)
    assert all(len(page.get("entry", [])) <= 7 for page in pages)
    assert len(ids(entries)) == 100 and set(ids(entries)) == expected["Patient"]
    times = [e["resource"]["meta"]["lastUpdated"] for e in entries]
    assert times == sorted(times) and len(set(times)) == 100  # unique and in order
    # every type is served whole: totals agree with the files
    for rtype, found in expected.items():
        bundle = synthea.get(f"/{rtype}", params={"_summary": "count"}).json()
        assert bundle["total"] == len(found), rtype
        assert "entry" not in bundle
    _, observations = walk(synthea, "/Observation", {"_count": 5000})
    assert set(ids(observations)) == expected["Observation"]


def test_elements_id_lists_ids_only_on_every_page(synthea, synthea_dir):
    """What the CapabilityStatement declares for the id walk of a capture in search
    mode: `_elements=id` pages carry id and meta only, marked SUBSETTED, to the end."""
    rest = synthea.get("/metadata").json()["rest"][0]
    assert all("_elements" in {p["name"] for p in r["searchParam"]} for r in rest["resource"])
    pages, entries = walk(synthea, "/Patient", {"_elements": "id", "_count": 40})
    assert len(pages) == 3 and set(ids(entries)) == synthea_resources(synthea_dir)["Patient"]
    for entry in entries:
        resource = entry["resource"]
        assert set(resource) == {"resourceType", "id", "meta"}
        assert [tag["code"] for tag in resource["meta"]["tag"]] == ["SUBSETTED"]
    refused = synthea.get("/Patient", params={"_elements": "name"})
    assert refused.status_code == 400 and "id only" in refused.text


def test_last_updated_filters_and_sort(synthea):
    _, entries = walk(synthea, "/Patient", {"_count": 100})
    times = [e["resource"]["meta"]["lastUpdated"] for e in entries]
    pivot = times[49]

    def found(*values: str, **extra: str) -> list[str]:
        _, got = walk(synthea, "/Patient", {"_lastUpdated": list(values), "_count": 30, **extra})
        return [e["resource"]["meta"]["lastUpdated"] for e in got]

    assert found(f"gt{pivot}") == times[50:]
    assert found(f"ge{pivot}") == times[49:]
    assert found(f"lt{pivot}") == times[:49]
    assert found(f"le{pivot}") == times[:50]
    assert found(pivot) == [pivot]
    assert found(f"gt{times[9]}", f"le{times[19]}") == times[10:20]
    assert found("gt2000-01-01") == times and found("lt2000") == []
    assert found(f"le{pivot}", _sort="-_lastUpdated") == times[:50][::-1]
    assert found(_sort="_lastUpdated") == times
    year = pivot[:4]  # day and year precision: the whole range
    assert found(f"ge{year}") == times and found(f"gt{year}") == []
    for bad in ({"_lastUpdated": "sa2020"}, {"_lastUpdated": "gtyesterday"}, {"_sort": "name"},
                {"_count": "many"}, {"name": "Smith"}, {"_cursor": "garbage"}):
        response = synthea.get("/Patient", params=bad)
        assert response.status_code == 400, bad
        assert response.json()["resourceType"] == "OperationOutcome"


def test_read_and_vread(synthea, synthea_dir):
    patient_id = sorted(synthea_resources(synthea_dir)["Patient"])[0]
    read = synthea.get(f"/Patient/{patient_id}")
    assert read.status_code == 200 and read.headers["etag"] == 'W/"1"'
    assert read.json()["id"] == patient_id and read.json()["meta"]["versionId"] == "1"
    vread = synthea.get(f"/Patient/{patient_id}/_history/1")
    assert vread.status_code == 200 and vread.json() == read.json()
    assert synthea.get(f"/Patient/{patient_id}/_history/2").status_code == 404
    missing = synthea.get("/Patient/no-such-patient")
    assert missing.status_code == 404 and missing.json()["issue"][0]["code"] == "not-found"
    assert synthea.get("/Spaceship/1").status_code == 404
    # references between Synthea Bundles were resolved at load
    encounter = synthea.get("/Encounter", params={"_count": 1}).json()["entry"][0]["resource"]
    assert encounter["subject"]["reference"].startswith("Patient/")
    subject = synthea.get(f"/{encounter['subject']['reference']}")
    assert subject.status_code == 200


def test_synthea_bulk_export(synthea, synthea_dir):
    expected = synthea_resources(synthea_dir)
    refused = synthea.get("/$export")  # without Prefer: respond-async
    assert refused.status_code == 400
    assert synthea.get("/$export", params={"_type": "Spaceship"},
                       headers={"Prefer": "respond-async"}).status_code == 400
    manifest = export(synthea, _type="Patient,Condition")
    assert manifest["requiresAccessToken"] is False and manifest["error"] == []
    assert manifest["request"].endswith("$export?_type=Patient%2CCondition") or \
        "_type=Patient" in manifest["request"]
    assert {item["type"] for item in manifest["output"]} == {"Patient", "Condition"}
    resources = ndjson(synthea, manifest["output"])
    assert {r["id"] for r in resources if r["resourceType"] == "Patient"} == expected["Patient"]
    assert {r["id"] for r in resources if r["resourceType"] == "Condition"} == expected["Condition"]
    # nothing changed since: an export _since its transactionTime is empty
    again = export(synthea, _since=manifest["transactionTime"])
    assert again["output"] == [] and again["deleted"] == []
    # DELETE on the status URL removes the job
    assert synthea.delete(manifest["status_url"]).status_code == 202
    assert synthea.get(manifest["status_url"]).status_code == 404
    assert synthea.get(manifest["output"][0]["url"]).status_code == 404


# --- writes, on small data -------------------------------------------------------------------


def test_update_then_vread_both_versions(small):
    client, _ = small
    first = client.get("/Patient/p1").json()
    changed = {**first, "gender": "female"}
    response = client.put("/Patient/p1", json=changed)
    assert response.status_code == 200 and response.headers["etag"] == 'W/"2"'
    assert response.json()["meta"]["versionId"] == "2"
    assert response.json()["meta"]["lastUpdated"] > first["meta"]["lastUpdated"]
    assert client.get("/Patient/p1/_history/1").json() == first
    assert client.get("/Patient/p1/_history/2").json()["gender"] == "female"
    # the same content again is no new version; a stale If-Match is refused
    assert client.put("/Patient/p1", json=changed).headers["etag"] == 'W/"2"'
    stale = client.put("/Patient/p1", json={**changed, "gender": "male"}, headers={"If-Match": 'W/"1"'})
    assert stale.status_code == 412
    # decimals kept as written
    assert b'"value":37.50' in client.get("/Observation/o1").content
    # create: the server assigns the id
    created = client.post("/Patient", json={"resourceType": "Patient", "id": "ignored"})
    assert created.status_code == 201 and created.json()["id"] != "ignored"
    assert created.headers["location"].endswith(f"/Patient/{created.json()['id']}/_history/1")
    assert client.put("/Patient/p9", json={"resourceType": "Patient"}).status_code == 201
    assert client.put("/Patient/p2", json={"resourceType": "Observation"}).status_code == 400
    assert client.put("/Patient/p2", json={"resourceType": "Patient", "id": "p3"}).status_code == 400
    assert client.post("/Patient", content=b"{not json").status_code == 400


def test_delete_is_gone_and_in_history(small):
    client, _ = small
    since = client.get("/_history", params={"_count": 1}).json()["meta"]["lastUpdated"]
    assert client.delete("/Observation/o7").status_code == 204
    gone = client.get("/Observation/o7")
    assert gone.status_code == 410 and gone.json()["issue"][0]["code"] == "deleted"
    assert client.get("/Observation/o7/_history/1").status_code == 200
    assert client.get("/Observation/o7/_history/2").status_code == 410
    assert client.delete("/Observation/o7").status_code == 204  # idempotent
    assert client.delete("/Observation/never").status_code == 404
    assert client.get("/Observation", params={"_summary": "count"}).json()["total"] == 59
    for url in ("/_history", "/Observation/_history", "/Observation/o7/_history"):
        _, entries = walk(client, url, {"_since": since, "_count": 2})
        deletes = [e for e in entries if e["request"]["method"] == "DELETE"]
        assert len(deletes) == 1 and deletes[0]["request"]["url"] == "Observation/o7", url
        assert "resource" not in deletes[0] and deletes[0]["response"]["etag"] == 'W/"2"'
    # newest first; the load's versions are creations
    _, everything = walk(client, "/_history", {"_count": 50})
    assert len(everything) == 73 and everything[0]["request"]["method"] == "DELETE"
    assert everything[-1]["request"]["method"] == "POST"
    assert everything[-1]["response"]["status"] == "201 Created"
    after = client.get("/_history", params={"_since": everything[0]["response"]["lastModified"]})
    assert after.json()["total"] == 1
    assert client.get("/Observation/nothing/_history").status_code == 404


def test_bulk_export_since_and_deleted(small):
    client, _ = small
    full = export(client)
    assert {item["type"] for item in full["output"]} == {"Location", "Patient", "Encounter",
                                                          "MedicationRequest", "Observation"}
    assert len(ndjson(client, full["output"])) == 72 and full["deleted"] == []
    t1 = full["transactionTime"]
    client.put("/Observation/o1", json={"resourceType": "Observation", "id": "o1", "status": "amended"})
    client.put("/Patient/p6", json={"resourceType": "Patient", "id": "p6"})
    client.delete("/Observation/o2")
    client.delete("/Patient/p5")
    changes = export(client, _since=t1)
    assert sorted((r["resourceType"], r["id"]) for r in ndjson(client, changes["output"])) == \
        [("Observation", "o1"), ("Patient", "p6")]
    bundles = ndjson(client, changes["deleted"])
    assert all(b["resourceType"] == "Bundle" and b["type"] == "transaction" for b in bundles)
    assert sorted(e["request"]["url"] for b in bundles for e in b["entry"]) == \
        ["Observation/o2", "Patient/p5"]
    assert all(e["request"]["method"] == "DELETE" for b in bundles for e in b["entry"])
    only = export(client, _since=t1, _type="Observation")
    assert [item["type"] for item in only["output"]] == ["Observation"]
    assert [e["request"]["url"] for b in ndjson(client, only["deleted"]) for e in b["entry"]] == \
        ["Observation/o2"]
    # POST kick-off with a Parameters resource
    posted = client.post("/$export", headers={"Prefer": "respond-async"}, json={
        "resourceType": "Parameters", "parameter": [{"name": "_type", "valueString": "Patient"}]})
    assert posted.status_code == 202 and "$export-status/" in posted.headers["content-location"]
    assert client.get("/$export", params={"patient": "p1"},
                      headers={"Prefer": "respond-async"}).status_code == 400


def test_bulk_export_splits_files_at_file_lines(tmp_path):
    """A type with more lines than a file holds goes into several files, each named and
    counted in the manifest, every resource once, and no empty file at an exact multiple."""
    store = Store(tmp_path / "his.db")
    load_files(store, [small_data(tmp_path)])
    for file_lines, expected in ((25, [25, 25, 10]), (30, [30, 30])):
        exports = Exports(store, tmp_path / f"exports-{file_lines}", file_lines=file_lines)
        try:
            job = exports.start("http://his/$export", "http://his", ["Observation"], None)
            deadline = time.monotonic() + 30
            while job.state == "running" and time.monotonic() < deadline:
                time.sleep(0.02)
            assert job.state == "done", job.error
            assert job.manifest is not None
            names = [item["url"].rsplit("/", 1)[1] for item in job.manifest["output"]]
            assert names == [f"Observation.{n}.ndjson" for n in range(1, len(expected) + 1)]
            assert [item["count"] for item in job.manifest["output"]] == expected
            lines = [(job.directory / name).read_bytes().splitlines() for name in names]
            assert [len(part) for part in lines] == expected
            assert sorted(orjson.loads(line)["id"] for part in lines for line in part) == \
                sorted(f"o{n}" for n in range(1, 61))
        finally:
            exports.close()
    store.close()


def transaction(client: httpx.Client, kind: str, entries: list[dict]) -> httpx.Response:
    return client.post("/", json={"resourceType": "Bundle", "type": kind, "entry": entries},
                       headers={"Content-Type": "application/fhir+json"})


def test_transaction_resolves_urn_uuid(small):
    client, _ = small
    patient, stay = "urn:uuid:0f4b2c9e-5d1a-4c3b-9b8e-6a7d2e1f0a11", "urn:uuid:5e6f7a8b-1c2d-4e3f-8a9b-0c1d2e3f4a5b"
    response = transaction(client, "transaction", [
        {"fullUrl": stay, "resource": {"resourceType": "Encounter", "status": "in-progress",
                                       "subject": {"reference": patient}},
         "request": {"method": "POST", "url": "Encounter"}},
        {"fullUrl": patient, "resource": {"resourceType": "Patient", "name": [{"family": "Nouveau"}]},
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "Poids"},
                      "subject": {"reference": patient}, "encounter": {"reference": stay}},
         "request": {"method": "PUT", "url": "Observation/weight1"}},
        {"request": {"method": "DELETE", "url": "Observation/o3"}},
    ])
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in bundle["entry"]]
    assert statuses == ["201 Created", "201 Created", "201 Created", "204 No Content"]
    encounter_at, patient_at = (e["response"]["location"] for e in bundle["entry"][:2])
    encounter = client.get(f"/{encounter_at}").json()
    patient_id = patient_at.split("/")[1]
    assert encounter["subject"]["reference"] == f"Patient/{patient_id}"
    observation = client.get("/Observation/weight1").json()
    assert observation["subject"]["reference"] == f"Patient/{patient_id}"
    assert observation["encounter"]["reference"] == f"Encounter/{encounter['id']}"
    assert client.get("/Observation/o3").status_code == 410


def test_transaction_rolls_back_on_a_failing_entry(small):
    client, _ = small
    before = client.get("/_history", params={"_summary": "count"}).json()["total"]
    response = transaction(client, "transaction", [
        {"resource": {"resourceType": "Patient", "id": "new1"},
         "request": {"method": "PUT", "url": "Patient/new1"}},
        {"request": {"method": "DELETE", "url": "Observation/o4"}},
        {"request": {"method": "DELETE", "url": "Observation/no-such"}},
    ])
    assert response.status_code == 404
    assert "entry 3" in response.json()["issue"][0]["diagnostics"]
    assert client.get("/Patient/new1").status_code == 404
    assert client.get("/Observation/o4").status_code == 200
    assert client.get("/_history", params={"_summary": "count"}).json()["total"] == before
    stale = transaction(client, "transaction", [
        {"resource": {"resourceType": "Patient", "id": "p2", "active": False},
         "request": {"method": "PUT", "url": "Patient/p2", "ifMatch": 'W/"7"'}}])
    assert stale.status_code == 412
    dangling = transaction(client, "transaction", [
        {"resource": {"resourceType": "Observation", "subject": {"reference": "urn:uuid:nowhere"}},
         "request": {"method": "POST", "url": "Observation"}}])
    assert dangling.status_code == 400 and "urn:uuid:nowhere" in dangling.text
    assert transaction(client, "document", []).status_code == 400


def test_batch_with_one_failing_entry(small):
    client, _ = small
    response = transaction(client, "batch", [
        {"resource": {"resourceType": "Patient", "id": "b1"}, "request": {"method": "PUT", "url": "Patient/b1"}},
        {"request": {"method": "DELETE", "url": "Observation/no-such"}},
        {"request": {"method": "GET", "url": "Patient/p3"}},
        {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"}},
         "request": {"method": "POST", "url": "Observation"}},
        {"request": {"method": "PATCH", "url": "Patient/p3"}},
    ])
    assert response.status_code == 200
    bundle = response.json()
    assert bundle["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in bundle["entry"]]
    assert statuses == ["201 Created", "404 Not Found", "200 OK", "201 Created", "400 Bad Request"]
    assert bundle["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert bundle["entry"][2]["resource"]["id"] == "p3"
    assert client.get("/Patient/b1").status_code == 200
    assert client.get(f"/{bundle['entry'][3]['response']['location']}").status_code == 200


def test_paging_is_exact_while_writes_happen(small):
    client, _ = small
    first = client.get("/Observation", params={"_count": 10}).json()
    start = first["meta"]["lastUpdated"]
    seen = ids(first["entry"])
    assert "o2" in seen and "o45" not in seen and "o50" not in seen
    # during the walk: one seen resource and one not yet seen are updated, one not yet seen
    # is deleted, a new one is created
    for rid in ("o2", "o45"):
        client.put(f"/Observation/{rid}", json={"resourceType": "Observation", "id": rid,
                                                "status": "amended"})
    client.delete("/Observation/o50")
    client.put("/Observation/o99", json={"resourceType": "Observation", "id": "o99", "status": "final"})
    url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    _, rest = walk(client, url)
    walked = first["entry"] + rest
    assert sorted(ids(walked)) == sorted(f"o{i}" for i in range(1, 61))  # each once, as at the start
    assert all(e["resource"]["meta"]["versionId"] == "1" for e in walked)
    assert all(page["total"] == 60 for page in [first, *walk(client, url)[0]])
    # the next walk from the first one's start finds the changes
    _, later = walk(client, "/Observation", {"_lastUpdated": f"gt{start}"})
    assert sorted(ids(later)) == ["o2", "o45", "o99"]
    _, changes = walk(client, "/_history", {"_since": start})
    assert {e["request"]["url"] for e in changes if e["request"]["method"] == "DELETE"} == {"Observation/o50"}


def test_errors_are_operation_outcomes(small):
    client, _ = small
    for method, url, status in [("GET", "/Nope", 404), ("GET", "/Patient/p1/_history/x", 404),
                                ("GET", "/a/b/c/d/e", 404), ("PATCH", "/Patient/p1", 405),
                                ("GET", "/Patient/bad id!", 400)]:
        response = client.request(method, url)
        assert response.status_code == status, (method, url)
        assert response.json()["resourceType"] == "OperationOutcome"


def test_bearer_token(tmp_path):
    store = Store(tmp_path / "his.db")
    load_files(store, [small_data(tmp_path)])
    with running(create_app(store, token="s3cret")) as client:
        assert client.get("/metadata").status_code == 200
        refused = client.get("/Patient")
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert client.get("/Patient", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/Patient", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        manifest = export(httpx.Client(base_url=str(client.base_url),
                                       headers={"Authorization": "Bearer s3cret"}), _type="Patient")
        assert manifest["requiresAccessToken"] is True
    store.close()


# --- activity --------------------------------------------------------------------------------


def test_activity_changes_show_in_history(small):
    client, store = small
    since = client.get("/_history", params={"_count": 1}).json()["meta"]["lastUpdated"]
    activity = Activity(store, random.Random(7))
    assert activity.admission().startswith("admission Encounter/")
    stay = next(s for s in activity.stays if s != "e1")
    bed = activity.stays[stay]
    assert bed in {"bed2", "bed3", "bed4"}
    assert client.get(f"/Location/{bed}").json()["operationalStatus"]["code"] == "O"
    places = client.get(f"/Encounter/{stay}").json()["location"]
    assert [p["location"]["reference"] for p in places] == [f"Location/{bed}", "Location/unit"]
    beds_before = dict(activity.stays)
    moved, new_bed = (part.split("/")[1] for part in activity.transfer().split()[1::2])
    assert client.get(f"/Location/{new_bed}").json()["operationalStatus"]["code"] == "O"
    assert client.get(f"/Location/{beds_before[moved]}").json()["operationalStatus"]["code"] == "U"
    places = client.get(f"/Encounter/{moved}").json()["location"]
    assert [p["location"]["reference"] for p in places if p["status"] == "active"][0] == \
        f"Location/{new_bed}"
    assert activity.order().startswith("order MedicationRequest/")
    assert activity.administration().startswith("administration")
    assert activity.result().startswith("result Observation/")
    assert activity.result().startswith("result Observation/")
    assert activity.correction().startswith("correction")
    deleted = activity.deletion().split()[1]
    assert activity.discharge().startswith("discharge")
    for _ in range(5):
        assert activity.step()
    _, entries = walk(client, "/_history", {"_since": since, "_count": 20})
    kinds = {e["request"]["url"].split("/")[0] for e in entries}
    assert {"Encounter", "Location", "MedicationRequest", "MedicationAdministration",
            "Observation"} <= kinds
    assert any(e["request"]["method"] == "DELETE" and e["request"]["url"] == deleted for e in entries)
    assert client.get(f"/{deleted}").status_code == 410
    amended = [e for e in entries if e.get("resource", {}).get("status") == "amended"]
    assert amended and all(e["request"]["method"] == "PUT" for e in amended)
    assert client.get("/Encounter/e1").json()["status"] in ("in-progress", "finished")


def test_activity_runner_pauses_and_stops(small):
    client, store = small
    runner = ActivityRunner(Activity(store, random.Random(1)), interval=0.02, speed=3000).start()
    wait_until("three steps of activity", lambda: runner.steps >= 3, 10, step=0.02)
    runner.pause()
    paused = client.get("/_history", params={"_summary": "count"}).json()["total"]
    time.sleep(0.2)
    assert client.get("/_history", params={"_summary": "count"}).json()["total"] == paused
    runner.resume()
    wait_until("activity once resumed", lambda: client.get(
        "/_history", params={"_summary": "count"}).json()["total"] != paused, 10, step=0.02)
    runner.stop()
    assert paused > 72


def test_cli_with_activity(tmp_path):
    """`releve demo his --activity` keeps changing; SIGTERM stops it cleanly, its
    temporary database removed."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    server, base = start_his("--activity", "--load", small_data(tmp_path),
                             env={**os.environ, "TMPDIR": str(scratch)})
    try:
        assert any(p.name.startswith("releve-his-") for p in scratch.iterdir())
        wait_until("activity", lambda: httpx.get(
            f"{base}/_history", params={"_summary": "count"}).json()["total"] > 72, 20)
    finally:
        assert server.stop() == 0
    assert list(scratch.iterdir()) == []


def test_bad_input_is_a_his_error(tmp_path):
    with pytest.raises(HisError, match="no such file"):
        serve(load=[tmp_path / "missing.ndjson"], db=tmp_path / "a.db")
    bad = tmp_path / "bad.ndjson"
    bad.write_text('{"resourceType": "Patient", "id": "p1"}\n{"resourceType": "Spaceship", "id": "x"}\n')
    with pytest.raises(HisError, match=r"bad.ndjson: line 2: not a FHIR R4 resource"):
        serve(load=[bad], db=tmp_path / "b.db")
    bad.write_text('{"resourceType": "Patient"}\n')
    with pytest.raises(HisError, match="line 1: Patient without a valid id"):
        serve(load=[bad], db=tmp_path / "c.db")
    good = small_data(tmp_path)
    store = Store(tmp_path / "d.db")
    load_files(store, [good])
    store.set_setting("source", '{"seed": 3}')
    store.close()
    with pytest.raises(HisError, match="already holds other data"):
        serve(load=[good], db=tmp_path / "d.db")
    with pytest.raises(HisError, match="is a directory"):
        serve(load=[good], db=tmp_path)


def test_generated_hospital_loaded_once(tmp_path, monkeypatch):
    """Without --load the HIS serves the generated hospital (releve.demo.hospital); a
    database already holding it is served as it is, one holding another is refused."""
    import sys
    import types

    from rich.console import Console

    from releve.demo.his.load import populate

    calls = []

    def iter_resources(seed, beds, patients, now):
        calls.append((seed, beds, patients))
        yield {"resourceType": "Organization", "id": "chu", "name": "CH de démonstration"}
        for i in range(beds):
            yield {"resourceType": "Location", "id": f"bed{i}", "physicalType": {"coding": [{"code": "bd"}]}}
        for i in range(patients or beds * 100):
            yield {"resourceType": "Patient", "id": f"p{i}"}

    fake = types.ModuleType("releve.demo.hospital.generate")
    fake.iter_resources = iter_resources
    fake.parse_now = lambda text: None
    monkeypatch.setitem(sys.modules, "releve.demo.hospital.generate", fake)
    console = Console(file=open(tmp_path / "console.txt", "w"))
    store = Store(tmp_path / "his.db")
    populate(store, 5, 10, None, [], console)
    assert store.counts() == {"Location": 10, "Organization": 1, "Patient": 1000}
    populate(store, 5, 10, None, [], console)  # the same hospital: served as it is
    assert calls == [(5, 10, None)]
    with pytest.raises(HisError, match="already holds other data"):
        populate(store, 6, 10, None, [], console)
    store.close()
