"""The station's web app over real HTTP on loopback: uvicorn in a thread, httpx as the browser.

The server is configured exactly as `releve station serve` runs it (server_config: no
access log), and every log record emitted while the tests run is captured, so the test
that no request logs a query text or a patient id sees what an operator's log would.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import importlib.util
import logging
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from releve.station.i18n import CATALOGUES
from releve.station.i18n import english as all_english
from releve.station.index.connection import reader
from releve.station.index.generations import current_generation
from releve.station.local.accounts import Accounts
from releve.station.local.audit import Audit
from releve.station.sync import Settings
from releve.station.views import census as census_q
from releve.station.web.app import ERRORS, ROLE_LABELS, server_config

from conftest import NOW, StationFixture, copy_station
from helpers import serving

TEMPLATES = Path(__file__).resolve().parent.parent / "src/releve/station/templates"
PASSWORD = "correct horse 42"
BANNER = 'class="banner data-age'


class Capture(logging.Handler):
    """Every record of the server side (httpx's own client lines are the test's, not ours)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith(("httpx", "httpcore")):
            self.records.append(record)

    def text(self) -> str:
        return "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in self.records)


CAPTURE = Capture()


class Site:
    """The station app at `url`, reached as a browser would."""

    def __init__(self, url: str) -> None:
        self.url = url

    def client(self, **options) -> httpx.Client:
        """A browser on the station's pages: its POSTs say they come from the station (the
        Origin header a browser sends), as the station requires."""
        return httpx.Client(base_url=self.url, follow_redirects=False, timeout=30,
                            headers={"Origin": self.url}, **options)

    def login(self, name: str, password: str = PASSWORD) -> httpx.Client:
        client = self.client()
        answer = client.post("/login", data={"username": name, "password": password})
        assert answer.status_code == 303, answer.text
        return client


@contextlib.contextmanager
def station_site(station_dir: Path) -> Iterator[Site]:
    """The station app served as `releve station serve` runs it while the block runs, its
    request lines and every other record of the server side in CAPTURE."""
    logging.getLogger("releve.station.web").setLevel(logging.INFO)
    with serving(server_config(station_dir, "127.0.0.1", 0), log_handler=CAPTURE) as url:
        yield Site(url)


def add_users(station_dir: Path) -> None:
    accounts = Accounts(station_dir)
    accounts.add_user("admin", "admin", PASSWORD, "Alice Admin")
    accounts.add_user("nurse", "nurse", PASSWORD, "Nina Infirmière")


@pytest.fixture(scope="module")
def demo(demo_station: StationFixture, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Site, Path]]:
    station = copy_station(demo_station, tmp_path_factory.mktemp("web") / "s")
    add_users(station.dir)
    with station_site(station.dir) as server:
        yield server, station.dir


@pytest.fixture(scope="module")
def nurse(demo) -> httpx.Client:
    return demo[0].login("nurse")


@pytest.fixture(scope="module")
def admin(demo) -> httpx.Client:
    return demo[0].login("admin")


@pytest.fixture(scope="module")
def index(demo) -> Iterator[sqlite3.Connection]:
    conn = reader(demo[1])
    yield conn
    conn.close()


def audit_of(station_dir: Path, **filters) -> list:
    return Audit(station_dir).entries(limit=1000, **filters)


def rows_of(html: str) -> list[str]:
    return re.findall(r'<tr class="(?:occupied|empty-bed)[^"]*">(.*?)</tr>', html, re.S)


# --- signing in ---------------------------------------------------------------------------------


def test_signed_out_is_sent_to_login_but_health_and_static_are_open(demo) -> None:
    server, _ = demo
    client = server.client()
    answer = client.get("/wards")
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    answer = client.get("/patients?q=dupont")
    assert answer.headers["location"] == "/login?next=%2Fpatients%3Fq%3Ddupont"
    assert client.get("/").status_code == 303
    assert client.get("/static/station.css").status_code == 200
    health = client.get("/health")
    assert health.status_code == 200
    body = health.json()
    assert body["state_time"] and body["seq"] >= 1 and isinstance(body["stale"], bool)
    assert "pat-" not in health.text
    page = client.get("/login")
    assert page.status_code == 200 and 'name="username"' in page.text and 'name="password"' in page.text


