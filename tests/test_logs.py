"""Every long-running Relève process logs each line with its time (ISO 8601 with the UTC
offset), level and component: the demo HIS, the capture loop, the vault's server, the
station's sync loop and web app (`releve demo` runs these; tests/test_demo_system.py
reads its logs)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import signal

import orjson

from releve import logs
from releve.station.sync import init_station

from conftest import RELEVE
from helpers import ServerProcess, answers, free_port, start_server, wait_until

STAMPED = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d "
                     r"(DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: \S")
TOKENS = {"RELEVE_WRITER_TOKEN": "w" * 32, "RELEVE_READER_TOKEN": "r" * 32}


def lines_of(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def assert_stamped(text: str, component: str) -> list[str]:
    """Every line stamped, at least one of them by `component`; the lines."""
    lines = lines_of(text)
    assert lines, "nothing logged"
    unstamped = [line for line in lines if not STAMPED.match(line)]
    assert unstamped == [], f"lines without time, level and component: {unstamped[:5]}"
    assert any(f" {component}: " in line for line in lines), lines
    return lines


def interrupted(server: ServerProcess, timeout: float = 30) -> str:
    """Stop as Ctrl-C does; everything the process wrote."""
    server.process.send_signal(signal.SIGINT)
    server.process.wait(timeout)
    return server.output(1 << 20)


def test_the_format_is_iso_time_level_component():
    record = logging.LogRecord("releve.capture", logging.WARNING, __file__, 1, "cycle %s", (3,), None)
    record.created = 1768381200.25  # 2026-01-14T09:00:00.250Z
    line = logs.IsoFormatter(logs.FORMAT).format(record)
    assert STAMPED.match(line) and line.endswith(" WARNING releve.capture: cycle 3")
    time_part = line.split(" ")[0]
    assert dt.datetime.fromisoformat(time_part).timestamp() == 1768381200.25


def test_demo_his_and_capture_loop_lines_are_stamped(tmp_path, keys, vault_dir):
    data = tmp_path / "small.ndjson"
    data.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in [
        {"resourceType": "Location", "id": "unit", "physicalType": {"coding": [{"code": "wa"}]}},
        {"resourceType": "Location", "id": "bed1", "partOf": {"reference": "Location/unit"},
         "physicalType": {"coding": [{"code": "bd"}]}},
        *({"resourceType": "Patient", "id": f"p{i}"} for i in range(5))]))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    his, _ = start_server([*RELEVE, "demo", "his", "--port", str(port), "--load", data,
                           "--activity"], lambda: answers(f"{base}/metadata"),
                          what="the demo HIS", log=tmp_path / "his.log")
    state = tmp_path / "capture"
    try:
        capture = ServerProcess([*RELEVE, "capture", "--vault", vault_dir, "--fhir", base,
                                 "--signing-key", keys.signing_key, "--state", state,
                                 "--interval", "1"], log=tmp_path / "capture.log")
        wait_until("two capture cycles", lambda: (state / "capture.json").exists() and orjson.loads(
            (state / "capture.json").read_bytes())["cycles"] >= 2, 60)
        captured = assert_stamped(interrupted(capture), "releve.capture")
    finally:
        served = interrupted(his)
    assert any("segment 1 (full): 7 put" in line for line in captured)
    assert not any(" httpx: " in line for line in captured)  # no line per request (URLs)
    assert any(line.endswith("capture stopped") for line in captured)
    his_lines = assert_stamped(served, "releve.demo.his")
    assert any("FHIR R4 server at" in line for line in his_lines)


def test_vault_server_and_station_lines_are_stamped(tmp_path, keys, vault_dir):
    port = free_port()
    vault_url = f"http://127.0.0.1:{port}"
    vault, _ = start_server([*RELEVE, "vault", "serve", vault_dir, "--port", str(port)],
                            lambda: answers(f"{vault_url}/v1/head",
                                            {"Authorization": f"Bearer {'r' * 32}"}),
                            what="the vault", env=_env(TOKENS), log=tmp_path / "vault.log")
    station = tmp_path / "station"
    init_station(station, keys.identity)
    web_port = free_port()
    try:
        sync = ServerProcess([*RELEVE, "station", "sync", "--station", station, "--vault",
                              vault_url, "--interval", "1"], env=_env({"RELEVE_TOKEN": "r" * 32}),
                             log=tmp_path / "sync.log")
        wait_until("two sync rounds", lambda: len(lines_of(sync.output())) >= 2, 30)
        synced = assert_stamped(interrupted(sync), "releve.station.sync")
        web, _ = start_server([*RELEVE, "station", "serve", "--station", station, "--port",
                               str(web_port)], lambda: answers(f"http://127.0.0.1:{web_port}/health"),
                              what="the station's web app", log=tmp_path / "web.log")
        web_lines = assert_stamped(interrupted(web), "releve.station.web")
    finally:
        vault_lines = assert_stamped(interrupted(vault), "releve.vault.server")
    assert any("up to date" in line or "sync failed" in line for line in synced), synced
    assert any(line.endswith("sync stopped") for line in synced)
    assert any("station web app on http://" in line for line in web_lines)
    assert any("GET /health 200" in line for line in web_lines)
    assert any("vault served on http://" in line for line in vault_lines)


def _env(extra: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **extra}
