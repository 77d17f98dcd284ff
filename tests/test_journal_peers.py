"""Stations pulling each other's journals over real HTTP (docs/journal.md §6).

Two and three stations, each its own folder, key and web server on loopback, write
entries while they pull each other; once they settle each holds the same entries and
every journal verifies. A peer that serves a forged or reordered entry, or another key
for a station already pinned, is refused by name and the good entries are kept. The
peer endpoints take a bearer token of role peer and nothing else; the crisis cell sees
every station in Chromium.
"""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from releve.journal import files, peers
from releve.journal.book import Journal
from releve.journal.entry import parse
from releve.journal.pull import pull_all
from releve.station.local.accounts import Accounts
from releve.station.local.tokens import Tokens
from releve.station.sync import init_station
from releve.station.web.app import server_config
from releve.vault.keys import create_station_identity
from releve.vault.minisign import PublicKey
from test_journal_core import NURSE, observation

from conftest import run_releve
from helpers import serving

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]
ADMIN_PASSWORD = "cellule-crise-2026"


def make_station(root: Path, name: str, ward: str) -> Path:
    """A station folder as `releve station init` makes it (no vault yet), with its key."""
    identity, _ = create_station_identity(root / f"{name}-keys", name)
    folder = root / name
    init_station(folder, identity, name=name, ward=ward)
    Journal(folder)
    return folder


def keys_of(folder: Path) -> set[str]:
    conn = Journal(folder).db()
    return {row[0] for row in conn.execute("SELECT key FROM entries")}


def settle(folders: list[Path], rounds: int = 10) -> None:
    """Pull rounds until one round brings nothing new anywhere."""
    for _ in range(rounds):
        pulled = [o.pulled for folder in folders for o in pull_all(folder)]
        if not any(pulled):
            return
    raise AssertionError("the stations did not settle")


@pytest.fixture
def served(tmp_path: Path):
    """Three stations, each served on loopback: (folder, url) by name."""
    import contextlib

    with contextlib.ExitStack() as stack:
        out = {}
        for name, ward in (("rea-1", "REA"), ("rea-2", "REA"), ("crise", "CRISE")):
            folder = make_station(tmp_path, name, ward)
            url = stack.enter_context(serving(server_config(folder, "127.0.0.1", 0)))
            out[name] = (folder, url)
        yield out


def link(puller: Path, target: tuple[Path, str], name: str) -> None:
    """`puller` pulls `target`: a peer token made there, given here through the CLI."""
    token = run_releve("station", "token", "add", f"peer-{puller.name}", "--role", "peer",
                       "--station", target[0]).stdout.decode().strip()
    token_file = puller.parent / f"{puller.name}-to-{name}.token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    run_releve("station", "peer", "add", "--station", puller, "--url", target[1],
               "--token-file", token_file, "--name", name)


@pytest.mark.parametrize("topology", ["two", "three"])
def test_stations_writing_while_pulling_settle_on_the_same_entries(served, topology):
    a, b, c = served["rea-1"], served["rea-2"], served["crise"]
    link(a[0], b, "rea-2")
    link(b[0], a, "rea-1")
    folders = [a[0], b[0]]
    if topology == "three":  # the crisis cell reaches rea-2 only: rea-1 comes relayed
        link(c[0], b, "rea-2")
        link(b[0], c, "crise")
        folders.append(c[0])
    stop = threading.Event()

    def write(folder: Path, base: float) -> None:
        journal = Journal(folder)
        for n in range(40):
            journal.append([observation(base + n)], NURSE)
            if stop.is_set():
                return

    writers = [threading.Thread(target=write, args=(f, 60.0 + 100 * i)) for i, f in enumerate(folders)]
    for writer in writers:
        writer.start()
    for _ in range(3):  # pulls while the entries are being written
        for folder in folders:
            pull_all(folder)
    for writer in writers:
        writer.join()
    settle(folders)
    expected = set().union(*(keys_of(f) for f in folders))
    assert len(expected) == 40 * len(folders)
    for folder in folders:
        assert keys_of(folder) == expected, folder.name
        report = run_releve("journal", "verify", "--station", folder).stdout.decode()
        assert report.count("chain and signatures verified") == len(folders)
    # the CLI pulls too, and says each peer's outcome
    said = run_releve("journal", "pull", "--station", a[0]).stdout.decode()
    assert "peer rea-2: 0 entries pulled" in said
    state = peers.load_state(a[0])["rea-2"]
    assert state["reachable"] and state["last_error"] is None and state["last_success"]
    assert state["status"]["name"] == "rea-2" and state["status"]["ward"] == "REA"
    assert orjson.loads(peers.peers_file(a[0]).read_bytes())[0]["url"] == b[1]
    assert oct(peers.peers_file(a[0]).stat().st_mode & 0o777) == "0o600"


