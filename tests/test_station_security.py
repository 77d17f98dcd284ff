"""The station's sign-in and HTTP hardening, over real HTTP on loopback: failed logins
locked, Host and Origin checked, sessions renewed at login and bounded in time, the
security headers on every response, HTTPS for the station and the vault, and dates that
are not days refused."""

from __future__ import annotations

import contextlib
import html
import os
import re
import sqlite3
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from releve.station.local.throttle import LoginThrottle
from releve.station.sync import init_station
from releve.station.web.app import server_config
from releve.station.web.guard import allowed_hosts
from releve.vault.format import CONFIG_NAME
from releve.vault.source import open_source
from test_station_browser import CHROMIUM, CHROMIUM_ARGS
from test_station_web import CAPTURE, PASSWORD, Site, add_users, audit_of

from conftest import RELEVE, copy_station, run_releve
from helpers import free_port, make_ca_and_server_cert, serving, start_server

TEMPLATES = Path(__file__).resolve().parent.parent / "src/releve/station/templates/web"
LOCK_SECONDS = 600.0  # the tests end locks by hand (end_locks) rather than wait
LOCK_TEXT = "Trop d'échecs de connexion"


@contextlib.contextmanager
def site_of(station_dir: Path, **options) -> Iterator[tuple[Site, LoginThrottle]]:
    """The station served as `releve station serve` would (`options` as its flags), with
    the login throttle's numbers pinned small: 3 tries per name, 5 per address, a lock of
    LOCK_SECONDS."""
    config = server_config(station_dir, "127.0.0.1", 0, **options)
    throttle = config.app.state.station.throttle
    throttle.account_limit, throttle.address_limit = 3, 5
    throttle.window, throttle.lock = 60, LOCK_SECONDS
    with serving(config, log_handler=CAPTURE) as url:
        yield Site(url), throttle


