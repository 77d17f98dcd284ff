"""Movements in Debian's Chromium: a ward nurse admits a patient from the census with the
keyboard, finds them at their bed, transfers, discharges; a refused form keeps what was
typed and writes nothing; a pharmacist is offered no movement at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from releve.journal.book import Journal
from releve.journal.files import entries_file
from releve.station.index.connection import reader
from releve.station.local.accounts import Accounts
from releve.station.local.identifiers import Identifiers, parse_range
from releve.station.local.wards import Wards
from releve.station.views import census as census_q
from releve.station.web.app import server_config
from test_station_browser import PASSWORD

from conftest import CHROMIUM, copy_station, signed_in
from helpers import serving

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")


@pytest.fixture(scope="module")
def site(demo_station, tmp_path_factory):
    station = copy_station(demo_station, tmp_path_factory.mktemp("moves-browser") / "s").dir
    units = [u for u in census_q.units(reader(station)) if u.beds - u.occupied >= 2]
    ward = max(units, key=lambda u: u.beds - u.occupied).place.id
    Wards(station).add_user("claire", "nurse", PASSWORD, "Claire Infirmière", [ward])
    Accounts(station).add_user("phil", "pharmacist", PASSWORD, "Phil Pharmacien")
    Identifiers(station).add(parse_range("ipp", "910000-910009", "urn:test:ipp"))
    Identifiers(station).add(parse_range("stay", "810000-810009", "urn:test:stay"))
    with serving(server_config(station, "127.0.0.1", 0)) as url:
        yield url, station, ward


def journal_size(station: Path) -> int:
    path = entries_file(station, Journal(station).station)
    return path.stat().st_size if path.exists() else 0


def test_admit_from_the_census_with_the_keyboard_then_transfer_and_discharge(site, browser):
    base, station, ward = site
    page = signed_in(browser, base, "claire", PASSWORD)
    page.goto(f"{base}/wards/{ward}")
    page.click("text=Admettre un patient")
    page.wait_for_load_state()
    assert page.evaluate("document.activeElement.id") == "f-family"  # autofocus
    before = journal_size(station)
    page.keyboard.press("Enter")  # nothing typed: refused, nothing written
    page.wait_for_load_state()
    assert page.locator("#e-given").inner_text() == "Ce champ est obligatoire."
    assert journal_size(station) == before
    page.focus("#f-family")
    page.keyboard.type("Fontaine")
    page.keyboard.press("Tab")
    page.keyboard.type("Louise Marie")
    page.keyboard.press("Tab")
    page.keyboard.type("2030-01-01")  # in the future: refused, the rest kept
    page.select_option("#f-sex", "female")
    page.select_option("#f-class", "IMP")
    bed_name = page.locator("#f-bed option").nth(1).inner_text()
    page.select_option("#f-bed", index=1)
    page.press("#f-birth_date", "Enter")
    page.wait_for_load_state()
    assert page.locator("#e-birth_date").inner_text() == "Cette date est dans le futur."
    assert page.input_value("#f-given") == "Louise Marie"
    assert journal_size(station) == before
    page.fill("#f-birth_date", "03/04/1948")
    page.press("#f-birth_date", "Enter")
    page.wait_for_load_state()
    assert "/patients/" in page.url
    header = page.inner_text("body")
    assert "admis en mode dégradé" in header and "910000" in header and bed_name in header

    page.goto(f"{base}/wards/{ward}")
    row = page.locator("tr.occupied", has_text="FONTAINE Louise Marie")
    assert bed_name in row.inner_text() and "IPP 910000" in row.inner_text()
    row.locator("a").first.click()
    page.wait_for_load_state()

    page.click("a.button:text-is('Transfert')")
    page.wait_for_load_state()
    new_bed = page.locator("#f-bed option").nth(1).inner_text()
    page.select_option("#f-bed", index=1)
    page.press("#f-time", "Enter")
    page.wait_for_load_state()
    assert new_bed in page.inner_text("body")
    page.goto(f"{base}/wards/{ward}")
    assert new_bed in page.locator("tr.occupied", has_text="FONTAINE Louise Marie").inner_text()

    page.locator("tr.occupied", has_text="FONTAINE Louise Marie").locator("a").first.click()
    page.wait_for_load_state()
    page.click("a.button:text-is('Sortie')")
    page.wait_for_load_state()
    page.select_option("#f-disposition", "home")
    page.press("#f-time", "Enter")
    page.wait_for_load_state()
    page.goto(f"{base}/wards/{ward}")
    assert page.locator("tr.occupied", has_text="FONTAINE Louise Marie").count() == 0
    assert "FONTAINE Louise Marie" in page.inner_text("section.rec-departed")


def test_a_pharmacist_is_offered_no_movement(site, browser):
    base, station, ward = site
    page = signed_in(browser, base, "phil", PASSWORD)
    page.goto(f"{base}/wards/{ward}")
    assert page.locator("text=Admettre un patient").count() == 0
    answer = page.goto(f"{base}/wards/{ward}/admit")
    assert answer is not None and answer.status == 403
