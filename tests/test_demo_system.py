"""The whole system on one machine, attack included: `releve demo`, `releve demo attack`,
`releve demo status`, for real (processes, loopback HTTP, SQLite, Debian's Chromium).

The demo runs with a small hospital and short intervals (hidden options) so that the
file stays well under three minutes. With RELEVE_DEMO_SCREENSHOTS=FOLDER, the browser
test also writes the README's screenshots there (docs/img holds those of such a run).
"""

from __future__ import annotations

import html
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from releve.capture.fhir_capture import Status as CaptureStatus
from releve.journal import peers
from releve.journal.book import Journal
from releve.station.index.connection import reader
from releve.station.index.head import read_head
from releve.station.local.identifiers import Identifiers
from releve.station.local.tokens import Tokens
from releve.station.local.wards import Wards
from releve.station.sync import Status as SyncStatus
from releve.station.views import census as census_q
from releve.station.views import formats
from releve.vault.store import LocalVault
from test_logs import STAMPED
from test_station_browser import CHROMIUM, CHROMIUM_ARGS

from conftest import RELEVE, run_releve
from helpers import alive, descendants, free_port_pair, wait_until

WARDS = ("urgences", "cardiologie")
SHOTS = os.environ.get("RELEVE_DEMO_SCREENSHOTS")
PATIENTS = "2000" if SHOTS else "600"  # the README's pictures show a larger hospital
SMALL = ["--beds", "60" if SHOTS else "20", "--patients", PATIENTS, "--capture-interval", "3",
         "--sync-interval", "1"]

pytestmark = [pytest.mark.slow,  # the whole demo: a hospital, its HIS, capture, two stations
              pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium "
                                 "(scripts/bootstrap installs it)")]


def start_demo(folder: Path, port: int, log: Path) -> subprocess.Popen:
    with open(log, "ab") as handle:
        return subprocess.Popen([*RELEVE, "demo", "--dir", str(folder), "--port", str(port), *SMALL],
                                stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def stop_demo(process: subprocess.Popen, signum: int) -> set[int]:
    """Signal the demo as a terminal's Ctrl-C (or a service manager) would; return the
    processes it had, all of which must be gone once it has exited."""
    below = descendants(process.pid)
    assert below, "the demo runs its components as child processes"
    process.send_signal(signum)
    assert process.wait(timeout=60) == 0
    return below


def current_patient(station: Path, units: list[str], inside: bool = True) -> dict:
    """A patient with a current stay in these units (or, `inside=False`, elsewhere), one
    with an allergy if there is one."""
    conn = reader(station)
    try:
        rows = conn.execute(
            "SELECT DISTINCT p.id, p.family, p.given, p.ipp FROM patients p "
            "JOIN stays s ON s.patient = p.id WHERE s.current = 1 "
            "ORDER BY NOT EXISTS (SELECT 1 FROM resources r WHERE r.patient = p.id "
            "AND r.type = 'AllergyIntolerance'), p.id").fetchall()
        row = next((r for r in rows if census_q.in_units(conn, r[0], units) == inside), None)
    finally:
        conn.close()
    assert row, f"the demo hospital has a current patient {'in' if inside else 'outside'} {units}"
    return dict(zip(("id", "family", "given", "ipp"), row, strict=True))


def nurse_wards(station: Path) -> list[str]:
    """The units the demo attaches `infirmiere` to once its station has synced."""
    return Wards(station).of("infirmiere")


def state_time(station: Path) -> str:
    conn = reader(station)
    try:
        return read_head(conn).state_time
    finally:
        conn.close()


def shows(page, patient: dict) -> bool:
    """The summary names the patient and shows the IPP."""
    text = page.locator("main").inner_text().casefold()
    return patient["family"].casefold() in text and patient["ipp"].casefold() in text


def sign_in(page, base: str, user: str = "infirmiere") -> None:
    page.goto(f"{base}/login")
    page.fill("#username", user)
    page.fill("#password", "demo")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "/login" not in page.url, f"{user}/demo signs in"


def shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / name))


