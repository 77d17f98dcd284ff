"""What the ward asked for on first use: the station opens on its own ward, its banners
stay current on an open page and say when the data is frozen at the last safe copy, the
ward's binder prints in one go, and every list is in French alphabetical order.

A small hospital written here (a site, four wards with French names, beds numbered 2 and
10, patients and practitioners whose names test the collation) goes through the real
path: `releve import` into a vault, a station synced from it, its app on loopback.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import orjson
import pytest

from releve.station import folder
from releve.station.index.head import Head
from releve.station.local.audit import Audit
from releve.station.local.wards import Wards
from releve.station.sync import Settings, Status
from releve.station.views.collation import french_key, person_key
from releve.station.views.search import search
from releve.station.web.base import is_frozen
from test_station_web import PASSWORD, add_users, rows_of, station_site

from conftest import NOW, StationFixture, _station_from, copy_station, run_releve

# Family names as a French ward writes them: an accent first, a particle in lower case,
# names that only spaces and case set apart.
FAMILIES = ["Zola", "Écuyer", "de la Tour", "Delacroix", "dubois", "Dupont", "Eymard",
            "Émery", "LEROY", "Le Goff", "Öztürk", "Ødegaard", "Bénard", "Benoit"]
# ... in the order a French reader expects (accents, case and spaces do not count)
FRENCH_ORDER = ["Bénard", "Benoit", "Delacroix", "de la Tour", "dubois", "Dupont", "Écuyer",
                "Émery", "Eymard", "Le Goff", "LEROY", "Ødegaard", "Öztürk", "Zola"]
OUTPATIENTS = ["Le Pen", "Le Roux", "Lefèvre"]
DRUGS = ["Paracétamol", "Énoxaparine", "amlodipine", "Zopiclone"]
SUBSTANCES = ["Œuf", "arachide", "Pénicilline", "Éther"]
WARDS = {"loc-urg": "urgences", "loc-elec": "Électrophysiologie", "loc-card": "Cardiologie",
         "loc-zoo": "Zone d'attente"}


def _location(lid: str, name: str, kind: str, part_of: str | None = None, **extra) -> dict:
    found = {"resourceType": "Location", "id": lid, "name": name, "status": "active",
             "physicalType": {"coding": [{"code": kind}]}, **extra}
    if part_of:
        found["partOf"] = {"reference": f"Location/{part_of}"}
    return found


def hospital() -> list[dict]:
    """The small hospital's resources: every patient in a bed of Cardiologie (alias CARD)."""
    found = [_location("loc-site", "Hôpital", "si")]
    for lid, name in WARDS.items():
        found.append(_location(lid, name, "wa", "loc-site",
                               alias=[lid.removeprefix("loc-").upper()]))
    for number in range(1, len(FAMILIES) + 1):
        found.append(_location(f"loc-card-r{number}", f"Chambre {number}", "ro", "loc-card"))
        found.append(_location(f"loc-card-b{number}", f"Lit {number}", "bd", f"loc-card-r{number}"))
    for i, family in enumerate(FAMILIES):
        found.append({"resourceType": "Patient", "id": f"p{i}", "birthDate": "1950-03-0" + str(i % 9 + 1),
                      "name": [{"family": family, "given": ["Marie"]}], "gender": "female"})
        found.append({"resourceType": "Encounter", "id": f"e{i}", "status": "in-progress",
                      "class": {"code": "IMP"}, "subject": {"reference": f"Patient/p{i}"},
                      "period": {"start": "2026-01-10T08:00:00+01:00"},
                      "location": [{"location": {"reference": f"Location/loc-card-b{i + 1}"},
                                    "status": "active",
                                    "physicalType": {"coding": [{"code": "bd"}]}}]})
        found.append({"resourceType": "Practitioner", "id": f"dr{i}",
                      "name": [{"family": family, "given": ["Paul"], "prefix": ["Dr"]}]})
    for n, family in enumerate(OUTPATIENTS):  # not admitted: after the inpatients in a search
        found.append({"resourceType": "Patient", "id": f"out{n}", "name": [{"family": family,
                                                                             "given": ["Anne"]}]})
    for n, drug in enumerate(DRUGS):  # the first patient's orders and allergies
        found.append({"resourceType": "MedicationRequest", "id": f"mr{n}", "status": "active",
                      "intent": "order", "subject": {"reference": "Patient/p0"},
                      "medicationCodeableConcept": {"text": drug},
                      "authoredOn": "2026-01-10T09:00:00+01:00",
                      "dosageInstruction": [{"text": f"{drug} 1 par jour"}]})
    for n, substance in enumerate(SUBSTANCES):
        found.append({"resourceType": "AllergyIntolerance", "id": f"al{n}",
                      "patient": {"reference": "Patient/p0"}, "code": {"text": substance},
                      "clinicalStatus": {"coding": [{"code": "active"}]}})
    return found


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> StationFixture:
    """The small hospital, imported and synced into a station with test_station_web's users."""
    made = _station_from(tmp_path_factory.mktemp("ward-hospital"),
                         _written(tmp_path_factory.mktemp("ward-inputs"), hospital()))
    add_users(made.dir)
    return made


