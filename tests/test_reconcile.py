"""`releve journal reconcile` against the demo HIS over real HTTP: the journal of a ward
filed through transaction Bundles, each resource once, references rewritten to the
HIS's ids, the history as Provenances; a second run files nothing; a dry run writes
nothing; --only; an undecided downtime patient; a correction after a first run.

The station here is a journal alone (reconcile reads nothing else of the station's
folder): entries of each kind, as the pages write them (`Journal.append`). The same
tests run against a FHIR engine this project did not write in
tests/test_reconcile_engine.py, which overrides the `his` fixture."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest

from releve.journal.book import Journal
from releve.journal.entry import IDENTIFIER_SYSTEM, Author, Draft, Entry
from releve.journal.fates import Fates, Identity
from test_demo_his import start_his

from conftest import run_releve
from helpers import serving

NURSE = Author("ines", "Inès Martin", "nurse")
DOCTOR = Author("marc", "Marc Petit", "physician")
PHARMACIST = Author("paul", "Paul Pharmacien", "pharmacist")
VAULT_PATIENT, VAULT_STAY = "Patient/vp1", "Encounter/ve1"
TIME = "2026-01-14T09:00:00+01:00"


# --- the ward's journal -----------------------------------------------------------------------


def vault_resources() -> list[dict]:
    """What the HIS held before the downtime that the journal refers to or moves."""
    return [{"resourceType": "Patient", "id": "vp1", "name": [{"family": "Vault", "given": ["Ada"]}],
             "gender": "female", "birthDate": "1950-01-01"},
            {"resourceType": "Encounter", "id": "ve1", "status": "in-progress",
             "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
             "subject": {"reference": VAULT_PATIENT}, "period": {"start": "2026-01-10T08:00:00+01:00"},
             "location": [{"location": {"reference": "Location/bed-1"}, "status": "active"}]}]


def observation(patient: str, value: float, encounter: str | None = None) -> dict:
    resource = {"resourceType": "Observation", "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]},
                "subject": {"reference": patient}, "effectiveDateTime": TIME,
                "valueQuantity": {"value": value, "unit": "Cel",
                                  "system": "http://unitsofmeasure.org", "code": "Cel"}}
    if encounter:
        resource["encounter"] = {"reference": encounter}
    return resource


def note(patient: str, text: str) -> dict:
    return {"resourceType": "DocumentReference", "status": "current",
            "subject": {"reference": patient}, "date": TIME,
            "content": [{"attachment": {"contentType": "text/plain", "title": text}}]}


@dataclass
class Ward:
    """The station's folder and the entries it holds, by what they are."""

    dir: Path
    journal: Journal
    e: dict[str, Entry]


def admit(journal: Journal, family: str, ipp: str) -> tuple[Entry, Entry]:
    """A downtime admission as the form writes it (journal/kinds/movement.py): the
    Patient and its stay carry ids of their own, given before the one append, and the
    stay names the Patient by that id (their journal identifiers are other uuids)."""
    pid = str(uuid.uuid4())
    ref = f"Patient/{pid}"
    patient, stay = journal.append([
        Draft("admission", ref, {
            "resourceType": "Patient", "id": pid, "identifier": [
                {"use": "usual", "type": {"coding": [{"code": "PI"}]}, "system": "urn:test:ipp",
                 "value": ipp}],
            "name": [{"family": family, "given": ["Agathe"]}], "gender": "female",
            "birthDate": "1951-03-12"}),
        Draft("admission", ref, {
            "resourceType": "Encounter", "id": str(uuid.uuid4()), "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "subject": {"reference": ref}, "period": {"start": TIME},
            "location": [{"location": {"reference": "Location/bed-2"}, "status": "active"}]})],
        NURSE)
    assert patient.identifier != f"urn:uuid:{pid}"  # the form's shape, not an API post's
    return patient, stay


