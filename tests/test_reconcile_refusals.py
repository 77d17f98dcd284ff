"""A HIS that refuses some entries (the demo HIS's write faults, by content): reconcile
files the rest, reports the refused with the server's reason (JSON report, terminal,
way-back.sqlite), leaves what depends on them waiting; once the HIS is fixed, a later
run files them once and sends nothing already filed again."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson

from releve.journal.entry import IDENTIFIER_SYSTEM, Draft
from releve.journal.fates import DONE, Fates
from test_reconcile import (
    NURSE,
    VAULT_PATIENT,
    VAULT_STAY,
    Ward,
    decide,
    found,
    make_ward,
    note,
    observation,
)
from test_reconcile_crash import TYPES, faulty_his  # noqa: F401 (a fixture)

from conftest import run_releve

FEVER = "valeur hors bornes physiologiques"
DOUBLE = "prescription en double dans le DPI"
BROKEN = "erreur interne du DPI"
FAULTS = {"refuse": [
    {"type": "Observation", "contains": '"value":41.9', "status": 422, "message": FEVER},
    {"type": "MedicationRequest", "contains": "Produit contesté", "status": 409, "message": DOUBLE},
    {"type": "DocumentReference", "contains": "note qui casse", "status": 500, "message": BROKEN}]}


def run(ward: Ward, base: str, code: int) -> tuple[dict, list[str]]:
    """A reconcile run: its JSON report and its terminal lines."""
    report = ward.dir.parent / "report.json"
    done = run_releve("journal", "reconcile", "--station", ward.dir, "--fhir", base,
                      "--report", report, check=False)
    assert done.returncode == code, done.stdout.decode() + done.stderr.decode()
    return orjson.loads(report.read_bytes()), done.stdout.decode().splitlines()


def versions(base: str) -> dict[str, str]:
    """meta.versionId of every resource the HIS holds with a journal identifier, by it."""
    held = {}
    for rtype in TYPES:
        page = httpx.get(f"{base}/{rtype}", params={"_count": "5000"}, timeout=60).json()
        for entry in page.get("entry", []):
            resource = entry["resource"]
            for identifier in resource.get("identifier", []):
                if identifier.get("system") == IDENTIFIER_SYSTEM:
                    held[identifier["value"]] = resource["meta"]["versionId"]
    return held


def test_refused_entries_are_reported_and_filed_once_when_the_his_is_fixed(
        faulty_his, tmp_path: Path):  # noqa: F811 (the fixture imported above)
    base, faults = faulty_his
    faults.write_bytes(orjson.dumps(FAULTS))
    ward = make_ward(tmp_path / "station")
    decide(ward, ward.e["patient"])
    journal = ward.journal
    (fever,) = journal.append([Draft("observation", VAULT_PATIENT,
                                     observation(VAULT_PATIENT, 41.9, VAULT_STAY))], NURSE)
    (order,) = journal.append([Draft("order", VAULT_PATIENT, {
        "resourceType": "MedicationRequest", "status": "active", "intent": "order",
        "medicationCodeableConcept": {"text": "Produit contesté"},
        "subject": {"reference": VAULT_PATIENT}, "authoredOn": "2026-01-14T09:00:00+01:00"})],
        NURSE)
    ref = f"MedicationRequest/{order.resource['id']}"
    (check,) = journal.append([Draft("order-check", VAULT_PATIENT, {
        "resourceType": "Provenance", "target": [{"reference": ref}],
        "recorded": "2026-01-14T09:05:00+01:00", "agent": [{"who": {"display": "Paul"}}],
        "entity": [{"role": "source", "what": {"reference": ref}}]})], NURSE)
    (given,) = journal.append([Draft("administration", VAULT_PATIENT, {
        "resourceType": "MedicationAdministration", "status": "completed",
        "medicationCodeableConcept": {"text": "Produit contesté"},
        "subject": {"reference": VAULT_PATIENT}, "request": {"reference": ref},
        "effectiveDateTime": "2026-01-14T10:00:00+01:00"})], NURSE)
    (broken,) = journal.append([Draft("note", VAULT_PATIENT,
                                      note(VAULT_PATIENT, "une note qui casse"))], NURSE)

    report, lines = run(ward, base, code=1)
    rows = {row["entry"]: row for row in report["entries"]}
    said = {key: (rows[key]["state"], rows[key]["status"]) for key in
            (fever.key, order.key, broken.key, check.key, given.key)}
    assert said == {fever.key: ("refused", 422), order.key: ("refused", 409),
                    broken.key: ("failed", 500),  # a 5xx: retried, then failed
                    check.key: ("waiting", None), given.key: ("waiting", None)}
    assert FEVER in rows[fever.key]["detail"] and DOUBLE in rows[order.key]["detail"]
    assert BROKEN in rows[broken.key]["detail"]
    assert rows[check.key]["detail"] == rows[given.key]["detail"] == order.key
    others = set(rows) - set(said)
    assert {rows[key]["state"] for key in others} <= DONE  # the rest is filed
    assert report["counts"] == {"filed": 10, "replaced": 2, "updated": 1, "refused": 2,
                                "failed": 1, "waiting": 2}
    for entry, words in ((fever, FEVER), (order, DOUBLE), (broken, BROKEN)):
        (line,) = [line for line in lines if line.startswith(f"{entry.key}  ")]
        assert words in line
    stored = Fates(ward.dir).fates()
    assert {key: (stored[key].state, stored[key].status) for key in said} == said
    assert FEVER in (stored[fever.key].detail or "") and DOUBLE in (stored[order.key].detail or "")
    for entry in (fever, order, broken, check, given):
        assert found(base, entry.resource["resourceType"], entry.identifier) == []
    before = versions(base)
    assert len(before) == 13  # 11 resources (the vault's stay moved), 2 history Provenances

    faults.write_bytes(b"{}")  # the HIS is fixed
    again, _ = run(ward, base, code=0)
    assert {row["entry"]: row["state"] for row in again["entries"]
            if row["entry"] in said} == dict.fromkeys(said, "filed")
    for entry in (fever, order, broken, check, given):
        assert len(found(base, entry.resource["resourceType"], entry.identifier)) == 1
    (held,) = found(base, "MedicationAdministration", given.identifier)
    assert held["request"]["reference"] == \
        f"MedicationRequest/{found(base, 'MedicationRequest', order.identifier)[0]['id']}"
    after = versions(base)
    assert {identifier: after[identifier] for identifier in before} == before  # none sent again
    assert len(after) == len(before) + 5


def test_an_entry_the_his_fails_on_does_not_hold_back_its_bundle(
        faulty_his, tmp_path: Path):  # noqa: F811 (the fixture imported above)
    """A 5xx that stays after the retries, for one entry of a Bundle: the Bundle is split
    like a refused one, so only that entry is `failed` (with the server's words)."""
    base, faults = faulty_his
    faults.write_bytes(orjson.dumps({"refuse": [FAULTS["refuse"][2]]}))
    ward = make_ward(tmp_path / "station")
    decide(ward, ward.e["patient"])
    (broken,) = ward.journal.append([Draft("note", VAULT_PATIENT,
                                           note(VAULT_PATIENT, "une note qui casse"))], NURSE)
    report, _ = run(ward, base, code=1)
    rows = {row["entry"]: row for row in report["entries"]}
    assert (rows[broken.key]["state"], rows[broken.key]["status"]) == ("failed", 500)
    assert BROKEN in rows[broken.key]["detail"]
    assert report["counts"] == {"filed": 10, "replaced": 2, "updated": 1, "failed": 1}
    faults.write_bytes(b"")
    again, _ = run(ward, base, code=0)
    assert again["counts"] == {"filed": 11, "replaced": 2, "updated": 1}
    assert len(found(base, "DocumentReference", broken.identifier)) == 1
