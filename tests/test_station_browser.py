"""The station as a nurse uses it: Debian's Chromium, driven by Playwright, over loopback.

Sign in, find a patient with a typo in the name, open the summary, check the allergies
and the next doses, then the census and the directory; the data age is on every page.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from releve.station.index.connection import reader
from releve.station.local.accounts import Accounts
from releve.station.views.search import search
from releve.station.web.app import server_config

from conftest import CHROMIUM, CHROMIUM_ARGS, copy_station  # noqa: F401 - others import them here
from helpers import serving

PASSWORD = "infirmiere-2026"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium "
                                "(scripts/bootstrap installs it)")


@pytest.fixture(scope="module")
def station_url(demo_station, tmp_path_factory):
    station = copy_station(demo_station, tmp_path_factory.mktemp("browser") / "station")
    Accounts(station.dir).add_user("claire", "nurse", PASSWORD, display_name="Claire Infirmière")
    with serving(server_config(station.dir, "127.0.0.1", 0)) as url:
        yield url, station.dir


@pytest.fixture(scope="module")
def page(station_url, browser):
    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


def _inpatient_with_allergy_and_orders(station: Path) -> dict:
    """A current inpatient with a long family name, an active allergy and a scheduled order."""
    conn = reader(station)
    rows = conn.execute(
        "SELECT p.id, p.family, p.given FROM patients p JOIN stays s ON s.patient = p.id "
        "WHERE s.current = 1 AND length(p.family) >= 7 "
        "AND EXISTS (SELECT 1 FROM resources r WHERE r.patient = p.id AND r.type = 'AllergyIntolerance') "
        "AND EXISTS (SELECT 1 FROM resources r WHERE r.patient = p.id AND r.type = 'MedicationRequest') "
        "ORDER BY p.id").fetchall()
    for pid, family, given in rows:
        allergies = [orjson.loads(j) for (j,) in conn.execute(
            "SELECT json FROM resources WHERE patient = ? AND type = 'AllergyIntolerance'", (pid,))]
        orders = [orjson.loads(j) for (j,) in conn.execute(
            "SELECT json FROM resources WHERE patient = ? AND type = 'MedicationRequest'", (pid,))]
        active = [o for o in orders if o.get("status") == "active"
                  and not o["dosageInstruction"][0].get("asNeededBoolean")]
        substances = [a["code"]["text"] for a in allergies if a.get("code", {}).get("text")]
        if active and substances:
            drug = active[0]["medicationCodeableConcept"]["text"]
            return {"id": pid, "family": family, "given": given, "substance": substances[0],
                    "drug": drug}
    pytest.fail("the demo hospital has no inpatient with an allergy and a scheduled order")


def _typo(family: str) -> str:
    """One letter dropped from the middle: what a hurried nurse types."""
    middle = len(family) // 2
    return (family[:middle] + family[middle + 1:]).lower()


def test_sign_in_find_with_a_typo_and_read_the_summary(page, station_url):
    base, station = station_url
    patient = _inpatient_with_allergy_and_orders(station)
    query = _typo(patient["family"])
    hits = search(reader(station), query)
    assert patient["id"] in [h.id for h in hits[:10]], f"{query!r} does not find {patient['family']}"

    page.goto(f"{base}/patients/{patient['id']}")
    assert "/login" in page.url  # signed out: sent to sign in first
    page.fill("#username", "claire")
    page.fill("#password", "wrong password")
    page.click("button[type=submit]")
    assert page.locator("#password").is_visible()  # refused, still on the form
    page.fill("#username", "claire")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "/login" not in page.url

    page.fill("#top-q", query)
    page.press("#top-q", "Enter")
    page.wait_for_load_state()
    link = page.locator(f"a[href='/patients/{patient['id']}']").first
    assert link.is_visible()
    link.click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/patients/{patient['id']}")

    text = page.inner_text("body")
    assert patient["family"].upper() in text
    allergies = page.inner_text("section.allergies")
    assert patient["substance"].lower() in allergies.lower()
    meds = page.inner_text("#h-meds ~ *") if page.locator("#h-meds ~ table").count() else text
    assert patient["drug"].lower() in meds.lower()
    assert "Prochaines prises (24 h)" in text
    assert "Données à jour" in text  # the data age, on every page

    # the allergies are on screen without scrolling: the first thing a nurse sees
    box = page.locator("section.allergies").bounding_box()
    assert box is not None and box["y"] < 900


def test_census_and_directory(page, station_url):
    base, station = station_url
    conn = reader(station)
    ward, ward_name = conn.execute(
        "SELECT l.id, l.name FROM locations l WHERE l.physical_type = 'wa' AND EXISTS ("
        "SELECT 1 FROM stays s JOIN locations b ON b.id = s.location JOIN locations r "
        "ON r.id = b.part_of WHERE s.current = 1 AND r.part_of = l.id) ORDER BY l.id").fetchone()
    family = conn.execute(
        "SELECT p.family FROM stays s JOIN patients p ON p.id = s.patient JOIN locations b "
        "ON b.id = s.location JOIN locations r ON r.id = b.part_of "
        "WHERE s.current = 1 AND r.part_of = ? ORDER BY p.id", (ward,)).fetchone()[0]
    page.goto(f"{base}/wards")
    page.click(f"a[href='/wards/{ward}']")
    page.wait_for_load_state()
    census = page.inner_text("body")
    assert ward_name in census and family.upper() in census
    assert "Données à jour" in census

    practitioner = orjson.loads(conn.execute(
        "SELECT json FROM resources WHERE type = 'Practitioner' ORDER BY id").fetchone()[0])
    name = practitioner["name"][0]["family"]
    page.goto(f"{base}/directory?q={name}")
    directory = page.inner_text("body")
    assert name.upper() in directory.upper()
    assert any(t["value"] in directory for t in practitioner.get("telecom", []))


def test_english_and_print(page, station_url):
    base, _ = station_url
    page.goto(f"{base}/wards?lang=en")
    assert "Data as of" in page.inner_text("body") or "up to date" in page.inner_text("body").lower()
    page.goto(f"{base}/wards?lang=fr")
    page.emulate_media(media="print")
    nav = page.locator("nav")
    assert nav.count() == 0 or not nav.first.is_visible()
    page.emulate_media(media="screen")


def test_no_request_leaves_the_machine(page, station_url):
    """Every asset the pages load comes from the station itself."""
    base, _ = station_url
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    page.goto(f"{base}/wards")
    page.goto(f"{base}/directory")
    assert seen and all(url.startswith(base) for url in seen), [u for u in seen if not u.startswith(base)]

