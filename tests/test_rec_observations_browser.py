"""The vital-signs and notes forms as a nurse uses them: Debian's Chromium, keyboard only.

Type the measures, press Enter; the trend shows them marked as recorded here. An
impossible value comes back with its French message beside the field and nothing
written. A transmission is recorded with Ctrl+Enter, then corrected with a reason, and
the list keeps both versions.
"""

from __future__ import annotations

import pytest

from test_rec_observations import inpatient_with_vitals, journal_size
from test_station_browser import CHROMIUM, PASSWORD, page, station_url  # noqa: F401 - fixtures

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")


@pytest.fixture
def summary_tab(page, station_url):  # noqa: F811 - test_station_browser's fixtures
    """(the browser on a current inpatient's summary, signed in as a nurse; the station folder)."""
    base, station = station_url
    if "/login" in page.url or page.url == "about:blank":
        page.goto(f"{base}/login")
        page.fill("#username", "claire")
        page.fill("#password", PASSWORD)
        with page.expect_navigation():
            page.click("button[type=submit]")
    page.goto(f"{base}/patients/{inpatient_with_vitals(station)}")
    assert "/login" not in page.url
    return page, station


def test_measures_typed_and_entered_show_in_the_trend(summary_tab):
    tab, station = summary_tab
    tab.focus("#v-temp")
    tab.keyboard.type("38,6")
    tab.keyboard.press("Tab")
    tab.keyboard.type("112")  # pulse
    tab.keyboard.press("Tab")
    tab.keyboard.type("142")  # systolic
    tab.keyboard.press("Tab")
    tab.keyboard.type("88")  # diastolic
    tab.keyboard.press("Enter")
    tab.wait_for_url("**saved=vitals**")
    vitals = tab.locator("section.vitals")
    assert "Saisie enregistrée." in vitals.inner_text()
    row = vitals.locator("tr", has_text="Température")
    assert "38,6" in row.inner_text() and "saisi sur le poste par Claire Infirmière" in row.inner_text()
    assert "142/88" in vitals.locator("tr", has_text="Pression artérielle").inner_text()
    assert "Pouls" in vitals.locator("details.rec-box", has_text="Mesures saisies").text_content()


def test_an_impossible_value_is_refused_beside_its_field(summary_tab):
    tab, station = summary_tab
    size = journal_size(station)
    tab.fill("#v-spo2", "104")
    tab.focus("#v-spo2")
    with tab.expect_navigation():
        tab.keyboard.press("Enter")
    assert "Rien n'a été enregistré" in tab.inner_text("main")
    field = tab.locator("label[for=v-spo2]")
    assert "104 % est impossible pour « SpO2 »" in field.inner_text()
    assert tab.input_value("#v-spo2") == "104"
    assert tab.evaluate("document.activeElement.id") == "v-temp"  # the form page's first field
    assert journal_size(station) == size


def test_a_transmission_recorded_then_corrected_keeps_its_history(summary_tab):
    tab, station = summary_tab
    tab.check("input[name=kind][value=transmission]")
    tab.select_option("#n-shift", "nuit")
    tab.fill("#n-text", "Perfusion à changer à 2 h.")
    tab.focus("#n-text")
    tab.keyboard.press("Control+Enter")
    tab.wait_for_url("**saved=notes**")
    item = tab.locator(".rec-note-list li", has_text="Perfusion à changer")
    assert "Équipe de nuit" in item.inner_text() and "Infirmier·ère" in item.inner_text()
    with tab.expect_navigation():
        item.get_by_role("link", name="Corriger").click()
    assert tab.input_value("#n-text") == "Perfusion à changer à 2 h."
    tab.fill("#n-text", "Perfusion à changer à 3 h.")
    tab.fill("#r-reason", "heure erronée")
    tab.focus("#r-reason")
    tab.keyboard.press("Enter")
    tab.wait_for_url("**saved=notes**")
    item = tab.locator(".rec-note-list li", has_text="Perfusion à changer à 3 h.")
    assert "corrigée" in item.inner_text()
    item.locator("summary").click()
    history = item.locator("details.rec-versions").inner_text()
    assert "Perfusion à changer à 2 h." in history and "heure erronée" in history
