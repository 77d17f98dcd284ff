"""Medications as real information systems send them, shown safely.

Hand-written FHIR R4 resources, following the specification's definitions, for shapes the
demo hospital never makes: an order whose dispense validity ran out (still in force), an
order whose timing ended while the HIS still says active (shown, to check), orders of a
stay that ended, stopped and erroneous orders (listed apart with why, never gone), the
usual treatment as MedicationStatements (codes, a Medication in the index, a contained
one), a missed dose (late), a rhythm without set times, and the safety hints. Read as the
summary, the patient page, the printed MAR (web and `releve station print mar --shift`).
The tests pin the clock at 2026-01-14 10:00 in Paris.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import orjson
import pytest

from releve.fhir.clinical import hints, orders, statements
from releve.station.views import summary as chart
from releve.station.views.summary import shifts
from test_clinical_agreement import _place
from test_station_chart import _index
from test_station_print import flat
from test_station_web import Site, add_users, station_site

from conftest import _station_from, run_releve

pytestmark = pytest.mark.timeout(300)

PARIS = ZoneInfo("Europe/Paris")
NOW = dt.datetime(2026, 1, 14, 10, 0, tzinfo=PARIS)
ATC = "http://www.whocc.no/atc"
PID = "pat-m"
WARD = "loc-m"


def _order(mid: str, drug: dict, timing: dict, status: str = "active", dose: dict | None = None,
           encounter: str = "enc-now", **more: object) -> dict:
    dosage: dict = {"timing": timing, "route": {"text": "Voie orale"},
                    "doseAndRate": [{"doseQuantity": dose or {"value": 1, "unit": "comprimé"}}]}
    dosage.update(more.pop("dosage", {}))  # type: ignore[call-overload]
    return {"resourceType": "MedicationRequest", "id": mid, "status": status, "intent": "order",
            "subject": {"reference": f"Patient/{PID}"}, "encounter": {"reference": f"Encounter/{encounter}"},
            "authoredOn": "2026-01-10T11:00:00+01:00", **drug, "dosageInstruction": [dosage], **more}


def _coded(code: str, text: str) -> dict:
    return {"medicationCodeableConcept": {"coding": [{"system": ATC, "code": code}], "text": text}}


def _named(text: str) -> dict:
    return {"medicationCodeableConcept": {"text": text}}


def _statement(sid: str, status: str, **more: object) -> dict:
    return {"resourceType": "MedicationStatement", "id": sid, "status": status,
            "subject": {"reference": f"Patient/{PID}"}, **more}


def _times(*clock: str, **more: object) -> dict:
    return {"repeat": {"timeOfDay": list(clock), **more}}


MG = {"system": "http://unitsofmeasure.org"}
METFORMIN = {"resourceType": "Medication", "id": "med-metf",
             "code": {"coding": [{"system": ATC, "code": "A10BA02", "display": "Metformine 850 mg"}]}}


def resources() -> list[dict]:
    """Mme MOREAU, in bed since the 10th; her stay of December ended."""
    return [
        {"resourceType": "Patient", "id": PID, "gender": "female", "birthDate": "1941-07-02",
         "name": [{"use": "official", "family": "Moreau", "given": ["Hélène"]}]},
        _place(WARD, "Gériatrie Test", "wa"), _place("loc-m-r1", "Chambre 1", "ro", WARD),
        _place("loc-m-b1", "Lit 1", "bd", "loc-m-r1"),
        {"resourceType": "Encounter", "id": "enc-now", "status": "in-progress",
         "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
         "subject": {"reference": f"Patient/{PID}"}, "period": {"start": "2026-01-10T09:00:00+01:00"},
         "location": [{"location": {"reference": "Location/loc-m-b1"}, "status": "active"}]},
        {"resourceType": "Encounter", "id": "enc-dec", "status": "in-progress",  # never closed
         "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
         "subject": {"reference": f"Patient/{PID}"},
         "period": {"start": "2025-12-01T09:00:00+01:00", "end": "2025-12-05T15:00:00+01:00"}},
        {"resourceType": "Encounter", "id": "enc-nov", "status": "finished",
         "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
         "subject": {"reference": f"Patient/{PID}"}, "period": {"start": "2025-11-01"}},
        # may be dispensed until the 12th: still in force
        _order("mr-apix", _coded("B01AF02", "Apixaban 5 mg"), _times("08:00", "20:00"),
               dispenseRequest={"validityPeriod": {"start": "2026-01-10", "end": "2026-01-12"}}),
        # its timing ended yesterday, the HIS still says active: shown, to check
        _order("mr-enox", _named("Énoxaparine 4000 UI/0,4 mL"),
               _times("20:00", boundsPeriod={"start": "2026-01-05", "end": "2026-01-13"})),
        _order("mr-warf", _coded("B01AA03", "Warfarine 5 mg"), _times("18:00"), status="stopped"),
        _order("mr-amox", _named("Amoxicilline 1 g"), _times("08:00", "20:00"), encounter="enc-dec"),
        _order("mr-cefa", _named("Céfazoline 2 g"), _times("08:00"), encounter="enc-nov"),
        _order("mr-err", _named("Morphine 10 mg"), _times("08:00"), status="entered-in-error"),
        # 1 g four times a day (given at 06:10), and Doliprane if needed up to 2 g a day
        _order("mr-para", _coded("N02BE01", "Paracétamol 1 g"), _times("00:00", "06:00", "12:00", "18:00"),
               dose={"value": 1, "unit": "g", "code": "g", **MG}),
        _order("mr-doli", _named("Doliprane 500 mg"), {"repeat": {"frequency": 1, "period": 6, "periodUnit": "h"}},
               dose={"value": 500, "unit": "mg", "code": "mg", **MG},
               dosage={"asNeededCodeableConcept": {"text": "si douleur"},
                       "maxDosePerPeriod": {"numerator": {"value": 2, "code": "g", **MG},
                                            "denominator": {"value": 24, "code": "h", **MG}}}),
        {"resourceType": "MedicationAdministration", "id": "ma-para", "status": "completed",
         "subject": {"reference": f"Patient/{PID}"}, "medicationCodeableConcept": {"text": "Paracétamol 1 g"},
         "request": {"reference": "MedicationRequest/mr-para"}, "effectiveDateTime": "2026-01-14T06:10:00+01:00"},
        # due at 08:00, nobody recorded it: late
        _order("mr-furo", _coded("C03CA01", "Furosémide 40 mg"), _times("08:00")),
        _order("mr-lasi", _coded("C03CA01", "Lasilix 40 mg"), _times("18:00")),
        # three times a day, at times nobody set
        _order("mr-lact", _named("Lactulose 10 g"), {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}}),
        # as needed at set times (a sliding scale): planned, never late
        _order("mr-insu", _named("Insuline asparte"), _times("08:00", "12:00", "19:00"),
               dosage={"asNeededCodeableConcept": {"text": "selon glycémie"}}),
        # the usual treatment
        _statement("ms-levo", "active", medicationCodeableConcept={"text": "Lévothyroxine 75 µg"},
                   effectivePeriod={"start": "2019-03-01"}, dosage=[{"text": "1 cp le matin à jeun"}],
                   informationSource={"reference": f"Patient/{PID}", "display": "la patiente"},
                   note=[{"text": "apporte son traitement"}]),
        _statement("ms-metf", "active", medicationReference={"reference": "Medication/med-metf"},
                   dosage=[{"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                            "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "comprimé"}}]}]),
        _statement("ms-ator", "stopped", contained=[{"resourceType": "Medication", "id": "m",
                                                     "code": {"text": "Atorvastatine 20 mg"}}],
                   medicationReference={"reference": "#m"}, effectivePeriod={"start": "2020", "end": "2025-10-01"}),
        _statement("ms-rami", "intended", medicationCodeableConcept={"text": "Ramipril 2,5 mg"}),
        _statement("ms-omep", "not-taken", medicationCodeableConcept={"text": "Oméprazole 20 mg"}),
    ]


@pytest.fixture(scope="module")
def found() -> chart.Summary:
    patient, *rest = resources()
    summary = chart.summary(_index(rest, patient, extra=[METFORMIN]), PID, NOW)
    assert summary is not None
    return summary


def _by_id(summary: chart.Summary) -> dict[str, chart.Medication]:
    return {m.id: m for m in summary.medications}


# --- the rules, on the summary ---------------------------------------------------------------


def test_dispense_validity_never_ends_treatment(found: chart.Summary) -> None:
    order = _order("x", _named("X"), _times("08:00"),
                   dispenseRequest={"validityPeriod": {"end": "2026-01-12"}})
    assert orders.order_end(order, PARIS) is None and orders.standing(order, NOW, PARIS).current
    apixaban = _by_id(found)["mr-apix"]
    assert apixaban.ended is None and [d.local for d in apixaban.due] == ["20:00", "08:00"]


def test_an_ended_timing_of_an_active_order_is_shown_to_check(found: chart.Summary) -> None:
    enoxaparin = _by_id(found)["mr-enox"]
    assert enoxaparin.ended == "2026-01-13" and enoxaparin.due == [] and enoxaparin.overdue == []


def test_orders_not_current_are_listed_with_why(found: chart.Summary) -> None:
    assert {n.id: n.reason for n in found.not_current} == {
        "mr-warf": "stopped", "mr-amox": orders.STAY_ENDED, "mr-cefa": orders.STAY_ENDED,
        "mr-err": "entered-in-error"}
    assert {n.drug: n.reason_text for n in found.not_current}["Warfarine 5 mg"] == "arrêtée"
    shown = {m.drug for m in found.medications}
    assert not shown & {n.drug for n in found.not_current}
    every = {r["id"] for r in resources() if r["resourceType"] == "MedicationRequest"}
    assert every == set(_by_id(found)) | {n.id for n in found.not_current}  # none goes missing


def test_a_stay_is_over_when_finished_or_past_its_end() -> None:
    assert orders.stay_over({"status": "finished"}, NOW, PARIS)
    assert orders.stay_over({"status": "in-progress", "period": {"end": "2026-01-13"}}, NOW, PARIS)
    assert not orders.stay_over({"status": "in-progress", "period": {"end": "2026-01-14"}}, NOW, PARIS)
    assert not orders.stay_over(None, NOW, PARIS)


def test_usual_treatment_from_statements(found: chart.Summary) -> None:
    usual = {u.id: u for u in found.usual}
    assert [u.drug for u in found.usual if u.current] == ["Lévothyroxine 75 µg", "Metformine 850 mg",
                                                          "Ramipril 2,5 mg"]
    assert usual["ms-levo"].dosage == "1 cp le matin à jeun" and usual["ms-levo"].source == "la patiente"
    assert usual["ms-levo"].note == "apporte son traitement" and usual["ms-levo"].start == "2019-03-01"
    assert usual["ms-metf"].dosage == "2 fois par jour" and usual["ms-metf"].dose == "1 comprimé"
    assert usual["ms-ator"].drug == "Atorvastatine 20 mg" and not usual["ms-ator"].current
    assert usual["ms-ator"].status_text == "arrêté" and usual["ms-omep"].status_text == "non pris"
    assert usual["ms-rami"].status_text == "prévu"
    ended = statements.statement_standing({"status": "active", "effectivePeriod": {"end": "2026-01-01"}},
                                          NOW, PARIS)
    assert ended.current and ended.ended == "2026-01-01"


def test_a_missed_dose_is_late_and_a_given_one_is_not(found: chart.Summary) -> None:
    meds = _by_id(found)
    assert [d.local for d in meds["mr-furo"].overdue] == ["08:00"]
    assert [d.local for d in meds["mr-para"].overdue] == []  # 06:00 given at 06:10; 00:00 is 10 h back
    assert [(d.local, m.id) for d, m in found.late] == [("08:00", "mr-apix"), ("08:00", "mr-furo")]
    insulin = meds["mr-insu"]
    assert [d.local for d in insulin.due] == ["12:00", "19:00", "08:00"] and insulin.overdue == []


def test_a_rhythm_without_set_times_is_to_be_set(found: chart.Summary) -> None:
    lactulose = _by_id(found)["mr-lact"]
    assert lactulose.unscheduled and lactulose.due == [] and lactulose.frequency == "3 fois par jour"
    assert not _by_id(found)["mr-para"].unscheduled
    assert not _by_id(found)["mr-doli"].unscheduled  # as needed: no set time expected


def test_hints_duplicate_anticoagulants_and_paracetamol(found: chart.Summary) -> None:
    kinds = {h.kind: h for h in found.hints}
    assert set(kinds) == {hints.DUPLICATE, hints.ANTICOAGULANTS, hints.PARACETAMOL}
    assert sorted(kinds[hints.DUPLICATE].drugs) == ["Furosémide 40 mg", "Lasilix 40 mg"]
    assert sorted(kinds[hints.ANTICOAGULANTS].drugs) == ["Apixaban 5 mg", "Énoxaparine 4000 UI/0,4 mL"]
    assert kinds[hints.PARACETAMOL].total_mg == 6000 and kinds[hints.PARACETAMOL].total_text == "6"


def test_hint_rules_one_by_one() -> None:
    def drug(name: str, concept: dict | None = None, dosages: list[dict] | None = None) -> hints.Prescribed:
        return hints.Prescribed(name, concept or {"text": name}, dosages or [])

    aspirin = drug("Kardégic", {"coding": [{"system": ATC, "code": "B01AC06"}]})
    clopidogrel = drug("Clopidogrel", {"coding": [{"system": ATC, "code": "B01AC04"}]})
    assert hints.hints([aspirin, clopidogrel]) == []  # antiplatelets are not anticoagulants
    assert [h.kind for h in hints.hints([drug("HEPARINE sodique"), drug("Fluindione 20 mg")])] == \
        [hints.ANTICOAGULANTS]
    assert [h.kind for h in hints.hints([drug("Amiodarone 200 mg"), drug("amiodarone  200 MG")])] == \
        [hints.DUPLICATE]
    gram = {"value": 1, "code": "g"}
    four = {"doseAndRate": [{"doseQuantity": gram}], "timing": _times("06:00", "12:00", "18:00", "00:00")}
    assert hints.hints([drug("Paracétamol", dosages=[four])]) == []  # 4 g: the maximum, not over
    prn = {"doseAndRate": [{"doseQuantity": {"value": 500, "code": "mg"}}], "asNeededBoolean": True,
           "timing": {"repeat": {"frequency": 1, "period": 4, "periodUnit": "h"}}}
    assert hints.daily_mg([prn]) == 3000  # no maximum written: every allowed dose counted
    over = hints.hints([drug("Paracétamol", dosages=[four]), drug("Dafalgan", dosages=[prn])])
    assert [h.kind for h in over] == [hints.PARACETAMOL] and over[0].total_mg == 7000
    tablets = {"doseAndRate": [{"doseQuantity": {"value": 2, "unit": "cp"}}], "timing": four["timing"]}
    assert hints.daily_mg([tablets]) == 0  # not in mass units: not counted


def test_shift_windows() -> None:
    morning = shifts.window("matin", NOW, "Europe/Paris")
    assert (morning.start.hour, morning.end.hour, morning.start.day) == (7, 15, 14)
    night = shifts.window("nuit", NOW, "Europe/Paris")
    assert (night.start.day, night.start.hour, night.end.day, night.end.hour) == (14, 23, 15, 7)
    early = shifts.window("nuit", dt.datetime(2026, 1, 14, 5, 0, tzinfo=PARIS), "Europe/Paris")
    assert (early.start.day, early.start.hour) == (13, 23)  # the night in progress
    assert shifts.window("jour", NOW, "Europe/Paris").end == NOW + dt.timedelta(hours=24)
    with pytest.raises(shifts.UnknownShift):
        shifts.window("soir", NOW, "Europe/Paris")


def test_a_shift_sheet_holds_its_doses_and_every_late_one(found: chart.Summary) -> None:
    def sheet(name: str) -> list[str]:
        plan = shifts.window(name, NOW, "Europe/Paris").plan(found)
        return [f"{d.when.strftime('%d %H:%M')} {m.id}{' late' if late else ''}" for d, m, late in plan]

    assert sheet("matin") == ["14 08:00 mr-apix late", "14 08:00 mr-furo late", "14 12:00 mr-insu",
                              "14 12:00 mr-para"]
    assert sheet("nuit") == ["14 08:00 mr-apix late", "14 08:00 mr-furo late", "15 00:00 mr-para",
                             "15 06:00 mr-para"]
    assert len(sheet("jour")) == 2 + len(found.plan)


# --- the page and the printed MAR ------------------------------------------------------------


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Site, Path]]:
    folder = tmp_path_factory.mktemp("meds")
    inputs = folder / "fhir"
    inputs.mkdir()
    lines = [orjson.dumps(r) for r in [*resources(), METFORMIN]]
    (inputs / "meds.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    station = _station_from(folder, inputs)
    add_users(station.dir)
    with station_site(station.dir) as site:
        yield site, station.dir


@pytest.fixture(scope="module")
def nurse(web: tuple[Site, Path]) -> httpx.Client:
    return web[0].login("nurse")


def _text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _section(page: str) -> str:
    return re.search(r'<section class="meds".*?</section>', page, re.S)[0]


def test_page_says_why_and_shows_what_to_check(nurse: httpx.Client) -> None:
    page = nurse.get(f"/patients/{PID}").text
    meds = _text(_section(page))
    assert "Apixaban 5 mg" in meds
    assert "terminé le 13/01/2026 — encore actif dans le DPI, à vérifier" in meds
    assert "heure à définir" in meds and "08:00 en retard" in meds
    closed = re.search(r'<details class="not-current">(.*?)</details>', page, re.S)[1]
    assert "4 prescription(s) non en cours" in _text(closed)
    for line in ("Warfarine 5 mg 1 comprimé · à 18:00 — arrêtée", "Amoxicilline 1 g", "séjour terminé",
                 "Morphine 10 mg", "saisie par erreur"):
        assert line in _text(closed), line
    current = _section(page).replace(closed, "")
    assert "Warfarine" not in current and "Morphine" not in current  # only in the closed list
    assert "Deux anticoagulants prescrits en même temps" in meds
    assert "Même médicament prescrit deux fois : Furosémide 40 mg, Lasilix 40 mg" in meds
    assert "Paracétamol : jusqu'à 6 g par 24 h" in meds
    usual = _text(re.search(r'<table class="usual">.*?</table>', page, re.S)[0])
    assert "Lévothyroxine 75 µg" in usual and "Metformine 850 mg" in usual and "Source : la patiente" in usual
    assert "Atorvastatine 20 mg" in usual and "non en cours (arrêté)" in usual
    plan = _text(re.search(r'<section class="plan".*?</section>', page, re.S)[0])
    assert plan.index("08:00 en retard Furosémide 40 mg") < plan.index("12:00 Paracétamol 1 g")
    assert "08:00 en retard Apixaban 5 mg" in plan
    assert 'print/mar.pdf?shift=nuit' in page


def test_printed_mar_for_the_day(nurse: httpx.Client) -> None:
    answer = nurse.get(f"/patients/{PID}/print/mar.pdf")
    assert answer.status_code == 200
    text = flat(answer.content)
    assert "Plan d'administration des prochaines 24 h" in text
    assert "Traitement habituel" in text and "Lévothyroxine 75 µg" in text and "Metformine 850 mg" in text
    assert "encore actif dans le DPI, à vérifier" in text and "heure à définir" in text
    assert "Deux anticoagulants prescrits en même temps" in text
    assert "4 prescription(s) non en cours" in text and "Warfarine" not in text
    assert "08:00 en retard" in text, text


def test_printed_mar_for_a_shift_on_the_web_and_the_command_line(nurse: httpx.Client,
                                                                  web: tuple[Site, Path],
                                                                  tmp_path: Path) -> None:
    night = flat(nurse.get(f"/patients/{PID}/print/mar.pdf?shift=nuit").content)
    assert "Plan d'administration — équipe de nuit" in night and "Du 14/01/2026 23:00 au 15/01/2026 07:00" in night
    assert "15/01" in night.replace("au 15/01/2026 07:00", "")  # the doses after midnight
    assert nurse.get(f"/patients/{PID}/print/mar.pdf?shift=soir").status_code == 400
    out = tmp_path / "matin.pdf"
    run_releve("station", "print", "mar", "--patient", PID, "--shift", "matin", "--out", out,
               "--station", web[1])
    morning = flat(out.read_bytes())
    assert "équipe du matin" in morning and "Du 14/01/2026 07:00 au 14/01/2026 15:00" in morning
    assert "en retard" in morning and "15/01" not in morning  # 07:00-15:00: nothing of tomorrow
    assert "aucune prise pendant cette équipe" in morning  # Lasilix, due at 18:00
    wrong = run_releve("station", "print", "mar", "--patient", PID, "--shift", "soir", "--out", out,
                       "--station", web[1], check=False)
    assert wrong.returncode != 0 and b"no shift named 'soir'" in wrong.stderr + wrong.stdout


def test_ward_mar_for_a_shift(nurse: httpx.Client) -> None:
    assert f"/wards/{WARD}/print/mar.pdf?shift=apres-midi" in nurse.get(f"/wards/{WARD}").text
    sheet = flat(nurse.get(f"/wards/{WARD}/print/mar.pdf?shift=apres-midi").content)
    assert "MOREAU Hélène" in sheet and "Du 14/01/2026 15:00 au 14/01/2026 23:00" in sheet
    assert "Traitement habituel" in sheet and "en retard" in sheet


def test_every_medication_text_has_english() -> None:
    from releve.station.i18n import english
    from releve.station.web.base import TEMPLATES

    texts: list[str] = []
    for name in ("patient_medications.html", "mar.html", "patient.html", "ward.html"):
        found = next(TEMPLATES.parent.rglob(name)).read_text()
        texts += re.findall(r'_\("((?:[^"\\]|\\.)*)"[,)]', found)
    texts += [*orders.REASONS.values(), *statements.STATUS_TEXT.values(),
              *(label for label, _, _ in shifts.SHIFTS.values())]
    assert [t for t in texts if t not in english()] == []
