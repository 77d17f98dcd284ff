"""Capture from the demo HIS over real HTTP: the vault ends equal to the server, deletes
included, and poisoned cycles are flagged, not adopted."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from releve.vault.keys import load_identities
from releve.vault.state import current_records
from releve.vault.store import LocalVault

from conftest import RELEVE, run_releve
from helpers import ServerProcess, answers, free_port, make_ca_and_server_cert, serving, start_server, wait_until

TYPES = ("Patient", "Observation")


@pytest.fixture
def his(tmp_path: Path) -> Iterator[str]:
    """The demo HIS serving 60 patients and 120 observations; yields its FHIR base URL."""
    data = tmp_path / "his-data.ndjson"
    lines = []
    for i in range(60):
        lines.append({"resourceType": "Patient", "id": f"p{i}", "gender": "female",
                      "name": [{"family": f"Martin{i}", "given": ["Hélène"]}]})
        for j in range(2):
            lines.append({"resourceType": "Observation", "id": f"o{i}-{j}", "status": "final",
                          "code": {"text": "Température"}, "subject": {"reference": f"Patient/p{i}"},
                          "valueQuantity": {"value": 37.50, "unit": "°C"}})
    data.write_bytes(b"".join(orjson.dumps(line).replace(b"37.5", b"37.50") + b"\n" for line in lines))
    server, base = start_his(data, tmp_path / "his.sqlite")
    try:
        yield base
    finally:
        server.stop()


def start_his(load: Path, db: Path, port: int | None = None,
              *extra: str) -> tuple[ServerProcess, str]:
    """`releve demo his` serving `load` from `db` on `port` (a free one by default), with
    `extra` options; it and its FHIR base."""
    port = port or free_port()
    return start_server([*RELEVE, "demo", "his", "--port", str(port), "--load", load, "--db", db,
                         *extra],
                        lambda: fhir_base(f"http://127.0.0.1:{port}"), what="the demo HIS")


def fhir_base(url: str) -> str | None:
    """The FHIR base under `url` whose metadata answers now, if any."""
    return next((base for base in (f"{url}/fhir", url) if answers(f"{base}/metadata")), None)


def his_base(url: str) -> str:
    """The FHIR base of a server started under `url`, once it answers."""
    return wait_until("the HIS's metadata", lambda: fhir_base(url))


def server_state(base: str, types: tuple[str, ...] | list[str] = TYPES) -> dict[str, dict]:
    """Every current resource of the server, read by paging through searches."""
    found = {}
    for rtype in types:
        url: str | None = f"{base}/{rtype}?_count=500"
        while url:
            bundle = httpx.get(url, timeout=30).json()
            for entry in bundle.get("entry", []):
                resource = entry["resource"]
                found[f"{resource['resourceType']}/{resource['id']}"] = resource
            url = next((link["url"] for link in bundle.get("link", []) if link["relation"] == "next"), None)
    return found


def vault_state(vault: Path, keys) -> dict[str, dict]:
    lines = dict(current_records(LocalVault(vault), load_identities(keys.identity)))
    return {key: orjson.loads(line) for key, line in lines.items()}


def transaction(base: str, entries: list[dict]) -> None:
    response = httpx.post(base, json={"resourceType": "Bundle", "type": "transaction",
                                      "entry": entries}, timeout=30,
                          headers={"Content-Type": "application/fhir+json"})
    assert response.status_code == 200, response.text


def capture(vault: Path, keys, state: Path, base: str, *extra: str, check: bool = True):
    return run_releve("capture", "--vault", vault, "--fhir", base, "--signing-key",
                      keys.signing_key, "--state", state, "--once", *extra, check=check)


def strip_meta(resources: dict[str, dict]) -> dict[str, dict]:
    return {key: {k: v for k, v in r.items() if k != "meta"} for key, r in resources.items()}


@pytest.mark.parametrize("mode", ["history", "search", "bulk"])
def test_vault_follows_the_server(his, tmp_path, keys, vault_dir, mode):
    state = tmp_path / "capture-state"
    first = capture(vault_dir, keys, state, his, "--mode", mode)
    assert "segment 1 (full): 180 put" in first.stdout.decode()
    assert vault_state(vault_dir, keys) == server_state(his)
    # decimals arrive as the server wrote them
    segment = LocalVault(vault_dir).segment_path(1)
    plain = subprocess.run(f"age -d -i {keys.identity} {segment} | zstd -d", shell=True,
                           capture_output=True, check=True).stdout
    assert b'"value":37.50' in plain

    transaction(his, [
        {"resource": {"resourceType": "Patient", "id": "p1", "gender": "male"},
         "request": {"method": "PUT", "url": "Patient/p1"}},
        {"resource": {"resourceType": "Patient", "id": "p-new", "gender": "female"},
         "request": {"method": "PUT", "url": "Patient/p-new"}},
    ] + ([{"request": {"method": "DELETE", "url": "Patient/p2"}}] if mode != "search" else []))
    second = capture(vault_dir, keys, state, his, "--mode", mode)
    expected = "2 put, 0 deleted" if mode == "search" else "2 put, 1 deleted"
    assert f"segment 2 (delta): {expected}" in second.stdout.decode()
    if mode != "search":  # a search cannot see deletions
        assert vault_state(vault_dir, keys) == server_state(his)
    again = capture(vault_dir, keys, state, his, "--mode", mode)
    assert "nothing changed" in again.stdout.decode()
    status = run_releve("capture", "status", "--state", state).stdout.decode()
    assert "3 cycles" in status and "ok" in status
    assert run_releve("vault", "verify", vault_dir, "--identity", keys.identity).returncode == 0


def test_mass_deletion_is_flagged_and_not_adopted(his, tmp_path, keys, vault_dir):
    state = tmp_path / "capture-state"
    capture(vault_dir, keys, state, his)
    before = vault_state(vault_dir, keys)
    transaction(his, [{"request": {"method": "DELETE", "url": f"Observation/o{i}-{j}"}}
                      for i in range(40) for j in range(2)])
    result = capture(vault_dir, keys, state, his)
    assert "ALERT" in result.stderr.decode() and "mass deletion: 80 of 180" in result.stderr.decode()
    descriptor = LocalVault(vault_dir).info(2).descriptor
    assert descriptor.suspect and "mass deletion" in descriptor.suspect
    assert vault_state(vault_dir, keys) == before  # the suspect segment is not adopted
    shown = run_releve("capture", "status", "--state", state, check=False)
    status = shown.stdout.decode()
    assert shown.returncode == 1 and "alert" in status and "mass deletion" in status


def test_unreachable_server_fails_clearly_and_keeps_the_mark(tmp_path, keys, vault_dir):
    port = free_port()
    result = capture(vault_dir, keys, tmp_path / "s", f"http://127.0.0.1:{port}/fhir",
                     "--retries", "2", check=False)
    assert result.returncode == 1
    assert "capture failed" in result.stderr.decode()
    assert LocalVault(vault_dir).sequence_numbers() == []


@pytest.fixture
def live_his(tmp_path: Path) -> Iterator[tuple[str, object]]:
    """The generated hospital (20 beds) served in-process, its activity stepped by hand."""
    import random

    from rich.console import Console

    from releve.demo.his.activity import Activity
    from releve.demo.his.load import populate
    from releve.demo.his.server import create_app
    from releve.demo.his.store import Store

    store = Store(tmp_path / "his.db")
    populate(store, 3, 20, None, [], Console(quiet=True))
    try:
        with serving(create_app(store), log_level="error") as url:
            yield his_base(url), Activity(store, random.Random(5))
    finally:
        store.close()


def all_types(base: str) -> list[str]:
    statement = httpx.get(f"{base}/metadata", timeout=30).json()
    return sorted(r["type"] for rest in statement["rest"] for r in rest["resource"])


@pytest.mark.slow
def test_with_activity_the_vault_equals_the_server_after_every_cycle(live_his, tmp_path, keys, vault_dir):
    base, activity = live_his
    state = tmp_path / "capture-state"
    capture(vault_dir, keys, state, base)
    types = all_types(base)
    done: list[str] = []
    for _ in range(3):
        for _ in range(4):
            done += activity.step()
        capture(vault_dir, keys, state, base)
        assert vault_state(vault_dir, keys) == server_state(base, types)
    assert len(LocalVault(vault_dir).sequence_numbers()) == 4  # the full one, then a delta a cycle
    assert any(d.startswith(("admission", "discharge", "transfer")) for d in done), done


@pytest.mark.slow
def test_server_killed_mid_cycle_then_back_the_vault_stays_exact(tmp_path, keys, vault_dir):
    """The HIS dies while capture pages through it; the cycle fails without writing or
    moving its mark, and the next cycle, once the server is back, makes the vault exact."""
    data = tmp_path / "many.ndjson"
    data.write_bytes(b"".join(orjson.dumps({"resourceType": "Observation", "id": f"o{i}",
                                            "status": "final", "note": [{"text": "x" * 4000}]})
                              + b"\n" for i in range(20_000)))
    db, port = tmp_path / "his.sqlite", free_port()
    his, base = start_his(data, db, port)
    state = tmp_path / "capture-state"
    capturing = subprocess.Popen([*RELEVE, "capture", "--vault", str(vault_dir), "--fhir", base,
                                  "--signing-key", str(keys.signing_key), "--state", str(state),
                                  "--once", "--retries", "2"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # the walk has begun: its spool of pages is open
    wait_until("the capture's spool of pages", (state / "capture-pages.spool").exists, step=0.005)
    his.kill()
    _, err = capturing.communicate(timeout=120)
    assert capturing.returncode == 1, err.decode()
    assert "capture failed" in err.decode()
    assert LocalVault(vault_dir).sequence_numbers() == []
    his, base = start_his(data, db, port)  # same database and port: the server comes back as it was
    try:
        result = capture(vault_dir, keys, state, base)
        assert "segment 1 (full): 20000 put" in result.stdout.decode()
        assert len(vault_state(vault_dir, keys)) == 20_000
    finally:
        his.stop()


def test_an_encrypted_his_raises_one_alert_in_the_vault(tmp_path, keys, vault_dir):
    """Ransomware encrypted the HIS's data under its FHIR server: answers are noise. The
    cycle fails, writes nothing of it, and leaves one empty suspect segment as the alarm."""
    import os as os_module

    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    statement = {"resourceType": "CapabilityStatement", "status": "active", "kind": "instance",
                 "fhirVersion": "4.0.1", "format": ["json"],
                 "rest": [{"mode": "server", "resource": [
                     {"type": "Patient", "interaction": [{"code": "search-type"}]}]}]}
    app = Starlette(routes=[
        Route("/metadata", lambda request: JSONResponse(statement)),
        Route("/Patient", lambda request: Response(os_module.urandom(4096),
                                                   media_type="application/fhir+json"))])
    with serving(app, log_level="error") as url:
        base = his_base(url)
        state = tmp_path / "capture-state"
        first = capture(vault_dir, keys, state, base, "--retries", "1", check=False)
        assert first.returncode == 1
        assert "ALERT" in first.stderr.decode() and "looks encrypted" in first.stderr.decode()
        second = capture(vault_dir, keys, state, base, "--retries", "1", check=False)
        assert second.returncode == 1 and "ALERT" not in second.stderr.decode()
        vault = LocalVault(vault_dir)
        assert vault.sequence_numbers() == [1]  # one alarm, not one per cycle
        descriptor = vault.info(1).descriptor
        assert descriptor.suspect and "looks encrypted" in descriptor.suspect
        assert (descriptor.puts, descriptor.deletes) == (0, 0)
        shown = run_releve("capture", "status", "--state", state, check=False)
        status = shown.stdout.decode()
        assert shown.returncode == 1 and "looks encrypted" in status and "FAILED" in status


@pytest.mark.slow
def test_a_resource_changed_during_a_page_walk_is_never_missed(live_his, tmp_path, keys,
                                                              vault_dir, monkeypatch):
    """Changes that land while capture pages through the history are taken by the next
    cycle (its _since starts before the walk did), never lost between two walks."""
    import releve.capture.fhir_capture as fhir_capture
    from releve.capture.writer import Writer
    from releve.fhir.client import FhirClient
    from releve.vault.keys import load_signer

    base, activity = live_his
    writer = Writer(LocalVault(vault_dir), load_signer(keys.signing_key), tmp_path / "state")
    client = FhirClient(base)
    status = fhir_capture.Status()
    fhir_capture.run_cycle(client, writer, status, "history")
    for _ in range(6):
        activity.step()  # enough history for several pages of 3
    monkeypatch.setattr(fhir_capture, "PAGE_SIZE", 3)
    pages = 0
    original = client.get

    def get_while_the_hospital_works(*args, **kwargs):
        nonlocal pages
        pages += 1
        if pages == 2:  # between the first and the second page of the walk
            activity.step()
            activity.step()
        return original(*args, **kwargs)

    monkeypatch.setattr(client, "get", get_while_the_hospital_works)
    fhir_capture.run_cycle(client, writer, status, "history")
    assert pages > 2
    monkeypatch.setattr(client, "get", original)
    fhir_capture.run_cycle(client, writer, status, "history")
    writer.close()
    assert vault_state(vault_dir, keys) == server_state(base, all_types(base))


@pytest.mark.slow
def test_synthea_through_the_his_arrives_whole(synthea_dir, tmp_path, keys, vault_dir):
    """Third-party data: the 100 Synthea patients loaded into the HIS, captured, equal."""
    his, base = start_his(synthea_dir, tmp_path / "his.sqlite")
    try:
        result = capture(vault_dir, keys, tmp_path / "state", base)
        assert "(full): 38473 put" in result.stdout.decode()
        assert vault_state(vault_dir, keys) == server_state(base, all_types(base))
    finally:
        his.stop()


def test_interval_loop_runs_cycles_until_interrupted(his, tmp_path, keys, vault_dir):
    import signal

    state = tmp_path / "capture-state"
    process = subprocess.Popen([*RELEVE, "capture", "--vault", str(vault_dir), "--fhir", his,
                                "--signing-key", str(keys.signing_key), "--state", str(state),
                                "--interval", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_until("three capture cycles", lambda: (state / "capture.json").exists() and
               orjson.loads((state / "capture.json").read_bytes())["cycles"] >= 3)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err.decode()
    assert "capture stopped" in err.decode()
    assert "segment 1 (full): 180 put" in out.decode() and "nothing changed" in out.decode()
    assert LocalVault(vault_dir).sequence_numbers() == [1]


def test_tls_with_the_hospitals_own_ca(tmp_path, keys, vault_dir):
    from rich.console import Console

    from releve.demo.his.load import populate
    from releve.demo.his.server import create_app
    from releve.demo.his.store import Store

    ca, cert, key = make_ca_and_server_cert(tmp_path)
    data = tmp_path / "p.ndjson"
    data.write_bytes(b"".join(orjson.dumps({"resourceType": "Patient", "id": f"p{i}"}) + b"\n"
                              for i in range(5)))
    store = Store(tmp_path / "his.db")
    populate(store, 1, 10, None, [data], Console(quiet=True))
    try:
        with serving(create_app(store), log_level="error", ssl_certfile=str(cert),
                     ssl_keyfile=str(key)) as base:
            refused = capture(vault_dir, keys, tmp_path / "s1", base, check=False)
            assert refused.returncode == 1 and "not trusted" in refused.stderr.decode()
            trusted = capture(vault_dir, keys, tmp_path / "s2", base, "--ca-cert", ca)
            assert "segment 1 (full): 5 put" in trusted.stdout.decode()
    finally:
        store.close()


def test_the_overlap_is_kept_unless_the_servers_clock_shows_t0_a_minute_old():
    """A server dating its walks by its clock (T0 = now) keeps the 2 s overlap; one whose
    T0 is its newest version, older than its HTTP Date by a minute or more, needs none."""
    from releve.capture.fhir_capture import next_mark

    t0 = "2026-12-02T04:37:33.396987Z"
    assert next_mark(t0, "Wed, 02 Dec 2026 04:40:43 GMT") == "2026-12-02T04:37:33.396987+00:00"
    assert next_mark(t0, "Wed, 02 Dec 2026 04:37:34 GMT") == "2026-12-02T04:37:31.396987+00:00"
    assert next_mark(t0, None) == "2026-12-02T04:37:31.396987+00:00"
    assert next_mark(t0, "not a date") == "2026-12-02T04:37:31.396987+00:00"