def test_wrong_password_is_refused_and_audited_without_the_password(demo) -> None:
    server, station_dir = demo
    client = server.client()
    answer = client.post("/login", data={"username": "nurse", "password": "wrong-secret-77"})
    assert answer.status_code == 401
    assert "releve_session" not in answer.headers.get("set-cookie", "")
    assert "Identifiant ou mot de passe incorrect" in answer.text
    failed = [e for e in audit_of(station_dir, user="nurse") if e.action == "login-failed"]
    assert failed
    everything = str(audit_of(station_dir))
    assert "wrong-secret-77" not in everything
    client.post("/login", data={"username": "Not A Name!", "password": "x"})
    assert "Not A Name!" not in str(audit_of(station_dir))


def test_login_sets_a_strict_session_cookie_and_goes_where_asked(demo) -> None:
    server, station_dir = demo
    client = server.client()
    answer = client.post("/login", data={"username": "nurse", "password": PASSWORD,
                                         "next": "/directory?q=cardio"})
    assert answer.status_code == 303 and answer.headers["location"] == "/directory?q=cardio"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("releve_session=") and "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower() and "Path=/" in cookie
    assert client.get("/directory?q=cardio").status_code == 200
    assert any(e.action == "login" for e in audit_of(station_dir, user="nurse"))
    evil = server.client().post("/login", data={"username": "nurse", "password": PASSWORD,
                                                "next": "//evil.example/"})
    assert evil.headers["location"] == "/wards"


def test_logout_ends_the_session(demo) -> None:
    server, station_dir = demo
    client = server.login("nurse")
    assert client.get("/wards").status_code == 200
    answer = client.post("/logout")
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    assert client.get("/wards").status_code == 303
    assert any(e.action == "logout" for e in audit_of(station_dir, user="nurse"))


def test_an_idle_session_expires(demo) -> None:
    server, station_dir = demo
    client = server.login("nurse")
    assert client.get("/wards").status_code == 200
    idle = Settings.load(station_dir).idle_minutes
    db = sqlite3.connect(station_dir / "local.sqlite")
    with db:
        db.execute("UPDATE sessions SET last_seen = last_seen - ? WHERE user = 'nurse'",
                   ((idle + 1) * 60,))
    db.close()
    answer = client.get("/wards/loc-card")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=%2Fwards%2Floc-card")
    assert "expired=1" in answer.headers["location"]
    assert "Votre session a expiré" in client.get(answer.headers["location"]).text


# --- pages --------------------------------------------------------------------------------------


def test_wards_lists_the_demo_units_with_their_beds(nurse, index) -> None:
    page = nurse.get("/wards")
    assert page.status_code == 200
    units = index.execute("SELECT id, name FROM locations WHERE physical_type = 'wa'").fetchall()
    assert len(units) > 10
    for unit_id, _ in units:
        assert f'href="/wards/{unit_id}"' in page.text
    beds = index.execute("SELECT count(*) FROM locations l JOIN locations r ON r.id = l.part_of "
                         "WHERE l.physical_type = 'bd' AND r.part_of = 'loc-card'").fetchone()[0]
    occupied = index.execute(
        "SELECT count(DISTINCT s.location) FROM stays s JOIN locations l ON l.id = s.location "
        "JOIN locations r ON r.id = l.part_of WHERE s.current = 1 AND r.part_of = 'loc-card'"
    ).fetchone()[0]
    row = re.search(r'href="/wards/loc-card".*?</tr>', page.text, re.S).group(0)
    assert f"{occupied} sur {beds}" in row


def test_census_shows_who_the_index_puts_in_each_bed(demo, nurse, index) -> None:
    _, station_dir = demo
    in_beds = index.execute(
        "SELECT r.part_of, l.name, p.id, p.family, p.given FROM stays s "
        "JOIN locations l ON l.id = s.location AND l.physical_type = 'bd' "
        "JOIN locations r ON r.id = l.part_of JOIN patients p ON p.id = s.patient "
        "WHERE s.current = 1").fetchall()
    assert len(in_beds) > 10
    by_unit: dict[str, list[tuple]] = {}
    for unit, bed, pid, family, given in in_beds:
        by_unit.setdefault(unit, []).append((bed, pid, family, given))
    for unit, expected in by_unit.items():
        page = nurse.get(f"/wards/{unit}")
        assert page.status_code == 200
        rows = rows_of(page.text)
        beds = index.execute("SELECT count(*) FROM locations l JOIN locations r ON r.id = l.part_of "
                             "WHERE l.physical_type = 'bd' AND r.part_of = ?", (unit,)).fetchone()[0]
        assert len(rows) >= beds
        for bed, pid, family, given in expected:
            row = next(r for r in rows if f'href="/patients/{pid}"' in r)
            assert f">{bed}</th>" in row
            assert f"{family.upper()} {given}" in row
        shown = [re.search(r'class="bed">(.*?)</th>', r).group(1) for r in rows]
        assert shown == sorted(shown, key=census_q.french_key)
    units = {e.detail for e in audit_of(station_dir, user="nurse") if e.page == "census"}
    assert set(by_unit) <= units


