"""Recording doses with the keyboard alone, in Debian's Chromium driven by Playwright: the
ward tour of the hour a dose fell due, then the patient's plan, then the paper MAR."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from releve.journal.book import Journal
from releve.journal.kinds import administration as kind
from releve.station.local.accounts import Accounts
from releve.station.web.app import server_config
from test_rec_administrations import find_dose, journal_size
from test_station_print import flat

from conftest import CHROMIUM, copy_station
from helpers import serving

PASSWORD = "infirmiere-2026"
PARIS = dt.timezone(dt.timedelta(hours=1))  # the pinned day is in winter

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")


@pytest.fixture(scope="module")
def site(demo_station, tmp_path_factory):
    station = copy_station(demo_station, tmp_path_factory.mktemp("adm-browser") / "station")
    Accounts(station.dir).add_user("claire", "nurse", PASSWORD, display_name="Claire Infirmière")
    Accounts(station.dir).add_user("sam", "secretary", PASSWORD, display_name="Sam Secrétaire")
    with serving(server_config(station.dir, "127.0.0.1", 0)) as url:
        yield url, station.dir, find_dose(station.dir)


@pytest.fixture()
def page(browser):
    """A fresh browser context per test: signed out, nothing typed before."""
    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


def sign_in(page, base: str, name: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.focus("#password")
    submit(page)
    assert "/login" not in page.url, "signed in"


def submit(page) -> None:
    """Enter in a form's field, and the page it leads to loaded."""
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_the_plan_and_the_paper_show_the_dose_held(page, site):
    base, station, dose = site
    sign_in(page, base, "claire")
    page.goto(f"{base}/patients/{dose.pid}")
    late = page.locator("tr.late", has_text=dose.drug).first
    time = late.locator("td.time").inner_text().split()[0]
    late.locator("details.adm-give summary").focus()
    page.keyboard.press("Enter")  # opens the form
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "outcome"
    page.keyboard.type("S")  # « Suspendu »
    page.keyboard.press("Tab")
    page.keyboard.type("09:45")
    submit(page)
    row = page.locator("section.plan tr", has_text=dose.drug).filter(has_text=time).first.inner_text()
    assert "Suspendu (non administré sur décision soignante)" in row and "09:45" in row
    assert "en retard" not in row and "Claire Infirmière" in row
    text = flat(page.request.get(f"{base}/patients/{dose.pid}/print/mar.pdf").body())
    assert "Suspendu (non administré sur décision soignante)" in text and "Claire Infirmière" in text


def test_a_round_recorded_with_the_keyboard_alone(page, site):
    base, station, dose = site
    hour = dose.late.astimezone(PARIS).hour
    sign_in(page, base, "claire")
    page.goto(f"{base}/wards/{dose.ward}/tour?hour={hour:02d}")
    # the first dose has the focus once the page is loaded (static/focus.js)
    assert page.evaluate("document.activeElement.name") == "outcome"
    first = page.locator(f"#{page.evaluate('document.activeElement.form.id')}")
    pid = re.search(r"/patients/([^/]+)/administrations", first.get_attribute("action")).group(1)
    planned = first.locator("input[name=planned]").get_attribute("value")
    order = first.locator("input[name=request]").get_attribute("value")
    page.keyboard.type("A")  # « Administré »
    page.keyboard.press("Tab")
    page.keyboard.type("09:30")
    submit(page)
    assert f"/wards/{dose.ward}/tour?hour={hour:02d}" in page.url
    recorded = [e for e in Journal(station).for_patient(f"Patient/{pid}")
                if kind.planned_time(e.resource) == planned
                and e.resource["request"]["reference"] == f"MedicationRequest/{order}"]
    assert len(recorded) == 1
    given = recorded[0].resource
    assert given["status"] == "completed" and given["effectiveDateTime"].startswith("2026-01-14T09:30")
    assert given["request"]["reference"] == f"MedicationRequest/{order}"
    assert recorded[0].author.name == "Claire Infirmière"
    row = page.locator("tr", has=page.locator(f"input[value='{recorded[0].key}']")).first
    assert "Administré" in row.inner_text() and "09:30" in row.inner_text()

    # the next dose of the round has the focus now: refused, then the time field, Enter
    assert page.evaluate("document.activeElement.name") == "outcome"
    second = page.evaluate("document.activeElement.form.querySelector('[name=planned]').value")
    second_pid = re.search(r"/patients/([^/]+)/", page.evaluate(
        "document.activeElement.form.getAttribute('action')")).group(1)
    second_order = page.evaluate("document.activeElement.form.querySelector('[name=request]').value")
    page.keyboard.type("R")  # « Refusé »
    page.keyboard.press("Tab")
    submit(page)  # empty time: now
    refused = [e for e in Journal(station).for_patient(f"Patient/{second_pid}")
               if kind.planned_time(e.resource) == second
               and e.resource["request"]["reference"] == f"MedicationRequest/{second_order}"]
    assert [e.resource["statusReason"][0]["coding"][0]["code"] for e in refused] == ["refused"]


def test_a_bad_time_is_shown_and_nothing_is_written(page, site):
    base, station, dose = site
    sign_in(page, base, "claire")
    hour = dose.late.astimezone(PARIS).hour
    page.goto(f"{base}/wards/{dose.ward}/tour?hour={hour:02d}")
    assert page.evaluate("document.activeElement.name") == "outcome"
    before = journal_size(station)
    page.keyboard.type("A")
    page.keyboard.press("Tab")
    page.keyboard.type("10:45")  # the clock says 10:00
    submit(page)
    assert "Cette heure est dans le futur." in page.content()
    # the field at fault has the focus as soon as the page is loaded, whatever the load
    assert page.evaluate("[document.activeElement.name, document.activeElement.value]") \
        == ["time", "10:45"]
    assert journal_size(station) == before


def test_a_secretary_sees_the_round_without_forms(page, site):
    base, _, dose = site
    sign_in(page, base, "sam")
    page.goto(f"{base}/wards/{dose.ward}/tour?hour={dose.late.astimezone(PARIS).hour:02d}")
    assert page.locator("form.adm-form").count() == 0
    assert "Votre rôle ne permet pas de saisir les administrations." in page.content()
