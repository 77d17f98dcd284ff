"""The ward's first use, in Debian's Chromium driven by Playwright, over loopback: the
banner of an open page follows the sync without a reload, the ward binder shows its
progress then opens as a PDF, and the ward and patient pages fit a 1280 px screen and a
tablet (768 x 1024) without horizontal scrolling, their main controls in view.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from releve.station.index.connection import reader
from releve.station.local.accounts import Accounts
from releve.station.sync import Settings, Status
from releve.station.web.app import server_config
from test_station_browser import PASSWORD, pytestmark  # noqa: F401  (skipped without Chromium)

from conftest import copy_station
from helpers import serving, wait_until

WARD = "loc-card"
SIZES = [(1280, 800), (768, 1024)]

@pytest.fixture(scope="module")
def site(demo_station, tmp_path_factory):
    station = copy_station(demo_station, tmp_path_factory.mktemp("ward-browser") / "station")
    Accounts(station.dir).add_user("claire", "nurse", PASSWORD, display_name="Claire Infirmière")
    settings = Settings.load(station.dir)
    settings.banner_seconds = 1  # an open page asks for the banners every second
    settings.save(station.dir)
    with serving(server_config(station.dir, "127.0.0.1", 0)) as url:
        yield url, station.dir


def _signed_in(browser, base: str, width: int = 1280, height: int = 900):
    context = browser.new_context(locale="fr-FR", viewport={"width": width, "height": height})
    page = context.new_page()
    refused: list[str] = []  # what the Content-Security-Policy blocked, as Chromium reports it
    page.on("console", lambda message: refused.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.goto(f"{base}/login")
    page.fill("#username", "claire")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return context, page, refused


def _a_patient_of(station: Path, ward: str) -> str:
    conn = reader(station)
    try:
        row = conn.execute("SELECT s.patient FROM stays s JOIN locations b ON b.id = s.location "
                           "JOIN locations r ON r.id = b.part_of WHERE s.current = 1 AND "
                           "r.part_of = ? ORDER BY s.patient LIMIT 1", (ward,)).fetchone()
    finally:
        conn.close()
    assert row, f"no patient in a bed of {ward}"
    return row[0]


def test_the_banner_changes_on_an_open_page_when_the_sync_does(site, browser) -> None:
    base, station = site
    context, page, refused = _signed_in(browser, base)
    try:
        page.goto(f"{base}/wards/{WARD}")
        banner = page.locator(".banners")
        assert "Données figées" not in banner.inner_text()
        page.evaluate("window.stillTheSamePage = true")
        status = Status.load(station)
        status.held = {"seq": 9, "sha256": "cd" * 32, "kind": "delta", "share": 0.2,
                       "reason": "would remove 60% of the patients", "since": "2026-01-14T08:55:00Z"}
        status.save(station)
        try:
            wait_until("the frozen banner", lambda: "Données figées à la dernière copie sûre du"
                       in banner.inner_text(), seconds=20)
            assert "Segment 9 retenu" in banner.inner_text()
            assert page.locator(".banner.frozen[role=alert]").is_visible()
        finally:
            status.held = None
            status.save(station)
        wait_until("the banner back to the data age", lambda: "Données figées"
                   not in banner.inner_text(), seconds=20)
        assert page.evaluate("window.stillTheSamePage") is True  # never reloaded
        assert refused == []
    finally:
        context.close()


def test_the_binder_shows_its_progress_then_the_pdf(site, browser) -> None:
    base, _ = site
    context, page, refused = _signed_in(browser, base)
    try:
        page.goto(f"{base}/wards/{WARD}")
        button = page.get_by_role("button", name="Imprimer le classeur du service")
        assert button.is_visible()
        button.click()
        page.wait_for_load_state()
        assert "/print/binder/" in page.url
        assert page.locator("progress").is_visible()  # the binder is being made
        assert "Patient" in page.inner_text(".binder-state") or "Préparation" in page.inner_text(".binder-state")
        link = page.get_by_role("link", name="Ouvrir le classeur (PDF)")
        link.wait_for(state="visible", timeout=120_000)
        assert "Classeur prêt" in page.inner_text(".binder-state")
        answer = page.request.get(base + link.get_attribute("href"))
        assert answer.status == 200 and answer.headers["content-type"] == "application/pdf"
        assert answer.body().startswith(b"%PDF")
        assert refused == []
    finally:
        context.close()


@pytest.mark.parametrize("width,height", SIZES)
def test_ward_and_patient_pages_fit_the_screen(site, browser, width: int, height: int) -> None:
    base, station = site
    context, page, _ = _signed_in(browser, base, width, height)
    try:
        page.goto(f"{base}/wards/{WARD}")
        _no_horizontal_scroll(page)
        for control in ["nav.main", "#top-q", "h1", ".print-links",
                        "button:has-text('Imprimer le classeur du service')",
                        ".banners .data-age", "table.census tbody tr.occupied a"]:
            _in_view(page, control)
        page.goto(f"{base}/patients/{_a_patient_of(station, WARD)}")
        _no_horizontal_scroll(page)
        for control in ["nav.main", "#top-q", "h1.patient-name", ".print-links a",
                        "section.allergies", ".banners .data-age"]:
            _in_view(page, control)
    finally:
        context.close()


def _no_horizontal_scroll(page) -> None:
    wide, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert wide <= inner, f"{page.url}: {wide} px wide in a {inner} px window"


def _in_view(page, selector: str) -> None:
    """Visible, and within the window's width (a control pushed off to the right is lost)."""
    element = page.locator(selector).first
    assert element.is_visible(), selector
    box = element.bounding_box()
    width = page.evaluate("window.innerWidth")
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 1, \
        f"{selector} at {box} in a {width} px window"