def _written(folder_: Path, resources: list[dict]) -> Path:
    """The resources as one ndjson file in `folder_` (what `releve import` reads)."""
    (folder_ / "hospital.ndjson").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in resources))
    return folder_


def _station(small: StationFixture, tmp_path: Path) -> Path:
    return copy_station(small, tmp_path / "station").dir


def _settings(station: Path, **changes) -> None:
    settings = Settings.load(station)
    for name, value in changes.items():
        setattr(settings, name, value)
    settings.save(station)


# --- 1. the station opens on its ward -----------------------------------------------------------


def test_init_keeps_the_ward_and_set_ward_changes_it(tmp_path: Path, keys) -> None:
    station = tmp_path / "s"
    run_releve("station", "init", station, "--identity", keys.identity, "--ward", "CARD")
    assert orjson.loads(folder.settings_file(station).read_bytes())["ward"] == "CARD"
    assert Settings.load(station).ward == "CARD"
    run_releve("station", "set-ward", "loc-urg", "--station", station)
    assert Settings.load(station).ward == "loc-urg"
    run_releve("station", "set-ward", "--none", "--station", station)
    assert Settings.load(station).ward is None
    refused = run_releve("station", "set-ward", "--station", station, check=False)
    assert refused.returncode == 2


def test_set_ward_warns_of_a_ward_the_data_does_not_name(small, tmp_path: Path) -> None:
    station = _station(small, tmp_path)
    done = run_releve("station", "set-ward", "NOWHERE", "--station", station)
    assert b"no ward named 'NOWHERE'" in done.stderr
    done = run_releve("station", "set-ward", "card", "--station", station)
    assert b"warning" not in done.stderr


def test_sign_in_lands_on_the_stations_ward_when_the_user_sees_it(small, tmp_path: Path) -> None:
    station = _station(small, tmp_path)
    wards = Wards(station)
    wards.add_user("carla", "nurse", PASSWORD, "Carla", ["loc-card"])
    wards.add_user("ulysse", "nurse", PASSWORD, "Ulysse", ["loc-urg"])
    wards.add_user("victor", "nurse", PASSWORD, "Victor", ["loc-urg", "loc-elec"])
    with station_site(station) as site:
        assert _landing(site, "carla") == "/wards"  # no ward set: today's behaviour
        assert _landing(site, "ulysse") == "/wards"
        _settings(station, ward="CARD")  # by its code, resolved at sign-in
        assert _landing(site, "carla") == "/wards/loc-card"
        assert _landing(site, "admin") == "/wards/loc-card"  # sees every ward
        # not theirs: no break-glass form to land on, but their own ward when they have one
        assert _landing(site, "ulysse") == "/wards/loc-urg"
        assert _landing(site, "victor") == "/wards"  # two wards, neither the station's: the list
        victor = site.login("victor")  # a reason given for the station's ward opens its census...
        granted = victor.post("/wards/loc-card/break-glass", data={"reason": "urgence", "next": "/wards/loc-card"})
        assert granted.status_code == 303 and victor.get("/wards/loc-card").status_code == 200
        assert _landing(site, "victor") == "/wards"  # ...but is no ward of theirs to land on
        client = site.login("carla")
        assert client.get("/").headers["location"] == "/wards/loc-card"
        assert client.get("/login").headers["location"] == "/wards/loc-card"
        assert client.get("/login?next=/directory").headers["location"] == "/directory"
        census = client.get("/wards/loc-card")
        assert census.status_code == 200 and "DUPONT Marie" in census.text
        _settings(station, ward="Cardiologie")  # by its name
        assert _landing(site, "carla") == "/wards/loc-card"
        _settings(station, ward="nowhere")  # a ward the data does not know: each their own
        assert _landing(site, "carla") == "/wards/loc-card"
        assert _landing(site, "victor") == "/wards"


