"""Movements during the downtime over real HTTP: admission (Patient + Encounter, downtime
numbers), the census and the patient page after admission, transfer, discharge and death,
the probable duplicate, bad input (French, nothing written, no number taken), roles, and
the numbered paper (pdftotext)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from releve import clock
from releve.journal.book import Journal
from releve.journal.files import entries_file
from releve.journal.kinds import Context, Invalid, movement
from releve.station.index.connection import reader
from releve.station.local.accounts import Accounts
from releve.station.local.identifiers import Identifiers, parse_range
from releve.station.views import census as census_q
from releve.station.views import movements
from test_station_web import PASSWORD, Site, station_site

from conftest import copy_station

IPP_SYSTEM = "urn:test:ipp"


@pytest.fixture(scope="module")
def site(demo_station, tmp_path_factory) -> Iterator[tuple[Site, Path]]:
    station = copy_station(demo_station, tmp_path_factory.mktemp("moves") / "s").dir
    accounts = Accounts(station)
    for name, role in (("nina", "nurse"), ("sam", "secretary"), ("paul", "pharmacist"),
                       ("ada", "admin")):
        accounts.add_user(name, role, PASSWORD, name.title())
    book = Identifiers(station)
    book.add(parse_range("ipp", "900000-900099", IPP_SYSTEM))
    book.add(parse_range("stay", "7700000-7700099", "urn:test:stay"))
    with station_site(station) as server:
        yield server, station


@pytest.fixture(scope="module")
def nurse(site) -> httpx.Client:
    return site[0].login("nina")


@pytest.fixture(scope="module")
def ward(site) -> str:
    """The ward with the most free beds, among those with a patient in a bed."""
    units = [u for u in census_q.units(reader(site[1])) if u.occupied and u.beds > u.occupied]
    assert units, "no ward with a free bed in the demo hospital"
    return max(units, key=lambda u: u.beds - u.occupied).place.id


def free_spot(station: Path, avoid: str = "") -> tuple[str, str, str]:
    """(ward, bed, bed's name) of a free bed, as the census with the movements has it."""
    conn = reader(station)
    moves = movements.read(Journal(station))
    for unit in census_q.units(conn):
        if unit.place.id == avoid:
            continue
        found = census_q.census(conn, unit.place.id, clock.now(), "Europe/Paris", moves)
        for row in found.rows:
            if row.place and row.place.physical_type == "bd" and row.occupant is None:
                return unit.place.id, row.place.id, row.place.name
    pytest.fail("no free bed left")


def csrf(client: httpx.Client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text[:500]
    return re.search(r'name="csrf" value="([^"]+)"', page.text)[1]


def free_beds(html: str) -> list[tuple[str, str]]:
    select = re.search(r'<select id="f-bed".*?</select>', html, re.S)[0]
    return re.findall(r'<option value="([^"]+)"[^>]*>([^<]+)</option>', select)


def journal_size(station: Path) -> int:
    path = entries_file(station, Journal(station).station)
    return path.stat().st_size if path.exists() else 0


def admit(client: httpx.Client, station: Path, **fields: str) -> httpx.Response:
    """Post an admission, at a free bed of any ward unless `ward` and `bed` are given."""
    ward, bed, _ = free_spot(station)
    ward, bed = fields.pop("ward", ward), fields.pop("bed", bed)
    token = csrf(client, f"/wards/{ward}/admit")
    data = {"csrf": token, "family": "Delorme", "given": "Agathe", "birth_date": "12/03/1951",
            "sex": "female", "class": "IMP", "bed": bed, "ins": "", **fields}
    return client.post(f"/wards/{ward}/admit", data=data)


def bed_cell(html: str, name: str) -> str:
    """The census row of the patient named `name` (family in capitals)."""
    rows = re.findall(r'<tr class="occupied[^"]*">(.*?)</tr>', html, re.S)
    return next((r for r in rows if name in r), "")


# --- transfer, discharge, death -------------------------------------------------------------------


def occupants(station: Path, ward: str) -> list[tuple[str, str, str]]:
    conn = reader(station)
    found = census_q.census(conn, ward, clock.now())
    return [(r.place.id, r.place.name, r.occupant.patient) for r in found.rows if r.occupant]


def test_transfer_moves_a_vault_patient_to_the_new_bed(site, nurse, ward):
    station = site[1]
    old_bed, old_name, pid = occupants(station, ward)[0]
    form = nurse.get(f"/patients/{pid}/movements/transfer")
    assert form.status_code == 200
    new_bed, new_name = free_beds(form.text)[-1]
    answer = nurse.post(f"/patients/{pid}/movements/transfer",
                        data={"csrf": csrf(nurse, f"/patients/{pid}/movements/transfer"),
                              "ward": ward, "bed": new_bed})
    assert answer.status_code == 303, answer.text[-2000:]
    stay = [e for e in Journal(station).for_patient(f"Patient/{pid}") if e.kind == "transfer"][-1]
    places = stay.resource["location"]
    assert [p["location"]["reference"] for p in places if p["status"] == "active"] == \
        [f"Location/{new_bed}", f"Location/{ward}"]
    assert all(p["status"] == "completed" and p["period"]["end"] for p in places[:-2])
    census = nurse.get(f"/wards/{ward}").text
    row = re.search(rf'<th scope="row" class="bed">{re.escape(new_name)}</th>(.*?)</tr>', census, re.S)
    assert row and pid in row[1] and "transféré en mode dégradé" in row[1]
    old_row = re.search(rf'<tr class="([^"]*)">\s*<th scope="row" class="bed">{re.escape(old_name)}</th>',
                        census)
    assert old_row and old_row[1] == "empty-bed"
    assert new_name in nurse.get(f"/patients/{pid}").text
    # a second transfer supersedes the first: one current stay
    back = nurse.post(f"/patients/{pid}/movements/transfer",
                      data={"csrf": csrf(nurse, f"/patients/{pid}/movements/transfer"),
                            "ward": ward, "bed": old_bed})
    assert back.status_code == 303
    moves = [e for e in Journal(station).for_patient(f"Patient/{pid}") if e.kind == "transfer"]
    assert moves[-1].supersedes == moves[-2].key
    assert re.search(rf'{re.escape(old_name)}</th>\s*<td class="patient">\s*<a href="/patients/{pid}"',
                     nurse.get(f"/wards/{ward}").text)


def test_discharge_takes_the_patient_out_of_the_census_with_a_note(site, nurse):
    station = site[1]
    ward = next(u.place.id for u in census_q.units(reader(station)) if u.beds and u.beds == u.occupied)
    _, bed_name, pid = occupants(station, ward)[0]
    path = f"/patients/{pid}/movements/discharge"
    refused = nurse.post(path, data={"csrf": csrf(nurse, path), "disposition": "", "time": ""})
    assert refused.status_code == 400 and "Choisissez une des valeurs proposées." in refused.text
    answer = nurse.post(path, data={"csrf": csrf(nurse, path), "disposition": "home"})
    assert answer.status_code == 303
    stay = Journal(station).for_patient(f"Patient/{pid}")[-1].resource
    assert stay["status"] == "finished" and stay["period"]["end"]
    assert stay["hospitalization"]["dischargeDisposition"]["coding"][0]["code"] == "home"
    census = nurse.get(f"/wards/{ward}").text
    assert f'<td class="patient">\n    <a href="/patients/{pid}"' not in census
    departed = re.search(r'<section class="rec-departed".*?</section>', census, re.S)[0]
    assert f"/patients/{pid}" in departed and "sorti(e)" in departed and bed_name in departed


# --- admission -----------------------------------------------------------------------------------


def test_admission_writes_patient_and_stay_and_shows_on_the_census_and_page(site, nurse):
    station = site[1]
    ward, bed_id, bed_name = free_spot(station)
    assert f'href="/wards/{ward}/admit?bed={bed_id}">Admettre ici</a>' in nurse.get(f"/wards/{ward}").text
    page = nurse.get(f"/wards/{ward}/admit?bed={bed_id}")
    assert f'<option value="{bed_id}" selected>' in page.text
    assert "Numéros qui seront attribués : IPP 900000, séjour 7700000" in page.text
    assert (bed_id, bed_name) in free_beds(page.text)
    answer = admit(nurse, station, ward=ward, bed=bed_id, ins="184127645108946")
    assert answer.status_code == 303, answer.text[:2000]
    pid = answer.headers["location"].removeprefix("/patients/")
    entries = Journal(station).for_patient(f"Patient/{pid}")
    assert [(e.kind, e.resource["resourceType"]) for e in entries] == \
        [("admission", "Patient"), ("admission", "Encounter")]
    assert entries[0].seq + 1 == entries[1].seq  # one append
    patient, stay = entries[0].resource, entries[1].resource
    assert {"system": IPP_SYSTEM, "value": "900000"}.items() <= patient["identifier"][1].items()
    assert patient["identifier"][1]["type"]["coding"][0]["code"] == "PI"
    assert patient["identifier"][2]["value"] == "184127645108946"
    assert stay["identifier"][1]["value"] == "7700000"
    assert stay["status"] == "in-progress" and stay["class"]["code"] == "IMP"
    assert stay["location"][0]["location"]["reference"] == f"Location/{bed_id}"
    census = nurse.get(f"/wards/{ward}").text
    row = bed_cell(census, "DELORME Agathe")
    assert bed_name in row and "admis en mode dégradé" in row and "IPP 900000" in row
    summary = nurse.get(f"/patients/{pid}").text
    assert "DELORME" in summary.upper() and "admis en mode dégradé" in summary
    assert "900000" in summary and bed_name in summary
    assert Identifiers(station).peek("ipp")[0].value == "900001"


BAD = [
    ({"family": ""}, "family", "Ce champ est obligatoire."),
    ({"given": "x" * 101}, "given", "Texte trop long (101 caractères, 100 au plus)."),
    ({"birth_date": "31/02/1990"}, "birth_date", "Date invalide : écrivez JJ/MM/AAAA."),
    ({"birth_date": "01/01/2030"}, "birth_date", "Cette date est dans le futur."),
    ({"birth_date": "douze"}, "birth_date", "Date invalide : écrivez JJ/MM/AAAA."),
    ({"sex": "x"}, "sex", "Choisissez une des valeurs proposées."),
    ({"ins": "184127645108947"}, "ins", "INS invalide"),
    ({"ins": "abc"}, "ins", "INS invalide"),
    ({"class": ""}, "class", "Choisissez une des valeurs proposées."),
    ({"bed": "not-a-bed"}, "bed", "Choisissez une des valeurs proposées."),
    ({"time": "10:30"}, "time", "Cette heure est dans le futur."),
    ({"time": "2026-01-12T08:00"}, "time", "Plus de 24 h en arrière : saisie refusée."),
    ({"time": "midi"}, "time", "Heure invalide"),
    ({"ipp_label": "123"}, "ipp_label", "Ce numéro n'appartient pas aux plages de cette station."),
    ({"ipp_label": "900090"}, "ipp_label", "Ce numéro n'a pas été imprimé sur une étiquette"),
]


@pytest.mark.parametrize(("fields", "name", "message"), BAD, ids=[b[1] + str(i) for i, b in enumerate(BAD)])
def test_bad_admission_input_is_refused_in_french_and_writes_nothing(site, nurse, fields, name,
                                                                     message):
    station = site[1]
    before, next_ipp = journal_size(station), Identifiers(station).peek("ipp")[0].value
    answer = admit(nurse, station, **fields)
    assert answer.status_code == 400
    error = re.search(rf'<p class="error" id="e-{name}" role="alert">([^<]*)</p>', answer.text)
    assert error and message in error[1].replace("&#39;", "'"), answer.text[-3000:]
    assert journal_size(station) == before
    assert Identifiers(station).peek("ipp")[0].value == next_ipp  # no number taken
    if name not in ("family", "given"):
        assert 'value="Delorme"' in answer.text  # the typed values kept


# --- death and duplicates ----------------------------------------------------------------------


def test_death_marks_the_patient_and_ends_the_stay(site, nurse):
    station = site[1]
    ward = free_spot(station)[0]
    answer = admit(nurse, station, ward=ward, family="Marchetti", given="Paolo",
                   birth_date="1940-05-02")
    pid = answer.headers["location"].removeprefix("/patients/")
    path = f"/patients/{pid}/movements/death"
    unconfirmed = nurse.post(path, data={"csrf": csrf(nurse, path), "time": "09:30"})
    assert unconfirmed.status_code == 400 and "Cochez la case pour confirmer le décès." in unconfirmed.text
    done = nurse.post(path, data={"csrf": csrf(nurse, path), "time": "09:30", "confirm": "1"})
    assert done.status_code == 303
    last = Journal(station).for_patient(f"Patient/{pid}")[-2:]
    assert [e.kind for e in last] == ["death", "death"]
    assert last[0].resource["deceasedDateTime"].startswith("2026-01-14T09:30")
    assert last[1].resource["hospitalization"]["dischargeDisposition"]["coding"][0]["code"] == "exp"
    assert "MARCHETTI" not in "".join(re.findall(r'<tr class="occupied.*?</tr>',
                                                  nurse.get(f"/wards/{ward}").text, re.S))
    page = nurse.get(f"/patients/{pid}").text
    assert re.search(r'<span class="fact deceased"><strong>Décédé\(e\) 14/01/2026', page)
    assert 'href="/patients/' + pid + '/movements/transfer"' not in page  # no more movement


def test_the_same_person_admitted_twice_is_flagged_both_ways(site, nurse):
    ward = free_spot(site[1])[0]
    first = admit(nurse, site[1], ward=ward, family="Quentin", given="Rose", birth_date="02/02/1962")
    second = admit(nurse, site[1], family="QUENTIN", given="rose", birth_date="1962-02-02")
    one = first.headers["location"].removeprefix("/patients/")
    two = second.headers["location"].removeprefix("/patients/")
    page = nurse.get(f"/patients/{two}").text
    assert "Doublon probable" in page and f'href="/patients/{one}"' in page
    assert f'href="/patients/{two}"' in nurse.get(f"/patients/{one}").text
    census = nurse.get(f"/wards/{ward}").text
    row = bed_cell(census, "QUENTIN Rose")  # the first one's row points to the second
    assert f'<a class="badge flag-other duplicate" href="/patients/{two}">doublon probable' in row


def test_an_admission_matching_a_vault_patient_is_flagged(site, nurse):
    conn = reader(site[1])
    vault = conn.execute("SELECT id, family, given, birth_date FROM patients WHERE family IS NOT NULL "
                         "AND given IS NOT NULL AND birth_date IS NOT NULL LIMIT 1").fetchone()
    answer = admit(nurse, site[1], family=vault[1], given=vault[2], birth_date=vault[3])
    pid = answer.headers["location"].removeprefix("/patients/")
    assert f'href="/patients/{vault[0]}"' in nurse.get(f"/patients/{pid}").text
    assert f'href="/patients/{pid}"' in nurse.get(f"/patients/{vault[0]}").text


# --- roles ---------------------------------------------------------------------------------------


def test_roles_are_enforced_on_the_server(site, ward):
    pharmacist = site[0].login("paul")
    assert pharmacist.get(f"/wards/{ward}/admit").status_code == 403
    secretary = site[0].login("sam")
    _, _, pid = occupants(site[1], ward)[0]
    assert secretary.get(f"/patients/{pid}/movements/death").status_code == 403
    assert secretary.get(f"/patients/{pid}/movements/transfer").status_code == 200
    assert "Décès</a>" not in secretary.get(f"/patients/{pid}").text
    assert "Transfert</a>" in secretary.get(f"/patients/{pid}").text
    admin = site[0].login("ada")
    assert admin.post(f"/wards/{ward}/print/downtime-labels.pdf", data={"count": "2"}).status_code == 403


# --- paper and numbers ---------------------------------------------------------------------------


def pdf_text(data: bytes) -> str:
    return subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, capture_output=True,
                          check=True).stdout.decode()


def test_printed_labels_reserve_their_numbers_and_an_admission_may_use_one(site, nurse, ward):
    station = site[1]
    first = Identifiers(station).peek("ipp")[0].value
    answer = nurse.post(f"/wards/{ward}/print/downtime-labels.pdf",
                        data={"csrf": csrf(nurse, f"/wards/{ward}"), "count": "3"})
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
    text = pdf_text(answer.content)
    numbers = [str(int(first) + i) for i in range(3)]
    assert all(n in text for n in numbers) and "ADMISSION MODE DÉGRADÉ" in text
    assert Identifiers(station).peek("ipp")[0].value == str(int(first) + 3)
    stays = re.findall(r"77000\d\d", text)
    used = admit(nurse, station, family="Label", given="Léa", ipp_label=numbers[1], stay_label=stays[1])
    assert used.status_code == 303
    pid = used.headers["location"].removeprefix("/patients/")
    patient = Journal(station).for_patient(f"Patient/{pid}")[0].resource
    assert patient["identifier"][1]["value"] == numbers[1]
    again = admit(nurse, station, family="Autre", given="Léo", ipp_label=numbers[1])
    assert again.status_code == 400 and "Ce numéro a déjà été attribué à un patient." in \
        again.text.replace("&#39;", "'")


def test_blank_admission_form_prints_the_next_numbers(site, nurse, ward):
    station = site[1]
    ipp = Identifiers(station).peek("ipp")[0].value
    answer = nurse.post(f"/wards/{ward}/print/admission-form.pdf",
                        data={"csrf": csrf(nurse, f"/wards/{ward}")})
    text = pdf_text(answer.content)
    assert "Fiche d'admission" in text and ipp in text and "Date de naissance" in text
    assert Identifiers(station).peek("ipp")[0].value == str(int(ipp) + 1)


def test_running_low_warns_then_used_up_says_how_to_assign(site, nurse, ward):
    station = site[1]
    book = Identifiers(station)
    left = book.usage()[0].free
    book.take("ipp", state="printed", count=left - 15)  # 85 of 100 used
    census = nurse.get(f"/wards/{ward}").text
    assert "Numéros de mode dégradé bientôt épuisés (IPP)" in census
    book.take("ipp", state="printed", count=15)
    page = nurse.get(f"/wards/{ward}/admit").text
    assert "sont épuisés" in page and "releve station identifiers" in page
    before = journal_size(station)
    refused = admit(nurse, station, family="Trop", given="Tard")
    assert refused.status_code == 400 and "releve station identifiers" in refused.text
    assert journal_size(station) == before


# --- the kind's checks, as the API will call them ------------------------------------------------


def test_check_accepts_what_the_form_makes_and_refuses_bad_resources():
    context = Context(clock.now(), "Europe/Paris", "", "nurse")
    drafts = movement.admission_from_form(
        {"family": "Roux", "given": "Iris", "birth_date": "1980-01-01", "sex": "female",
         "ins": "280012A12345697"[:0], "class": "EMER", "bed": "b1", "ipp": "1", "stay": "2",
         "ipp_system": "urn:a", "stay_system": "urn:b"}, context, {"b1": ("Lit 1", "w")})
    own = Context(context.now, context.zone, drafts[0].patient, "nurse")
    for draft in drafts:
        assert movement.check(draft.resource, own).resource is draft.resource
    bad = {**drafts[1].resource, "status": "in-progress", "location": []}
    with pytest.raises(Invalid) as caught:
        movement.check(bad, own)
    assert [p.field for p in caught.value.problems] == ["bed"]
    with pytest.raises(Invalid):
        movement.check({**drafts[0].resource, "birthDate": "2999-01-01"}, own)
    assert movement.ins_valid("184127645108946") and not movement.ins_valid("184127645108964")


def test_a_peers_admission_of_the_same_person_is_flagged(site, nurse, tmp_path):
    """Two stations admit the same person: the pulled entry meets the local one."""
    station = site[1]
    book = Identifiers(station)  # the earlier test used every number: a new range
    book.add(parse_range("ipp", "900100-900199", IPP_SYSTEM))
    book.add(parse_range("stay", "7700100-7700199", "urn:test:stay"))
    ward, bed, bed_name = free_spot(station)
    mine = admit(nurse, station, ward=ward, bed=bed, family="Peyrot", given="Anne",
                 birth_date="07/07/1977", ins="")
    pid = mine.headers["location"].removeprefix("/patients/")
    peer_dir = tmp_path / "peer"
    peer_dir.mkdir()
    peer = Journal(peer_dir)
    context = Context(clock.now(), "Europe/Paris", "", "nurse")
    drafts = movement.admission_from_form(
        {"family": "PEYROT", "given": "Anne", "birth_date": "1977-07-07", "sex": "female",
         "class": "EMER", "bed": "elsewhere", "ipp": "1", "stay": "2", "ipp_system": "urn:p",
         "stay_system": "urn:q"}, context, {"elsewhere": ("Box 1", "loc-urg")})
    peer.append(drafts, movement_author())
    done = Journal(station).ingest(peer.station, peer.key.public, peer.lines_after(peer.station, 0))
    assert done.accepted == 2 and done.refused is None
    theirs = drafts[0].resource["id"]
    assert f'href="/patients/{theirs}"' in nurse.get(f"/patients/{pid}").text
    assert f'href="/patients/{theirs}">doublon probable' in bed_cell(nurse.get(f"/wards/{ward}").text,
                                                                   "PEYROT Anne")


def movement_author():
    from releve.journal.entry import Author

    return Author("peer-nurse", "Infirmière du pair", "nurse")


def test_a_transfer_to_another_ward_moves_the_patient_between_censuses(site, nurse, ward):
    station = site[1]
    _, _, pid = occupants(station, ward)[0]
    other, bed, bed_name = free_spot(station, avoid=ward)
    path = f"/patients/{pid}/movements/transfer"
    chosen = nurse.post(path, data={"csrf": csrf(nurse, path), "ward": other, "choose": "1"})
    assert chosen.status_code == 200 and (bed, bed_name) in free_beds(chosen.text)
    answer = nurse.post(path, data={"csrf": csrf(nurse, path), "ward": other, "bed": bed})
    assert answer.status_code == 303
    assert re.search(rf'{re.escape(bed_name)}</th>\s*<td class="patient">\s*<a href="/patients/{pid}"',
                     nurse.get(f"/wards/{other}").text)
    assert f'<a href="/patients/{pid}"' not in nurse.get(f"/wards/{ward}").text


def test_the_death_of_a_vault_patient_is_recorded_on_their_own_patient(site, nurse):
    station = site[1]
    ward = next(u.place.id for u in census_q.units(reader(station)) if u.occupied >= 2)
    _, _, pid = occupants(station, ward)[-1]
    path = f"/patients/{pid}/movements/death"
    assert nurse.post(path, data={"csrf": csrf(nurse, path), "confirm": "1"}).status_code == 303
    dead, stay = Journal(station).for_patient(f"Patient/{pid}")[-2:]
    assert dead.resource["id"] == pid and dead.resource["deceasedDateTime"].startswith("2026-01-14T10:00")
    vault = reader(station).execute("SELECT json FROM resources WHERE type = 'Patient' AND id = ?",
                                    (pid,)).fetchone()[0]
    assert dead.resource["name"] == orjson.loads(vault)["name"]  # the vault's Patient, whole
    assert stay.resource["status"] == "finished"
    census = nurse.get(f"/wards/{ward}").text
    departed = re.search(r'<section class="rec-departed".*?</section>', census, re.S)[0]
    assert f"/patients/{pid}" in departed and "décédé(e)" in departed
    assert '<span class="fact deceased"><strong>Décédé(e) 14/01/2026' in nurse.get(f"/patients/{pid}").text


def test_the_printed_census_and_round_show_a_patient_admitted_here(site, nurse):
    """Paper and screen agree: the census sheet and the ward MAR list a patient admitted
    during the downtime at their bed."""
    station = site[1]
    ward, bed_id, bed_name = free_spot(station)
    answer = admit(nurse, station, ward=ward, bed=bed_id, family="Papier", given="Léonie",
                   birth_date="02/02/1942")
    assert answer.status_code == 303, answer.text[:2000]
    census = pdf_text(nurse.get(f"/wards/{ward}/print/census.pdf").content)
    line = next((line for line in census.splitlines() if "PAPIER" in line.upper()), "")
    assert line and bed_name in census, census[:3000]
    assert "PAPIER" in pdf_text(nurse.get(f"/wards/{ward}/print/mar.pdf").content).upper()


def test_the_search_box_finds_a_patient_admitted_here(site, nurse):
    station = site[1]
    ward, bed_id, bed_name = free_spot(station)
    answer = admit(nurse, station, ward=ward, bed=bed_id, family="Recherché", given="Théo",
                   birth_date="05/06/1977")
    pid = answer.headers["location"].removeprefix("/patients/")
    ipp = Journal(station).for_patient(f"Patient/{pid}")[0].resource["identifier"][1]["value"]
    for query in ("recherche theo", "Recherché", ipp, "05/06/1977"):
        page = nurse.get("/patients", params={"q": query}).text
        assert f'href="/patients/{pid}"' in page, query
        assert "admission en mode dégradé" in page and bed_name in page
    assert f'href="/patients/{pid}"' not in nurse.get("/patients", params={"q": "recherche anne"}).text


def test_a_patient_admitted_here_gets_measures_in_their_stay(site, nurse):
    """A write's context comes from the journal for a patient the vault does not know: the
    measure is recorded against the stay the admission opened."""
    station = site[1]
    ward, bed_id, _ = free_spot(station)
    answer = admit(nurse, station, ward=ward, bed=bed_id, family="Mesure", given="Iris",
                   birth_date="09/09/1999")
    pid = answer.headers["location"].removeprefix("/patients/")
    stay = Journal(station).for_patient(f"Patient/{pid}")[1].resource["id"]
    token = csrf(nurse, f"/patients/{pid}")
    posted = nurse.post(f"/patients/{pid}/vitals", data={"csrf": token, "hr": "84"})
    assert posted.status_code == 303, posted.text[:1000]
    measure = Journal(station).for_patient(f"Patient/{pid}")[-1].resource
    assert measure["resourceType"] == "Observation"
    assert measure["encounter"] == {"reference": f"Encounter/{stay}"}
    assert nurse.post("/patients/nobody-at-all/vitals", data={"csrf": token, "hr": "84"}).status_code == 404