def test_census_marks_severe_allergies_and_flags(nurse, index) -> None:
    current = "SELECT s.patient FROM stays s WHERE s.current = 1"
    allergic = index.execute(
        f"SELECT patient, json FROM resources WHERE type = 'AllergyIntolerance' "
        f"AND patient IN ({current}) AND CAST(json AS TEXT) LIKE '%\"criticality\":\"high\"%' "
        f"AND CAST(json AS TEXT) LIKE '%\"code\":\"active\"%'").fetchone()
    flagged = index.execute(
        f"SELECT patient FROM resources WHERE type = 'Flag' AND patient IN ({current}) "
        f"AND CAST(json AS TEXT) LIKE '%129839007%' AND CAST(json AS TEXT) LIKE '%\"status\":\"active\"%'").fetchone()
    assert allergic and flagged, "the demo hospital has inpatients with severe allergies and fall risk"
    for patient, marker in ((allergic[0], 'class="allergy-high"'), (flagged[0], "Risque de chute")):
        unit = ward_of(index, patient)
        rows = rows_of(nurse.get(f"/wards/{unit}").text)
        row = next(r for r in rows if f'href="/patients/{patient}"' in r)
        assert marker in row
    row = next(r for r in rows_of(nurse.get(f"/wards/{ward_of(index, allergic[0])}").text)
               if f'href="/patients/{allergic[0]}"' in r)
    import orjson
    substance = orjson.loads(allergic[1])["code"]["text"]
    assert substance in row


def ward_of(index: sqlite3.Connection, patient: str) -> str:
    """The unit of a patient's current stay, from bed, room or unit."""
    location = index.execute("SELECT location FROM stays WHERE current = 1 AND patient = ?",
                             (patient,)).fetchone()[0]
    while True:
        kind, parent = index.execute("SELECT physical_type, part_of FROM locations WHERE id = ?",
                                     (location,)).fetchone()
        if kind == "wa":
            return location
        location = parent


def test_census_queries_are_fast(demo) -> None:
    """Every unit's census well under 50 ms (the brief's budget for a 40-bed ward)."""
    conn = reader(demo[1])
    units = [u for (u,) in conn.execute("SELECT id FROM locations WHERE physical_type = 'wa'")]
    census_q.census(conn, units[0])  # warm the page cache
    for unit in units:
        started = time.perf_counter()
        assert census_q.census(conn, unit) is not None
        assert time.perf_counter() - started < 0.05, unit
    conn.close()


def test_patient_search_links_results_and_audits_the_query(demo, nurse, index) -> None:
    _, station_dir = demo
    pid, family = index.execute("SELECT s.patient, p.family FROM stays s JOIN patients p "
                                "ON p.id = s.patient WHERE s.current = 1 LIMIT 1").fetchone()
    page = nurse.get("/patients", params={"q": family})
    assert page.status_code == 200
    assert f'href="/patients/{pid}"' in page.text and family.upper() in page.text
    searches = [e for e in audit_of(station_dir, user="nurse") if e.action == "search"]
    assert searches and searches[0].detail == family and searches[0].page == "patients"
    assert "Aucun patient trouvé" in nurse.get("/patients?q=zzqxwvk").text
    empty = nurse.get("/patients")
    assert empty.status_code == 200 and 'name="q"' in empty.text


def test_patient_summary_route_is_mounted(nurse, index) -> None:
    pid = index.execute("SELECT id FROM patients LIMIT 1").fetchone()[0]
    page = nurse.get(f"/patients/{pid}")
    present = importlib.util.find_spec("releve.station.web.patient") is not None
    assert page.status_code == (200 if present else 503)
    assert BANNER in page.text