@pytest.fixture(scope="module")
def empty_station(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A station with its accounts and no data: enough for everything about signing in."""
    from releve.vault.keys import create_station_identity

    folder = tmp_path_factory.mktemp("security")
    identity, _ = create_station_identity(folder / "keys", "station")
    init_station(folder / "station", identity, name="secu")
    add_users(folder / "station")
    return folder / "station"


@pytest.fixture(scope="module")
def served(empty_station: Path) -> Iterator[tuple[Site, LoginThrottle]]:
    with site_of(empty_station) as pair:
        yield pair


def change_failures(station_dir: Path, statement: str, *params: object) -> None:
    LoginThrottle(station_dir)  # the table exists once a station app has started
    db = sqlite3.connect(station_dir / "local.sqlite")
    with db:
        db.execute(statement, params)
    db.close()


def forget_failures(station_dir: Path) -> None:
    """No failed login counted yet: every test comes from 127.0.0.1."""
    change_failures(station_dir, "DELETE FROM login_failures")


def end_locks(station_dir: Path) -> None:
    """As if the locks had lasted their time."""
    change_failures(station_dir, "UPDATE login_failures SET locked_until = ? WHERE locked_until > 0",
                    time.time() - 1)


@pytest.fixture
def site(served, empty_station: Path) -> Site:
    forget_failures(empty_station)
    return served[0]


@pytest.fixture(scope="module")
def demo_site(demo_station, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    station = copy_station(demo_station, tmp_path_factory.mktemp("security-demo") / "s")
    add_users(station.dir)
    with site_of(station.dir) as (site, _):
        yield site


def try_login(client: httpx.Client, name: str, password: str) -> httpx.Response:
    return client.post("/login", data={"username": name, "password": password})


def alert(page: httpx.Response) -> str:
    """The login page's error paragraph."""
    found = re.search(r'<p class="error" role="alert">(.*?)</p>', page.text, re.S)
    return html.unescape(found.group(1)) if found else ""


def signed_in(site: Site, token: str) -> bool:
    """Whether a browser holding only this session cookie is let in (the empty station
    then answers 503 'no data'; signed out, it sends the browser to /login)."""
    with site.client(cookies={"releve_session": token}) as browser:
        return browser.get("/wards").status_code == 503


# --- failed logins ------------------------------------------------------------------------------


def test_failed_logins_lock_the_name_and_the_audit_gets_one_entry_per_burst(site, empty_station) -> None:
    client = site.client()
    before = len(audit_of(empty_station))
    assert try_login(client, "nurse", "wrong-1").status_code == 401
    assert try_login(client, "nurse", "wrong-2").status_code == 401
    locked = try_login(client, "nurse", "wrong-3")
    assert locked.status_code == 429 and LOCK_TEXT in alert(locked)
    refused = try_login(client, "nurse", PASSWORD)  # the right password, during the lock
    assert refused.status_code == 429 and "releve_session" not in refused.headers.get("set-cookie", "")
    for _ in range(10):
        assert try_login(client, "nurse", "flood").status_code == 429
    entries = audit_of(empty_station)[: len(audit_of(empty_station)) - before]
    assert sorted(e.action for e in entries) == ["login-failed", "login-locked"]

    assert "10 min" in alert(refused)  # the lock's length, rounded up to the minute
    end_locks(empty_station)
    assert try_login(client, "nurse", PASSWORD).status_code == 303
    newest = audit_of(empty_station, user="nurse")[:2]
    assert [e.action for e in newest] == ["login", "login-refused"]
    assert "11 tentatives refusées" in newest[1].detail
    shown = site.login("admin").get("/audit").text
    assert "connexion bloquée" in shown and "tentatives pendant le blocage" in shown


def test_an_admin_unlocks_a_locked_account_from_the_shell(site, empty_station) -> None:
    """Anyone can lock a nurse out by typing her name: an administrator ends it at once."""
    client = site.client()
    for attempt in range(3):
        try_login(client, "nurse", f"wrong-{attempt}")
    assert try_login(client, "nurse", PASSWORD).status_code == 429
    unlocked = run_releve("station", "user", "unlock", "nurse", "--station", empty_station)
    assert b"nurse unlocked" in unlocked.stdout
    assert try_login(client, "nurse", PASSWORD).status_code == 303
    newest = audit_of(empty_station)[1]  # before the login that followed
    assert (newest.action, newest.detail) == ("user-unlock", "nurse") and newest.user.startswith("os:")
    again = run_releve("station", "user", "unlock", "nurse", "--station", empty_station)
    assert b"was not locked" in again.stdout


def test_the_lock_message_does_not_tell_whether_the_name_exists(site) -> None:
    client = site.client()
    for _ in range(3):
        real = try_login(client, "admin", "wrong")
    for _ in range(3):
        ghost = try_login(client, "ghost", "wrong")
    assert real.status_code == ghost.status_code == 429
    assert alert(real) == alert(ghost) and LOCK_TEXT in alert(ghost)


def test_failed_logins_from_one_address_lock_it_whatever_the_names(site, empty_station) -> None:
    client = site.client()
    answers = [try_login(client, f"guess{n}", "wrong").status_code for n in range(5)]
    assert answers == [401, 401, 401, 401, 429]
    assert try_login(client, "admin", PASSWORD).status_code == 429
    assert any(e.action == "login-locked" and "address:127.0.0.1" in e.detail
               for e in audit_of(empty_station, user="guess4"))


# --- sessions -----------------------------------------------------------------------------------


def test_signing_in_opens_a_new_session_and_ends_the_one_the_browser_had(site) -> None:
    browser = site.login("nurse")
    first = browser.cookies["releve_session"]
    assert signed_in(site, first)
    again = try_login(browser, "admin", PASSWORD)
    assert again.status_code == 303
    second = again.cookies["releve_session"]
    assert second != first
    assert signed_in(site, second)
    assert not signed_in(site, first)


def test_a_session_ends_after_its_lifetime_however_active(site, empty_station) -> None:
    browser = site.login("nurse")
    token = browser.cookies["releve_session"]
    assert signed_in(site, token)
    db = sqlite3.connect(empty_station / "local.sqlite")
    with db:  # opened 12 hours and a minute ago, used a second ago
        db.execute("UPDATE sessions SET created = created - ? WHERE user = 'nurse'", (12 * 3600 + 60,))
    db.close()
    assert not signed_in(site, token)


# --- Host and Origin ----------------------------------------------------------------------------


def test_a_host_name_that_is_not_the_stations_is_refused(site, empty_station) -> None:
    port = site.url.rsplit(":", 1)[1]
    with site.client() as client:
        assert client.get("/login", headers={"Host": "rebound.example"}).status_code == 400
        assert client.get("/health", headers={"Host": f"rebound.example:{port}"}).status_code == 400
        assert client.get("/login", headers={"Host": f"localhost:{port}"}).status_code == 200
        assert client.get("/login").status_code == 200
    with site_of(empty_station, extra_hosts=["Poste-Cardio.ch.local"]) as (named, _):
        with named.client() as client:
            assert client.get("/login", headers={"Host": "poste-cardio.ch.local"}).status_code == 200
            assert client.get("/login", headers={"Host": "other.ch.local"}).status_code == 400


def test_listening_everywhere_allows_the_machines_own_names() -> None:
    import socket

    everywhere = allowed_hosts("0.0.0.0", ["station.example"])
    assert {"localhost", "127.0.0.1", "station.example", socket.gethostname().lower()} <= set(everywhere)
    assert "0.0.0.0" not in everywhere
    assert allowed_hosts("10.1.2.3") == sorted({"10.1.2.3", "localhost", "127.0.0.1", "::1"})


def test_a_post_that_does_not_come_from_the_station_is_refused(site) -> None:
    form = {"username": "nurse", "password": PASSWORD}
    with httpx.Client(base_url=site.url, timeout=30) as bare:
        for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                        {"Referer": "http://evil.example/login"}, {},
                        {"Origin": site.url.replace("127.0.0.1", "localhost")}):
            answer = bare.post("/login", data=form, headers=headers)
            assert answer.status_code == 403, headers
            assert "releve_session" not in answer.headers.get("set-cookie", "")
        own_page = bare.post("/login", data=form, headers={"Referer": f"{site.url}/login"})
        assert own_page.status_code == 303  # no Origin, but the Referer is the station
    browser = site.login("nurse")
    token = browser.cookies["releve_session"]
    assert browser.post("/logout", headers={"Origin": "http://evil.example"}).status_code == 403
    assert signed_in(site, token)  # the forged logout did nothing
    assert browser.post("/logout").status_code == 303
    assert not signed_in(site, token)