def _landing(site, user: str) -> str:
    client = site.client()
    answer = client.post("/login", data={"username": user, "password": PASSWORD, "next": "/wards"})
    assert answer.status_code == 303
    return answer.headers["location"]


# --- 2. live and frozen banners -----------------------------------------------------------------


def test_status_json_gives_the_banners_and_changes_with_the_sync(small, tmp_path: Path) -> None:
    station = _station(small, tmp_path)
    _settings(station, banner_seconds=7)
    with station_site(station) as site:
        nurse = site.login("nurse")
        page = nurse.get("/wards").text
        assert 'data-status="/status.json" data-every="7"' in page
        assert '<script src="/static/live.js" defer></script>' in page
        script = site.client().get("/static/live.js")
        assert script.status_code == 200 and "data-status" in script.text  # the URL is the page's
        first = site.client().get("/status.json")  # names nobody: no sign-in needed
        assert first.status_code == 200 and first.headers["cache-control"] == "no-store"
        body = first.json()
        assert body["frozen"] is False and "Données à jour du" in body["banners"] \
            or "Attention, données anciennes" in body["banners"]
        assert "figées" not in body["banners"]

        status = Status.load(station)
        status.held = {"seq": 2, "sha256": "ab" * 32, "kind": "delta", "share": 0.2,
                       "reason": "would remove 90% of the resources", "since": "2026-01-14T08:55:00Z"}
        status.save(station)
        frozen = site.client().get("/status.json").json()
        assert frozen["frozen"] is True and frozen["key"] != body["key"]
        state = Head(1, "", 1, _state_time(station))
        day, hour = _local(state.state_time)
        assert f"Données figées à la dernière copie sûre du {day} à {hour}." in frozen["banners"]
        assert "Segment 2 retenu" in frozen["banners"]
        assert "Données figées" in nurse.get("/wards").text  # the page says it too
        english = site.client().get("/status.json?lang=en").json()["banners"]
        assert f"Data frozen at the last safe copy of {day} at {hour}." in english

        _settings(station, downtime={"since": "2026-01-14T08:00:00+00:00", "note": "rançongiciel"})
        declared = site.client().get("/status.json").json()
        assert declared["downtime"] is True and "rançongiciel" in declared["banners"]


def test_status_json_before_the_first_sync_says_there_is_no_data(tmp_path: Path, keys) -> None:
    from releve.station.sync import init_station

    station = tmp_path / "new"
    init_station(station, keys.identity, "neuve", ward="CARD")
    with station_site(station) as site:
        body = site.client().get("/status.json").json()
    assert body["state_time"] is None and body["frozen"] is False and body["stale"] is True
    assert "Aucune donnée : cette station n&#39;a pas encore été synchronisée." in body["banners"]


def _state_time(station: Path) -> str:
    from releve.station.index.connection import reader
    from releve.station.index.head import read_head

    conn = reader(station)
    try:
        time_ = read_head(conn).state_time
    finally:
        conn.close()
    assert time_
    return time_


def _local(instant: str) -> tuple[str, str]:
    import datetime as dt
    from zoneinfo import ZoneInfo

    when = dt.datetime.fromisoformat(instant.replace("Z", "+00:00")).astimezone(ZoneInfo("Europe/Paris"))
    return when.strftime("%d/%m/%Y"), when.strftime("%H:%M")


def test_frozen_when_the_newest_segment_is_held_unreadable_or_suspect() -> None:
    fine = Head(seq=5, sha256="x", state_seq=5, state_time="2026-01-14T08:40:00Z")
    assert not is_frozen(fine, Status())
    assert is_frozen(Head(6, "y", 5, fine.state_time), Status())  # segment 6 skipped as suspect
    assert is_frozen(fine, Status(held={"seq": 6}))
    assert is_frozen(fine, Status(unreadable={"seq": 6}))
    assert not is_frozen(fine, Status(error="vault unreachable"))  # stale, not refused


