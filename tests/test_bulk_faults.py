"""Bulk export as real servers serve it, over real HTTP against the demo HIS and its
fault switches (demo/his/bulk_faults.py): error files write nothing and the next cycle
completes; transient errors, 429 and 503 are waited out on the same job, visibly; a
capture killed mid-export polls the same job again; the next `_since` is the manifest's
transactionTime."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from releve.demo.his.bulk import Exports
from releve.demo.his.bulk_faults import BulkFaults, parse
from releve.vault.store import LocalVault
from test_capture import capture, fhir_base, server_state, transaction, vault_state

from conftest import RELEVE, run_releve
from helpers import free_port, serving, start_server, wait_until


def his_data(folder: Path) -> Path:
    """60 patients and 120 observations as ndjson (with a name to look for in messages)."""
    lines = []
    for i in range(60):
        lines.append({"resourceType": "Patient", "id": f"p{i}", "gender": "female",
                      "name": [{"family": f"Dupontel{i}", "given": ["Hélène"]}]})
        lines += [{"resourceType": "Observation", "id": f"o{i}-{j}", "status": "final",
                   "code": {"text": "Température"}, "subject": {"reference": f"Patient/p{i}"},
                   "valueQuantity": {"value": 37.5, "unit": "°C"}} for j in range(2)]
    path = folder / "his-data.ndjson"
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path


@dataclass
class His:
    base: str
    exports: Exports  # the server's export jobs: its faults can be switched between cycles


@pytest.fixture
def his(tmp_path: Path) -> Iterator[His]:
    """The demo HIS in this process (over loopback), without faults to begin with."""
    from rich.console import Console

    from releve.demo.his.load import populate
    from releve.demo.his.server import create_app
    from releve.demo.his.store import Store

    store = Store(tmp_path / "his.db")
    populate(store, 1, 10, None, [his_data(tmp_path)], Console(quiet=True))
    app = create_app(store, export_dir=tmp_path / "exports")
    try:
        with serving(app, log_level="error") as url:
            yield His(url, app.state.exports)
    finally:
        store.close()


def bulk(vault: Path, keys, state: Path, base: str, *extra: str, check: bool = True):
    return capture(vault, keys, state, base, "--mode", "bulk", *extra, check=check)


def status_file(state: Path) -> dict:
    return orjson.loads((state / "capture.json").read_bytes())


def test_an_error_file_writes_nothing_and_the_next_export_completes(tmp_path, keys, vault_dir):
    """`releve demo his --bulk-fault error-file:Observation --bulk-fault-exports 1`: the
    first export lists Observation's file in `error`. No short full segment: nothing is
    written, the mark stays, the server's words are quoted; the next export completes."""
    port = free_port()
    server, base = start_server(
        [*RELEVE, "demo", "his", "--port", str(port), "--load", his_data(tmp_path), "--db",
         tmp_path / "his.sqlite", "--bulk-fault", "error-file:Observation",
         "--bulk-fault-exports", "1"],
        lambda: fhir_base(f"http://127.0.0.1:{port}"), what="the demo HIS")
    state = tmp_path / "state"
    try:
        failed = bulk(vault_dir, keys, state, base, check=False)
        err = failed.stderr.decode()
        assert failed.returncode == 1, err
        assert "could not export everything" in err
        assert "Observation: the export of this type failed (simulated fault" in err
        assert "Dupontel" not in err + failed.stdout.decode()  # OperationOutcome text only
        assert LocalVault(vault_dir).sequence_numbers() == []  # stations have nothing to adopt
        saved = status_file(state)
        assert saved["since"] is None and saved["bulk_job"] == {}
        shown = run_releve("capture", "status", "--state", state, check=False)
        assert shown.returncode == 1 and "the last cycle failed: $export: the server could " \
            "not export everything" in shown.stdout.decode()

        done = bulk(vault_dir, keys, state, base)
        assert "segment 1 (full): 180 put" in done.stdout.decode()
        assert vault_state(vault_dir, keys) == server_state(base)
    finally:
        server.stop()


def test_an_error_file_in_a_delta_keeps_the_mark(his, tmp_path, keys, vault_dir):
    state = tmp_path / "state"
    bulk(vault_dir, keys, state, his.base)
    mark = status_file(state)["since"]
    transaction(his.base, [
        {"resource": {"resourceType": "Patient", "id": "p1", "gender": "male"},
         "request": {"method": "PUT", "url": "Patient/p1"}},
        {"request": {"method": "DELETE", "url": "Observation/o2-0"}}])
    his.exports.faults = BulkFaults(error_file="Patient")
    failed = bulk(vault_dir, keys, state, his.base, check=False)
    assert failed.returncode == 1 and "Patient: the export of this type failed" in failed.stderr.decode()
    assert status_file(state)["since"] == mark
    assert LocalVault(vault_dir).sequence_numbers() == [1]
    assert his.exports.jobs == {}  # the failed job's status URL was DELETEd

    his.exports.faults = BulkFaults()
    done = bulk(vault_dir, keys, state, his.base)
    assert "segment 2 (delta): 1 put, 1 deleted" in done.stdout.decode()
    assert vault_state(vault_dir, keys) == server_state(his.base)