def make_ward(folder: Path) -> Ward:
    """Entries of every kind a ward records, corrections and a cancellation included."""
    folder.mkdir(parents=True)
    journal = Journal(folder)
    e: dict[str, Entry] = {}
    e["patient"], e["stay"] = admit(journal, "Delorme", "900001")
    downtime = f"Patient/{e['patient'].resource['id']}"
    (e["order"],) = journal.append([Draft("order", VAULT_PATIENT, {
        "resourceType": "MedicationRequest", "status": "active", "intent": "order",
        "medicationCodeableConcept": {"text": "Paracétamol"}, "subject": {"reference": VAULT_PATIENT},
        "encounter": {"reference": VAULT_STAY}, "authoredOn": TIME})], DOCTOR)
    order = f"MedicationRequest/{e['order'].resource['id']}"
    (e["check"],) = journal.append([Draft("order-check", VAULT_PATIENT, {
        "resourceType": "Provenance", "target": [{"reference": order}], "recorded": TIME,
        "agent": [{"who": {"display": "Paul Pharmacien"}}],
        "entity": [{"role": "source", "what": {"reference": order}}]})], PHARMACIST)
    (e["given"],) = journal.append([Draft("administration", VAULT_PATIENT, {
        "resourceType": "MedicationAdministration", "status": "completed",
        "medicationCodeableConcept": {"text": "Paracétamol"},
        "subject": {"reference": VAULT_PATIENT}, "context": {"reference": VAULT_STAY},
        "request": {"reference": order}, "effectiveDateTime": TIME})], NURSE)
    (e["obs"],) = journal.append([Draft("observation", VAULT_PATIENT,
                                        observation(VAULT_PATIENT, 37.2, VAULT_STAY))], NURSE)
    (e["obs_downtime"],) = journal.append([Draft(
        "observation", downtime,
        observation(downtime, 38.1, f"Encounter/{e['stay'].resource['id']}"))], NURSE)
    (e["typo"],) = journal.append([Draft("observation", VAULT_PATIENT,
                                         observation(VAULT_PATIENT, 3.72))], NURSE)
    (e["fixed"],) = journal.append([Draft("observation", VAULT_PATIENT,
                                          observation(VAULT_PATIENT, 37.2), supersedes=e["typo"].key,
                                          reason="virgule oubliée")], NURSE)
    (e["note"],) = journal.append([Draft("note", VAULT_PATIENT, note(VAULT_PATIENT, "calme"))], NURSE)
    (e["wrong_note"],) = journal.append([Draft("note", VAULT_PATIENT,
                                               note(VAULT_PATIENT, "autre patient"))], NURSE)
    (e["cancel"],) = journal.append([Draft("note", VAULT_PATIENT, {
        **note(VAULT_PATIENT, "autre patient"), "status": "entered-in-error"},
        supersedes=e["wrong_note"].key, reason="saisie sur le mauvais patient")], NURSE)
    stay = vault_resources()[1]
    stay["location"] = [{**stay["location"][0], "status": "completed"},
                        {"location": {"reference": "Location/bed-9"}, "status": "active"}]
    (e["transfer"],) = journal.append([Draft("transfer", VAULT_PATIENT, stay)], NURSE)
    return Ward(folder, journal, e)


def decide(ward: Ward, entry: Entry, decision: str = "create", his: str | None = None) -> None:
    """A person's decision on a downtime patient (what `journal identities confirm` writes)."""
    fates = Fates(ward.dir)
    ref = f"Patient/{entry.resource['id']}"
    if ref not in fates.identities():
        fates.propose(Identity(ref, "create", "none", None, []))
    fates.decide(ref, decision, his, "test")


# --- reading the HIS ----------------------------------------------------------------------------


def found(base: str, rtype: str, identifier: str) -> list[dict]:
    bundle = httpx.get(f"{base}/{rtype}", params={"identifier": f"{IDENTIFIER_SYSTEM}|{identifier}",
                                                  "_count": "100"}, timeout=30).json()
    return [entry["resource"] for entry in bundle.get("entry", [])]


def total(base: str, rtype: str) -> int:
    bundle = httpx.get(f"{base}/{rtype}", params={"_count": "1", "_total": "accurate"},
                       timeout=30).json()
    return int(bundle.get("total", len(bundle.get("entry", []))))


def counts(base: str) -> dict[str, int]:
    return {rtype: total(base, rtype) for rtype in (
        "Patient", "Encounter", "MedicationRequest", "MedicationAdministration", "Observation",
        "DocumentReference", "Provenance")}


