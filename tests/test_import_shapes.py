"""The shapes FHIR comes in from systems we did not write: document Bundles (the
International Patient Summary's exchange form), message Bundles, and `urn:uuid:`
references in Bundles and in ndjson alike, resolved by one rule (capture/urns.py).

The resources are written here by hand from the FHIR R4 definitions (Bundle.type,
Bundle.entry.fullUrl, Composition, MessageHeader); every case runs the real
`releve import` in a subprocess and reads the vault back with `releve vault cat`.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from test_import_errors import assert_nothing_written, assert_refused, current_state, do_import, stderr_of

PATIENT_UUID = "0f6e4d0a-7d8c-4b8e-9a51-3c2f1e9b7a10"
ALLERGY_UUID = "5b1c3e2d-1a4f-4c6b-8e7d-2f9a0b1c4d5e"
STATEMENT_UUID = "8d2e4f6a-3b5c-4d7e-9f1a-2b3c4d5e6f70"
MEDICATION_UUID = "c4a7e9b1-6d3f-4a2c-8b5e-7f1d2c3b4a59"
COMPOSITION_UUID = "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b"
AUTHOR_UUID = "3a4b5c6d-7e8f-4a9b-8c0d-1e2f3a4b5c6d"


def urn(uuid: str) -> str:
    return f"urn:uuid:{uuid}"


def ips_document() -> dict:
    """A patient summary as an IPS document Bundle: the Composition first, every entry
    with a urn:uuid fullUrl, references between entries by that urn."""
    patient = {"resourceType": "Patient", "id": PATIENT_UUID,
               "identifier": [{"system": "urn:oid:2.16.840.1.113883.2.4.6.3", "value": "574687583"}],
               "name": [{"family": "Dubois", "given": ["Anne"]}], "gender": "female",
               "birthDate": "1948-05-02"}
    author = {"resourceType": "Practitioner", "id": AUTHOR_UUID,
              "name": [{"family": "Laurent", "given": ["Paul"]}]}
    composition = {
        "resourceType": "Composition", "id": COMPOSITION_UUID, "status": "final",
        "type": {"coding": [{"system": "http://loinc.org", "code": "60591-5",
                             "display": "Patient summary Document"}]},
        "subject": {"reference": urn(PATIENT_UUID)}, "date": "2025-12-01T09:00:00+01:00",
        "author": [{"reference": urn(AUTHOR_UUID)}], "title": "Patient Summary",
        "section": [
            {"title": "Allergies", "code": {"coding": [{"system": "http://loinc.org", "code": "48765-2"}]},
             "entry": [{"reference": urn(ALLERGY_UUID)}]},
            {"title": "Medication", "code": {"coding": [{"system": "http://loinc.org", "code": "10160-0"}]},
             "entry": [{"reference": urn(STATEMENT_UUID)}]},
        ]}
    allergy = {"resourceType": "AllergyIntolerance", "id": ALLERGY_UUID,
               "clinicalStatus": {"coding": [{
                   "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                   "code": "active"}]},
               "code": {"text": "Pénicilline"}, "patient": {"reference": urn(PATIENT_UUID)}}
    medication = {"resourceType": "Medication", "id": MEDICATION_UUID, "code": {"text": "Apixaban 5 mg"}}
    statement = {"resourceType": "MedicationStatement", "id": STATEMENT_UUID, "status": "active",
                 "medicationReference": {"reference": urn(MEDICATION_UUID)},
                 "subject": {"reference": urn(PATIENT_UUID)}}
    entries = [composition, patient, author, allergy, statement, medication]
    return {"resourceType": "Bundle", "id": "ips-1", "type": "document",
            "identifier": {"system": "urn:ietf:rfc:3986", "value": "urn:uuid:9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"},
            "timestamp": "2025-12-01T09:00:00+01:00",
            "entry": [{"fullUrl": urn(r["id"]), "resource": r} for r in entries]}


def test_document_bundle_is_unpacked_composition_kept(tmp_path, keys, vault_dir):
    path = tmp_path / "ips.json"
    path.write_bytes(orjson.dumps(ips_document(), option=orjson.OPT_INDENT_2))
    result = do_import(vault_dir, keys, tmp_path / "state", path)
    assert result.returncode == 0, stderr_of(result)
    state = current_state(vault_dir, keys)
    assert sorted(state) == sorted([
        f"Composition/{COMPOSITION_UUID}", f"Patient/{PATIENT_UUID}", f"Practitioner/{AUTHOR_UUID}",
        f"AllergyIntolerance/{ALLERGY_UUID}", f"MedicationStatement/{STATEMENT_UUID}",
        f"Medication/{MEDICATION_UUID}"])  # the entries, not the Bundle
    composition = orjson.loads(state[f"Composition/{COMPOSITION_UUID}"])
    assert composition["subject"]["reference"] == f"Patient/{PATIENT_UUID}"
    assert composition["section"][1]["entry"] == [{"reference": f"MedicationStatement/{STATEMENT_UUID}"}]
    statement = orjson.loads(state[f"MedicationStatement/{STATEMENT_UUID}"])
    assert statement["medicationReference"]["reference"] == f"Medication/{MEDICATION_UUID}"


def test_message_bundle_is_unpacked_header_kept(tmp_path, keys, vault_dir):
    header_id, encounter_id = "a1b2c3d4-0000-4000-8000-000000000001", "a1b2c3d4-0000-4000-8000-000000000002"
    header = {"resourceType": "MessageHeader", "id": header_id,
              "eventCoding": {"system": "http://example.org/fhir/message-events", "code": "admit"},
              "source": {"endpoint": "http://his.example/fhir"},
              "focus": [{"reference": urn(encounter_id)}]}
    encounter = {"resourceType": "Encounter", "id": encounter_id, "status": "in-progress",
                 "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
                 "subject": {"reference": urn(PATIENT_UUID)}}
    patient = {"resourceType": "Patient", "id": PATIENT_UUID, "name": [{"family": "Dubois"}]}
    message = {"resourceType": "Bundle", "id": "msg-1", "type": "message",
               "timestamp": "2025-12-01T09:00:00+01:00",
               "entry": [{"fullUrl": urn(r["id"]), "resource": r} for r in (header, encounter, patient)]}
    path = tmp_path / "adt.json"
    path.write_bytes(orjson.dumps(message))
    result = do_import(vault_dir, keys, tmp_path / "state", path)
    assert result.returncode == 0, stderr_of(result)
    state = current_state(vault_dir, keys)
    assert sorted(state) == sorted([f"MessageHeader/{header_id}", f"Encounter/{encounter_id}",
                                    f"Patient/{PATIENT_UUID}"])
    assert orjson.loads(state[f"MessageHeader/{header_id}"])["focus"] == [
        {"reference": f"Encounter/{encounter_id}"}]
    assert orjson.loads(state[f"Encounter/{encounter_id}"])["subject"]["reference"] == \
        f"Patient/{PATIENT_UUID}"


def ndjson(path: Path, *resources: dict) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in resources))
    return path


def test_ndjson_urn_references_resolve_to_the_resource_with_that_id(tmp_path, keys, vault_dir):
    """Across files, whichever comes first; spaced JSON too."""
    folder = tmp_path / "export"
    folder.mkdir()
    ndjson(folder / "a-Observation.ndjson",
           {"resourceType": "Observation", "id": "o1", "status": "final", "code": {"text": "Poids"},
            "subject": {"reference": urn(PATIENT_UUID)}})
    (folder / "b-Condition.ndjson").write_bytes(
        b'{"resourceType": "Condition", "id": "c1", "subject": {"reference": "'
        + urn(PATIENT_UUID).encode() + b'"}}\n')
    ndjson(folder / "c-Patient.ndjson",
           {"resourceType": "Patient", "id": PATIENT_UUID, "name": [{"family": "Dubois"}]})
    result = do_import(vault_dir, keys, tmp_path / "state", folder)
    assert result.returncode == 0, stderr_of(result)
    state = current_state(vault_dir, keys)
    assert sorted(state) == ["Condition/c1", "Observation/o1", f"Patient/{PATIENT_UUID}"]
    assert orjson.loads(state["Observation/o1"])["subject"]["reference"] == f"Patient/{PATIENT_UUID}"
    assert orjson.loads(state["Condition/c1"])["subject"]["reference"] == f"Patient/{PATIENT_UUID}"


def test_bundle_and_ndjson_follow_the_same_rule(tmp_path, keys, vault_dir):
    """A Bundle's reference to a resource of an ndjson file of the import resolves by its
    id, and an ndjson line's to a Bundle entry by its fullUrl."""
    folder = tmp_path / "export"
    folder.mkdir()
    ndjson(folder / "Patient.ndjson",
           {"resourceType": "Patient", "id": PATIENT_UUID, "name": [{"family": "Dubois"}]},
           {"resourceType": "Observation", "id": "o2", "status": "final",
            "subject": {"reference": urn(PATIENT_UUID)},
            "hasMember": [{"reference": urn(ALLERGY_UUID)}]})
    (folder / "bundle.json").write_bytes(orjson.dumps({
        "resourceType": "Bundle", "type": "collection", "entry": [
            {"fullUrl": urn(ALLERGY_UUID),
             "resource": {"resourceType": "Observation", "id": "o3", "status": "final",
                          "subject": {"reference": urn(PATIENT_UUID)}}}]}))
    result = do_import(vault_dir, keys, tmp_path / "state", folder)
    assert result.returncode == 0, stderr_of(result)
    state = current_state(vault_dir, keys)
    assert orjson.loads(state["Observation/o3"])["subject"]["reference"] == f"Patient/{PATIENT_UUID}"
    assert orjson.loads(state["Observation/o2"])["hasMember"] == [{"reference": "Observation/o3"}]