def test_polling_the_status_never_keeps_a_session_alive(small, tmp_path: Path) -> None:
    station = _station(small, tmp_path)
    with station_site(station) as site:
        nurse = site.login("nurse")
        with sqlite3.connect(folder.local_db(station)) as db:
            db.execute("UPDATE sessions SET last_seen = last_seen - 600")
            before = db.execute("SELECT last_seen FROM sessions").fetchall()
        for _ in range(3):
            assert nurse.get("/status.json").status_code == 200
        with sqlite3.connect(folder.local_db(station)) as db:
            assert db.execute("SELECT last_seen FROM sessions").fetchall() == before
        assert nurse.get("/wards").status_code == 200  # a page does touch it
        with sqlite3.connect(folder.local_db(station)) as db:
            assert db.execute("SELECT last_seen FROM sessions").fetchall() != before


# --- 4. French alphabetical order ---------------------------------------------------------------


def test_the_french_sort_key() -> None:
    assert sorted(FAMILIES, key=french_key) == FRENCH_ORDER
    assert sorted(["Lit 10", "lit 2", "Lit 1"], key=french_key) == ["Lit 1", "lit 2", "Lit 10"]
    assert sorted(["Élodie", "Eric", "Zoé", "élise", "Emma"], key=french_key) == \
        ["élise", "Élodie", "Emma", "Eric", "Zoé"]
    assert sorted(["côte", "Cote", "cote"], key=french_key) == ["cote", "Cote", "côte"]
    assert sorted(["Œuvray", "Oeste", "Ofer"], key=french_key) == ["Oeste", "Œuvray", "Ofer"]
    assert person_key("Martin", "Élodie") < person_key("Martin", "Emma") < person_key("martin", "Zoé")


def test_every_list_is_in_french_order(small, tmp_path: Path) -> None:
    station = _station(small, tmp_path)
    with station_site(station) as site:
        nurse = site.login("admin")
        wards = nurse.get("/wards").text
        shown = re.findall(r'class="row-link" href="/wards/[^"]+">([^<]+)</a>', wards)
        assert shown == ["Cardiologie", "Électrophysiologie", "urgences", "Zone d&#39;attente"]

        census = rows_of(nurse.get("/wards/loc-card").text)
        beds = [re.search(r'class="bed">(.*?)</th>', r).group(1) for r in census]
        assert beds == [f"Lit {n}" for n in range(1, len(FAMILIES) + 1)]

        found = nurse.get("/patients?q=marie").text
        names = re.findall(r'href="/patients/p\d+">([^<]+)</a>', found)
        assert [n.removesuffix(" Marie") for n in names] == [f.upper() for f in FRENCH_ORDER]

        directory = nurse.get("/directory").text
        doctors = re.findall(r"Dr Paul ([^<]+?)<", directory)
        assert doctors == [f.upper() for f in FRENCH_ORDER]

    from releve.station.index.connection import reader
    from releve.station.views.summary import summary

    conn = reader(station)
    try:
        hits = search(conn, "marie")
        short = {text: [h.family for h in search(conn, text)] for text in ("de", "le g", "É")}
        first = [h.family for h in search(conn, "le", limit=3)]
        chart = summary(conn, "p0", dt.datetime.fromisoformat(NOW), "Europe/Paris")
    finally:
        conn.close()
    assert [h.family for h in hits] == FRENCH_ORDER
    # one or two letters: family-name prefixes, spaces left out, in French order
    assert short == {"de": ["Delacroix", "de la Tour"], "le g": ["Le Goff"],
                     "É": ["Écuyer", "Émery", "Eymard"]}
    # the index picks the first results in the same order: « Lefèvre » before « Le Pen »
    assert first == ["Le Goff", "LEROY", "Lefèvre"]
    assert chart is not None
    assert [m.drug for m in chart.medications] == ["amlodipine", "Énoxaparine", "Paracétamol", "Zopiclone"]
    assert [a.substance for a in chart.allergies] == ["arachide", "Éther", "Œuf", "Pénicilline"]


