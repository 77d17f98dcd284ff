"""kill -9 of a station while several clients record: nothing acknowledged is lost.

Fifty times, the real station server (`releve station serve`, a subprocess) takes
Observations from four concurrent clients through its local FHIR API and is killed with
SIGKILL at a random moment. A 201 is the station's word that the entry is on disk
(fsynced); after every restart each entry a client got a 201 for must be there, with the
value it sent, every journal must verify (chain and every signature), and what the
station serves must hold only whole entries.
"""

from __future__ import annotations

import functools
import random
import threading
import time
from pathlib import Path

import httpx
import pytest

from releve.journal.book import Journal
from releve.journal.verify import verify_all
from releve.station.local.tokens import Tokens

from conftest import RELEVE, copy_station
from helpers import answers, free_port, start_server

TRIALS = 50
CLIENTS = 4


def _observation(patient: str, value: float) -> dict:
    return {"resourceType": "Observation", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": "vital-signs"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": f"Patient/{patient}"},
            "effectiveDateTime": "2026-01-14T09:30:00+01:00",
            "valueQuantity": {"value": value, "unit": "/min", "system": "http://unitsofmeasure.org",
                              "code": "/min"}}


def _record(base: str, token: str, patient: str, first: int, acked: dict[str, float],
            stop: threading.Event, lock: threading.Lock) -> None:
    """Post until the server dies or the trial ends; keep what got a 201."""
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
        value = first
        while not stop.is_set():
            value += 1
            try:
                answer = client.post("/fhir/Observation", json=_observation(patient, value % 150 + 40))
            except httpx.HTTPError:
                return  # the server is gone: this one was never acknowledged
            if answer.status_code != 201:
                return
            key = answer.json()["meta"]["source"].removeprefix("releve-journal:")
            with lock:
                acked[key] = value % 150 + 40


@pytest.fixture(scope="module")
def crash_station(demo_station, tmp_path_factory):
    return copy_station(demo_station, tmp_path_factory.mktemp("crash") / "station")


def test_kill_9_during_concurrent_writes_loses_no_acknowledged_entry(crash_station, tmp_path: Path):
    from releve.station.index.connection import reader

    conn = reader(crash_station.dir)
    patient = conn.execute("SELECT DISTINCT patient FROM stays WHERE current = 1 LIMIT 1").fetchone()[0]
    conn.close()
    rng = random.Random(17)
    acked: dict[str, float] = {}
    lock = threading.Lock()
    tokens = [Tokens(crash_station.dir).add(f"scope-{n}", "nurse") for n in range(CLIENTS)]
    for trial in range(TRIALS):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server, _ = start_server([*RELEVE, "station", "serve", "--station", crash_station.dir,
                                  "--port", str(port)], functools.partial(answers, f"{base}/health"),
                                 what="the station", log=tmp_path / f"serve-{trial}.log")
        try:
            stop = threading.Event()
            threads = [threading.Thread(target=_record, args=(base, tokens[n], patient,
                                                              trial * 100_000 + n * 10_000, acked, stop, lock))
                       for n in range(CLIENTS)]
            for thread in threads:
                thread.start()
            time.sleep(rng.uniform(0.05, 0.6))
            server.kill()
            stop.set()
            for thread in threads:
                thread.join(20)
        finally:
            server.stop()
    assert len(acked) > TRIALS  # the clients did write, trial after trial
    journal = Journal(crash_station.dir)
    for key, value in acked.items():
        entry = journal.entry(key)
        assert entry is not None, f"acknowledged entry {key} lost"
        assert entry.resource["valueQuantity"]["value"] == value
    report = verify_all(crash_station.dir)
    assert report.sound, [v.problem for v in report.verdicts]
    own = next(v for v in report.verdicts if v.station == journal.station)
    assert own.entries >= len(acked)
