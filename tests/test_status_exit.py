"""`releve capture status` and `releve station status` end with 0 when all is well, 1 when
something needs attention (each reason printed), 2 when the status cannot be read: a
monitoring check or a cron job acts on the exit status alone."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import orjson
import pytest
from starlette.responses import Response

from releve import clock
from releve.capture.attention import Waits
from releve.capture.fhir_capture import Status as CaptureStatus
from releve.capture.files import discover, ndjson_tasks
from releve.capture.writer import Writer
from releve.fhir.client import FhirClient, FhirError, Retry
from releve.station.index.generations import current_generation
from releve.station.sync import Status as SyncStatus
from releve.station.sync import init_station, open_source, sync_once
from releve.vault.keys import load_signer
from releve.vault.store import LocalVault

from conftest import run_releve
from helpers import serving

# --- capture -----------------------------------------------------------------------------------


def _ago(seconds: float) -> str:
    return (clock.now() - dt.timedelta(seconds=seconds)).isoformat()


def _capture(tmp_path: Path, interval: float | None = 30.0, **cycle) -> Path:
    """A capture state whose last cycle started 10 s ago and went well, unless `cycle`
    says otherwise."""
    state = tmp_path / "capture"
    last = {"started": _ago(10), "seconds": 2.0, "ok": True, "kind": "delta", "seen": 12,
            "puts": 12, "deletes": 0, "segment": 7, "suspect": None, "longest_wait": 0.0, **cycle}
    CaptureStatus(fhir="http://his.example/fhir/", cycles=7, last_cycle=last,
                  interval=interval).save(state)
    return state


def capture_status(state: Path, *options: str):
    result = run_releve("capture", "status", "--state", state, *options, check=False)
    return result.returncode, result.stdout.decode() + result.stderr.decode()


def test_capture_all_well_is_0(tmp_path):
    code, shown = capture_status(_capture(tmp_path))
    assert code == 0 and "nothing needs attention" in shown, shown


@pytest.mark.parametrize(("cycle", "reason"), [
    ({"ok": False, "error": "metadata: HTTP 503"}, "the last cycle failed: metadata: HTTP 503"),
    ({"started": _ago(200)}, "no cycle for 200 s (one every 30 s expected)"),
    ({"suspect": "mass deletion: 80 of 180"}, "segment 7 is marked suspect: mass deletion: 80 of 180"),
    ({"seconds": 45.0}, "the last cycle took 45 s, longer than the interval (30 s)"),
    ({"longest_wait": 120.0}, "the FHIR server made the capture wait 120 s, longer than the "
                              "interval (30 s)"),
], ids=["failed", "stale", "suspect", "slow", "waited"])
def test_capture_needing_attention_is_1_with_the_reason(tmp_path, cycle, reason):
    code, shown = capture_status(_capture(tmp_path, **cycle))
    assert code == 1 and f"attention: {reason}" in shown, shown


def test_a_suspect_id_walk_segment_needs_attention_until_a_walk_succeeds(tmp_path):
    state = _capture(tmp_path)
    status = CaptureStatus.load(state)
    status.mode = "bulk"
    status.id_walk = {"started": _ago(10), "ok": True, "listed": 100, "deletes": 0,
                      "segment": 9, "suspect": "mass deletion: 80 of 180", "refused": "ab"}
    status.save(state)
    code, shown = capture_status(state)
    assert code == 1, shown
    assert "attention: segment 9 of the id walk is marked suspect: mass deletion: 80 of 180" in shown
    status.id_walk = {**status.id_walk, "segment": None, "suspect": None, "refused": None}
    status.save(state)
    assert capture_status(state)[0] == 0


def test_capture_lag_is_judged_on_the_interval(tmp_path):
    """A capture run by cron every 5 min (--once: no interval recorded) says its own."""
    state = _capture(tmp_path, interval=None, started=_ago(200))
    assert capture_status(state)[0] == 1  # against the default 30 s
    assert capture_status(state, "--interval", "300")[0] == 0


def test_capture_status_unreadable_is_2(tmp_path):
    assert capture_status(tmp_path / "nowhere")[0] == 2
    (tmp_path / "capture.json").write_text("{not json")
    code, shown = capture_status(tmp_path)
    assert code == 2 and "error" in shown


def test_the_longest_wait_of_a_cycle_is_noted(tmp_path):
    """The FHIR client's pauses (here a Retry-After of 1 s) go to the status."""
    async def busy(scope, receive, send):
        if scope["type"] == "http":
            await Response(status_code=503, headers={"Retry-After": "1"})(scope, receive, send)

    waits = Waits()
    with serving(busy) as url:
        client = FhirClient(url, retry=Retry(attempts=2), sleep=waits)
        with pytest.raises(FhirError, match="still failing"):
            client.get("metadata")
        client.close()
    status = CaptureStatus(last_cycle={"ok": False})
    waits.note(status)
    assert status.last_cycle["longest_wait"] == 1.0 and waits.longest == 0.0