# --- 3. the ward binder -------------------------------------------------------------------------


def _pdf_text(pdf: Path) -> tuple[str, int]:
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          check=True).stdout.decode()
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, check=True).stdout.decode()
    return text, int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))


def test_the_binder_command_prints_every_patient_of_the_ward(small, tmp_path: Path) -> None:
    station = _station(small, tmp_path)
    out = tmp_path / "binder.pdf"
    done = run_releve("station", "print", "binder", "--ward", "CARD", "--station", station,
                      "--out", out, "--user", "night-it")
    text, pages = _pdf_text(out)
    patients = len(FAMILIES)
    assert f"({pages} page(s), {patients} patient(s)" in done.stdout.decode()
    assert b"Marie" not in done.stdout + done.stderr  # the terminal names nobody
    for family in FAMILIES:
        assert text.count(f"{family.upper()} Marie") >= 4 + 24  # summary, MAR, 2 bands, labels
    # each patient: a summary, a MAR, a wristband sheet and a label sheet, in bed order
    assert pages == 4 * patients
    assert text.count("Synthèse du dossier") == patients
    assert text.count("Plan d'administration des prochaines 24 h") == patients
    assert text.count("Découper le long des pointillés") == patients
    order = [text.index(f"{family.upper()} Marie") for family in FAMILIES]
    assert order == sorted(order)  # FAMILIES lie in beds 1, 2, ... in that order
    entry = [e for e in Audit(station).entries(limit=10) if e.page == "print-binder"]
    assert len(entry) == 1 and entry[0].user == "night-it"
    assert sorted(entry[0].patients) == sorted(f"p{i}" for i in range(patients))


def test_the_binder_command_refuses_an_unknown_ward(small, tmp_path: Path) -> None:
    station = _station(small, tmp_path)
    refused = run_releve("station", "print", "binder", "--ward", "NOWHERE", "--station", station,
                         "--out", tmp_path / "b.pdf", check=False)
    assert refused.returncode == 1 and b"no ward named 'NOWHERE'" in refused.stderr
    assert not (tmp_path / "b.pdf").exists()


def test_the_binder_from_the_ward_page_shows_progress_then_the_pdf(small, tmp_path: Path) -> None:
    station = _station(small, tmp_path)
    Wards(station).add_user("ulysse", "nurse", PASSWORD, "Ulysse", ["loc-urg"])
    with station_site(station) as site:
        nurse = site.login("nurse")
        ward = nurse.get("/wards/loc-card").text
        assert 'action="/wards/loc-card/print/binder" method="post"' in ward
        assert "Imprimer le classeur du service" in ward
        started = nurse.post("/wards/loc-card/print/binder")
        assert started.status_code == 303
        job = started.headers["location"]
        assert re.fullmatch(r"/wards/loc-card/print/binder/[\w-]{20,}", job)
        first = nurse.get(job)
        assert first.status_code == 200
        assert '<meta http-equiv="refresh" content="1">' in first.text or "Classeur prêt" in first.text
        ready = _wait_ready(nurse, job)
        assert f"Classeur prêt : {len(FAMILIES)} patients, {4 * len(FAMILIES)} pages." in ready
        assert 'http-equiv="refresh"' not in ready
        pdf = nurse.get(job + ".pdf")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF") and pdf.headers["cache-control"] == "no-store"
        assert 'filename="classeur.pdf"' in pdf.headers["content-disposition"]
        # someone else's job is not theirs to see; another ward asks for a reason first
        other = site.login("ulysse")
        assert other.get(job).status_code == 404 and other.get(job + ".pdf").status_code == 404
        assert other.post("/wards/loc-card/print/binder").status_code == 403
        assert nurse.post("/wards/nowhere/print/binder").status_code == 404
        elsewhere = httpx.Client(base_url=site.url, cookies=nurse.cookies,
                                 headers={"Origin": "http://elsewhere.example"})
        assert elsewhere.post("/wards/loc-card/print/binder").status_code == 403


def _wait_ready(client, job: str) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        page = client.get(job).text
        if "Classeur prêt" in page or "pas pu être préparé" in page:
            return page
        assert re.search(r'<progress value="\d+" max="\d+"', page)
        time.sleep(0.3)
    raise AssertionError("the binder was not made in 120 s")
