"""Capture from a FHIR engine this project did not write: Medplum's FHIR router over its
in-memory repository (npm, Apache-2.0, installed by scripts/bootstrap into
tests/engines/medplum, pinned by its lockfile), loaded with Synthea patients.

Its CapabilityStatement declares no system `_history` (and its router answers an empty
searchset to `GET /_history`, which capture must never take for "nothing changed"):
capture chooses search mode by itself and finds deletions with the id walk."""

from __future__ import annotations

import contextlib
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from test_capture import capture, vault_state

from conftest import ROOT, run_releve
from helpers import ServerProcess, answers, free_port, start_server

ENGINE = ROOT / "tests" / "engines" / "medplum"
PATIENTS = 4  # the smallest Synthea patients: a few hundred resources of a dozen types

pytestmark = pytest.mark.skipif(shutil.which("node") is None,
                                reason="node is not installed: the FHIR engine of these "
                                       "tests runs on Node.js (scripts/bootstrap installs it "
                                       "where node is)")


@contextlib.contextmanager
def running_engine(log: Path, *options: str) -> Iterator[str]:
    """The engine on a free loopback port (`options` after the port: server.mjs's);
    yields its FHIR base URL."""
    if not (ENGINE / "node_modules" / "@medplum" / "fhir-router").is_dir():
        pytest.fail(f"the engine is not installed in {ENGINE}: run scripts/bootstrap")
    port = free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    server: ServerProcess
    server, _ = start_server(["node", ENGINE / "server.mjs", str(port), *options],
                             lambda: answers(f"{base}/metadata"), what="the Medplum engine",
                             log=log)
    try:
        yield base
    finally:
        server.stop()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[str]:
    with running_engine(tmp_path / "engine.log") as base:
        yield base


def load_synthea(base: str, synthea_dir: Path, count: int = PATIENTS) -> Counter[str]:
    """Post the `count` smallest Synthea patients' transaction Bundles; what they hold,
    counted by resource type (every entry a create: the engine assigns the ids)."""
    files = sorted((p for p in synthea_dir.glob("*.json") if "Information" not in p.name),
                   key=lambda p: (p.stat().st_size, p.name))[:count]
    loaded: Counter[str] = Counter()
    for path in files:
        bundle = orjson.loads(path.read_bytes())
        response = httpx.post(base, content=path.read_bytes(), timeout=60,
                              headers={"Content-Type": "application/fhir+json"})
        assert response.status_code == 200, response.text[:500]
        statuses = {entry["response"]["status"][:3] for entry in response.json()["entry"]}
        assert statuses == {"201"}, statuses
        loaded.update(entry["resource"]["resourceType"] for entry in bundle["entry"])
    return loaded


def by_type(resources: dict[str, dict]) -> Counter[str]:
    return Counter(key.split("/")[0] for key in resources)


def ids_of(base: str, rtype: str, **params: str) -> list[str]:
    bundle = httpx.get(f"{base}/{rtype}", params={"_count": "100", **params}, timeout=30).json()
    return [entry["resource"]["id"] for entry in bundle.get("entry", [])]


def delete(base: str, key: str) -> None:
    response = httpx.delete(f"{base}/{key}", timeout=30)
    assert response.status_code == 200, response.text[:300]


def test_the_engine_is_captured_by_search_and_its_deletions_arrive(engine, synthea_dir,
                                                                   tmp_path, keys, vault_dir):
    loaded = load_synthea(engine, synthea_dir)
    assert loaded["Patient"] == PATIENTS and loaded["Observation"] > 100
    state = tmp_path / "capture-state"
    first = capture(vault_dir, keys, state, engine)
    assert f"segment 1 (full): {sum(loaded.values())} put" in first.stdout.decode()
    held = vault_state(vault_dir, keys)
    assert by_type(held) == loaded
    status = run_releve("capture", "status", "--state", state).stdout.decode()
    assert "(search), 1 cycles" in status and "declares no system-level _history" in status

    patient = ids_of(engine, "Patient")[0]
    gone = f"Observation/{ids_of(engine, 'Observation', subject=f'Patient/{patient}')[0]}"
    assert gone in held
    delete(engine, gone)
    walked = capture(vault_dir, keys, state, engine, "--deletion-walk-every", "0")
    assert "0 put, 1 deleted" in walked.stdout.decode()
    after = vault_state(vault_dir, keys)
    assert gone not in after and len(after) == len(held) - 1
    status = run_releve("capture", "status", "--state", state).stdout.decode()
    assert f"{sum(loaded.values()) - 1} ids listed (whole resources), 1 deleted" in status
    said = " ".join(status.split())  # the router honours neither _elements nor _summary
    assert ("whole resources: a search of Patient has _elements=id ignored, _summary=true "
            "ignored") in said


def test_a_mass_deletion_on_the_engine_is_refused(engine, synthea_dir, tmp_path, keys,
                                                  vault_dir):
    loaded = load_synthea(engine, synthea_dir)
    state = tmp_path / "capture-state"
    capture(vault_dir, keys, state, engine)
    before = vault_state(vault_dir, keys)
    observations = [key for key in before if key.startswith("Observation/")]
    assert len(observations) > 0.2 * sum(loaded.values())
    response = httpx.post(engine, json={"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "DELETE", "url": key}} for key in observations]}, timeout=60)
    assert {entry["response"]["status"][:3] for entry in response.json()["entry"]} == {"200"}
    walked = capture(vault_dir, keys, state, engine, "--deletion-walk-every", "0")
    assert f"id walk: mass deletion: {len(observations)} of {len(before)}" in walked.stderr.decode()
    assert vault_state(vault_dir, keys) == before  # the suspect segment is not adopted


def test_an_engine_declaring_a_history_it_leaves_empty_is_captured_by_search(
        synthea_dir, tmp_path, keys, vault_dir):
    """Declared system `_history`, answered with an empty searchset while the type
    searches return data: taken at its word, every later cycle would capture nothing."""
    with running_engine(tmp_path / "engine.log", "history") as engine:
        loaded = load_synthea(engine, synthea_dir)
        state = tmp_path / "capture-state"
        asked = capture(vault_dir, keys, tmp_path / "s", engine, "--mode", "history", check=False)
        assert asked.returncode == 2
        assert "lists nothing while a search of Patient finds resources: use --mode search" in \
            " ".join(asked.stderr.decode().split())
        capture(vault_dir, keys, state, engine)
        status = " ".join(run_releve("capture", "status", "--state", state).stdout.decode().split())
        assert "(search), 1 cycles" in status
        assert ("because the server declares system-level _history, but its _history lists "
                "nothing while a search of Patient finds resources") in status
        gone = f"Observation/{ids_of(engine, 'Observation')[0]}"
        delete(engine, gone)
        patient = ids_of(engine, "Patient")[0]
        changed = httpx.get(f"{engine}/Patient/{patient}", timeout=30).json()
        changed["gender"] = "other"
        assert httpx.put(f"{engine}/Patient/{patient}", json=changed, timeout=30).status_code == 200
        walked = capture(vault_dir, keys, state, engine, "--deletion-walk-every", "0")
        assert "1 put, 0 deleted" in walked.stdout.decode()  # the cycle's own segment
        assert "0 put, 1 deleted" in walked.stdout.decode()  # the id walk's
        held = vault_state(vault_dir, keys)
        assert gone not in held and held[f"Patient/{patient}"]["gender"] == "other"
        assert by_type(held) == loaded - Counter(["Observation"])