def reconcile(ward: Ward, base: str, *args: str, code: int = 0) -> dict:
    report = ward.dir.parent / "report.json"
    done = run_releve("journal", "reconcile", "--station", ward.dir, "--fhir", base,
                      "--report", report, *args, check=False)
    assert done.returncode == code, done.stdout.decode() + done.stderr.decode()
    return orjson.loads(report.read_bytes())


def states(report: dict) -> dict[str, str]:
    return {row["entry"]: row["state"] for row in report["entries"]}


def put(base: str, resource: dict) -> None:
    response = httpx.put(f"{base}/{resource['resourceType']}/{resource['id']}", json=resource,
                         timeout=30)
    assert response.status_code in (200, 201), response.text[:300]


# --- the tests ----------------------------------------------------------------------------------


@pytest.fixture
def his(tmp_path: Path) -> Iterator[str]:
    """The demo HIS holding what the journal refers to from before the downtime."""
    held = tmp_path / "held.ndjson"
    held.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in vault_resources()))
    server, base = start_his("--load", held)
    try:
        yield base
    finally:
        server.stop()


def test_the_journal_is_filed_once_with_his_references_and_its_history(his, tmp_path):
    ward = make_ward(tmp_path / "station")
    e = ward.e
    decide(ward, e["patient"])
    first = reconcile(ward, his)
    got = states(first)
    assert got[e["patient"].key] == "filed" and got[e["stay"].key] == "filed"
    assert got[e["transfer"].key] == "updated"
    assert got[e["fixed"].key] == "filed" and got[e["cancel"].key] == "filed"
    assert got[e["typo"].key] == "replaced" and got[e["wrong_note"].key] == "replaced"
    assert {got[e[k].key] for k in ("order", "check", "given", "obs", "obs_downtime", "note")} \
        == {"filed"}
    assert first["counts"] == {"filed": 10, "replaced": 2, "updated": 1}
    assert (tmp_path / "report.json").stat().st_mode & 0o777 == 0o600
    printed = tmp_path / "report.pdf"  # the crisis cell's copy, beside the JSON
    assert printed.stat().st_mode & 0o777 == 0o600
    text = subprocess.run(["pdftotext", "-layout", printed, "-"], check=True,
                          capture_output=True, text=True).stdout
    assert first["station"] in text and e["obs"].key in text

    held = {name: found(his, e[name].resource["resourceType"], e[name].identifier)
           for name in ("patient", "stay", "order", "given", "obs", "obs_downtime", "fixed",
                        "note", "cancel", "transfer")}
    assert {name: len(hits) for name, hits in held.items()} == dict.fromkeys(held, 1)
    patient = f"Patient/{held['patient'][0]['id']}"
    assert patient != f"Patient/{e['patient'].resource['id']}"  # the HIS's own id
    assert held["stay"][0]["subject"]["reference"] == patient
    assert held["obs_downtime"][0]["subject"]["reference"] == patient
    assert held["obs_downtime"][0]["encounter"]["reference"] == f"Encounter/{held['stay'][0]['id']}"
    order = f"MedicationRequest/{held['order'][0]['id']}"
    assert held["given"][0]["request"]["reference"] == order
    assert held["given"][0]["subject"]["reference"] == VAULT_PATIENT
    assert held["fixed"][0]["valueQuantity"]["value"] == 37.2
    assert held["cancel"][0]["status"] == "entered-in-error"
    assert held["transfer"][0]["id"] == "ve1" and held["transfer"][0]["location"][1]["location"] == \
        {"reference": "Location/bed-9"}
    assert {row["entry"]: row["his"] for row in first["entries"]}[e["given"].key] == \
        f"MedicationAdministration/{held['given'][0]['id']}"

    provenances = httpx.get(f"{his}/Provenance", params={"_count": "100"}).json()["entry"]
    by_source = {p["resource"]["meta"]["source"]: p["resource"] for p in provenances}
    assert len(provenances) == 3  # the order's check, and one per replaced version
    check = by_source[f"releve-journal:{e['check'].key}"]
    assert check["target"][0]["reference"] == order
    assert check["entity"][0]["what"]["reference"] == order
    history = by_source[f"releve-journal:{e['fixed'].key}"]
    assert history["target"][0]["reference"] == f"Observation/{held['fixed'][0]['id']}"
    assert history["reason"][0]["text"] == "virgule oubliée"
    assert by_source[f"releve-journal:{e['cancel'].key}"]["activity"]["coding"][0]["code"] == \
        "NULLIFY"

    before = counts(his)
    again = reconcile(ward, his)
    assert states(again) == got and counts(his) == before