def test_directory_by_name_role_and_unit(nurse) -> None:
    everyone = nurse.get("/directory")
    assert everyone.status_code == 200 and "2030" in everyone.text  # Cardiologie's extension
    by_name = nurse.get("/directory?q=berger").text
    assert "Dr Sylvie BERGER" in by_name and "60001" in by_name and "Chef de service" in by_name
    by_unit = nurse.get("/directory?q=cardiologie").text
    people = re.findall(r'<tr class="person">(.*?)</tr>', by_unit, re.S)
    assert people and all("Cardiologie" in p for p in people)
    by_role = nurse.get("/directory", params={"q": "chef de service"}).text
    chiefs = re.findall(r'<tr class="person">(.*?)</tr>', by_role, re.S)
    assert len(chiefs) >= 5 and all("Chef de service" in c for c in chiefs)
    both = nurse.get("/directory", params={"q": "urgences chef"}).text
    assert "Dr Sylvie BERGER" in both
    assert "Personne ne correspond" in nurse.get("/directory?q=zzqxwvk").text


def test_or_schedule_shows_a_known_booking_on_its_day(demo, nurse, index) -> None:
    _, station_dir = demo
    appointment, day, patient, room = index.execute(
        "SELECT appointment, day, patient, location FROM bookings ORDER BY day, start LIMIT 1").fetchone()
    family, given = index.execute("SELECT family, given FROM patients WHERE id = ?", (patient,)).fetchone()
    room_name = index.execute("SELECT name FROM locations WHERE id = ?", (room,)).fetchone()[0]
    import orjson
    resource = orjson.loads(index.execute("SELECT json FROM resources WHERE type = 'Appointment' "
                                          "AND id = ?", (appointment,)).fetchone()[0])
    page = nurse.get(f"/or?date={day}")
    assert page.status_code == 200
    assert f'href="/patients/{patient}"' in page.text and f"{family.upper()} {given}" in page.text
    assert room_name.replace("'", "&#39;") in page.text
    assert resource["description"].replace("'", "&#39;") in page.text
    surgeon = next(p["actor"]["display"] for p in resource["participant"]
                   if "Chirurgien" in str(p.get("type")))
    assert surgeon.split()[-1] in page.text
    previous = (dt.date.fromisoformat(day) - dt.timedelta(days=1)).isoformat()
    assert f'href="/or?date={previous}"' in page.text
    assert any(e.page == "or" and e.detail == day for e in audit_of(station_dir, user="nurse"))
    assert nurse.get("/or").status_code == 200
    assert "Aucune intervention" in nurse.get("/or?date=1999-01-01").text


def test_audit_log_is_for_admins_only(nurse, admin) -> None:
    refused = nurse.get("/audit")
    assert refused.status_code == 403 and "Accès réservé" in refused.text
    nurse.get("/patients?q=martin")
    page = admin.get("/audit")
    assert page.status_code == 200 and "recherche" in page.text and "martin" in page.text
    mine = admin.get("/audit?user=admin").text
    assert re.findall(r'<tr class="action-', mine)
    assert "martin" not in mine.split("<tbody>")[1]
    assert "Chaîne vérifiée" in admin.get("/audit?verify=1").text


def test_english_on_request_and_remembered(demo) -> None:
    client = demo[0].login("nurse")
    page = client.get("/wards?lang=en")
    assert '<html lang="en">' in page.text and ">Wards<" in page.text and "Data as of" in page.text
    again = client.get("/directory")
    assert '<html lang="en">' in again.text and "Phone directory" in again.text
    assert '<html lang="fr">' in client.get("/directory?lang=fr").text


def test_every_page_shows_the_age_of_the_data(demo, nurse) -> None:
    pages = ["/wards", "/wards/loc-card", "/patients", "/patients?q=martin", "/directory",
             "/or", "/wards/no-such-ward", "/no-such-page"]
    for url in pages:
        page = nurse.get(url)
        assert BANNER in page.text and "Données à jour du" in page.text, url
    assert nurse.get("/wards/no-such-ward").status_code == 404
    assert BANNER in demo[0].client().get("/login").text


def test_requests_log_no_query_text_and_no_patient_id(demo, nurse, index) -> None:
    pid, family = index.execute("SELECT id, family FROM patients LIMIT 1").fetchone()
    before = len(CAPTURE.records)
    nurse.get("/patients", params={"q": f"{family} zzsecretzz"})
    nurse.get(f"/patients/{pid}")
    nurse.get("/wards/loc-card")
    deadline = time.monotonic() + 5  # a request's line is written just after its answer
    while "GET /wards/{ward}" not in (logged := "\n".join(
            f"{r.name} {r.getMessage()}" for r in CAPTURE.records[before:])):
        assert time.monotonic() < deadline, logged
        time.sleep(0.02)
    assert "GET /patients 200" in logged and "GET /wards/{ward} 200" in logged
    everything = CAPTURE.text()
    assert "zzsecretzz" not in everything and family not in everything
    assert pid not in everything and "loc-card" not in everything