# --- station -----------------------------------------------------------------------------------


def _write(vault: Path, keys, state: Path, lines: list[dict], suspect: str | None = None) -> None:
    """One segment of `lines` in the vault, written as the capture writes it."""
    folder = state.parent / "inputs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"part-{len(list(folder.iterdir()))}.ndjson"
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    source = discover([path])[0]
    writer = Writer(LocalVault(vault), load_signer(keys.signing_key), state)
    try:
        writer.write(lambda: ndjson_tasks(source), "test", suspect=suspect)
    finally:
        writer.close()


@pytest.fixture
def station(tmp_path, keys, vault_dir) -> Path:
    """A station synced once from a vault holding three patients."""
    _write(vault_dir, keys, tmp_path / "writer", [{"resourceType": "Patient", "id": f"p{i}"}
                                                   for i in range(3)])
    folder = tmp_path / "station"
    init_station(folder, keys.identity, source=open_source(str(vault_dir)))
    sync_once(folder, open_source(str(vault_dir)))
    return folder


def station_status(folder: Path, env: dict | None = None):
    result = run_releve("station", "status", "--station", folder, check=False, env=env)
    return result.returncode, result.stdout.decode() + result.stderr.decode()


def _data_time(folder: Path) -> dt.datetime:
    from releve.station.index.connection import reader
    from releve.station.index.head import read_head

    conn = reader(folder)
    assert conn is not None
    try:
        return dt.datetime.fromisoformat(str(read_head(conn).state_time).replace("Z", "+00:00"))
    finally:
        conn.close()


def _pinned(instant: dt.datetime) -> dict:
    return {clock.ENV: instant.isoformat()}


def test_station_all_well_is_0(station):
    code, shown = station_status(station, _pinned(_data_time(station) + dt.timedelta(minutes=3)))
    assert code == 0 and "nothing needs attention" in shown, shown


def test_station_with_old_data_is_1(station):
    later = _pinned(_data_time(station) + dt.timedelta(minutes=40))
    code, shown = station_status(station, later)
    assert code == 1 and "attention: the data is 40 min old (more than 15 min)" in shown, shown


def test_station_whose_sync_fails_is_1(station):
    state = SyncStatus.load(station)
    state.error = "the vault answered 502"
    state.save(station)
    code, shown = station_status(station, _pinned(_data_time(station)))
    assert code == 1 and "attention: the last sync failed: the vault answered 502" in shown


def test_station_frozen_on_a_suspect_segment_is_1(station, tmp_path, keys, vault_dir):
    _write(vault_dir, keys, tmp_path / "writer", [{"resourceType": "Patient", "id": "p9"}],
           suspect="the HIS answers ciphertext")
    assert sync_once(station, open_source(str(vault_dir))).skipped == [2]
    code, shown = station_status(station, _pinned(_data_time(station)))
    assert code == 1, shown
    assert ("attention: frozen at segment 1: suspect segment 2 not adopted (the HIS answers "
            "ciphertext)") in shown


def test_station_with_a_held_segment_is_1(station):
    state = SyncStatus.load(station)
    state.held = {"seq": 2, "sha256": "0" * 64, "kind": "delta", "reason": "removes 90% of the "
                  "patients", "share": 0.5, "since": clock.utc_text()}
    state.save(station)
    code, shown = station_status(station, _pinned(_data_time(station)))
    assert code == 1 and "attention: segment 2 is held, not applied" in shown


def test_station_with_a_damaged_index_is_1(station):
    when = _data_time(station)
    generation = current_generation(station)
    assert generation is not None
    generation.write_bytes(b"this is not a SQLite database" * 100)
    code, shown = station_status(station, _pinned(when))
    assert code == 1 and "attention: the index cannot be used" in shown, shown


def test_station_without_data_is_1(tmp_path, keys):
    folder = tmp_path / "fresh"
    init_station(folder, keys.identity)
    code, shown = station_status(folder)
    assert code == 1 and "attention: the station holds no data yet" in shown


def test_station_status_unreadable_is_2(station, tmp_path):
    assert station_status(tmp_path / "nowhere")[0] == 2
    (station / "sync.json").write_text("{broken")
    assert station_status(station)[0] == 2