# --- headers ------------------------------------------------------------------------------------


def assert_security_headers(answer: httpx.Response) -> None:
    policy = answer.headers.get("content-security-policy", "")
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy, answer.url
    assert "unsafe-inline" not in policy
    assert answer.headers.get("x-content-type-options") == "nosniff", answer.url
    assert answer.headers.get("referrer-policy") == "same-origin", answer.url
    assert answer.headers.get("x-frame-options") == "DENY", answer.url


def test_every_response_carries_the_security_headers(demo_site) -> None:
    nurse = demo_site.login("nurse")
    answers = [nurse.get(path) for path in ("/wards", "/patients?q=a", "/directory", "/or",
                                            "/no/such/page", "/static/station.css", "/health",
                                            "/directory/print.pdf")]
    answers.append(demo_site.client().get("/login"))
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 404, 200, 200, 200, 200]
    assert answers[-2].headers["content-type"] == "application/pdf"
    for answer in answers:
        assert_security_headers(answer)


def test_a_page_that_fails_unexpectedly_carries_them_too(empty_station) -> None:
    from starlette.routing import Route

    def failing(request):
        raise RuntimeError("an unexpected bug")

    forget_failures(empty_station)
    config = server_config(empty_station, "127.0.0.1", 0)
    config.app.router.routes.append(Route("/failing", failing))
    with serving(config, log_handler=CAPTURE) as url:
        answer = Site(url).login("nurse").get("/failing")
    assert answer.status_code == 500 and "Erreur de la station" in answer.text
    assert_security_headers(answer)


def test_the_pages_need_no_inline_script_or_style() -> None:
    """What the policy forbids must not be in the templates: it would silently not run."""
    for template in TEMPLATES.glob("*.html"):
        source = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", source), template.name
        assert not re.search(r"<style\b|\sstyle=|\son[a-z]+=|javascript:", source), template.name


# --- dates --------------------------------------------------------------------------------------


def test_a_date_that_is_not_a_day_is_a_400(demo_site) -> None:
    nurse = demo_site.login("nurse")
    for text in ("9999-12-31", "0001-01-01", "2026-13-45", "demain", "2026-02-30"):
        page = nurse.get("/or", params={"date": text})
        assert page.status_code == 400 and "Date invalide" in page.text, text
        assert nurse.get("/or/print.pdf", params={"date": text}).status_code == 400, text
    assert nurse.get("/or", params={"date": "2026-01-14"}).status_code == 200
    assert nurse.get("/or").status_code == 200


# --- TLS ----------------------------------------------------------------------------------------