# --- other stations -----------------------------------------------------------------------------


def test_a_station_before_its_first_sync_says_so(tmp_path: Path, keys) -> None:
    from releve.station.sync import init_station

    station = tmp_path / "fresh"
    init_station(station, keys.identity, name="neuve")
    client = httpx.Client(follow_redirects=False)
    assert current_generation(station) is None
    with station_site(station) as login:
        assert "Aucun compte" in login.client().get("/login").text
        add_users(station)
        client = login.login("nurse")
        page = client.get("/wards")
        assert page.status_code == 503 and "Pas encore de données" in page.text
        assert "pas encore été synchronisée" in page.text
        assert login.client().get("/health").json()["state_time"] is None


def test_synthea_station_pages_render(synthea_station: StationFixture, tmp_path: Path) -> None:
    station = copy_station(synthea_station, tmp_path / "s")
    add_users(station.dir)
    with station_site(station.dir) as server:
        client = server.login("admin")
        conn = reader(station.dir)
        family = conn.execute("SELECT family FROM patients LIMIT 1").fetchone()[0]
        days = [d for (d,) in conn.execute("SELECT DISTINCT day FROM bookings LIMIT 5")]
        conn.close()
        wards = client.get("/wards")
        assert wards.status_code == 200
        urls = ["/directory", "/directory?q=a", f"/patients?q={family}", "/or", "/audit",
                *(f"/or?date={d}" for d in days if d),
                *re.findall(r'href="(/wards/[^"]+)"', wards.text)]
        for url in urls:
            page = client.get(url)
            assert page.status_code == 200, url
            assert BANNER in page.text


# --- texts --------------------------------------------------------------------------------------


def test_every_french_text_has_its_english() -> None:
    texts = set()
    for template in [*TEMPLATES.glob("web/*.html"), *TEMPLATES.glob("shared/*.html")]:
        if template.name.startswith("patient"):
            continue
        source = template.read_text()
        texts.update(re.findall(r'_\(\s*"([^"]*)"', source))
        texts.update(re.findall(r"_\(\s*'([^']*)'", source))
        for mapping in re.findall(r"{% set \w+ = \{(.*?)\} %}", source, re.S):
            texts.update(re.findall(r':\s*"([^"]*)"', mapping))
    texts.update(t for pair in ERRORS.values() for t in pair)
    texts.update(ROLE_LABELS.values())
    missing = sorted(t for t in texts if t not in all_english())  # en_common and the parts' own
    assert not missing


def test_a_french_text_has_one_english_across_the_catalogues() -> None:
    """The catalogues are merged: a word translated twice would show the last one loaded
    on every page, whatever the page's own catalogue says."""
    seen: dict[str, tuple[str, str]] = {}
    conflicts = []
    for name in CATALOGUES:
        for french, english in importlib.import_module(name).EN.items():
            first = seen.setdefault(french, (name, english))
            if first[1] != english:
                conflicts.append((french, first, (name, english)))
    assert not conflicts


def test_old_data_and_declared_downtime_are_shown_in_warning(demo, nurse, monkeypatch) -> None:
    _, station_dir = demo
    # the data was captured at the pinned instant: read the pages a minute later
    later = dt.datetime.fromisoformat(NOW) + dt.timedelta(minutes=1)
    monkeypatch.setenv("RELEVE_NOW", later.isoformat())
    settings = Settings.load(station_dir)
    saved = (settings.stale_minutes, settings.downtime)
    try:
        settings.stale_minutes = 0
        settings.downtime = {"since": "2026-11-22T13:03:00Z", "note": "Appeler le 2000"}
        settings.save(station_dir)
        page = nurse.get("/wards").text
        assert 'class="banner data-age stale"' in page and "Attention, données anciennes" in page
        assert "Mode dégradé déclaré depuis le 22/11" in page and "Appeler le 2000" in page
        assert nurse.get("/health").json()["stale"] is True
    finally:
        settings.stale_minutes, settings.downtime = saved
        settings.save(station_dir)
    assert "Attention, données anciennes" not in nurse.get("/wards").text