# --- a peer that lies -------------------------------------------------------------------------


class FakePeer:
    """A peer serving whatever lines and key a test puts in it, for one station."""

    def __init__(self, station: str, public: PublicKey, lines: list[bytes]):
        self.station, self.public, self.lines = station, public, lines
        self.state: dict = {}

    def app(self) -> Starlette:
        def status(request: Request) -> Response:
            return JSONResponse({"station": "FFFFFFFFFFFFFFFF", "name": "menteur", "ward": None})

        def journals(request: Request) -> Response:
            last = parse(self.lines[-1]).hash
            return JSONResponse({"journals": [{"station": self.station, "seq": len(self.lines),
                                               "public_key": self.public.to_base64(), "hash": last}]})

        def lines(request: Request) -> Response:
            after = int(request.query_params["after"])
            return Response(b"".join(line + b"\n" for line in self.lines[after:]))

        return Starlette(routes=[Route("/peer/status", status), Route("/peer/journals", journals),
                                 Route("/peer/journals/{station}", lines)])


@pytest.fixture
def source(tmp_path: Path):
    """A station's five entries, as a peer would relay them."""
    folder = make_station(tmp_path, "source", "REA")
    journal = Journal(folder)
    journal.append([observation(70.0 + n) for n in range(5)], NURSE)
    lines = list(files.entries_file(folder, journal.station).read_bytes().splitlines())
    return journal.station, journal.key.public, lines


def pull_from(fake: FakePeer, puller: Path) -> list:
    """One pull of the lying peer; its line of peers-state.json kept in `fake.state`."""
    with serving(fake.app()) as url:
        peers.add(puller, "menteur", url, "any-token")
        try:
            return pull_all(puller)
        finally:
            fake.state = peers.load_state(puller)["menteur"]
            peers.remove(puller, "menteur")


def rechained(lines: list[bytes], position: int, old: bytes, new: bytes) -> list[bytes]:
    """The lines with one value rewritten and every later `prev` recomputed: a forger
    without the key can redo the hashes, not the signatures."""
    import hashlib

    from releve.journal.entry import split

    out = list(lines)
    out[position] = out[position].replace(old, new)
    for n in range(position + 1, len(out)):
        body, _ = split(out[n - 1])
        previous = orjson.loads(split(out[n])[0])["prev"]
        out[n] = out[n].replace(previous.encode(), hashlib.sha256(body).hexdigest().encode())
    return out


def test_a_forged_entry_is_refused_by_name_and_the_good_ones_kept(tmp_path, source):
    station, public, lines = source
    puller = make_station(tmp_path, "puller", "REA")
    forged = rechained(lines, 2, b'"value":72.0', b'"value":27.0')
    assert forged[2] != lines[2] and forged[3] != lines[3]
    fake = FakePeer(station, public, forged)
    [outcome] = pull_from(fake, puller)
    assert outcome.pulled == 2
    assert f"entry {station}/3: bad signature" in outcome.errors[0]
    assert keys_of(puller) == {f"{station}/1", f"{station}/2"}
    assert "bad signature" in fake.state["last_error"] and fake.state["reachable"]
    assert "last_success" not in fake.state
    # the honest copy later completes the chain
    [again] = pull_from(FakePeer(station, public, lines), puller)
    assert again.pulled == 3 and not again.errors
    assert len(keys_of(puller)) == 5
    # a peer no further than this station, holding another entry 3: a forked copy
    [fork] = pull_from(FakePeer(station, public, forged[:3]), puller)
    assert fork.pulled == 0
    assert f"the peer's entry {station}/3 is not the one held here" in fork.errors[0]
    assert Journal(puller).entry(f"{station}/3").line == lines[2]