def test_the_station_over_https_gives_secure_cookies(empty_station, tmp_path) -> None:
    ca, cert, key = make_ca_and_server_cert(tmp_path)
    trusted = ssl.create_default_context(cafile=str(ca))
    forget_failures(empty_station)
    with site_of(empty_station, tls_cert=cert, tls_key=key) as (site, _):
        assert site.url.startswith("https://")
        with site.client(verify=trusted) as browser:
            assert "Secure" in browser.get("/login?lang=en").headers["set-cookie"]
            answer = try_login(browser, "nurse", PASSWORD)
            assert answer.status_code == 303
            cookie = answer.headers["set-cookie"]
            assert cookie.startswith("releve_session=") and "Secure" in cookie
        with pytest.raises(httpx.ConnectError):  # the certificate is checked: not a public CA
            httpx.get(f"{site.url}/health")
    with site_of(empty_station) as (plain, _):  # over HTTP the cookie cannot be Secure
        assert "Secure" not in try_login(plain.client(), "nurse", PASSWORD).headers["set-cookie"]


def test_releve_station_serve_takes_its_certificate_and_names(empty_station, tmp_path) -> None:
    ca, cert, key = make_ca_and_server_cert(tmp_path)
    trusted = ssl.create_default_context(cafile=str(ca))
    url = f"https://127.0.0.1:{free_port()}"

    def host(name: str) -> int:
        return httpx.get(f"{url}/login", headers={"Host": name}, verify=trusted, timeout=5).status_code

    def ready() -> bool:
        try:
            return host("127.0.0.1") == 200
        except httpx.HTTPError:
            return False

    half = run_releve("station", "serve", "--station", empty_station, "--tls-cert", cert, check=False)
    assert half.returncode == 2 and b"--tls-key" in half.stderr
    server, _ = start_server([*RELEVE, "station", "serve", "--station", empty_station, "--port",
                              url.rsplit(":", 1)[1], "--allowed-host", "poste-cardio.ch.local",
                              "--tls-cert", cert, "--tls-key", key], ready,
                             what="releve station serve")
    try:
        assert host("poste-cardio.ch.local") == 200 and host("rebound.example") == 400
        assert "https://" in server.output()
    finally:
        server.stop()


def test_the_vault_serves_https_to_stations_that_trust_the_hospitals_ca(
        tmp_path, vault_dir, monkeypatch) -> None:
    ca, cert, key = make_ca_and_server_cert(tmp_path)
    trusted = ssl.create_default_context(cafile=str(ca))
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    reader = "r-token-" + "r" * 32
    tokens = {"RELEVE_WRITER_TOKEN": "w-token-" + "w" * 32, "RELEVE_READER_TOKEN": reader}

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/v1/head", verify=trusted, timeout=2,
                             headers={"Authorization": f"Bearer {reader}"}).status_code == 200
        except httpx.HTTPError:
            return False

    server, _ = start_server([*RELEVE, "vault", "serve", vault_dir, "--port", str(port),
                              "--tls-cert", cert, "--tls-key", key], ready,
                             what="releve vault serve", env={**os.environ, **tokens})
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # as docs/station.md tells a hospital
        source = open_source(url, reader)
        try:
            assert source.config_bytes() == (vault_dir / CONFIG_NAME).read_bytes()
        finally:
            source.close()  # else the server waits for the idle connection as it stops
    finally:
        server.stop()


# --- in a browser -------------------------------------------------------------------------------


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")
def test_chromium_signs_in_and_out_and_the_policy_blocks_nothing(demo_site) -> None:
    """The station's own form posts pass the Origin check, and no page asks for anything
    the Content-Security-Policy refuses (Chromium reports each refusal on the console)."""
    from playwright.sync_api import sync_playwright

    complaints: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_context(locale="fr-FR").new_page()
        page.on("console", lambda message: complaints.append(message.text))
        page.goto(f"{demo_site.url}/login")
        page.fill("#username", "nurse")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        assert page.url.endswith("/wards")
        for path in ("/patients?q=a", "/directory", "/or", "/wards?lang=en", "/no/such/page"):
            page.goto(f"{demo_site.url}{path}")
        page.goto(f"{demo_site.url}/wards")
        page.click("form.logout button")
        page.wait_for_load_state()
        assert page.url.endswith("/login")
        page.goto(f"{demo_site.url}/wards")
        assert "/login" in page.url  # the session really ended
        browser.close()
    assert not [text for text in complaints if "Content Security Policy" in text]