def test_a_dry_run_sends_nothing_and_records_nothing(his, tmp_path):
    ward = make_ward(tmp_path / "station")
    decide(ward, ward.e["patient"])
    runs_before = Fates(ward.dir).db().execute("SELECT count(*) FROM runs").fetchone()[0]
    before = counts(his)
    plan = reconcile(ward, his, "--dry-run")
    assert counts(his) == before
    fates = Fates(ward.dir)
    assert fates.fates() == {} and fates.filed() == {}
    assert fates.db().execute("SELECT count(*) FROM runs").fetchone()[0] == runs_before
    assert plan["dry_run"] is True and plan["counts"] == {"pending": 13}
    detail = {row["entry"]: row["detail"] for row in plan["entries"]}
    assert detail[ward.e["patient"].key] == \
        f"wave 1 (patients): POST Patient if none has identifier {ward.e['patient'].identifier}"
    assert detail[ward.e["transfer"].key] == \
        "wave 2 (stays): PUT Encounter/ve1 (a resource the HIS held)"
    assert detail[ward.e["fixed"].key].startswith("wave 4 (care): PUT Observation?identifier=")
    assert detail[ward.e["typo"].key].startswith("wave 5 (history): POST Provenance")


def test_an_undecided_patient_waits_and_the_rest_is_filed(his, tmp_path):
    ward = make_ward(tmp_path / "station")
    e = ward.e
    report = reconcile(ward, his, code=1)
    got = states(report)
    downtime = f"Patient/{e['patient'].resource['id']}"
    for name in ("patient", "stay", "obs_downtime"):
        assert got[e[name].key] == "waiting-identity"
    assert {row["entry"]: row["detail"] for row in report["entries"]}[e["stay"].key] == downtime
    assert got[e["obs"].key] == "filed" and got[e["given"].key] == "filed"
    assert found(his, "Patient", e["patient"].identifier) == []
    assert found(his, "Encounter", e["stay"].identifier) == []
    (who,) = report["identities"]
    assert (who["patient"], who["ipp"], who["decision"]) == (downtime, "900001", None)
    said = run_releve("journal", "reconcile", "--station", ward.dir, "--fhir", his, check=False)
    assert said.returncode == 1
    lines = said.stdout.decode().splitlines()
    assert lines[0].startswith(f"identity {downtime} (IPP 900001, DELORME Agathe, 1951-03-12)")
    assert lines[0].endswith("UNDECIDED: `releve journal identities` to confirm")
    assert lines[1] == "reconcile: 13 entries: filed 7, replaced 2, updated 1, waiting-identity 3"
    assert f"{e['stay'].key}  admission  Inès Martin (nurse)  {e['stay'].time}  " \
        f"waiting-identity: {downtime}" in lines
    # a person decides: the next run files what waited, and nothing twice
    decide(ward, e["patient"])
    after = reconcile(ward, his)
    assert states(after)[e["obs_downtime"].key] == "filed"
    assert len(found(his, "Observation", e["obs"].identifier)) == 1


def test_only_one_patient(his, tmp_path):
    ward = make_ward(tmp_path / "station")
    decide(ward, ward.e["patient"])
    report = reconcile(ward, his, "--only", "900001")
    downtime = f"Patient/{ward.e['patient'].resource['id']}"
    assert {row["patient"] for row in report["entries"]} == {downtime}
    assert states(report) == {ward.e[k].key: "filed" for k in ("patient", "stay", "obs_downtime")}
    assert found(his, "Observation", ward.e["obs"].identifier) == []
    assert Fates(ward.dir).fates().keys() == states(report).keys()
    done = run_releve("journal", "reconcile", "--station", ward.dir, "--fhir", his,
                      "--only", "Patient/nobody", check=False)
    assert done.returncode == 2 and "no entry about Patient/nobody" in done.stderr.decode()


