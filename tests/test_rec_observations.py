"""Vital signs, notes and transmissions recorded on the station, over real HTTP.

The forms post to a served station (a copy of the demo hospital's); every test reads back
what the journal holds and what the summary shows, and every refusal checks that the
journal's file did not grow.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import re
from pathlib import Path

import httpx
import pytest

from releve.fhir.clinical.vitals import MEASURES, UCUM
from releve.journal.book import Journal
from releve.journal.entry import Entry
from releve.journal.kinds import Context, Invalid, observation
from releve.journal.kinds import note as notes
from releve.station.index.connection import reader
from releve.station.local.accounts import Accounts
from releve.station.recorded import recorded_for
from releve.station.views.summary import summary
from releve.station.views.summary.shifts import SHIFTS
from releve.station.web.recording import csrf_of
from releve.station.web.signin import COOKIE
from test_station_web import PASSWORD, Site, audit_of, station_site

from conftest import NOW, copy_station

ZONE = "Europe/Paris"


@pytest.fixture(scope="module")
def site(demo_station, tmp_path_factory):
    station = copy_station(demo_station, tmp_path_factory.mktemp("rec-obs") / "s")
    accounts = Accounts(station.dir)
    for name, role, shown in (("nina", "nurse", "Nina Infirmière"), ("paul", "physician", "Paul Médecin"),
                              ("phil", "pharmacist", "Phil Pharmacien"), ("sam", "secretary", "Sam Secrétaire")):
        accounts.add_user(name, role, PASSWORD, shown)
    with station_site(station.dir) as server:
        yield server, station.dir


def inpatient_with_vitals(station: Path) -> str:
    """A current inpatient whose vault record has temperatures."""
    row = reader(station).execute(
        "SELECT s.patient FROM stays s WHERE s.current = 1 AND EXISTS (SELECT 1 FROM resources r "
        "WHERE r.patient = s.patient AND r.type = 'Observation' AND CAST(r.json AS TEXT) LIKE '%8310-5%') "
        "ORDER BY s.patient LIMIT 1").fetchone()
    assert row, "the demo hospital has no inpatient with a temperature"
    return row[0]


def journal_size(station: Path) -> int:
    return sum(p.stat().st_size for p in (station / "journal").glob("*.ndjson"))


def signed_in(server: Site, name: str) -> httpx.Client:
    return server.login(name)


def csrf(client: httpx.Client, pid: str) -> str:
    """The form's token, as a browser reads it from the page (or, for a role the page
    offers no form, as the session would have it: a forged post must still be refused)."""
    page = client.get(f"/patients/{pid}")
    assert page.status_code == 200, page.text[:300]
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    return found[1] if found else csrf_of(client.cookies[COOKIE])


def post(client: httpx.Client, pid: str, path: str, data: dict) -> httpx.Response:
    return client.post(f"/patients/{pid}/{path}", data={"csrf": csrf(client, pid), **data})


def own_entries(station: Path, pid: str) -> list:
    return Journal(station).for_patient(f"Patient/{pid}")


def test_vitals_form_records_one_observation_per_measure(site):
    server, station = site
    pid = inpatient_with_vitals(station)
    client = signed_in(server, "nina")
    before = len(own_entries(station, pid))
    answer = post(client, pid, "vitals", {"temp": "38,4", "sys": "135", "dia": "85", "spo2": "97",
                                          "glyc": "1,32", "when": "09:40"})
    assert answer.status_code == 303 and answer.headers["location"].endswith("saved=vitals#h-vitals")
    new = own_entries(station, pid)[before:]
    by_code = {e.resource["code"]["coding"][0]["code"]: e.resource for e in new}
    assert set(by_code) == {"8310-5", "85354-9", "2708-6", "41653-7"}
    temp = by_code["8310-5"]
    assert temp["valueQuantity"] == {"value": 38.4, "unit": "°C", "system": UCUM, "code": "Cel"}
    assert temp["category"][0]["coding"][0]["code"] == "vital-signs"
    assert temp["status"] == "final" and temp["subject"] == {"reference": f"Patient/{pid}"}
    assert temp["effectiveDateTime"] == "2026-01-14T09:40:00+01:00"
    assert temp["encounter"]["reference"].startswith("Encounter/")
    bp = by_code["85354-9"]
    assert "valueQuantity" not in bp
    assert [(c["code"]["coding"][0]["code"], c["valueQuantity"]["value"], c["valueQuantity"]["code"])
            for c in bp["component"]] == [("8480-6", 135, "mm[Hg]"), ("8462-4", 85, "mm[Hg]")]
    assert [c["code"] for c in by_code["2708-6"]["code"]["coding"]] == ["2708-6", "59408-5"]
    assert by_code["41653-7"]["valueQuantity"]["code"] == "g/L"
    assert by_code["41653-7"]["category"][0]["coding"][0]["code"] == "laboratory"
    assert all(e.author.role == "nurse" and e.author.name == "Nina Infirmière" for e in new)


def test_trend_shows_the_local_value_beside_the_vaults(site):
    server, station = site
    pid = inpatient_with_vitals(station)
    client = signed_in(server, "nina")
    assert post(client, pid, "vitals", {"temp": "39,1", "when": "09:55"}).status_code == 303
    found = summary(reader(station), pid, dt.datetime.fromisoformat(NOW), ZONE,
                    recorded_for(Journal(station), pid))
    temp = next(v for v in found.vitals if v.key == "temp")
    assert temp.latest.text == "39,1" and temp.latest.mark is not None
    assert temp.latest.mark.author == "Nina Infirmière" and temp.latest.mark.role == "nurse"
    assert any(p.mark is None for p in temp.previous), "the vault's temperatures are in the trend too"
    assert temp.trend in ("↑", "↓", "→")
    page = html.unescape(client.get(f"/patients/{pid}").text)
    vitals = page[page.index('id="h-vitals"'):page.index('id="h-rec-notes"')]
    assert "39,1" in vitals and "saisi sur le poste par Nina Infirmière" in vitals
    english = client.get(f"/patients/{pid}?lang=en").text
    assert "Record the measurements" in english and "recorded on the station by Nina" in english
    client.get(f"/patients/{pid}?lang=fr")
    assert '<option value="apres-midi" selected>' in page  # at 10:00, the next shift's


def test_implausible_value_is_recorded_with_its_warning(site):
    server, station = site
    pid = inpatient_with_vitals(station)
    client = signed_in(server, "nina")
    size = journal_size(station)
    assert post(client, pid, "vitals", {"hr": "195", "when": "09:58"}).status_code == 303
    assert journal_size(station) > size
    page = html.unescape(client.get(f"/patients/{pid}").text)
    assert "valeur inhabituelle pour « Pouls » (habituellement 40 à 180)" in page


@pytest.mark.parametrize("data, field, message", [
    ({}, "", "Saisissez au moins une mesure."),
    ({"weight": "-70"}, "weight", "-70 kg est impossible pour « Poids »"),
    ({"spo2": "101"}, "spo2", "101 % est impossible pour « SpO2 »"),
    ({"sys": "80", "dia": "95"}, "dia", "La diastolique doit être inférieure à la systolique."),
    ({"sys": "120"}, "dia", "Saisissez la systolique et la diastolique."),
    ({"hr": "quatre-vingts"}, "hr", "« quatre-vingts » n'est pas un nombre."),
    ({"temp": "375"}, "temp", "375 °C est impossible pour « Température »"),
    ({"pain": "4,5"}, "pain", "Douleur (0-10) : un nombre entier de 0 à 10."),
    ({"temp": "37", "when": "10:30"}, "when", "Cette heure est dans le futur."),
    ({"temp": "37", "when": "2026-01-12T08:00"}, "when", "Plus de 24 h en arrière"),
    ({"temp": "37", "comment": "x" * 201}, "comment", "Texte trop long (201 caractères, 200 au plus)."),
])
def test_impossible_values_are_refused_and_nothing_written(site, data, field, message):
    server, station = site
    pid = inpatient_with_vitals(station)
    client = signed_in(server, "nina")
    size = journal_size(station)
    answer = post(client, pid, "vitals", {**data, "temp": data.get("temp", "")})
    assert answer.status_code == 400
    assert "Rien n'a été enregistré" in html.unescape(answer.text) and message in html.unescape(answer.text)
    if field:
        assert f'id="v-{field}"' in html.unescape(answer.text) and 'aria-invalid="true"' in html.unescape(answer.text)
    for name, value in data.items():
        if name != "comment":
            assert f'value="{value}"' in html.unescape(answer.text), f"{name} typed is kept"
    assert journal_size(station) == size


@pytest.mark.parametrize("user, path, data", [
    ("sam", "vitals", {"temp": "37"}),
    ("phil", "vitals", {"temp": "37"}),
    ("phil", "notes", {"kind": "transmission", "shift": "nuit", "text": "x"}),
    ("sam", "notes", {"kind": "note", "text": "x"}),
])
def test_roles_that_may_not_record_are_refused(site, user, path, data):
    server, station = site
    pid = inpatient_with_vitals(station)
    client = signed_in(server, user)
    size = journal_size(station)
    assert post(client, pid, path, data).status_code == 403
    assert journal_size(station) == size


def test_a_post_without_the_csrf_token_is_refused(site):
    server, station = site
    pid = inpatient_with_vitals(station)
    client = signed_in(server, "nina")
    size = journal_size(station)
    assert client.post(f"/patients/{pid}/vitals", data={"temp": "37"}).status_code == 403
    assert journal_size(station) == size


def test_notes_and_transmissions_are_recorded_and_listed_with_the_authors_role(site):
    server, station = site
    pid = inpatient_with_vitals(station)
    phil = signed_in(server, "phil")
    assert post(phil, pid, "notes", {"kind": "note", "text": "Avis : adapter la dose à la clairance.",
                                      "when": "08:15"}).status_code == 303
    nina = signed_in(server, "nina")
    assert post(nina, pid, "notes", {"kind": "transmission", "shift": "apres-midi",
                                     "text": "Surveiller la diurèse.\nBilan à 16 h."}).status_code == 303
    entries = own_entries(station, pid)
    document = next(e for e in reversed(entries) if e.kind == "note").resource
    assert document["type"]["coding"][0]["code"] == "11488-4"  # a pharmacist's default: consult note
    attachment = document["content"][0]["attachment"]
    assert attachment["contentType"].startswith("text/plain")
    assert base64.b64decode(attachment["data"]).decode() == "Avis : adapter la dose à la clairance."
    assert document["author"] == [{"display": "Phil Pharmacien (Pharmacien·ne)"}]
    message = next(e for e in reversed(entries) if e.kind == "transmission").resource
    assert message["resourceType"] == "Communication"
    assert message["payload"] == [{"contentString": "Surveiller la diurèse.\nBilan à 16 h."}]
    assert message["topic"]["coding"][0]["code"] == "apres-midi"
    page = html.unescape(nina.get(f"/patients/{pid}").text)
    listed = page[page.index('id="h-rec-notes"'):]
    first, second = listed.index("Surveiller la diurèse"), listed.index("adapter la dose")
    assert first < second, "newest first"
    assert "Phil Pharmacien · Pharmacien·ne" in listed and "Nina Infirmière · Infirmier·ère" in listed
    found = summary(reader(station), pid, dt.datetime.fromisoformat(NOW), ZONE,
                    recorded_for(Journal(station), pid))
    assert document["id"] not in {d.id for d in found.documents}, "not repeated under Documents"
    assert "Communication" not in {o.type for o in found.others}, "nor under Autres éléments"


@pytest.mark.parametrize("data, message", [
    ({"kind": "note", "text": "   "}, "Ce champ est obligatoire."),
    ({"kind": "note", "text": "a" * 4001}, "Texte trop long (4001 caractères, 4000 au plus)."),
    ({"kind": "transmission", "shift": "soir", "text": "x"}, "Choisissez une des valeurs proposées."),
    ({"kind": "note", "type": "roman", "text": "x"}, "Choisissez une des valeurs proposées."),
    ({"kind": "note", "text": "x", "when": "demain"}, "Heure invalide"),
])
def test_bad_notes_are_refused_and_nothing_written(site, data, message):
    server, station = site
    pid = inpatient_with_vitals(station)
    client = signed_in(server, "paul")
    size = journal_size(station)
    answer = post(client, pid, "notes", data)
    assert answer.status_code == 400 and message in html.unescape(answer.text)
    assert journal_size(station) == size


def recorded_one(site, user: str, path: str, data: dict) -> tuple[httpx.Client, str, Entry, str]:
    """(client, patient, entry, its correction URL) after `user` recorded one entry."""
    server, station = site
    pid = inpatient_with_vitals(station)
    client = signed_in(server, user)
    assert post(client, pid, path, data).status_code == 303
    entry = own_entries(station, pid)[-1]
    return client, pid, entry, f"/patients/{pid}/entries/{entry.station}/{entry.seq}/correct"


def test_correction_and_cancellation_keep_the_history(site):
    station = site[1]
    client, pid, first, url = recorded_one(site, "paul", "notes", {"kind": "note", "text": "Pas de douleur."})
    form = client.get(url)
    assert form.status_code == 200 and "Pas de douleur." in html.unescape(form.text)
    size = journal_size(station)
    refused = client.post(url, data={"csrf": csrf(client, pid), "text": "Douleur 3/10."})
    assert refused.status_code == 400 and "Ce champ est obligatoire." in html.unescape(refused.text)
    assert journal_size(station) == size
    assert client.post(url, data={"csrf": csrf(client, pid), "text": "Douleur 3/10.",
                                  "reason": "erreur de patient"}).status_code == 303
    second = own_entries(station, pid)[-1]
    assert second.supersedes == first.key and second.body["reason"] == "erreur de patient"
    assert second.resource["id"] == first.resource["id"]
    again = client.post(url, data={"csrf": csrf(client, pid), "text": "x", "reason": "y"})
    assert again.status_code == 409 and "corrigez la version actuelle" in html.unescape(again.text)
    assert own_entries(station, pid)[-1].key == second.key  # nothing written
    page = html.unescape(client.get(f"/patients/{pid}").text)
    assert "Douleur 3/10." in page and "Pas de douleur." in page and "erreur de patient" in page
    cancel = f"/patients/{pid}/entries/{second.station}/{second.seq}/cancel"
    assert client.post(cancel, data={"csrf": csrf(client, pid), "reason": "doublon"}).status_code == 303
    third = own_entries(station, pid)[-1]
    assert third.resource["status"] == "entered-in-error" and third.supersedes == second.key
    trail = [(e.action, e.page, e.detail) for e in audit_of(station, user="paul", patient=pid)]
    assert ("view", "rec-correct", None) in trail  # the correction form shows the patient
    assert ("correct", "correct", second.key) in trail and ("correct", "cancel", third.key) in trail
    assert "annulée" in html.unescape(client.get(f"/patients/{pid}").text)


def test_correcting_a_measure_replaces_it_in_the_trend(site):
    station = site[1]
    client, pid, entry, url = recorded_one(site, "nina", "vitals", {"weight": "72", "when": "09:59"})
    assert 'value="72"' in client.get(url).text
    assert client.post(url, data={"csrf": csrf(client, pid), "weight": "74,5", "temp": "40",
                                  "when": "09:59", "reason": "pesée refaite"}).status_code == 303
    latest = own_entries(station, pid)[-1]
    assert latest.resource["valueQuantity"]["value"] == 74.5 and latest.supersedes == entry.key
    pharmacist = signed_in(site[0], "phil")
    size = journal_size(station)
    cancel = f"/patients/{pid}/entries/{latest.station}/{latest.seq}/cancel"
    assert pharmacist.post(cancel, data={"csrf": csrf(pharmacist, pid), "reason": "x"}).status_code == 403
    assert journal_size(station) == size
    found = summary(reader(station), pid, dt.datetime.fromisoformat(NOW), ZONE,
                    recorded_for(Journal(station), pid))
    weights = [v.text for v in next(s for s in found.vitals if s.key == "weight").values if v.mark]
    assert "74,5" in weights and "72" not in weights


# --- check(): the same rules on a posted resource ----------------------------------------------

CONTEXT = Context(now=dt.datetime.fromisoformat(NOW), zone=ZONE, patient="Patient/p", role="nurse")


def test_check_refuses_a_unit_that_is_not_the_measures():
    resource = observation.from_form({"weight": "80"}, CONTEXT)[0].resource
    assert observation.check(resource, CONTEXT).warnings == []
    resource["valueQuantity"].update(code="[lb_av]", unit="lb")
    with pytest.raises(Invalid) as caught:
        observation.check(resource, CONTEXT)
    assert "Unité attendue pour « Poids » : kg" in str(caught.value)


def test_check_warns_on_implausible_and_refuses_impossible():
    resource = observation.from_form({"spo2": "80"}, CONTEXT)[0].resource
    assert "valeur inhabituelle" in observation.check(resource, CONTEXT).warnings[0].message()
    resource["valueQuantity"]["value"] = 104
    with pytest.raises(Invalid):
        observation.check(resource, CONTEXT)
    resource["valueQuantity"]["value"] = "97"
    with pytest.raises(Invalid, match="doit être un nombre"):
        observation.check(resource, CONTEXT)


def test_check_of_a_note_and_a_transmission():
    document = notes.from_form({"text": "Calme."}, CONTEXT, "Nina").resource
    assert notes.check(document, CONTEXT).resource == document
    empty = {**document, "content": [{"attachment": {"contentType": "text/plain", "data": ""}}]}
    with pytest.raises(Invalid, match="Le texte est obligatoire"):
        notes.check(empty, CONTEXT)
    message = notes.from_form({"kind": "transmission", "shift": "nuit", "text": "x"}, CONTEXT).resource
    notes.check(message, CONTEXT)
    with pytest.raises(Invalid, match="dans le futur"):
        notes.check({**message, "sent": "2026-01-14T12:00:00+01:00"}, CONTEXT)


def test_the_table_and_the_shifts_are_the_summarys():
    assert set(notes.SHIFTS) == set(SHIFTS)
    assert {m.key for m in MEASURES} >= {"temp", "hr", "sys", "dia", "spo2", "rr", "weight", "pain",
                                         "glyc", "urine"}
    assert all(m.is_possible(m.plausible[0]) and m.is_possible(m.plausible[1]) for m in MEASURES
               if not m.positive or m.plausible[0] > 0)