def test_dangling_urn_in_ndjson_is_refused_by_name(tmp_path, keys, vault_dir):
    dangling = urn("deadbeef-0000-4000-8000-000000000000")
    path = ndjson(tmp_path / "Observation.ndjson",
                  {"resourceType": "Patient", "id": PATIENT_UUID},
                  {"resourceType": "Observation", "id": "o1", "subject": {"reference": urn(PATIENT_UUID)}},
                  {"resourceType": "Observation", "id": "o2", "subject": {"reference": dangling}})
    result = do_import(vault_dir, keys, tmp_path / "state", path)
    assert_refused(result, path, "line 3", dangling, "no resource of this import")
    assert_nothing_written(vault_dir)


def test_dangling_urn_in_a_document_bundle_is_refused_by_name(tmp_path, keys, vault_dir):
    document = ips_document()
    del document["entry"][5]  # the Medication the MedicationStatement (entry 5) names
    path = tmp_path / "ips.json"
    path.write_bytes(orjson.dumps(document))
    result = do_import(vault_dir, keys, tmp_path / "state", path)
    assert_refused(result, path, "entry 5", urn(MEDICATION_UUID), "no resource of this import")
    assert_nothing_written(vault_dir)


def test_urn_naming_two_resources_is_refused_as_ambiguous(tmp_path, keys, vault_dir):
    path = ndjson(tmp_path / "mixed.ndjson",
                  {"resourceType": "Patient", "id": PATIENT_UUID},
                  {"resourceType": "Group", "id": PATIENT_UUID, "type": "person", "actual": True},
                  {"resourceType": "Observation", "id": "o1", "subject": {"reference": urn(PATIENT_UUID)}})
    result = do_import(vault_dir, keys, tmp_path / "state", path)
    assert_refused(result, path, "line 3", urn(PATIENT_UUID), "ambiguous")
    assert_nothing_written(vault_dir)