def test_a_correction_after_reconcile_is_filed_as_an_update(his, tmp_path):
    ward = make_ward(tmp_path / "station")
    decide(ward, ward.e["patient"])
    reconcile(ward, his)
    obs = ward.e["obs"]
    (fixed,) = ward.journal.append([Draft("observation", VAULT_PATIENT,
                                          observation(VAULT_PATIENT, 36.6, VAULT_STAY),
                                          supersedes=obs.key, reason="mauvais thermomètre")], NURSE)
    before = counts(his)
    report = reconcile(ward, his)
    got = states(report)
    assert (got[fixed.key], got[obs.key]) == ("updated", "replaced")
    (held,) = found(his, "Observation", obs.identifier)
    assert held["valueQuantity"]["value"] == 36.6
    assert counts(his) == {**before, "Provenance": before["Provenance"] + 1}


def test_a_refused_entry_is_reported_and_the_others_are_filed(his, tmp_path):
    """A resource the HIS cannot take (a type it does not know) in a Bundle with others:
    the Bundle is split until it is alone, refused with the server's words; the rest of
    its wave and the waves after are filed; a later run asks again, and files nothing
    twice."""
    ward = make_ward(tmp_path / "station")
    decide(ward, ward.e["patient"])
    (odd,) = ward.journal.append([Draft("note", VAULT_PATIENT, {
        "resourceType": "Thing", "subject": {"reference": VAULT_PATIENT}})], NURSE)
    report = reconcile(ward, his, code=1)
    rows = {row["entry"]: row for row in report["entries"]}
    assert rows[odd.key]["state"] == "refused"
    assert 400 <= rows[odd.key]["status"] < 500 and rows[odd.key]["detail"]
    assert report["counts"] == {"filed": 10, "refused": 1, "replaced": 2, "updated": 1}
    before = counts(his)
    again = reconcile(ward, his, code=1)
    assert states(again) == states(report) and counts(his) == before
    assert Fates(ward.dir).fates([odd.key])[odd.key].run == 2


def test_a_matched_downtime_patient_is_not_created_and_refers_to_the_his_patient(his, tmp_path):
    ward = make_ward(tmp_path / "station")
    e = ward.e
    decide(ward, e["patient"], "match", VAULT_PATIENT)
    report = reconcile(ward, his)
    rows = {row["entry"]: row for row in report["entries"]}
    assert (rows[e["patient"].key]["state"], rows[e["patient"].key]["his"]) == \
        ("matched", VAULT_PATIENT)
    assert found(his, "Patient", e["patient"].identifier) == []
    (stay,) = found(his, "Encounter", e["stay"].identifier)
    (measure,) = found(his, "Observation", e["obs_downtime"].identifier)
    assert stay["subject"]["reference"] == VAULT_PATIENT
    assert measure["subject"]["reference"] == VAULT_PATIENT
    assert measure["encounter"]["reference"] == f"Encounter/{stay['id']}"
    (who,) = report["identities"]
    assert (who["decision"], who["decided_his"]) == ("match", VAULT_PATIENT)


# --- bad answers: a server in front of the demo HIS that changes them -----------------------------