def test_transient_errors_and_throttling_are_waited_out_on_the_same_job(his, tmp_path, keys,
                                                                         vault_dir):
    """500 `transient` twice, a 429 and a 503 with Retry-After, two polls of a slow job:
    one export, completed; each wait said, X-Progress shown and kept in the status."""
    his.exports.faults = BulkFaults(transient=2, throttle=2, unavailable=1, slow=2)
    state = tmp_path / "state"
    done = bulk(vault_dir, keys, state, his.base)
    out = done.stdout.decode()
    assert "segment 1 (full): 180 put" in out
    assert "export: waiting" in out and "HTTP 500, transient: export status unavailable" in out
    assert "HTTP 429, Retry-After 2" in out and "HTTP 503, Retry-After 1" in out
    assert "export: preparing the files: poll 1 of 2" in out
    assert his.exports.started == 1
    assert vault_state(vault_dir, keys) == server_state(his.base)
    saved = status_file(state)
    export = saved["last_cycle"]["export"]
    assert export["polls"] == 7 and export["progress"] == "preparing the files: poll 2 of 2"
    assert saved["since"] == export["transaction_time"]
    assert saved["last_cycle"]["longest_wait"] >= 2

    shown = run_releve("capture", "status", "--state", state, "--interval", "1", check=False)
    text = shown.stdout.decode()
    assert "last export: 7 polls" in text and "poll 2 of 2" in text
    assert shown.returncode == 1 and "made the capture wait 2 s, longer than the interval" in text


def test_a_retry_after_beyond_the_cap_is_capped(his):
    from releve.fhir import bulk as bulk_client
    from releve.fhir.client import FhirClient, Retry

    his.exports.faults = BulkFaults(throttle=1000)
    waits: list[float] = []
    client = FhirClient(his.base, retry=Retry(max_retry_after=300), sleep=waits.append)
    try:
        url = bulk_client.kick_off(client, {})
        manifest, polling = bulk_client.poll(client, url)
    finally:
        client.close()
    assert manifest["output"] and polling.polls >= 2
    assert waits[0] == 300.0 and polling.waited >= 300.0


def test_a_capture_killed_during_a_slow_export_polls_the_same_job_again(his, tmp_path, keys,
                                                                       vault_dir):
    his.exports.faults = BulkFaults(slow=5)
    state = tmp_path / "state"
    capturing = subprocess.Popen([*RELEVE, "capture", "--vault", str(vault_dir), "--fhir",
                                  his.base, "--signing-key", str(keys.signing_key), "--state",
                                  str(state), "--once", "--mode", "bulk"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until("two polls of the export", lambda: (state / "capture.json").exists()
                   and status_file(state)["bulk_job"].get("polls", 0) >= 2, step=0.05)
    finally:
        os.kill(capturing.pid, signal.SIGKILL)
        capturing.wait()
    job = status_file(state)["bulk_job"]
    assert "$export-status/" in job["status_url"] and job["since"] is None
    assert LocalVault(vault_dir).sequence_numbers() == []
    shown = run_releve("capture", "status", "--state", state, check=False).stdout.decode()
    assert "export in progress: job kicked off at" in shown and "preparing the files: poll" in shown

    resumed = bulk(vault_dir, keys, state, his.base)
    out = resumed.stdout.decode()
    assert "export: polling again the job kicked off at" in out
    assert "segment 1 (full): 180 put" in out
    assert his.exports.started == 1  # the same job, not a new export
    assert vault_state(vault_dir, keys) == server_state(his.base)
    assert LocalVault(vault_dir).sequence_numbers() == [1]
    assert status_file(state)["bulk_job"] == {} and his.exports.jobs == {}


def test_a_job_the_server_forgot_is_exported_anew(his, tmp_path, keys, vault_dir):
    state = tmp_path / "state"
    bulk(vault_dir, keys, state, his.base)
    saved = status_file(state)
    his.exports.faults = BulkFaults(slow=1)
    job_url = f"{his.base}/$export-status/0123456789abcdef"  # what a restarted server forgot
    saved["bulk_job"] = {"status_url": job_url, "since": saved["since"], "kicked_off": "then"}
    (state / "capture.json").write_bytes(orjson.dumps(saved))
    transaction(his.base, [{"resource": {"resourceType": "Patient", "id": "p9", "gender": "male"},
                            "request": {"method": "PUT", "url": "Patient/p9"}}])
    done = bulk(vault_dir, keys, state, his.base)
    out = done.stdout.decode()
    assert "the server no longer knows that job; starting a new export" in out
    assert "segment 2 (delta): 1 put, 0 deleted" in out
    assert his.exports.started == 2
    assert vault_state(vault_dir, keys) == server_state(his.base)


def test_the_next_since_is_the_manifests_transaction_time(his, tmp_path, keys, vault_dir):
    """Not our clock, nor the server's minus an overlap: the demo HIS's transactionTime is
    its newest lastUpdated, and `_since` keeps what changed strictly after it."""
    state = tmp_path / "state"
    bulk(vault_dir, keys, state, his.base)
    newest = max(r["meta"]["lastUpdated"] for r in server_state(his.base).values())
    assert status_file(state)["since"] == newest
    transaction(his.base, [{"resource": {"resourceType": "Patient", "id": "p3", "gender": "male"},
                            "request": {"method": "PUT", "url": "Patient/p3"}}])
    bulk(vault_dir, keys, state, his.base)
    assert status_file(state)["since"] == server_state(his.base)["Patient/p3"]["meta"]["lastUpdated"]
    assert status_file(state)["last_cycle"]["seen"] == 1


def test_fault_specs_are_parsed_or_refused():
    from releve.demo.his.fhir import HisError

    assert parse(["error-file", "transient:3", "throttle:5", "slow:4"], 2) == BulkFaults(
        error_file="", transient=3, throttle=5.0, slow=4, exports=2)
    assert parse(["unavailable"]) == BulkFaults(unavailable=2.0)
    for wrong in ("slow", "error-file:Spaceship", "sideways:1", "transient:x"):
        with pytest.raises(HisError):
            parse([wrong])