def test_a_reordered_entry_is_refused_by_name_and_the_good_ones_kept(tmp_path, source):
    station, public, lines = source
    puller = make_station(tmp_path, "puller", "REA")
    swapped = [lines[0], lines[1], lines[3], lines[2], lines[4]]
    [outcome] = pull_from(FakePeer(station, public, swapped), puller)
    assert outcome.pulled == 2
    assert f"entry {station}/4 where entry {station}/3 was expected" in outcome.errors[0]
    assert keys_of(puller) == {f"{station}/1", f"{station}/2"}
    assert run_releve("journal", "verify", "--station", puller).returncode == 0


def test_a_station_whose_key_changes_is_refused(tmp_path, source):
    station, public, lines = source
    puller = make_station(tmp_path, "puller", "REA")
    [first] = pull_from(FakePeer(station, public, lines[:3]), puller)
    assert first.pulled == 3
    other = PublicKey(public.key_id, bytes(32 - len(b"x")) + b"x")  # same id, another key
    [outcome] = pull_from(FakePeer(station, other, lines), puller)
    assert outcome.pulled == 0
    assert f"station {station} now shows another key than the one pinned" in outcome.errors[0]
    assert len(keys_of(puller)) == 3
    assert files.pinned_key(puller, station) == public


# --- tokens -----------------------------------------------------------------------------------


def test_peer_endpoints_take_a_peer_token_only(served):
    folder, url = served["rea-1"]
    Journal(folder).append([observation(80.0)], NURSE)
    tokens = Tokens(folder)
    peer, nurse = tokens.add("rea-2", "peer"), tokens.add("moniteur-12", "nurse")
    station = Journal(folder).station
    for headers in ({}, {"Authorization": "Bearer rlv_not-a-token"}, {"Authorization": peer}):
        answer = httpx.get(f"{url}/peer/journals", headers=headers)
        assert answer.status_code == 401 and answer.headers["www-authenticate"].startswith("Bearer")
    assert httpx.get(f"{url}/peer/status", headers={"Authorization": f"Bearer {nurse}"}).status_code == 403
    ok = httpx.get(f"{url}/peer/journals", headers={"Authorization": f"Bearer {peer}"})
    assert ok.status_code == 200
    [listed] = ok.json()["journals"]
    assert listed["station"] == station and listed["seq"] == 1
    lines = httpx.get(f"{url}/peer/journals/{station}", params={"after": 0},
                      headers={"Authorization": f"Bearer {peer}"})
    assert lines.content == files.entries_file(folder, station).read_bytes()
    status = httpx.get(f"{url}/peer/status", headers={"Authorization": f"Bearer {peer}"}).json()
    assert status["name"] == "rea-1" and status["journal"]["entries"] == 1
    assert status["identifiers"] == {"station": station, "ranges": []}
    actions = [(e.user, e.action) for e in served_audit(folder)]
    assert ("token:rea-2", "token") in actions and ("token:moniteur-12", "token") in actions
    run_releve("station", "token", "remove", "rea-2", "--station", folder)
    assert httpx.get(f"{url}/peer/status", headers={"Authorization": f"Bearer {peer}"}).status_code == 401
    listing = run_releve("station", "token", "list", "--station", folder).stdout.decode()
    assert "moniteur-12" in listing and "rea-2" not in listing and nurse not in listing


def served_audit(folder: Path):
    from releve.station.local.audit import Audit

    return Audit(folder).entries(limit=100)


def test_a_signed_in_browser_does_not_reach_the_peer_endpoints(served):
    folder, url = served["rea-1"]
    Accounts(folder).add_user("admin", "admin", ADMIN_PASSWORD)
    with httpx.Client(base_url=url) as client:
        client.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD},
                    headers={"Origin": url})
        assert client.get("/crisis").status_code == 200  # signed in
        assert client.get("/peer/status").status_code == 401  # a session is not a token


