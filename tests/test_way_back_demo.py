"""The way back on the demo system, end to end (issue 18): capture, attack, entries
recorded on two stations during the outage, `releve demo restore`, `releve journal
reconcile`, `releve verify`, each as the operator runs it, with the command lines that
`releve demo restore` prints.

The HIS runs without activity (hidden `--no-activity`), and the capture makes its first
cycle only (an interval longer than the test): the backup the attack keeps is then
exactly the vault's last good state, so that verify must find every resource of the
restored HIS identical but the ones the journal filed. (The clock is pinned: every
segment is written at the same instant, so `--as-of`, which keeps a running capture's
later segments out on a real demo, cannot tell them apart here.)

Recorded during the outage: on Urgences, through its pages as `infirmiere`, the admission
of a downtime patient (Patient + Encounter), a weight and its correction; on Cardiologie,
through its local FHIR API with a nurse token, a pulse of the downtime patient pulled
from Urgences, a pulse and an administration of a patient of its own.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
import signal
import subprocess
import time
from pathlib import Path

import httpx
import orjson
import pytest

from releve.journal import index
from releve.journal.book import Journal, current
from releve.journal.entry import Entry
from releve.journal.fates import DONE
from releve.journal.kinds import administration
from releve.station.index.connection import reader
from releve.station.local.identifiers import Identifiers
from releve.station.sync import Settings as StationSettings
from test_demo_system import current_patient, nurse_wards, state_time, stop_demo
from test_rec_movements import csrf, free_spot
from test_station_fhir_api import pulse
from test_station_web import Site

from conftest import NOW, RELEVE, run_releve
from helpers import alive, free_port_pair, wait_until

WARDS = ("urgences", "cardiologie")
SMALL = ["--beds", "20", "--patients", "600", "--capture-interval", "600", "--sync-interval", "1",
         "--no-activity"]
JOURNAL_SYSTEM = "urn:ietf:rfc:3986"

pytestmark = pytest.mark.slow  # the whole demo: a hospital, its HIS, capture, two stations


@pytest.fixture
def demo(tmp_path):
    """The demo running in tmp_path/demo, its first station's pages on `port`; stopped
    at the end, no component left behind."""
    folder, port = tmp_path / "demo", free_port_pair()
    with open(tmp_path / "demo.out", "ab") as log:
        process = subprocess.Popen([*RELEVE, "demo", "--dir", str(folder), "--port", str(port),
                                    *SMALL], stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    try:
        yield folder, port, tmp_path / "demo.out"
    finally:
        below = stop_demo(process, signal.SIGINT)
        assert not [pid for pid in below if alive(pid)], "a component outlived the demo"


def test_the_way_back_files_every_entry_once_and_verify_explains_them(demo):
    folder, port, out = demo
    started = time.monotonic()
    stations = {ward: folder / "stations" / ward for ward in WARDS}
    bases = {ward: f"http://127.0.0.1:{port + n}" for n, ward in enumerate(WARDS)}
    wait_until("a first sync on both stations", lambda: all(
        reader(s) is not None and state_time(s) for s in stations.values()), 120)
    units = {ward: wait_until(f"the {ward} staff attached", lambda s=station: nurse_wards(s), 30)
             for ward, station in stations.items()}
    for ward, station in stations.items():
        wait_until(f"{ward}'s downtime ranges", lambda s=station: Identifiers(s).ranges(), 30)
    his = f"http://127.0.0.1:{orjson.loads((folder / 'demo.json').read_bytes())['his_port']}"
    patients = {ward: current_patient(stations[ward], units[ward])["id"] for ward in WARDS}
    before = {path: his_json(his, path) for path in (f"Patient/{patients['urgences']}",
                                                     f"Patient/{patients['cardiologie']}")}
    totals = {rtype: his_total(his, rtype) for rtype in ("Patient", "Encounter", "Observation")}
    pids = run_file(folder)["processes"]
    timings = {"demo up": time.monotonic() - started}

    # the ransomware: the HIS's last backup kept first
    attack = run_releve("demo", "attack", "--dir", folder).stdout.decode()
    assert "last backup before the attack" in attack and (folder / "backup" / "his.db").exists()
    assert (folder / "backup" / "his.db").stat().st_mode & 0o777 == 0o600
    attacked = orjson.loads((folder / "attack.json").read_bytes())
    assert attacked["backup_time"] and attacked["encrypted_versions"] > 10_000
    assert not looks_like_json(httpx.get(f"{his}/Patient/{patients['urgences']}", timeout=10))

    # the outage: both wards record
    mark = time.monotonic()
    keys = record_on_urgences(stations["urgences"], bases["urgences"], patients["urgences"])
    admitted = Journal(stations["urgences"]).entry(keys["patient"]).resource["id"]
    wait_until("cardiologie pulling the admission",
               lambda: Journal(stations["cardiologie"]).entry(keys["encounter"]), 30)
    keys.update(record_on_cardiologie(stations["cardiologie"], bases["cardiologie"],
                                      patients["cardiologie"], admitted))
    for ward, station in stations.items():
        wait_until(f"{ward} holding both wards' entries",
                   lambda s=station: all(Journal(s).entry(k) for k in keys.values()), 30)
    entries = held_entries(stations["urgences"])
    assert {e.key for e in entries} == set(keys.values()) | {keys["weight-first"]}
    timings["entries"] = time.monotonic() - mark

    # the IT team restores the HIS from its backup: the other components keep running
    mark = time.monotonic()
    restored = run_releve("demo", "restore", "--dir", folder).stdout.decode()
    timings["restore"] = time.monotonic() - mark
    assert "HIS restored" in restored and "downtime stays declared" in restored
    after = run_file(folder)["processes"]
    assert after["his"] != pids["his"]
    assert {n: p for n, p in after.items() if n != "his"} == {
        n: p for n, p in pids.items() if n != "his"}, "only the HIS was restarted"
    for path, resource in before.items():
        assert his_json(his, path) == resource, f"{path} as it stood before the attack"
    assert {rtype: his_total(his, rtype) for rtype in totals} == totals
    for station in stations.values():
        assert StationSettings.load(station).downtime, "the wards keep the downtime"
    again = run_releve("demo", "restore", "--dir", folder, check=False)
    assert again.returncode == 1 and b"already restored" in again.stderr
    reconcile, verify = printed(restored, "releve journal reconcile"), printed(restored, "releve verify")
    assert reconcile[reconcile.index("--station") + 1] == str(stations["urgences"])
    assert reconcile[reconcile.index("--fhir") + 1] == his
    assert verify[verify.index("--as-of") + 1] == attacked["backup_time"]
    assert verify[verify.index("--identity") + 1] == str(folder / "keys" / "urgences.key")

    # ---- from here on: `releve journal reconcile`, `identities` and `releve verify` ----
    mark = time.monotonic()
    first = run_releve(*reconcile[1:], check=False)
    assert first.returncode == 1, first.stdout.decode()[-2000:] + first.stderr.decode()[-2000:]
    report = orjson.loads(Path(reconcile[reconcile.index("--report") + 1]).read_bytes())
    assert [i["patient"] for i in report["identities"]] == [f"Patient/{admitted}"]
    waiting = {e["entry"] for e in report["entries"] if e["state"] == "waiting-identity"}
    assert waiting == {keys["patient"], keys["encounter"], keys["admitted-pulse"]}, report["counts"]
    assert all(e["state"] in DONE for e in report["entries"] if e["entry"] not in waiting)
    run_releve("journal", "identities", "--station", stations["urgences"], "confirm",
               f"Patient/{admitted}", "--create")
    for _ in range(2):  # the second run finds everything filed and files nothing again
        again = run_releve(*reconcile[1:], check=False)
        assert again.returncode == 0, again.stdout.decode()[-3000:] + again.stderr.decode()[-2000:]
    report = orjson.loads(Path(reconcile[reconcile.index("--report") + 1]).read_bytes())
    states = {e["entry"]: e["state"] for e in report["entries"]}
    assert set(states) == {e.key for e in entries} and set(states.values()) <= set(DONE)
    assert states[keys["weight-first"]] == "replaced"
    timings["reconcile"] = time.monotonic() - mark

    filed = {}  # "Type/<HIS id>" of each resource the journal filed, found by its identifier
    for entry in current(entries):
        found = his_search(his, entry.resource["resourceType"],
                           {"identifier": f"{JOURNAL_SYSTEM}|{entry.identifier}"})
        assert len(found) == 1, f"{entry.key} ({entry.kind}) in the HIS {len(found)} times"
        filed[entry.key] = f"{entry.resource['resourceType']}/{found[0]['id']}"
    assert filed[keys["patient"]] != f"Patient/{patients['urgences']}"
    pulse = his_json(his, filed[keys["admitted-pulse"]])
    assert pulse["subject"]["reference"] == filed[keys["patient"]], "rewritten to the HIS's id"
    weight = his_json(his, filed[keys["weight"]])
    assert weight["valueQuantity"]["value"] == 74.5, "the correction, as its final version"

    mark = time.monotonic()
    result = run_releve(*verify[1:], check=False)
    timings["verify"] = time.monotonic() - mark
    assert result.returncode == 0, result.stdout.decode()[-3000:] + result.stderr.decode()[-2000:]
    verdicts = verify_verdicts(Path(verify[verify.index("--out") + 1]))
    assert verdicts["missing"] == set() and verdicts["changed"] == set()
    extra = verdicts["extra"]
    provenances = {key for key in extra if key.startswith("Provenance/")}
    assert extra - provenances == set(filed.values()), "exactly the entries' resources are extra"
    assert len(provenances) == 1, "the replaced weight's history, once"
    assert verdicts["unexplained"] == set()
    print("timings (s):", {k: round(v, 1) for k, v in timings.items()},
          "total", round(time.monotonic() - started, 1))


# --- recording during the outage -------------------------------------------------------------


def record_on_urgences(station: Path, base: str, patient: str) -> dict[str, str]:
    """Through the pages, as `infirmiere`: a downtime admission, a weight, its correction."""
    nurse = Site(base).login("infirmiere", "demo")
    journal = Journal(station)
    ward, bed, _ = free_spot(station)  # Urgences has no bed of its own in so small a hospital
    opened = nurse.post(f"/wards/{ward}/break-glass", data={
        "reason": "autre", "text": "admission depuis les urgences", "next": f"/wards/{ward}/admit"})
    assert opened.status_code == 303, opened.text[-1000:]
    answer = nurse.post(f"/wards/{ward}/admit", data={
        "csrf": csrf(nurse, f"/wards/{ward}/admit"), "family": "Vasseur-Relève",
        "given": "Odile", "birth_date": "02/09/1948", "sex": "female", "class": "IMP",
        "bed": bed, "ins": ""})
    assert answer.status_code == 303, answer.text[-2000:]
    admission = own_entries(journal)[-2:]
    assert [e.kind for e in admission] == ["admission", "admission"]
    by_type = {e.resource["resourceType"]: e for e in admission}
    page = f"/patients/{patient}"
    answer = nurse.post(f"{page}/vitals", data={"csrf": csrf(nurse, page), "weight": "72",
                                                "when": "09:59"})
    assert answer.status_code == 303, answer.text[-2000:]
    weight = own_entries(journal)[-1]
    correct = f"{page}/entries/{weight.station}/{weight.seq}/correct"
    answer = nurse.post(correct, data={"csrf": csrf(nurse, page), "weight": "74,5",
                                       "when": "09:59", "reason": "pesée refaite"})
    assert answer.status_code == 303, answer.text[-2000:]
    corrected = own_entries(journal)[-1]
    assert corrected.supersedes == weight.key
    return {"patient": by_type["Patient"].key, "encounter": by_type["Encounter"].key,
            "weight-first": weight.key, "weight": corrected.key}


def record_on_cardiologie(station: Path, base: str, patient: str, admitted: str) -> dict[str, str]:
    """Through the local FHIR API with a nurse token: a pulse of the patient admitted on
    Urgences, a pulse and a dose of one of the ward's patients' active orders."""
    token = run_releve("station", "token", "add", "scope-1", "--role", "nurse", "--station",
                       station).stdout.decode().strip()
    keys = {"admitted-pulse": post_fhir(base, token, pulse(admitted, 104)),
            "pulse": post_fhir(base, token, pulse(patient, 93))}
    conn = reader(station)
    try:
        owner, order_id, raw = conn.execute(
            "SELECT patient, id, json FROM resources WHERE type = 'MedicationRequest' "
            "AND patient IN (SELECT patient FROM stays WHERE current = 1) "
            "AND CAST(json AS TEXT) LIKE '%\"status\":\"active\"%' ORDER BY patient, id").fetchone()
    finally:
        conn.close()
    order = orjson.loads(raw)
    context = administration.AdministrationContext(
        now=dt.datetime.fromisoformat(NOW), zone="Europe/Paris", patient=f"Patient/{owner}",
        role="nurse", orders={f"MedicationRequest/{order_id}": order})
    dose = administration.prescribed_dose(order) or {}
    given = administration.from_form(
        {"outcome": "given", "time": "09:55", "request": order_id,
         "dose": str(dose.get("value", "")), "unit": str(dose.get("unit", ""))}, context).resource
    keys["dose"] = post_fhir(base, token, given)
    return keys


def post_fhir(base: str, token: str, resource: dict) -> str:
    """The key of the journal entry the station's API records for `resource`."""
    answer = httpx.post(f"{base}/fhir/{resource['resourceType']}", json=resource, timeout=30,
                        headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 201, answer.text
    return answer.json()["meta"]["source"].removeprefix("releve-journal:")


def own_entries(journal: Journal) -> list[Entry]:
    """This station's entries, in the order written."""
    return sorted((e for e in held_entries_of(journal) if e.station == journal.station),
                  key=lambda e: e.seq)


def held_entries_of(journal: Journal) -> list[Entry]:
    return list(index.since(journal.db()))


def held_entries(station: Path) -> list[Entry]:
    return held_entries_of(Journal(station))


# --- reading the HIS, the demo and the reports ---------------------------------------------------


def his_json(his: str, path: str) -> dict:
    answer = httpx.get(f"{his}/{path}", timeout=30)
    assert answer.status_code == 200, answer.text[:300]
    return answer.json()


def his_search(his: str, rtype: str, params: dict) -> list[dict]:
    answer = httpx.get(f"{his}/{rtype}", params={**params, "_count": "50"}, timeout=30)
    assert answer.status_code == 200, answer.text[:500]
    return [e["resource"] for e in answer.json().get("entry", [])]


def his_total(his: str, rtype: str) -> int:
    answer = httpx.get(f"{his}/{rtype}", params={"_count": "1"}, timeout=30)
    assert answer.status_code == 200, answer.text[:300]
    return answer.json()["total"]


def looks_like_json(answer: httpx.Response) -> bool:
    try:
        answer.json()
    except ValueError:
        return False
    return True


def run_file(folder: Path) -> dict:
    return orjson.loads((folder / "run.json").read_bytes())


def printed(text: str, command: str) -> list[str]:
    """The command line `releve demo restore` printed that starts with `command`."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip().startswith(command)), None)
    assert line, f"`{command}` in what restore printed:\n{text}"
    return shlex.split(line)


def verify_verdicts(report: Path) -> dict[str, set[str]]:
    """{"missing"|"changed"|"extra"|"unexplained": {"Type/id"...}} from verify's JSON
    report, whose `resources` list every resource that is not identical."""
    found: dict[str, set[str]] = {"missing": set(), "changed": set(), "extra": set(),
                                  "unexplained": set()}
    for item in json.loads(report.read_text())["resources"]:
        key = f"{item['type']}/{item['id']}"
        found.setdefault(item["status"], set()).add(key)
        if not item["explained"]:
            found["unexplained"].add(key)
    return found
