"""The demo HIS as the way back needs it, over real HTTP on loopback: search by
identifier, _id and patient traits, conditional create and update (plain and in
Bundles), transactions that leave nothing behind when an entry fails, and the write
faults a test of the way back turns on (`--write-faults FILE`).

One `releve demo his` serves the whole module (each test writes identifiers of its own);
the write faults file is absent but while a test of the faults runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from conftest import RELEVE
from helpers import answers, free_port, start_server

IPP = "urn:oid:1.2.250.1.999.1"   # a demo hospital's IPP system
OTHER = "urn:oid:1.2.250.1.999.2"
JOURNAL = "urn:ietf:rfc:3986"

PATIENTS = [
    {"resourceType": "Patient", "id": "pat-1", "gender": "female", "birthDate": "1950-03-12",
     "identifier": [{"system": IPP, "value": "100001"},
                    {"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "250031234567890"}],
     "name": [{"family": "Lefèvre", "given": ["Élise", "Marie"]}]},
    {"resourceType": "Patient", "id": "pat-2", "gender": "male", "birthDate": "1950-03-13",
     "identifier": [{"system": IPP, "value": "100002"}],
     "name": [{"family": "Lefebvre", "given": ["Jean"]}]},
    {"resourceType": "Patient", "id": "pat-3", "gender": "female", "birthDate": "1948",
     "identifier": [{"value": "100001"}], "name": [{"family": "Martin", "given": ["Élodie"]}]},
    {"resourceType": "Patient", "id": "pat-4", "gender": "male", "birthDate": "1950-03-12",
     "identifier": [{"system": OTHER, "value": "100001"}],
     "name": [{"family": "LEFEVRE-DUPONT", "given": ["Paul"]}]},
]


@pytest.fixture(scope="module")
def his(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Path]]:
    """The server and the path of its write faults file (absent: no faults)."""
    folder = tmp_path_factory.mktemp("his")
    data = folder / "patients.ndjson"
    data.write_bytes(b"".join(orjson.dumps(p) + b"\n" for p in PATIENTS))
    faults = folder / "faults.json"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server, _ = start_server([*RELEVE, "demo", "his", "--port", str(port), "--load", data,
                              "--db", folder / "his.db", "--write-faults", faults],
                             lambda: answers(f"{base}/metadata"), what="the demo HIS", seconds=90)
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            yield client, faults
    finally:
        server.stop()


@pytest.fixture
def client(his: tuple[httpx.Client, Path]) -> httpx.Client:
    return his[0]


def found(client: httpx.Client, rtype: str, **params: str) -> list[str]:
    """The ids a search answers, every page walked, in order."""
    response = client.get(f"/{rtype}", params=params)
    out = []
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        out += [e["resource"]["id"] for e in page.get("entry", [])]
        following = [link["url"] for link in page["link"] if link["relation"] == "next"]
        if not following:
            return out
        response = client.get(following[0])


def bundle(client: httpx.Client, kind: str, entries: list[dict], **headers: str) -> httpx.Response:
    return client.post("/", json={"resourceType": "Bundle", "type": kind, "entry": entries},
                       headers={"Content-Type": "application/fhir+json", **headers})


def diagnostics(response: httpx.Response) -> str:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    return body["issue"][0]["diagnostics"]


def observation(key: str, **more: object) -> dict:
    """An Observation carrying a journal-like identifier."""
    return {"resourceType": "Observation", "status": "final", "code": {"text": "Température"},
            "identifier": [{"system": JOURNAL, "value": f"urn:uuid:{key}"}], **more}


# --- search -------------------------------------------------------------------------------------


def test_identifier_token_forms(client):
    assert found(client, "Patient", identifier=f"{IPP}|100001") == ["pat-1"]
    assert found(client, "Patient", identifier="|100001") == ["pat-3"]
    assert sorted(found(client, "Patient", identifier="100001")) == ["pat-1", "pat-3", "pat-4"]
    assert sorted(found(client, "Patient", identifier=f"{IPP}|100001,{IPP}|100002")) == \
        ["pat-1", "pat-2"]
    assert sorted(found(client, "Patient", identifier=f"{IPP}|")) == ["pat-1", "pat-2"]
    assert found(client, "Patient", identifier=f"{IPP}|999999") == []
    assert found(client, "Patient", identifier=f"{OTHER}|100002") == []
    assert found(client, "Observation", identifier="100001") == []


def test_id_and_post_search(client):
    assert sorted(found(client, "Patient", _id="pat-2,pat-3")) == ["pat-2", "pat-3"]
    assert found(client, "Patient", _id="nobody") == []
    response = client.post("/Patient/_search", content=f"identifier={IPP}|100002",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert [e["resource"]["id"] for e in response.json()["entry"]] == ["pat-2"]


def test_patient_traits(client):
    # accents and case folded, starts-with as FHIR string search does
    assert sorted(found(client, "Patient", family="lefevre")) == ["pat-1", "pat-4"]
    assert sorted(found(client, "Patient", family="LEFÈV")) == ["pat-1", "pat-4"]
    assert found(client, "Patient", family="lefeb") == ["pat-2"]
    assert found(client, "Patient", family="dupont") == []  # starts with, not contains
    assert found(client, "Patient", given="elo") == ["pat-3"]
    assert found(client, "Patient", given="marie") == ["pat-1"]  # any given name
    assert sorted(found(client, "Patient", birthdate="1950-03-12")) == ["pat-1", "pat-4"]
    assert sorted(found(client, "Patient", birthdate="1950")) == ["pat-1", "pat-2", "pat-4"]
    assert found(client, "Patient", birthdate="lt1950") == ["pat-3"]
    assert found(client, "Patient", birthdate="1950-03-14") == []
    assert sorted(found(client, "Patient", gender="male")) == ["pat-2", "pat-4"]
    assert found(client, "Patient", family="lef", gender="female") == ["pat-1"]
    assert found(client, "Patient", family="lef", given="paul", birthdate="1950-03-12",
                 gender="male") == ["pat-4"]
    assert found(client, "Patient", family="lef", given="jean", birthdate="1950-03-12") == []


def test_filtered_paging_keeps_the_filter(client):
    first = client.get("/Patient", params={"family": "lef", "_count": 1}).json()
    assert first["total"] == 3
    following = [link["url"] for link in first["link"] if link["relation"] == "next"]
    assert "family=lef" in following[0]
    assert sorted(found(client, "Patient", family="lef", _count="1")) == ["pat-1", "pat-2", "pat-4"]
    counted = client.get("/Patient", params={"gender": "female", "_summary": "count"}).json()
    assert counted["total"] == 2 and "entry" not in counted


def test_unknown_search_parameters_still_refused(client):
    for rtype, params in [("Patient", {"name": "x"}), ("Patient", {"family:exact": "x"}),
                          ("Observation", {"family": "x"}), ("Patient", {"birthdate": "ap1950"})]:
        response = client.get(f"/{rtype}", params=params)
        assert response.status_code == 400, (rtype, params)
        assert diagnostics(response)


def test_index_follows_updates_and_deletes(client):
    body = {"resourceType": "Patient", "id": "pat-idx", "identifier": [{"system": IPP, "value": "700"}],
            "name": [{"family": "Zébulon"}]}
    assert client.put("/Patient/pat-idx", json=body).status_code == 201
    assert found(client, "Patient", identifier=f"{IPP}|700") == ["pat-idx"]
    body = {**body, "identifier": [{"system": IPP, "value": "701"}], "name": [{"family": "Yvon"}]}
    assert client.put("/Patient/pat-idx", json=body).status_code == 200
    assert found(client, "Patient", identifier=f"{IPP}|700") == []
    assert found(client, "Patient", family="zeb") == []
    assert found(client, "Patient", family="yvon") == ["pat-idx"]
    assert client.delete("/Patient/pat-idx").status_code == 204
    assert found(client, "Patient", identifier=f"{IPP}|701") == []
    assert found(client, "Patient", _id="pat-idx") == []


def test_capability_statement_declares_them(client):
    rest = client.get("/metadata").json()["rest"][0]
    patient = next(r for r in rest["resource"] if r["type"] == "Patient")
    names = {p["name"] for p in patient["searchParam"]}
    assert {"identifier", "_id", "family", "given", "birthdate", "gender", "_lastUpdated"} <= names
    assert patient["conditionalCreate"] is True and patient["conditionalUpdate"] is True
    observation_ = next(r for r in rest["resource"] if r["type"] == "Observation")
    assert {p["name"] for p in observation_["searchParam"]} >= {"identifier", "_id"}
    assert "family" not in {p["name"] for p in observation_["searchParam"]}


# --- conditional create -------------------------------------------------------------------------


def test_conditional_create_header(client):
    criteria = f"identifier={JOURNAL}|urn:uuid:cc-1"
    first = client.post("/Observation", json=observation("cc-1"), headers={"If-None-Exist": criteria})
    assert first.status_code == 201, first.text
    rid = first.json()["id"]
    assert first.headers["Location"].endswith(f"/Observation/{rid}/_history/1")
    again = client.post("/Observation", json=observation("cc-1", status="amended"),
                        headers={"If-None-Exist": criteria})
    assert again.status_code == 200, again.text
    assert again.json()["id"] == rid and again.json()["status"] == "final"  # nothing written
    assert again.headers["Location"].endswith(f"/Observation/{rid}/_history/1")
    assert again.headers["ETag"] == 'W/"1"'
    assert found(client, "Observation", identifier=f"{JOURNAL}|urn:uuid:cc-1") == [rid]
    multiple = client.post("/Patient", json={"resourceType": "Patient"},
                           headers={"If-None-Exist": "identifier=100001"})
    assert multiple.status_code == 412
    assert "more than one" in diagnostics(multiple)
    bad = client.post("/Patient", json={"resourceType": "Patient"},
                      headers={"If-None-Exist": "name=x"})
    assert bad.status_code == 400 and "name" in diagnostics(bad)


def test_conditional_create_in_a_transaction_resolves_to_the_match(client):
    patient, stay = "urn:uuid:7c1e0d5a-0000-4000-8000-000000000001", "urn:uuid:7c1e0d5a-0000-4000-8000-000000000002"
    entries = [
        {"fullUrl": patient, "resource": {"resourceType": "Patient", "name": [{"family": "Dup"}]},
         "request": {"method": "POST", "url": "Patient", "ifNoneExist": f"identifier={IPP}|100001"}},
        {"fullUrl": stay, "resource": {"resourceType": "Encounter", "status": "in-progress",
                                       "identifier": [{"system": JOURNAL, "value": "urn:uuid:tx-stay"}],
                                       "subject": {"reference": patient}},
         "request": {"method": "POST", "url": "Encounter",
                     "ifNoneExist": f"identifier={JOURNAL}|urn:uuid:tx-stay"}},
    ]
    response = bundle(client, "transaction", entries)
    assert response.status_code == 200, response.text
    answered = [e["response"] for e in response.json()["entry"]]
    assert [a["status"] for a in answered] == ["200 OK", "201 Created"]
    assert answered[0]["location"] == "Patient/pat-1/_history/1" and answered[0]["etag"] == 'W/"1"'
    stay_id = answered[1]["location"].split("/")[1]
    assert client.get(f"/Encounter/{stay_id}").json()["subject"]["reference"] == "Patient/pat-1"
    assert client.get("/Patient/pat-1").json()["meta"]["versionId"] == "1"  # not written
    replay = bundle(client, "transaction", entries)
    assert [e["response"]["status"] for e in replay.json()["entry"]] == ["200 OK", "200 OK"]
    assert replay.json()["entry"][1]["response"]["location"] == f"Encounter/{stay_id}/_history/1"
    assert found(client, "Encounter", identifier=f"{JOURNAL}|urn:uuid:tx-stay") == [stay_id]


def test_conditional_create_in_a_batch(client):
    entry = {"resource": observation("batch-1"),
             "request": {"method": "POST", "url": "Observation",
                         "ifNoneExist": f"identifier={JOURNAL}|urn:uuid:batch-1"}}
    multiple = {"resource": {"resourceType": "Patient"},
                "request": {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=100001"}}
    first = bundle(client, "batch", [entry, multiple]).json()["entry"]
    assert [e["response"]["status"] for e in first] == ["201 Created", "412 Precondition Failed"]
    second = bundle(client, "batch", [entry]).json()["entry"]
    assert second[0]["response"]["status"] == "200 OK"
    assert second[0]["response"]["location"] == first[0]["response"]["location"]
    assert second[0]["response"]["etag"] == 'W/"1"'


# --- conditional update -------------------------------------------------------------------------


def test_conditional_update(client):
    url = f"/Observation?identifier={JOURNAL}|urn:uuid:cu-1"
    created = client.put(url, json=observation("cu-1"))
    assert created.status_code == 201, created.text
    rid = created.json()["id"]
    assert created.headers["Location"].endswith(f"/Observation/{rid}/_history/1")
    updated = client.put(url, json=observation("cu-1", status="amended"))
    assert updated.status_code == 200
    assert updated.json()["id"] == rid and updated.json()["meta"]["versionId"] == "2"
    assert updated.headers["Location"].endswith(f"/Observation/{rid}/_history/2")
    other = client.put(url, json={**observation("cu-1"), "id": "someone-else"})
    assert other.status_code == 400 and rid in diagnostics(other)
    assert client.put("/Patient?identifier=100001", json={"resourceType": "Patient"}).status_code == 412
    # no match and an id in the body: update as create, at that id
    with_id = client.put(f"/Observation?identifier={JOURNAL}|urn:uuid:cu-2",
                         json={**observation("cu-2"), "id": "cu-2-id"})
    assert with_id.status_code == 201 and with_id.json()["id"] == "cu-2-id"
    assert client.put("/Observation", json=observation("cu-3")).status_code == 400
    assert found(client, "Observation", identifier=f"{JOURNAL}|urn:uuid:cu-1") == [rid]


def test_conditional_update_in_a_transaction(client):
    def put(status: str) -> dict:
        return {"fullUrl": "urn:uuid:7c1e0d5a-0000-4000-8000-00000000000a",
                "resource": observation("tx-cu", status=status),
                "request": {"method": "PUT", "url": f"Observation?identifier={JOURNAL}|urn:uuid:tx-cu"}}
    note = {"resource": {"resourceType": "Provenance", "target": [
        {"reference": "urn:uuid:7c1e0d5a-0000-4000-8000-00000000000a"}]},
        "request": {"method": "POST", "url": "Provenance"}}
    first = bundle(client, "transaction", [put("preliminary"), note]).json()["entry"]
    assert [e["response"]["status"] for e in first] == ["201 Created", "201 Created"]
    rid = first[0]["response"]["location"].split("/")[1]
    second = bundle(client, "transaction", [put("final"), note]).json()["entry"]
    assert second[0]["response"]["status"] == "200 OK"
    assert second[0]["response"]["location"] == f"Observation/{rid}/_history/2"
    provenance = client.get(f"/{second[1]['response']['location']}").json()
    assert provenance["target"][0]["reference"] == f"Observation/{rid}"


# --- all or nothing -----------------------------------------------------------------------------


def test_a_failing_entry_leaves_nothing_written(client):
    before = client.get("/_history", params={"_summary": "count"}).json()["total"]
    response = bundle(client, "transaction", [
        {"fullUrl": "urn:uuid:7c1e0d5a-0000-4000-8000-0000000000b1",
         "resource": {"resourceType": "Patient", "identifier": [{"system": IPP, "value": "rb-1"}]},
         "request": {"method": "POST", "url": "Patient", "ifNoneExist": f"identifier={IPP}|rb-1"}},
        {"resource": observation("rb-2"),
         "request": {"method": "PUT", "url": f"Observation?identifier={JOURNAL}|urn:uuid:rb-2"}},
        {"fullUrl": "urn:uuid:7c1e0d5a-0000-4000-8000-0000000000b3",
         "request": {"method": "DELETE", "url": "Observation/no-such"}},
    ])
    assert response.status_code == 404
    said = diagnostics(response)
    assert "entry 3 (DELETE Observation/no-such, fullUrl urn:uuid:7c1e0d5a-0000-4000-8000-0000000000b3)" in said
    assert found(client, "Patient", identifier=f"{IPP}|rb-1") == []
    assert found(client, "Observation", identifier=f"{JOURNAL}|urn:uuid:rb-2") == []
    assert client.get("/_history", params={"_summary": "count"}).json()["total"] == before
    # a 412 in the middle of a transaction rolls back what came before it too
    multiple = bundle(client, "transaction", [
        {"resource": {"resourceType": "Patient", "identifier": [{"system": IPP, "value": "rb-4"}]},
         "request": {"method": "PUT", "url": f"Patient?identifier={IPP}|rb-4"}},
        {"resource": {"resourceType": "Patient"},
         "request": {"method": "PUT", "url": "Patient?identifier=100001"}},
    ])
    assert multiple.status_code == 412 and "entry 2 (PUT Patient?identifier=100001)" in diagnostics(multiple)
    assert found(client, "Patient", identifier=f"{IPP}|rb-4") == []


# --- write faults -------------------------------------------------------------------------------


@pytest.fixture
def faults(his: tuple[httpx.Client, Path]) -> Iterator[Callable[[object], None]]:
    """Write the faults file (JSON, or bytes as they are); removed after the test."""
    path = his[1]

    def write(value: object) -> None:
        path.write_bytes(value if isinstance(value, bytes) else orjson.dumps(value))

    yield write
    path.unlink(missing_ok=True)


def conditional_post(client: httpx.Client, key: str, **more: object) -> httpx.Response:
    return client.post("/Observation", json=observation(key, **more),
                       headers={"If-None-Exist": f"identifier={JOURNAL}|urn:uuid:{key}"})


def held(client: httpx.Client, key: str) -> list[str]:
    return found(client, "Observation", identifier=f"{JOURNAL}|urn:uuid:{key}")


def test_refuse_fails_the_whole_transaction_naming_the_entry(client, faults):
    faults({"refuse": [{"type": "Observation", "contains": "HORS-BORNES", "status": 422,
                        "message": "valeur hors bornes"}]})
    refused_url = "urn:uuid:7c1e0d5a-0000-4000-8000-0000000000f2"
    entries = [
        {"resource": observation("wf-ok"),
         "request": {"method": "POST", "url": "Observation",
                     "ifNoneExist": f"identifier={JOURNAL}|urn:uuid:wf-ok"}},
        {"fullUrl": refused_url, "resource": observation("wf-bad", note=[{"text": "HORS-BORNES"}]),
         "request": {"method": "POST", "url": "Observation",
                     "ifNoneExist": f"identifier={JOURNAL}|urn:uuid:wf-bad"}},
    ]
    response = bundle(client, "transaction", entries)
    assert response.status_code == 422
    assert f"entry 2 (POST Observation, fullUrl {refused_url}): valeur hors bornes" in diagnostics(response)
    assert held(client, "wf-ok") == [] and held(client, "wf-bad") == []
    # in a batch, the refused entry alone
    answered = bundle(client, "batch", entries).json()["entry"]
    assert answered[0]["response"]["status"] == "201 Created"
    assert answered[1]["response"]["status"].startswith("422 ")
    assert "valeur hors bornes" in answered[1]["response"]["outcome"]["issue"][0]["diagnostics"]
    # plain writes: of the type named only
    assert conditional_post(client, "wf-plain", note=[{"text": "HORS-BORNES"}]).status_code == 422
    patient = {"resourceType": "Patient", "name": [{"text": "HORS-BORNES"}]}
    assert client.post("/Patient", json=patient).status_code == 201
    # the rule lifted, the transaction goes through: the filed entry is found, not doubled
    faults({})
    again = bundle(client, "transaction", entries)
    assert [e["response"]["status"] for e in again.json()["entry"]] == ["200 OK", "201 Created"]
    assert len(held(client, "wf-ok")) == 1 and len(held(client, "wf-bad")) == 1


def test_fail_every_writes_nothing(client, faults):
    faults({"fail_every": 2})
    statuses = [conditional_post(client, f"fe-{n}").status_code for n in range(1, 5)]
    assert statuses == [201, 500, 201, 500]
    assert [bool(held(client, f"fe-{n}")) for n in range(1, 5)] == [True, False, True, False]
    response = conditional_post(client, "fe-5")  # the 5th: goes through
    assert response.status_code == 201


def test_commit_then_fail_every_has_written(client, faults):
    faults({"commit_then_fail_every": 2})
    assert conditional_post(client, "ctf-1").status_code == 201
    failed = conditional_post(client, "ctf-2")
    assert failed.status_code == 500 and "committed" in diagnostics(failed)
    written = held(client, "ctf-2")
    assert len(written) == 1
    retry = conditional_post(client, "ctf-2")  # a client's retry finds what was filed
    assert retry.status_code == 200 and retry.json()["id"] == written[0]
    assert held(client, "ctf-2") == written


def test_no_location(client, faults):
    faults({"no_location": True})
    created = conditional_post(client, "nl-1")
    assert created.status_code == 201 and created.content == b""
    assert not {"location", "etag", "content-location"} & set(created.headers)
    answered = bundle(client, "transaction", [
        {"resource": observation("nl-2"),
         "request": {"method": "POST", "url": "Observation",
                     "ifNoneExist": f"identifier={JOURNAL}|urn:uuid:nl-2"}}])
    assert answered.status_code == 200
    assert answered.json()["entry"] == [{"response": {"status": "201 Created"}}]
    assert len(held(client, "nl-1")) == 1 and len(held(client, "nl-2")) == 1


def test_delay_seconds(client, faults):
    faults({"delay_seconds": 1})
    started = time.monotonic()
    assert conditional_post(client, "dl-1").status_code == 201
    assert time.monotonic() - started >= 1
    started = time.monotonic()
    assert client.get("/Patient/pat-1").status_code == 200
    assert time.monotonic() - started < 1
    faults({"delay_seconds": 1, "fail_every": 1})  # a failure is late too
    started = time.monotonic()
    assert conditional_post(client, "dl-2").status_code == 500
    assert time.monotonic() - started >= 1


@pytest.mark.parametrize("content, said", [
    (b"{not json", "is not JSON"),
    (b'{"fail_evry": 1}', "unknown member 'fail_evry'"),
    (b'{"refuse": [{"status": 422}]}', "neither 'type' nor 'contains'"),
    (b'{"refuse": [{"type": "Observation", "status": 200}]}', "not an HTTP error status"),
    (b'{"delay_seconds": "1"}', "delay_seconds"),
])
def test_a_malformed_faults_file_is_a_500(client, faults, content, said):
    faults(content)
    response = conditional_post(client, "mf-1")
    assert response.status_code == 500
    assert said in diagnostics(response) and "faults.json" in diagnostics(response)
    assert held(client, "mf-1") == []
    assert client.get("/Patient/pat-1").status_code == 200  # reads are not writes


def test_one_condition_twice_in_a_transaction_is_refused(client):
    entry = {"resource": observation("twice"),
             "request": {"method": "POST", "url": "Observation",
                         "ifNoneExist": f"identifier={JOURNAL}|urn:uuid:twice"}}
    response = bundle(client, "transaction", [entry, entry])
    assert response.status_code == 400 and "the same condition as entry 1" in diagnostics(response)
    assert held(client, "twice") == []


def test_a_database_made_before_the_index_is_indexed_when_opened(tmp_path):
    from releve.demo.his.search_params import condition
    from releve.demo.his.store import Store

    store = Store(tmp_path / "his.db")
    store.load(PATIENTS)
    with store.writing() as writer:  # as an older release left it: no index
        for table in ("search_tokens", "search_strings", "search_dates"):
            writer.db.execute(f"DELETE FROM {table}")
        writer.db.execute("DELETE FROM settings WHERE key = 'search_index'")
        assert writer.matches("Patient", condition("Patient", f"identifier={IPP}|100001")) == []
    store.close()
    store = Store(tmp_path / "his.db")
    with store.writing() as writer:
        assert writer.matches("Patient", condition("Patient", f"identifier={IPP}|100001")) == ["pat-1"]
        assert writer.matches("Patient", condition("Patient", "family=martin&birthdate=1948")) == ["pat-3"]
    store.close()