def status_lines(folder: Path) -> tuple[int, dict[str, str]]:
    done = run_releve("demo", "status", "--dir", folder, check=False, env={"COLUMNS": "250"})
    text = done.stdout.decode()
    lines = {}
    for line in text.splitlines():
        for name in ("demo", "HIS", "vault server", "capture", *(f"station {w}" for w in WARDS),
                     *(f"web {w}" for w in WARDS)):
            if line.startswith(name + " "):
                lines[name] = line[len(name):].strip()
    return done.returncode, lines


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def test_demo_runs_survives_the_attack_and_stops_cleanly(tmp_path, browser):
    folder, port = tmp_path / "demo", free_port_pair()
    demo = start_demo(folder, port, tmp_path / "demo.out")
    stations = {ward: folder / "stations" / ward for ward in WARDS}
    bases = {ward: f"http://127.0.0.1:{port + n}" for n, ward in enumerate(WARDS)}
    try:
        # the first capture reaches both stations
        wait_until("a first sync on both stations", lambda: all(
            reader(s) is not None and state_time(s) for s in stations.values()), 120)
        code, lines = status_lines(folder)
        assert code == 0, lines
        assert lines["HIS"].startswith("ok") and f"{PATIENTS} patients" in lines["HIS"]
        assert lines["capture"].startswith("ok") and lines["station urgences"].startswith("ok")
        banner = (tmp_path / "demo.out").read_text()
        assert f"http://127.0.0.1:{port}/" in banner and f"http://127.0.0.1:{port + 1}/" in banner
        assert "infirmiere" in banner and "medecin" in banner and "admin" in banner
        assert "pharmacien" in banner and "crise" in banner

        # the nurse and the physician work in their station's wards: the ward's patients
        # open at once, any other asks why first (break-glass)
        units = {ward: wait_until(f"the {ward} staff attached to their wards",
                                  lambda s=station: nurse_wards(s), 30)
                 for ward, station in stations.items()}
        assert units["urgences"][0] == "loc-urg" and units["cardiologie"][0].startswith("loc-card")
        assert Wards(stations["urgences"]).of("medecin") == units["urgences"]
        patients = {ward: current_patient(stations[ward], units[ward]) for ward in WARDS}
        patient = patients["urgences"]
        elsewhere = current_patient(stations["urgences"], units["urgences"], inside=False)
        pages = {}
        for ward in WARDS:
            context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 860})
            pages[ward] = context.new_page()
            sign_in(pages[ward], bases[ward])
        page = pages["urgences"]
        if SHOTS:
            page.goto(f"{bases['urgences']}/wards")
            shot(page, "demo-wards.png")
        page.goto(f"{bases['urgences']}/patients/{patient['id']}")
        assert shows(page, patient)
        assert page.locator(".banner.downtime").count() == 0
        shot(page, "demo-patient.png")
        page.goto(f"{bases['urgences']}/patients/{elsewhere['id']}")
        assert "Patient hors de vos services" in page.locator("main").inner_text()
        assert not shows(page, elsewhere)

        # each station hands out its own downtime numbers and pulls the other's journal:
        # what a device records on urgences reaches cardiologie
        ranges = {ward: wait_until(f"{ward}'s downtime ranges",
                                   lambda s=station: Identifiers(s).ranges(), 30)
                  for ward, station in stations.items()}
        assert {r.kind for r in ranges["urgences"]} == {"ipp", "stay"} == {
            r.kind for r in ranges["cardiologie"]}
        assert not [(a, b) for a in ranges["urgences"] for b in ranges["cardiologie"]
                    if a.overlaps(b)]
        pages["cardiologie"].goto(f"{bases['cardiologie']}/wards/{units['cardiologie'][0]}/admit")
        assert "IPP 9901000, séjour 8801000" in pages["cardiologie"].locator(
            ".next-numbers").inner_text()
        key = record_pulse(stations["urgences"], bases["urgences"], patient["id"])
        held = wait_until("the entry pulled by cardiologie",
                          lambda: Journal(stations["cardiologie"]).entry(key), 60)
        assert held.kind == "observation" and held.resource["valueQuantity"]["value"] == 93
        ids = {ward: Journal(station).station for ward, station in stations.items()}
        assert held.station == ids["urgences"] != ids["cardiologie"]
        for station in stations.values():
            verified = run_releve("journal", "verify", "--station", station).stdout.decode()
            assert f"ok   station {ids['urgences']}: " in verified, verified

        # the ransomware
        segments_before = len(list((folder / "vault" / "segments").glob("*.age")))
        attack = run_releve("demo", "attack", "--dir", folder)
        assert b"encrypted in place" in attack.stdout and b"downtime declared on 2" in attack.stdout
        alert = wait_until("the capture's alert", lambda: CaptureStatus.load(folder / "capture").alerts, 60)
        assert "looks encrypted" in alert[-1] or "not JSON" in alert[-1]
        vault = LocalVault(folder / "vault")
        suspects = [seq for seq in vault.sequence_numbers()
                    if vault.info(seq).descriptor.suspect is not None]
        assert len(suspects) == 1 and suspects[0] > segments_before, suspects
        suspect = suspects[0]
        assert "encrypted" in vault.info(suspect).descriptor.suspect
        assert CaptureStatus.load(folder / "capture").last_cycle["ok"] is False
        for ward, station in stations.items():
            wait_until(f"{ward} accounting for the suspect segment", lambda s=station: any(
                skipped["seq"] == suspect for skipped in SyncStatus.load(s).skipped), 60)

        shown = run_releve("capture", "status", "--state", folder / "capture",
                           check=False).stdout.decode()
        assert "FAILED" in shown and "alert:" in shown and "looks encrypted" in shown
        code, lines = status_lines(folder)
        assert code == 1, lines
        assert lines["HIS"].startswith("DOWN") and "encrypted" in lines["HIS"]
        assert lines["capture"].startswith("ALERT") and "looks encrypted" in lines["capture"]
        for ward in WARDS:
            assert lines[f"station {ward}"].startswith("ok")
            assert f"suspect segment {suspect} not adopted" in lines[f"station {ward}"]
            assert "downtime declared" in lines[f"station {ward}"]
            assert lines[f"web {ward}"].startswith("ok")

        # the stations still serve the same patients, with the downtime, and say that their
        # data is frozen at the last safe copy (the attack's segment was refused) and its age
        for ward, page in pages.items():
            page.goto(f"{bases[ward]}/patients/{patients[ward]['id']}")
            assert shows(page, patients[ward])
            downtime = page.locator(".banner.downtime")
            assert downtime.is_visible() and "Cyberattaque" in downtime.inner_text()
            age = page.locator(".banner.data-age").inner_text()
            last_good = formats.datetime_text(state_time(stations[ward]), "Europe/Paris")
            day, hour = last_good.split(" ")
            assert f"Données figées à la dernière copie sûre du {day} à {hour}" in age
            assert "refusées comme suspectes" in age and "il y a" in age
        shot(pages["urgences"], "demo-after-attack.png")
        if SHOTS:
            _status_shot(browser, folder)

        verified = run_releve("vault", "verify", folder / "vault", "--identity",
                              folder / "keys" / "urgences.key")
        assert b"OK" in verified.stdout and f"suspect: {suspect}".encode() in verified.stdout

        logs = "".join(p.read_text(errors="replace") for p in (folder / "logs").glob("*.log"))
        unstamped = [line for line in logs.splitlines()  # each component's log lines are timed
                     if line.strip() and not line.startswith("--- ") and not STAMPED.match(line)]
        assert unstamped == [], unstamped[:5]
        for shown in (*patients.values(), elsewhere):
            assert shown["family"] not in logs and shown["ipp"] not in logs and shown["id"] not in logs
    finally:
        if demo.poll() is None:
            below = stop_demo(demo, signal.SIGINT)
            assert not [pid for pid in below if alive(pid)], "a component outlived the demo"
    assert re.search(r"^\S+ INFO releve\.demo: demo stopped", (tmp_path / "demo.out").read_text(),
                     re.MULTILINE)
    assert not (folder / "run.json").exists()

    # resumed after the attack, on other ports: the same folder, the HIS still encrypted
    # (and idle), the capture still failing on it, the stations serving the last good
    # state and pulling each other at their new addresses, with the same tokens
    keys_before = (folder / "keys" / "urgences.key").read_bytes()
    failures_before = (folder / "logs" / "capture.log").read_text().count("capture failed")
    tokens_before = {ward: [p.token for p in peers.load(s)] for ward, s in stations.items()}
    port = free_port_pair()
    bases = {ward: f"http://127.0.0.1:{port + n}" for n, ward in enumerate(WARDS)}
    demo = start_demo(folder, port, tmp_path / "resumed.out")
    try:
        wait_until("the resumed demo's banner",
                 lambda: "Ctrl-C stops" in (tmp_path / "resumed.out").read_text(), 60)
        for ward, other in (WARDS, WARDS[::-1]):
            assert [(p.name, p.url) for p in peers.load(stations[ward])] == [(other, bases[other])]
            assert [p.token for p in peers.load(stations[ward])] == tokens_before[ward]
            assert [t.name for t in Tokens(stations[other]).list() if t.role == "peer"] == [
                f"peer-{ward}"]
        key = record_pulse(stations["cardiologie"], bases["cardiologie"], patients["cardiologie"]["id"])
        wait_until("the entry pulled by urgences at its new address",
                   lambda: Journal(stations["urgences"]).entry(key), 60)
        assert _answers(f"{bases['cardiologie']}/health")
        resumed = (tmp_path / "resumed.out").read_text()
        assert "encrypted by `releve demo attack`" in resumed
        assert (folder / "keys" / "urgences.key").read_bytes() == keys_before
        page = pages["cardiologie"]
        page.goto(f"{bases['cardiologie']}/patients/{patients['cardiologie']['id']}")
        assert shows(page, patients["cardiologie"])
        wait_until("a capture cycle of the resumed demo", lambda: (
            folder / "logs" / "capture.log").read_text().count("capture failed") > failures_before, 60)
        code, lines = status_lines(folder)
        assert code == 1 and lines["HIS"].startswith("DOWN") and "not JSON" in lines["HIS"]
        assert lines["capture"].startswith("ALERT") and lines["web cardiologie"].startswith("ok")
        assert len([seq for seq in vault.sequence_numbers()
                    if vault.info(seq).descriptor.suspect is not None]) == 1  # one per episode
        assert "already running" in run_releve("demo", "--dir", folder, "--port", str(port),
                                                check=False).stderr.decode()
    finally:
        below = stop_demo(demo, signal.SIGTERM)
    assert not [pid for pid in below if alive(pid)], "a component outlived the demo"
    restarted = restarted_components(folder)
    assert {"his", "capture", "web-urgences", "sync-cardiologie"} <= set(restarted)
    assert "activity step failed" not in (folder / "logs" / "his.log").read_text().split(
        "start his")[-1], "the resumed HIS has no activity"