# --- the crisis cell --------------------------------------------------------------------------


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")
def test_the_crisis_page_shows_every_station(served):
    from playwright.sync_api import sync_playwright

    a, b, c = served["rea-1"], served["rea-2"], served["crise"]
    Journal(a[0]).append([observation(90.0)], NURSE)
    link(b[0], a, "rea-1")
    link(c[0], b, "rea-2")
    settle([b[0], c[0]])
    Accounts(c[0]).add_user("cellule", "crisis", ADMIN_PASSWORD, display_name="Cellule")
    Accounts(c[0]).add_user("claire", "nurse", ADMIN_PASSWORD)
    rea1 = Journal(a[0]).station
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_context(locale="fr-FR").new_page()
        page.goto(f"{c[1]}/login?next=/crisis")
        page.fill("#username", "cellule")
        page.fill("#password", ADMIN_PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{c[1]}/crisis")
        assert page.locator("nav.main a[href='/crisis']").inner_text() == "Cellule de crise"
        lines = page.locator("tr.station-line")
        texts = {line.get_attribute("data-station"): line.inner_text() for line in lines.all()}
        assert len(texts) == 3
        assert "cette station" in texts[Journal(c[0]).station]
        assert "rea-2" in texts[Journal(b[0]).station] and "rea-1 : joignable" in texts[Journal(b[0]).station]
        assert "connue par relais" in texts[rea1] and "1 saisies reçues ici" in texts[rea1]
        assert texts[rea1].startswith("rea-1")  # named by rea-2's status, relayed
        wards = page.locator("tr.ward-line").all_inner_texts()
        assert len(wards) == 2 and "CRISE" in wards[0] and wards[1].startswith("REA\t2")
        page.goto(f"{c[1]}/crisis?lang=en")
        assert "known through a relay" in page.locator(f"tr[data-station='{rea1}']").inner_text()
        browser.close()
    with httpx.Client(base_url=c[1]) as client:
        client.post("/login", data={"username": "claire", "password": ADMIN_PASSWORD},
                    headers={"Origin": c[1]})
        assert client.get("/crisis").status_code == 403


def test_each_sync_round_pulls_the_peers_even_when_the_vault_fails(served, tmp_path):
    from releve.cli.console import Say
    from releve.cli.journal import pull_peers
    from releve.station.sync_loop import sync_forever
    from releve.vault.source import FolderSource

    a, b = served["rea-1"], served["rea-2"]
    Journal(b[0]).append([observation(75.0)], NURSE)
    link(a[0], b, "rea-2")
    rounds: list[str] = []
    complaints: list[str] = []

    def next_round(seconds: float) -> None:
        rounds.append(f"{seconds:g}")
        if len(rounds) == 2:
            raise KeyboardInterrupt

    broken = tmp_path / "broken-vault"
    broken.mkdir()
    (broken / "config.json").write_text("{}")  # every sync round fails on it
    calls = iter([lambda: pull_peers(a[0], Say()), lambda: 1 / 0])
    with pytest.raises(KeyboardInterrupt):
        sync_forever(a[0], FolderSource(broken), 5, lambda outcome: None,
                     lambda reason, wait: complaints.append(reason), sleep=next_round,
                     each_round=lambda: next(calls)())
    assert keys_of(a[0]) == {f"{Journal(b[0]).station}/1"}  # pulled in the first round
    assert len(complaints) == 3 and complaints[-1] == "unexpected ZeroDivisionError"


def test_a_range_a_peer_holds_is_refused_here(served):
    """Ranges travel with the peers' status: rea-2 learns rea-1's, and through rea-2 the
    crisis cell's station learns them too (relayed), and both refuse an overlap."""
    one, two = served["rea-1"][0], served["rea-2"][0]
    crisis = served["crise"][0]
    run_releve("station", "identifiers", "--station", one, "--ipp", "900000-900999",
               "--stay", "7700000-7700499")
    link(two, served["rea-1"], "rea-1")
    link(crisis, served["rea-2"], "rea-2")
    settle([two])
    settle([crisis])
    rea1 = Journal(one).station
    for folder in (two, crisis):
        held = orjson.loads((folder / "peers-ranges.json").read_bytes())
        assert [r["first"] for r in held[rea1]["ranges"]] == ["900000", "7700000"]
        refused = run_releve("station", "identifiers", "--station", folder, "--ipp",
                             "900500-901500", "--stay", "8800000-8800099", check=False)
        assert refused.returncode != 0
        assert rea1 in (refused.stdout + refused.stderr).decode()
    assert Journal(two).station not in orjson.loads((two / "peers-ranges.json").read_bytes())
