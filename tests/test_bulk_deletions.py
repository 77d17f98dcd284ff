"""Deletions in bulk mode, and the mass-deletion guard counting resources, not entries.

A server may leave deletions out of its `_since` exports (the demo HIS does so with
`--hide-deletions`): the periodic id walk then removes them from the vault, behind the
same guard. The guard counts the held resources a cycle removes: deletion entries for
resources the vault never held, or several entries for one resource, do not inflate it.
All over real HTTP on loopback against `releve demo his`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from releve.capture.guard import Guard, removal_suspicion
from releve.capture.scan import Task
from releve.capture.writer import Writer
from releve.fhir import bulk
from releve.fhir.client import FhirClient
from releve.vault.format import delete_line
from releve.vault.keys import load_signer
from releve.vault.store import LocalVault
from test_capture import capture, server_state, start_his, transaction, vault_state
from test_capture_modes import patients, status_text, walk_brings_deletions

from conftest import run_releve


def observations(patient_ids: range, per_patient: int = 2, prefix: str = "o") -> list[dict]:
    return [{"resourceType": "Observation", "id": f"{prefix}{i}-{j}", "status": "final",
             "code": {"text": "Température"}, "subject": {"reference": f"Patient/p{i}"},
             "valueQuantity": {"value": 37.5, "unit": "°C"}}
            for i in patient_ids for j in range(per_patient)]


def start_demo_his(folder: Path, *extra: str) -> Iterator[str]:
    """`releve demo his` serving 60 patients and 120 observations (180 resources), its
    database in `folder`."""
    folder.mkdir()
    data = folder / "his-data.ndjson"
    data.write_bytes(b"".join(orjson.dumps(line) + b"\n"
                              for line in patients(60) + observations(range(60))))
    server, base = start_his(data, folder / "his.sqlite", None, *extra)
    try:
        yield base
    finally:
        server.stop()


@pytest.fixture
def hiding_his(tmp_path: Path) -> Iterator[str]:
    """A demo HIS whose `_since` exports do not report deletions."""
    yield from start_demo_his(tmp_path / "hiding-his", "--hide-deletions")


@pytest.fixture
def his(tmp_path: Path) -> Iterator[str]:
    yield from start_demo_his(tmp_path / "his")


def deleting(keys: list[str]) -> list[dict]:
    return [{"request": {"method": "DELETE", "url": key}} for key in keys]


def created_then_deleted(base: str, count: int) -> None:
    """`count` observations the vault never sees: created and deleted between two cycles
    (each leaves a deletion entry in a history or a `_since` export)."""
    fresh = observations(range(count), 1, prefix="brief")
    transaction(base, [{"resource": r, "request": {"method": "PUT",
                                                   "url": f"Observation/{r['id']}"}}
                       for r in fresh])
    transaction(base, deleting([f"Observation/{r['id']}" for r in fresh]))


def test_the_hidden_deletions_switch_empties_the_manifest(hiding_his, his):
    for base, reported in ((hiding_his, False), (his, True)):
        transaction(base, deleting(["Patient/p3"]))
        client = FhirClient(base)
        try:
            manifest, _ = bulk.poll(client, bulk.kick_off(client, {"_since": "2000-01-01T00:00:00Z"}))
        finally:
            client.close()
        assert ("deleted" in manifest and len(manifest["deleted"]) == 1) == reported
        assert sum(item["count"] for item in manifest["output"]) == 179


def test_bulk_mode_finds_deletions_the_export_does_not_report(hiding_his, tmp_path, keys,
                                                               vault_dir):
    status = walk_brings_deletions(hiding_his, tmp_path / "capture-state", keys, vault_dir,
                                   "--mode", "bulk")
    assert "(bulk), 3 cycles" in status


def test_a_mass_deletion_found_by_the_walk_is_refused_in_resources(hiding_his, tmp_path,
                                                                     keys, vault_dir):
    base, state = hiding_his, tmp_path / "capture-state"
    capture(vault_dir, keys, state, base, "--mode", "bulk")
    before = vault_state(vault_dir, keys)
    created_then_deleted(base, 50)  # 50 entries that remove nothing the vault holds
    transaction(base, deleting([f"Observation/o{i}-{j}" for i in range(40) for j in range(2)]))
    walked = capture(vault_dir, keys, state, base, "--mode", "bulk", "--deletion-walk-every", "0")
    assert "id walk: mass deletion: 80 of 180 resources" in walked.stderr.decode()
    descriptor = LocalVault(vault_dir).info(2).descriptor
    assert descriptor.suspect and "mass deletion: 80 of 180" in descriptor.suspect
    assert descriptor.deletes == 80
    assert vault_state(vault_dir, keys) == before  # the stations keep their last safe copy
    shown = run_releve("capture", "status", "--state", state, check=False)
    assert shown.returncode == 1  # a refused walk needs attention until a walk succeeds
    assert "refused as suspect: mass deletion: 80 of 180" in shown.stdout.decode()
    assert "attention: segment 2 of the id walk is marked suspect" in shown.stdout.decode()
    again = capture(vault_dir, keys, state, base, "--mode", "bulk", "--deletion-walk-every", "0")
    assert "ALERT" not in again.stderr.decode()  # one alarm for one episode
    assert LocalVault(vault_dir).sequence_numbers() == [1, 2]


@pytest.mark.parametrize("mode", ["bulk", "history"])
def test_deletion_entries_of_resources_never_held_are_not_counted(his, tmp_path, keys,
                                                                  vault_dir, mode):
    """60 entries for resources the vault never held and 5 for held ones: 5 of 180
    removed, well under the guard's 20% (65 entries would be over it)."""
    base, state = his, tmp_path / "capture-state"
    capture(vault_dir, keys, state, base, "--mode", mode)
    created_then_deleted(base, 60)
    transaction(base, deleting([f"Observation/o{i}-0" for i in range(5)]))
    result = capture(vault_dir, keys, state, base, "--mode", mode)
    assert "ALERT" not in result.stderr.decode()
    assert "segment 2 (delta): 0 put, 5 deleted" in result.stdout.decode()
    assert LocalVault(vault_dir).info(2).descriptor.suspect is None
    assert vault_state(vault_dir, keys) == server_state(base)
    assert " 5 deleted, segment 2" in status_text(state)  # resources, not entries