def test_history_and_transaction_bundles_keep_their_meaning(tmp_path, keys, vault_dir):
    """What was there before stays: a transaction's DELETE deletes; a history Bundle
    (newest first) leaves its newest version."""
    first = tmp_path / "1.json"
    first.write_bytes(orjson.dumps({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": urn(PATIENT_UUID), "resource": {"resourceType": "Patient", "name": [{"family": "A"}]},
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Patient", "id": "gone"}, "request": {"method": "PUT", "url": "Patient/gone"}}]}))
    assert do_import(vault_dir, keys, tmp_path / "state", first).returncode == 0
    second = tmp_path / "2.json"
    second.write_bytes(orjson.dumps({"resourceType": "Bundle", "type": "history", "entry": [
        {"resource": {"resourceType": "Patient", "id": PATIENT_UUID, "name": [{"family": "New"}]},
         "request": {"method": "PUT", "url": f"Patient/{PATIENT_UUID}"}},
        {"resource": {"resourceType": "Patient", "id": PATIENT_UUID, "name": [{"family": "Old"}]},
         "request": {"method": "PUT", "url": f"Patient/{PATIENT_UUID}"}},
        {"request": {"method": "DELETE", "url": "Patient/gone"}}]}))
    result = do_import(vault_dir, keys, tmp_path / "state", second)
    assert result.returncode == 0, stderr_of(result)
    state = current_state(vault_dir, keys)
    assert sorted(state) == [f"Patient/{PATIENT_UUID}"]
    assert orjson.loads(state[f"Patient/{PATIENT_UUID}"])["name"] == [{"family": "New"}]
