"""The vital-signs and notes forms as a nurse uses them: Debian's Chromium, keyboard only.

Type the measures, press Enter; the trend shows them marked as recorded here. An
impossible value comes back with its French message beside the field and nothing
written. A transmission is recorded with Ctrl+Enter, then corrected with a reason, and
the list keeps both versions.
"""

from __future__ import annotations

import pytest

from releve.station.local.accounts import Accounts
from releve.station.web.app import server_config

from conftest import copy_station
from helpers import serving
from test_rec_observations import inpatient_with_vitals, journal_size
from test_station_browser import CHROMIUM, CHROMIUM_ARGS

PASSWORD = "infirmiere-2026"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")


@pytest.fixture(scope="module")
def station_url(demo_station, tmp_path_factory):
    station = copy_station(demo_station, tmp_path_factory.mktemp("rec-obs-browser") / "station")
    Accounts(station.dir).add_user("claire", "nurse", PASSWORD, display_name="Claire Infirmière")
    with serving(server_config(station.dir, "127.0.0.1", 0)) as url:
        yield url, station.dir


@pytest.fixture(scope="module")
def page(station_url):
    from playwright.sync_api import sync_playwright

    base, _ = station_url
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.goto(f"{base}/login")
        page.fill("#username", "claire")
        page.fill("#password", PASSWORD)
        with page.expect_navigation():
            page.click("button[type=submit]")
        assert "/login" not in page.url
        yield page
        browser.close()


def test_measures_typed_and_entered_show_in_the_trend(page, station_url):
    base, station = station_url
    pid = inpatient_with_vitals(station)
    page.goto(f"{base}/patients/{pid}")
    page.focus("#v-temp")
    page.keyboard.type("38,6")
    page.keyboard.press("Tab")
    page.keyboard.type("112")  # pulse
    page.keyboard.press("Tab")
    page.keyboard.type("142")  # systolic
    page.keyboard.press("Tab")
    page.keyboard.type("88")  # diastolic
    page.keyboard.press("Enter")
    page.wait_for_url("**saved=vitals**")
    vitals = page.locator("section.vitals")
    assert "Saisie enregistrée." in vitals.inner_text()
    row = vitals.locator("tr", has_text="Température")
    assert "38,6" in row.inner_text() and "saisi sur le poste par Claire Infirmière" in row.inner_text()
    assert "142/88" in vitals.locator("tr", has_text="Pression artérielle").inner_text()
    assert "Pouls" in vitals.locator("details.rec-box", has_text="Mesures saisies").text_content()


def test_an_impossible_value_is_refused_beside_its_field(page, station_url):
    base, station = station_url
    pid = inpatient_with_vitals(station)
    size = journal_size(station)
    page.goto(f"{base}/patients/{pid}")
    page.fill("#v-spo2", "104")
    page.focus("#v-spo2")
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    assert "Rien n'a été enregistré" in page.inner_text("main")
    field = page.locator("label[for=v-spo2]")
    assert "104 % est impossible pour « SpO2 »" in field.inner_text()
    assert page.input_value("#v-spo2") == "104"
    assert page.evaluate("document.activeElement.id") == "v-temp"  # the form page's first field
    assert journal_size(station) == size


def test_a_transmission_recorded_then_corrected_keeps_its_history(page, station_url):
    base, station = station_url
    pid = inpatient_with_vitals(station)
    page.goto(f"{base}/patients/{pid}")
    page.check("input[name=kind][value=transmission]")
    page.select_option("#n-shift", "nuit")
    page.fill("#n-text", "Perfusion à changer à 2 h.")
    page.focus("#n-text")
    page.keyboard.press("Control+Enter")
    page.wait_for_url("**saved=notes**")
    item = page.locator(".rec-note-list li", has_text="Perfusion à changer")
    assert "Équipe de nuit" in item.inner_text() and "Infirmier·ère" in item.inner_text()
    item.get_by_role("link", name="Corriger").click()
    page.wait_for_load_state()
    assert page.input_value("#n-text") == "Perfusion à changer à 2 h."
    page.fill("#n-text", "Perfusion à changer à 3 h.")
    page.fill("#r-reason", "heure erronée")
    page.focus("#r-reason")
    page.keyboard.press("Enter")
    page.wait_for_url("**saved=notes**")
    item = page.locator(".rec-note-list li", has_text="Perfusion à changer à 3 h.")
    assert "corrigée" in item.inner_text()
    item.locator("summary").click()
    history = item.locator("details.rec-versions").inner_text()
    assert "Perfusion à changer à 2 h." in history and "heure erronée" in history
