"""Administrations recorded against the plan: the checks, the forms over real HTTP, the
plan and the MAR (screen and paper) showing what was recorded, corrections, duplicates.

The demo station's clock is pinned (conftest: 10:00 in Paris); a dose "late" is one of
the plan's that fell due in the last 8 hours.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from releve import clock
from releve.journal.book import Journal
from releve.journal.entry import Author, Draft
from releve.journal.kinds import Invalid
from releve.journal.kinds import administration as kind
from releve.station.index.connection import reader
from releve.station.local.accounts import Accounts
from releve.station.recorded import recorded_for
from releve.station.views import census as census_q
from releve.station.views import resources
from releve.station.views.summary import summary
from test_station_print import flat
from test_station_web import PASSWORD, Site, station_site

from conftest import copy_station, run_releve

ZONE = "Europe/Paris"


@dataclass
class Dose:
    """A patient of a ward with a scheduled order: a dose late, and one to come."""

    pid: str
    ward: str
    order: dict
    late: dt.datetime
    next: dt.datetime
    value: str
    unit: str

    @property
    def drug(self) -> str:
        return self.order["medicationCodeableConcept"]["text"]


def find_dose(station: Path) -> Dose:
    conn = reader(station)
    wards = [w for (w,) in conn.execute("SELECT id FROM locations WHERE physical_type = 'wa' ORDER BY id")]
    for ward in wards:
        census = census_q.census(conn, ward, clock.now(), ZONE)
        for pid in census.patient_ids if census else []:
            found = summary(conn, pid, clock.now(), ZONE)
            for m in found.medications if found else []:
                if m.overdue and m.due and kind.ucum(m.dose_unit) and not m.as_needed:
                    order = resources.resource(conn, "MedicationRequest", m.id, pid)
                    if order and "medicationCodeableConcept" in order:
                        return Dose(pid, ward, order, m.overdue[-1].when, m.due[0].when,
                                    m.dose_value, m.dose_unit)
    pytest.fail("no ward patient with a late dose in the demo hospital")


def journal_size(station: Path) -> int:
    return sum(p.stat().st_size for p in (station / "journal").rglob("*") if p.is_file()) \
        if (station / "journal").exists() else 0


@pytest.fixture(scope="module")
def demo(demo_station, tmp_path_factory) -> Iterator[tuple[Site, Path, Dose]]:
    station = copy_station(demo_station, tmp_path_factory.mktemp("adm") / "s")
    accounts = Accounts(station.dir)
    for name, role in (("nina", "nurse"), ("paul", "physician"), ("phil", "pharmacist"),
                       ("sam", "secretary"), ("nora", "nurse")):
        accounts.add_user(name, role, PASSWORD, f"{name.title()} {role}")
    with station_site(station.dir) as site:
        yield site, station.dir, find_dose(station.dir)


def csrf(client: httpx.Client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text[:300]
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def post(client: httpx.Client, target: Dose, origin: str = "summary", **fields: str) -> httpx.Response:
    token = csrf(client, f"/patients/{target.pid}")
    data = {"csrf": token, "request": target.order["id"], "outcome": "given", "dose": target.value,
            "unit": target.unit, **fields}
    return client.post(f"/patients/{target.pid}/administrations?from={origin}", data=data)


# --- the checks, without the web ---------------------------------------------------------------


def context(dose: Dose, orders: dict | None = None) -> kind.AdministrationContext:
    return kind.AdministrationContext(
        now=clock.now(), zone=ZONE, patient=f"Patient/{dose.pid}", role="nurse",
        encounter="Encounter/e1", author=Author("nina", "Nina Infirmière", "nurse"),
        orders={f"MedicationRequest/{dose.order['id']}": dose.order} if orders is None else orders)


def test_a_given_dose_is_a_completed_administration_of_the_order(demo):
    _, _, dose = demo
    draft = kind.from_form({"outcome": "given", "time": "09:40", "dose": dose.value.replace(".", ","),
                            "unit": dose.unit, "request": dose.order["id"], "site": "bras gauche",
                            "planned": dose.late.isoformat(), "comment": "bien toléré"},
                           context(dose))
    r = draft.resource
    assert draft.kind == "administration" and draft.patient == f"Patient/{dose.pid}"
    assert r["status"] == "completed" and "statusReason" not in r
    assert r["medicationCodeableConcept"] == dose.order["medicationCodeableConcept"]
    assert r["request"] == {"reference": f"MedicationRequest/{dose.order['id']}"}
    assert r["effectiveDateTime"] == "2026-01-14T09:40:00+01:00"
    assert kind.planned_time(r) == dose.late.isoformat(timespec="seconds")
    assert r["dosage"]["dose"]["value"] == float(dose.value) and r["dosage"]["site"] == {"text": "bras gauche"}
    assert r["subject"] == {"reference": f"Patient/{dose.pid}"} and r["context"] == {"reference": "Encounter/e1"}
    assert r["performer"][0]["actor"]["display"] == "Nina Infirmière"
    assert r["note"] == [{"text": "bien toléré"}]


@pytest.mark.parametrize("outcome,code", [("held", "held"), ("refused", "refused"),
                                          ("unavailable", "unavailable")])
def test_a_dose_not_given_says_why_and_has_no_quantity(demo, outcome, code):
    _, _, dose = demo
    r = kind.from_form({"outcome": outcome, "request": dose.order["id"], "dose": dose.value,
                        "unit": dose.unit}, context(dose)).resource
    assert r["status"] == "not-done" and "dosage" not in r
    assert r["statusReason"][0]["coding"][0] == {"system": kind.OUTCOME_SYSTEM, "code": code,
                                                 "display": kind.REASONS[code]}


def test_units_convert_only_within_their_measure():
    assert kind.same_unit("g", "mg") and kind.same_unit("µg", "mg") and kind.same_unit("ML", "L")
    assert kind.same_unit("comprimé", "Comprimé") and kind.same_unit("UI", "[iU]")
    assert not kind.same_unit("mL", "mg") and not kind.same_unit("comprimé", "mg")
    assert not kind.same_unit("mmol", "mg")


@pytest.mark.parametrize("fields,field,message", [
    ({"outcome": ""}, "outcome", "Choisissez une des valeurs proposées."),
    ({"dose": "deux"}, "dose", "« deux » n'est pas un nombre."),
    ({"unit": "mL"}, "unit", "Unité « mL » incompatible avec la prescription"),
    ({"time": "10:45"}, "time", "Cette heure est dans le futur."),
    ({"time": "2026-01-13T08:00"}, "time", "Plus de 24 h en arrière"),
    ({"comment": "x" * 201}, "comment", "Texte trop long (201 caractères, 200 au plus)."),
    ({"request": "nope"}, "request", "Cette prescription n'est pas celle du patient."),
])
def test_bad_input_is_refused_in_french(demo, fields, field, message):
    _, _, dose = demo
    raw = {"outcome": "given", "dose": dose.value, "unit": dose.unit, "request": dose.order["id"]}
    if field == "unit" and kind.ucum(dose.unit) and kind.UNITS[kind.ucum(dose.unit)][0] == "volume":
        fields = {"unit": "mg"}
        message = "Unité « mg » incompatible"
    with pytest.raises(Invalid) as caught:
        kind.from_form({**raw, **fields}, context(dose))
    problems = {p.field: p.message() for p in caught.value.problems}
    assert message in problems[field]


def test_a_posted_resource_is_checked_by_the_same_rules(demo):
    _, _, dose = demo
    good = kind.from_form({"outcome": "given", "dose": dose.value, "unit": dose.unit,
                           "request": dose.order["id"]}, context(dose)).resource
    assert kind.check(good, context(dose)).resource["status"] == "completed"
    other_drug = {**good, "medicationCodeableConcept": {"text": "Autre chose"}}
    with pytest.raises(Invalid, match="pas celui de la prescription"):
        kind.check(other_drug, context(dose))
    with pytest.raises(Invalid, match="futur"):
        kind.check({**good, "effectiveDateTime": "2026-01-14T12:00:00+01:00"}, context(dose))
    halved = {**good, "dosage": {"dose": {**good["dosage"]["dose"], "value": float(dose.value) / 2}}}
    assert [w.field for w in kind.check(halved, context(dose)).warnings] == ["dose"]


# --- the forms over HTTP -----------------------------------------------------------------------


def test_roles_that_may_not_record_are_refused_and_nothing_is_written(demo):
    site, station, dose = demo
    for name in ("phil", "sam"):
        client = site.login(name)
        page = client.get(f"/patients/{dose.pid}")
        assert page.status_code == 200 and 'class="adm-form' not in page.text
        before = journal_size(station)
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        answer = client.post(f"/patients/{dose.pid}/administrations?from=summary",
                             data={"csrf": token.group(1) if token else "", "outcome": "given",
                                   "request": dose.order["id"]})
        assert answer.status_code == 403
        cancel = client.post(f"/patients/{dose.pid}/administrations/cancel?from=summary",
                             data={"csrf": token.group(1) if token else "", "supersedes": "x/1",
                                   "reason": "x"})
        assert cancel.status_code == 403
        assert journal_size(station) == before


@pytest.mark.parametrize("fields,message", [
    ({"outcome": ""}, "Choisissez une des valeurs proposées."),
    ({"dose": "abc"}, "« abc » n'est pas un nombre."),
    ({"time": "10:45"}, "Cette heure est dans le futur."),
    ({"time": "2026-01-13T09:00"}, "Plus de 24 h en arrière : saisie refusée."),
    ({"comment": "é" * 250}, "Texte trop long (250 caractères, 200 au plus)."),
])
def test_a_bad_form_shows_why_keeps_the_values_and_writes_nothing(demo, fields, message):
    site, station, dose = demo
    client = site.login("nina")
    before = journal_size(station)
    answer = post(client, dose, planned=dose.late.isoformat(timespec="seconds"), **fields)
    assert answer.status_code == 400
    assert message in html.unescape(answer.text)
    assert 'aria-invalid="true"' in answer.text
    for name, value in fields.items():
        if value and name != "comment":
            assert f'value="{value}"' in answer.text or f'value="{value}" selected' in answer.text
    assert journal_size(station) == before


def test_a_wrong_unit_is_refused_on_the_page(demo):
    site, station, dose = demo
    wrong = "mg" if kind.UNITS[kind.ucum(dose.unit)][0] == "volume" else "mL"
    before = journal_size(station)
    answer = post(site.login("nina"), dose, unit=wrong, planned=dose.late.isoformat(timespec="seconds"))
    assert answer.status_code == 400
    assert f"Unité « {wrong} » incompatible avec la prescription" in answer.text
    assert journal_size(station) == before


def plan_rows(html: str) -> list[str]:
    table = html[html.index('class="plan-table"'):]
    table = table[:table.index("</table>")]
    return [" ".join(re.sub(r"<[^>]+>", " ", row.split(">", 1)[1]).split())
            for row in table.split("<tr")[2:]]


def test_recorded_doses_show_on_the_plan_and_on_the_mar(demo):
    site, station, dose = demo
    client = site.login("nina")
    late = dose.late.isoformat(timespec="seconds")
    local = dose.late.astimezone(dt.timezone(dt.timedelta(hours=1))).strftime("%H:%M")
    before = [r for r in plan_rows(client.get(f"/patients/{dose.pid}").text) if dose.drug in r]
    assert any("en retard" in r and r.startswith(local) for r in before), before
    answer = post(client, dose, outcome="refused", time="09:10", planned=late,
                  comment="nausées")
    assert answer.status_code == 303 and answer.headers["location"].startswith(f"/patients/{dose.pid}")
    page = client.get(f"/patients/{dose.pid}").text
    rows = [r for r in plan_rows(page) if dose.drug in r and r.startswith(local)]
    assert rows and "en retard" not in rows[0], "a dose refused is recorded, not late"
    assert "Refusé par le patient" in rows[0] and "09:10" in rows[0] and "Nina nurse" in rows[0]
    pdf = client.get(f"/patients/{dose.pid}/print/mar.pdf")
    text = flat(pdf.content)
    assert "Refusé par le patient" in text and "nausées" in text and "Nina nurse" in text
    assert f"{local} ✗ Refusé par" in text, "the dose's box says it was refused"
    ward_pdf = flat(client.get(f"/wards/{dose.ward}/print/mar.pdf").content)
    assert "Refusé par le patient" in ward_pdf
    out = station.parent / "mar-cli.pdf"
    run_releve("station", "print", "mar", "--patient", dose.pid, "--out", out, "--station", station)
    assert f"{local} ✗ Refusé par" in flat(out.read_bytes()), "the command prints what the page shows"


def entries(station: Path, pid: str) -> list:
    return Journal(station).for_patient(f"Patient/{pid}")


def test_a_duplicate_is_flagged_then_cancelled_and_both_stay_in_history(demo):
    site, station, dose = demo
    planned = dose.next.isoformat(timespec="seconds")
    for nurse in ("nina", "nora"):  # two nurses (two stations) give the same dose
        assert post(site.login(nurse), dose, time="09:55", planned=planned).status_code == 303
    client = site.login("nina")
    page = client.get(f"/patients/{dose.pid}").text
    assert page.count("administration en double ?") >= 4  # plan row and history, both entries
    mine = [e for e in entries(station, dose.pid) if kind.planned_time(e.resource) == planned]
    assert len(mine) == 2
    token = csrf(client, f"/patients/{dose.pid}")
    empty = client.post(f"/patients/{dose.pid}/administrations/cancel?from=summary",
                        data={"csrf": token, "supersedes": mine[1].key, "reason": ""})
    assert empty.status_code == 400 and "Dites pourquoi vous corrigez." in empty.text
    done = client.post(f"/patients/{dose.pid}/administrations/cancel?from=summary",
                       data={"csrf": token, "supersedes": mine[1].key, "reason": "saisi deux fois"})
    assert done.status_code == 303
    page = client.get(f"/patients/{dose.pid}").text
    assert "administration en double ?" not in page
    after = entries(station, dose.pid)
    cancel = after[-1]
    assert cancel.supersedes == mine[1].key and cancel.body["reason"] == "saisi deux fois"
    assert cancel.resource["status"] == "entered-in-error"
    assert cancel.resource["id"] == mine[1].resource["id"]
    assert {e.key for e in after} >= {mine[0].key, mine[1].key}, "history keeps both"


def test_a_correction_replaces_the_dose_recorded(demo):
    site, station, dose = demo
    client = site.login("paul")
    journal = Journal(station)
    first = journal.append([kind.from_form(
        {"outcome": "given", "request": dose.order["id"], "dose": dose.value, "unit": dose.unit,
         "time": "08:00"}, context(dose))], Author("paul", "Paul physician", "physician"))[0]
    answer = post(client, dose, outcome="held", time="08:05", supersedes=first.key,
                  reason="erreur de saisie")
    assert answer.status_code == 303
    last = Journal(station).for_patient(f"Patient/{dose.pid}")[-1]
    assert last.supersedes == first.key and last.resource["status"] == "not-done"
    shown = summary(reader(station), dose.pid, clock.now(), ZONE,
                    recorded_for(Journal(station), dose.pid))
    statuses = [a.status for a in shown.administrations if a.entry in (first.key, last.key)]
    assert statuses == ["not-done"]


def test_the_tour_lists_the_hours_doses_bed_by_bed(demo):
    site, station, dose = demo
    hour = dose.next.astimezone(dt.timezone(dt.timedelta(hours=1))).hour
    page = site.login("nina").get(f"/wards/{dose.ward}/tour?hour={hour:02d}")
    assert page.status_code == 200 and dose.drug in page.text
    assert "Tour de" in page.text
    ward = site.login("nina").get(f"/wards/{dose.ward}").text
    assert f'href="/wards/{dose.ward}/tour"' in ward
    secretary = site.login("sam").get(f"/wards/{dose.ward}/tour?hour={hour:02d}").text
    assert 'class="adm-form' not in secretary and "ne permet pas de saisir" in secretary
    assert site.login("nina").get(f"/wards/{dose.ward}/tour?hour=25").status_code == 400


def test_an_entry_of_another_kind_cannot_be_corrected_here(demo):
    site, station, dose = demo
    draft = Draft("observation", f"Patient/{dose.pid}", {"resourceType": "Observation", "status": "final"})
    other = Journal(station).append([draft], Author("nina", "Nina", "nurse"))[0]
    before = journal_size(station)
    answer = post(site.login("nina"), dose, supersedes=other.key, reason="x")
    assert answer.status_code == 400 and "Saisie à corriger introuvable." in answer.text
    assert journal_size(station) == before


def find_as_needed(station: Path) -> tuple[str, str, str, str, str]:
    """(patient, order id, drug, dose, unit) of an active as-needed order of an inpatient."""
    conn = reader(station)
    for (pid,) in conn.execute("SELECT DISTINCT patient FROM stays WHERE current = 1 ORDER BY patient"):
        found = summary(conn, pid, clock.now(), ZONE)
        for m in found.medications if found else []:
            if m.as_needed and m.status == "active" and not m.due:
                return pid, m.id, m.drug, m.dose_value, m.dose_unit
    pytest.fail("no as-needed order in the demo hospital")


def test_an_as_needed_dose_has_no_planned_time(demo):
    site, station, _ = demo
    pid, order, drug, value, unit = find_as_needed(station)
    client = site.login("nina")
    page = client.get(f"/patients/{pid}").text
    assert "Donner un traitement si besoin" in page and f'name="request" value="{order}"' in page
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    answer = client.post(f"/patients/{pid}/administrations?from=summary",
                         data={"csrf": token, "request": order, "outcome": "given", "time": "09:20",
                               "dose": value, "unit": unit, "comment": "douleur 6/10"})
    assert answer.status_code == 303, re.findall(r'role="alert">([^<]+)', answer.text)
    entry = entries(station, pid)[-1]
    assert kind.planned_time(entry.resource) is None and entry.resource["status"] == "completed"
    shown = summary(reader(station), pid, clock.now(), ZONE, recorded_for(Journal(station), pid))
    given = next(m for m in shown.medications if m.id == order).given
    assert [(g.drug, g.when, g.entry) for g in given][:1] == [(drug, "2026-01-14T09:20:00+01:00", entry.key)]


def test_a_dose_other_than_prescribed_is_recorded_with_a_warning(demo):
    site, station, dose = demo
    client = site.login("nora")
    half = f"{float(dose.value) / 2:g}".replace(".", ",")
    answer = post(client, dose, time="09:50", dose=half)
    assert answer.status_code == 303 and "noted=" in answer.headers["location"]
    page = html.unescape(client.get(answer.headers["location"]).text)
    assert "Enregistré à 09:50." in page
    prescribed = kind.prescribed_dose(dose.order)["value"]
    assert f"Dose différente de la prescription ({prescribed} {dose.unit})" in page


def test_a_planned_time_not_in_the_plan_is_refused(demo):
    site, station, dose = demo
    before = journal_size(station)
    odd = (dose.late + dt.timedelta(minutes=17)).isoformat(timespec="seconds")
    answer = post(site.login("nina"), dose, planned=odd)
    assert answer.status_code == 400
    assert "Cette prise n'est pas au plan de la prescription." in html.unescape(answer.text)
    assert journal_size(station) == before