def front(upstream: str, mode: dict[str, bool]):
    """A server passing requests to `upstream`; with `mode["mute"]` its transaction
    responses lose every `location` (it says created and returns nothing), with
    `mode["down"]` every POST is answered 503."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def forward(request: Request) -> Response:
        if request.method == "POST" and mode.get("down"):
            return Response(orjson.dumps({"resourceType": "OperationOutcome", "issue": [
                {"severity": "error", "code": "transient", "diagnostics": "en maintenance"}]}),
                503, media_type="application/fhir+json")
        query = f"?{request.url.query}" if request.url.query else ""
        async with httpx.AsyncClient(timeout=30) as client:
            answer = await client.request(request.method, upstream + request.url.path + query,
                                          content=await request.body(),
                                          headers={"Content-Type": "application/fhir+json"})
        body = answer.content
        if request.method == "POST" and request.url.path == "/" and mode.get("mute"):
            bundle = orjson.loads(body)
            for entry in bundle.get("entry", []):
                entry["response"].pop("location", None)
            body = orjson.dumps(bundle)
        return Response(body, answer.status_code, media_type="application/fhir+json")

    return Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST", "PUT"])])


def test_a_server_that_returns_no_location_is_searched_by_identifier(his, tmp_path):
    ward = make_ward(tmp_path / "station")
    e = ward.e
    decide(ward, e["patient"])
    with serving(front(his, {"mute": True})) as muted:
        report = reconcile(ward, muted)
    (patient,) = found(his, "Patient", e["patient"].identifier)
    (stay,) = found(his, "Encounter", e["stay"].identifier)
    assert stay["subject"]["reference"] == f"Patient/{patient['id']}"
    rows = {row["entry"]: row for row in report["entries"]}
    assert rows[e["patient"].key]["his"] == f"Patient/{patient['id']}"
    assert rows[e["stay"].key]["his"] == f"Encounter/{stay['id']}"
    assert report["counts"] == {"filed": 10, "replaced": 2, "updated": 1}


def test_a_server_down_leaves_entries_failed_and_a_later_run_files_them_once(his, tmp_path):
    ward = make_ward(tmp_path / "station")
    e = ward.e
    decide(ward, e["patient"])
    before = counts(his)
    mode = {"down": True}
    with serving(front(his, mode)) as flaky:
        report = reconcile(ward, flaky, code=1)
        rows = {row["entry"]: row for row in report["entries"]}
        assert (rows[e["patient"].key]["state"], rows[e["patient"].key]["status"]) == ("failed", 503)
        assert "en maintenance" in rows[e["obs"].key]["detail"]
        assert (rows[e["stay"].key]["state"], rows[e["stay"].key]["detail"]) == \
            ("waiting", e["patient"].key)
        assert counts(his) == before
        mode["down"] = False
        again = reconcile(ward, flaky)
    assert again["counts"] == {"filed": 10, "replaced": 2, "updated": 1}
    assert len(found(his, "Observation", e["obs"].identifier)) == 1


def test_reconcile_authenticates_with_smart_client_credentials(tmp_path):
    """--client-id and --client-key: SMART Backend Services tokens on every request,
    as `releve capture` takes them (the demo HIS in SMART mode refuses any request
    without one)."""
    from test_smart_backend import CLIENT, server_state, smart_his

    folder = tmp_path / "station"
    folder.mkdir()
    journal = Journal(folder)
    patient, stay = admit(journal, "Delorme", "900001")
    ward = Ward(folder, journal, {"patient": patient, "stay": stay})
    decide(ward, patient)
    with smart_his(tmp_path) as server:
        refused = run_releve("journal", "reconcile", "--station", folder, "--fhir", server.base,
                             check=False)
        assert refused.returncode == 1 and "401" in refused.stderr.decode() + \
            refused.stdout.decode()
        report = reconcile(ward, server.base, "--client-id", CLIENT, "--client-key", server.key)
        assert report["counts"] == {"filed": 2}
        held = server_state(server)
    assert held[report["entries"][0]["his"]]["identifier"][0]["value"] == patient.identifier


def test_two_current_versions_are_a_conflict_and_nothing_of_them_is_filed(his, tmp_path):
    ward = make_ward(tmp_path / "station")
    decide(ward, ward.e["patient"])
    obs = ward.e["obs"]
    (one,) = ward.journal.append([Draft("observation", VAULT_PATIENT, observation(VAULT_PATIENT, 36.9),
                                        supersedes=obs.key, reason="relu")], NURSE)
    (two,) = ward.journal.append([Draft("observation", VAULT_PATIENT, observation(VAULT_PATIENT, 37.9),
                                        supersedes=obs.key, reason="relu ailleurs")], NURSE)
    report = reconcile(ward, his, code=1)
    rows = {row["entry"]: row for row in report["entries"]}
    for entry in (obs, one, two):
        assert (rows[entry.key]["state"], rows[entry.key]["detail"]) == \
            ("conflict", f"two current versions: {one.key}, {two.key}")
    assert found(his, "Observation", obs.identifier) == []
    assert rows[ward.e["fixed"].key]["state"] == "filed"