def record_pulse(station: Path, base: str, patient: str) -> str:
    """A pulse recorded through the station's local FHIR API by a device's nurse token,
    at the pinned clock's time; its journal entry's key."""
    import httpx

    token = run_releve("station", "token", "add", "scope-1", "--role", "nurse", "--station",
                       station).stdout.decode().strip()
    pulse = {"resourceType": "Observation", "status": "final",
             "category": [{"coding": [{"code": "vital-signs", "system":
                                       "http://terminology.hl7.org/CodeSystem/observation-category"}]}],
             "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
             "subject": {"reference": f"Patient/{patient}"},
             "effectiveDateTime": "2026-01-14T09:40:00+01:00",
             "valueQuantity": {"value": 93, "unit": "/min", "system": "http://unitsofmeasure.org",
                               "code": "/min"}}
    answer = httpx.post(f"{base}/fhir/Observation", json=pulse, timeout=30,
                        headers={"Authorization": f"Bearer {token}",
                                 "Content-Type": "application/fhir+json"})
    assert answer.status_code == 201, answer.text
    return answer.json()["meta"]["source"].removeprefix("releve-journal:")


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def restarted_components(folder: Path) -> list[str]:
    """Components started twice, from the start lines of their logs."""
    return [log.stem for log in (folder / "logs").glob("*.log")
            if sum(line.startswith("--- ") for line in log.read_text().splitlines()) >= 2]