@pytest.mark.parametrize("mode", ["bulk", "history"])
def test_a_mass_deletion_is_counted_in_resources_not_entries(his, tmp_path, keys, vault_dir,
                                                             mode):
    base, state = his, tmp_path / "capture-state"
    capture(vault_dir, keys, state, base, "--mode", mode)
    before = vault_state(vault_dir, keys)
    created_then_deleted(base, 50)
    transaction(base, deleting([f"Observation/o{i}-{j}" for i in range(40) for j in range(2)]))
    result = capture(vault_dir, keys, state, base, "--mode", mode)
    assert "mass deletion: 80 of 180 resources" in result.stderr.decode()
    descriptor = LocalVault(vault_dir).info(2).descriptor
    assert descriptor.suspect == "mass deletion: 80 of 180 resources (44% > 20%)"
    assert descriptor.deletes == 80
    assert vault_state(vault_dir, keys) == before


def test_several_entries_for_one_resource_count_once(tmp_path, keys, vault_dir):
    """A `deleted` file or a history may name a resource once per deleted version: the
    guard counts the resources the segment removes from what the writer holds."""
    writer = Writer(LocalVault(vault_dir), load_signer(keys.signing_key), tmp_path / "state")
    held = patients(100)
    writer.write(lambda: iter([Task(label="full", data=b"".join(
        orjson.dumps(r) + b"\n" for r in held))]), "test", kind="full")
    entries = [f"Patient/p{i}" for i in range(15) for _ in range(3)]  # 45 entries, 15 held
    entries += [f"Patient/never{i}" for i in range(30)]  # 30 entries, none held
    verdict: list[str | None] = []

    def judge() -> str | None:
        verdict.append(removal_suspicion(writer.state, Guard()))
        return verdict[-1]

    written = writer.write(lambda: iter([Task(label="deleted", allow_deletes=True, data=b"".join(
        delete_line(*key.split("/")) for key in entries))]), "test", suspect=judge)
    assert verdict[-1] is None  # 15 of 100, not 75 of 100
    assert written is not None and written.deletes == 15
    more = [f"Patient/p{i}" for i in range(15, 40) for _ in range(2)]  # 25 resources
    written = writer.write(lambda: iter([Task(label="deleted", allow_deletes=True, data=b"".join(
        delete_line(*key.split("/")) for key in more))]), "test", suspect=judge)
    assert verdict[-1] == "mass deletion: 25 of 85 resources (29% > 20%)"
    assert written is not None and written.deletes == 25
    writer.close()
