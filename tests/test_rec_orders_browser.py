"""Downtime orders in Debian's Chromium: a physician prescribes from the keyboard, a bad
dose is refused in French with nothing written, the pharmacist checks the order from
the list of orders to check, the nurse sees the flag change in the plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from releve.journal import files
from releve.station.index.connection import reader
from releve.station.local.accounts import Accounts
from releve.station.web.app import server_config

from conftest import CHROMIUM, copy_station, signed_in
from helpers import serving

PASSWORD = "ordonnance-2026"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")


@pytest.fixture(scope="module")
def site(demo_station, tmp_path_factory):
    station = copy_station(demo_station, tmp_path_factory.mktemp("orders-browser") / "station")
    accounts = Accounts(station.dir)
    accounts.add_user("marc", "physician", PASSWORD, display_name="Marc Médecin")
    accounts.add_user("paul", "pharmacist", PASSWORD, display_name="Paul Pharmacien")
    accounts.add_user("nina", "nurse", PASSWORD, display_name="Nina Infirmière")
    conn = reader(station.dir)
    pid = conn.execute("SELECT patient FROM stays WHERE current = 1 ORDER BY patient LIMIT 1").fetchone()[0]
    conn.close()
    with serving(server_config(station.dir, "127.0.0.1", 0)) as url:
        yield url, station.dir, pid


def _signed_in(browser, base: str, name: str):
    page = signed_in(browser, base, name, PASSWORD)
    assert "/login" not in page.url
    return page


def _written(station: Path) -> int:
    return sum(p.stat().st_size for p in files.journal_dir(station).glob("*.ndjson"))


def test_prescribe_check_and_see_it_in_the_plan(browser, site) -> None:
    base, station, pid = site
    doctor = _signed_in(browser, base, "marc")
    doctor.goto(f"{base}/patients/{pid}")
    summary = doctor.locator("summary", has_text="Nouvelle prescription de médicament")
    summary.focus()
    doctor.keyboard.press("Enter")  # opens the form from the keyboard
    doctor.fill("#med-drug", "Morphine orale")
    doctor.fill("#med-dose", "dix")
    doctor.select_option("#med-unit", "mg")
    doctor.select_option("#med-route", "orale")
    doctor.select_option("#med-frequency", "4")
    doctor.fill("#med-days", "3")
    before = _written(station)
    doctor.press("#med-days", "Enter")
    doctor.wait_for_load_state()
    assert doctor.locator("#err-dose").inner_text() == "« dix » n'est pas un nombre."
    assert doctor.locator("#med-drug").input_value() == "Morphine orale"  # kept
    assert doctor.locator("#med-drug").evaluate("e => e === document.activeElement")
    assert _written(station) == before
    doctor.fill("#med-dose", "10")
    doctor.press("#med-dose", "Enter")
    doctor.wait_for_load_state()
    orders = doctor.inner_text("#rec-orders")
    assert "Morphine orale 10 mg" in orders and "à valider par la pharmacie" in orders
    assert _written(station) > before

    nurse = _signed_in(browser, base, "nina")
    nurse.goto(f"{base}/patients/{pid}")
    row = nurse.locator("table.mar tr", has_text="Morphine orale")
    assert "prescription de mode dégradé" in row.inner_text()
    assert "à valider par la pharmacie" in row.inner_text()
    assert "12:00" in row.inner_text() and "18:00" in row.inner_text()
    assert nurse.locator("summary", has_text="Nouvelle prescription").count() == 0  # not hers

    pharmacist = _signed_in(browser, base, "paul")
    pharmacist.goto(f"{base}/patients/{pid}")
    pharmacist.click("text=Prescriptions à valider (tous les patients)")
    pharmacist.wait_for_load_state()
    line = pharmacist.locator("tr", has_text="Morphine orale")
    line.locator("button", has_text="À modifier").click()
    pharmacist.wait_for_load_state()
    assert "Ce champ est obligatoire." in pharmacist.inner_text("body")
    line = pharmacist.locator("tr", has_text="Morphine orale")
    line.locator("button", has_text="Valider").click()
    pharmacist.wait_for_load_state()
    assert "Morphine orale" not in pharmacist.inner_text("body")

    nurse.reload()
    row = nurse.locator("table.mar tr", has_text="Morphine orale").inner_text()
    assert "validée par Paul Pharmacien le 14/01/2026" in row and "à valider" not in row
    history = nurse.inner_text("#rec-history")
    assert "Validation pharmaceutique" in history and "Prescription" in history


def test_lab_request_correction_and_stop_in_the_history(browser, site) -> None:
    base, station, pid = site
    doctor = _signed_in(browser, base, "marc")
    doctor.goto(f"{base}/patients/{pid}")
    doctor.locator("summary", has_text="Nouvelle demande d'examen").click()
    doctor.select_option("#svc-type", "imaging")
    doctor.fill("#svc-what", "Radiographie thoracique")
    doctor.select_option("#svc-priority", "urgent")
    doctor.fill("#svc-reason", "dyspnée")
    doctor.press("#svc-reason", "Enter")
    doctor.wait_for_load_state()
    assert "Radiographie thoracique (Imagerie)" in doctor.inner_text("#rec-orders")

    doctor.locator("summary", has_text="Nouvelle prescription de médicament").click()
    doctor.fill("#med-drug", "Enoxaparine")
    doctor.fill("#med-dose", "4000")
    doctor.select_option("#med-unit", "UI")
    doctor.select_option("#med-route", "sc")
    doctor.select_option("#med-frequency", "1")
    doctor.press("#med-drug", "Enter")
    doctor.wait_for_load_state()
    doctor.locator("tr", has_text="Enoxaparine").locator("a", has_text="Corriger").click()
    doctor.wait_for_load_state()
    assert doctor.locator("#med-drug").input_value() == "Enoxaparine"  # filled from the order
    assert doctor.locator("#med-drug").evaluate("e => e === document.activeElement")
    doctor.fill("#med-dose", "6000")
    before = _written(station)
    doctor.press("#med-dose", "Enter")  # no reason yet: the browser asks for it first
    doctor.wait_for_load_state()
    assert "/orders/correct" in doctor.url and _written(station) == before
    doctor.fill("#med-reason_change", "poids 80 kg")
    doctor.press("#med-reason_change", "Enter")
    doctor.wait_for_load_state()
    assert _written(station) > before
    assert "Enoxaparine 6000 UI" in doctor.inner_text("#rec-orders")

    line = doctor.locator("#rec-orders tr", has_text="Radiographie thoracique")
    line.locator("input[name=reason]").fill("examen fait au bloc")
    line.locator("button", has_text="Arrêter").click()
    doctor.wait_for_load_state()
    assert "Radiographie thoracique" not in doctor.inner_text("#rec-orders")
    history = doctor.inner_text("#rec-history")
    assert "Enoxaparine 4000 UI" in history and "remplacé par la saisie du" in history
    assert "raison : poids 80 kg" in history and "arrêtée" in history
    struck = doctor.locator("#rec-history tr.replaced del").all_inner_texts()
    assert any("Enoxaparine 4000 UI" in t for t in struck)
    assert any("Radiographie thoracique" in t for t in struck)