def _status_shot(browser, folder: Path) -> None:
    """`releve demo status` after the attack, as a terminal shows it, for the README."""
    text = run_releve("demo", "status", "--dir", folder, check=False,
                      env={"COLUMNS": "150"}).stdout.decode()
    context = browser.new_context(viewport={"width": 1280, "height": 330})
    page = context.new_page()
    page.set_content("<body style='margin:0;background:#1e1e1e'><pre style='color:#eee;"
                     "font:15px/1.45 monospace;padding:16px;white-space:pre-wrap'>"
                     f"$ releve demo status\n{html.escape(text)}</pre></body>")
    shot(page, "demo-status.png")
    context.close()


def test_no_component_outlives_a_killed_demo(tmp_path):
    """kill -9 gives the demo no chance to stop its children: the kernel tells them
    (PR_SET_PDEATHSIG), and they end on their own."""
    folder = tmp_path / "demo"
    demo = start_demo(folder, free_port_pair(), tmp_path / "demo.out")
    try:
        wait_until("the demo's banner", lambda: "Ctrl-C stops" in (tmp_path / "demo.out").read_text(), 120)
        wait_until("a first capture (its workers forked)", lambda: "segment 1 (full)" in (
            folder / "logs" / "capture.log").read_text(), 60)
        below = descendants(demo.pid)
        assert len(below) >= 7, "HIS, vault, capture, two syncs, two web apps"
    finally:
        demo.kill()
        demo.wait()
    wait_until("every component to end", lambda: not [pid for pid in below if alive(pid)], 30)
