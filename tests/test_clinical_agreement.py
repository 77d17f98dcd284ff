"""Every page and printout tells the same clinical story about the same patient.

A small ward written by hand from the FHIR R4 definitions goes through the real path
(import into a vault, station sync), then the patient page, the ward census page, the
printed census, the MAR (patient and ward), the labels, the wristband and the pre-filled
forms are read back as a nurse reads them. Each medium must show the same allergies
(and the same ones as severe), the same "no known allergy" statement, the same alerts,
the same code status (a do-not-resuscitate given only as a Consent included) and the
same current orders, and none of what is stopped, resolved, refuted, ended or
entered in error. A stopped order is not current treatment on any medium; the page lists
it apart, in a closed "non en cours" list, with why. An active order whose timing ended
is current on every medium, marked for a human to check.
"""

from __future__ import annotations

import re
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import httpx
import orjson
import pytest

from test_station_print import flat
from test_station_web import Site, add_users, station_site

from conftest import StationFixture, _station_from

pytestmark = pytest.mark.timeout(300)

SNOMED = "http://snomed.info/sct"
CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
UNIT = "loc-test"


def _concept(system: str, code: str, display: str, text: str | None = None) -> dict:
    concept: dict = {"coding": [{"system": system, "code": code, "display": display}]}
    if text:
        concept["text"] = text
    return concept


def _place(lid: str, name: str, kind: str, part_of: str | None = None) -> dict:
    place = {"resourceType": "Location", "id": lid, "name": name, "status": "active",
             "physicalType": _concept("http://terminology.hl7.org/CodeSystem/location-physical-type",
                                      kind, kind)}
    if part_of:
        place["partOf"] = {"reference": f"Location/{part_of}"}
    return place


def _patient(pid: str, family: str, given: str, ipp: str) -> dict:
    return {"resourceType": "Patient", "id": pid, "gender": "female", "birthDate": "1950-03-04",
            "name": [{"use": "official", "family": family, "given": [given]}],
            "identifier": [{"type": _concept("http://terminology.hl7.org/CodeSystem/v2-0203", "PI", "PI"),
                            "system": "urn:oid:1.2.250.1.999.1", "value": ipp}]}


def _stay(pid: str, bed: str) -> dict:
    return {"resourceType": "Encounter", "id": f"enc-{pid}", "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "subject": {"reference": f"Patient/{pid}"},
            "period": {"start": "2026-01-10T09:00:00+01:00"},
            "participant": [{"type": [_concept("http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                               "ATND", "attender")],
                             "individual": {"reference": "Practitioner/pr-1"}}],
            "location": [{"location": {"reference": f"Location/{bed}"}, "status": "active",
                          "physicalType": {"coding": [{"code": "bd"}]}}]}


def _allergy(aid: str, pid: str, code: dict, clinical: str = "active", verification: str = "confirmed",
             **more) -> dict:
    return {"resourceType": "AllergyIntolerance", "id": aid, "patient": {"reference": f"Patient/{pid}"},
            "clinicalStatus": _concept(CLINICAL, clinical, clinical),
            "verificationStatus": _concept(VERIFICATION, verification, verification),
            "code": code, "recordedDate": "2025-06-01", **more}


def _flag(fid: str, pid: str, code: dict, status: str, **more) -> dict:
    return {"resourceType": "Flag", "id": fid, "status": status, "code": code,
            "subject": {"reference": f"Patient/{pid}"}, **more}


def _order(mid: str, pid: str, drug: str, status: str, repeat: dict) -> dict:
    return {"resourceType": "MedicationRequest", "id": mid, "status": status, "intent": "order",
            "subject": {"reference": f"Patient/{pid}"}, "authoredOn": "2026-01-10T10:00:00+01:00",
            "medicationCodeableConcept": {"text": drug},
            "requester": {"reference": "Practitioner/pr-1"},
            "dosageInstruction": [{"timing": {"repeat": repeat},
                                   "route": {"text": "Voie orale"},
                                   "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "comprimé"}}]}]}


def ward_resources() -> list[dict]:
    """A unit of three beds; Mme MARTIN has a clinical story, M. DURAND said he has no
    allergy, Mme PETIT's allergies were never asked."""
    a, b, c = "pat-a", "pat-b", "pat-c"
    twice = {"timeOfDay": ["08:00", "20:00"]}
    return [
        _place(UNIT, "Médecine Test", "wa"), _place("loc-test-r1", "Chambre 1", "ro", UNIT),
        _place("loc-test-b1", "Lit 1", "bd", "loc-test-r1"), _place("loc-test-b2", "Lit 2", "bd", "loc-test-r1"),
        _place("loc-test-b3", "Lit 3", "bd", "loc-test-r1"),
        {"resourceType": "Practitioner", "id": "pr-1", "name": [{"family": "Berger", "given": ["Sylvie"],
                                                                 "prefix": ["Dr"]}]},
        _patient(a, "Martin", "Jeanne", "IPP-A-1001"), _patient(b, "Durand", "Paule", "IPP-B-1002"),
        _patient(c, "Petit", "Louise", "IPP-C-1003"),
        _stay(a, "loc-test-b1"), _stay(b, "loc-test-b2"), _stay(c, "loc-test-b3"),
        # a severe reaction to penicillin, with no criticality recorded
        _allergy("al-peni", a, _concept(SNOMED, "764146007", "Penicillin", "Pénicilline G"),
                 category=["medication"],
                 reaction=[{"manifestation": [_concept(SNOMED, "126485001", "Urticaria", "Urticaire géante")],
                            "severity": "severe"}]),
        # anaphylaxis, with neither criticality nor severity
        _allergy("al-amox", a, {"text": "Amoxicilline"}, category=["medication"],
                 reaction=[{"manifestation": [_concept(SNOMED, "39579001", "Anaphylaxis")]}]),
        # a mild intolerance, low criticality
        _allergy("al-pollen", a, {"text": "Pollen de graminées"}, criticality="low",
                 reaction=[{"manifestation": [{"text": "Rhinite"}], "severity": "mild"}]),
        # recorded by mistake, resolved, refuted: on no page and no paper
        _allergy("al-latex", a, {"text": "Latex"}, verification="entered-in-error", criticality="high"),
        _allergy("al-codeine", a, {"text": "Codéine"}, clinical="resolved"),
        _allergy("al-iode", a, {"text": "Produits iodés"}, verification="refuted"),
        _allergy("al-none", b, _concept(SNOMED, "716186003", "No known allergy")),
        _flag("fl-fall", a, _concept(SNOMED, "129839007", "At risk for falls", "Risque de chute élevé"),
              "active", period={"start": "2026-01-10"}),
        _flag("fl-old", a, {"text": "Isolement gouttelettes"}, "active",
              period={"start": "2025-12-01", "end": "2025-12-20"}),
        _flag("fl-off", a, {"text": "Isolement contact BMR"}, "inactive"),
        {"resourceType": "NutritionOrder", "id": "diet-a", "status": "active", "intent": "order",
         "patient": {"reference": f"Patient/{a}"}, "dateTime": "2026-01-10",
         "oralDiet": {"type": [{"text": "Régime sans sel"}]}},
        _order("mr-para", a, "Paracétamol 1 g", "active", twice),
        _order("mr-warf", a, "Warfarine 5 mg", "stopped", twice),
        _order("mr-cef", a, "Ceftriaxone 1 g", "active",
               {**twice, "boundsPeriod": {"start": "2026-01-05", "end": "2026-01-12"}}),
        _order("mr-pred", b, "Prednisolone 20 mg", "active", {"timeOfDay": ["08:00"]}),
        # do-not-resuscitate recorded only as a Consent, as an IPS or many HIS record it
        {"resourceType": "Consent", "id": "cs-dnr-b", "status": "active",
         "scope": _concept("http://terminology.hl7.org/CodeSystem/consentscope", "adr", "Advanced Care Directive"),
         "category": [_concept("http://terminology.hl7.org/CodeSystem/consentcategorycodes", "dnr",
                               "Do Not Resuscitate")],
         "patient": {"reference": f"Patient/{b}"}, "dateTime": "2026-01-11",
         "provision": {"type": "deny", "code": [_concept(SNOMED, "89666000", "Cardiopulmonary resuscitation")]}},
    ]


# What every medium must show, and what none may show.
SEVERE = ["Pénicilline G", "Amoxicilline"]
MILD = ["Pollen de graminées"]
NEVER = ["Latex", "Codéine", "Produits iodés", "No known allergy", "Warfarine",
         "Isolement gouttelettes", "Isolement contact BMR"]
TO_CHECK = "Ceftriaxone 1 g"  # active in the HIS, its timing ended on the 12th
ENDED = "encore actif dans le DPI, à vérifier"
NOT_CURRENT = re.compile(r'<details class="not-current">.*?</details>', re.S)
NO_ALLERGY = "Aucune allergie connue"
DNR = "Ne pas réanimer"  # Mme DURAND's code status, from her Consent alone
UNKNOWN = "Allergies non renseignées"


def station_of(tmp_path_factory: pytest.TempPathFactory, name: str,
               resources: list[dict]) -> StationFixture:
    """A station synced from these resources (one ndjson import), with the test users."""
    folder = tmp_path_factory.mktemp(name)
    inputs = folder / "fhir"
    inputs.mkdir()
    (inputs / f"{name}.ndjson").write_bytes(b"\n".join(orjson.dumps(r) for r in resources) + b"\n")
    station = _station_from(folder, inputs)
    add_users(station.dir)
    return station


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with station_site(station_of(tmp_path_factory, "agreement", ward_resources()).dir) as site:
        yield site


@pytest.fixture(scope="module")
def nurse(web: Site) -> httpx.Client:
    return web.login("nurse")


def _pdf(nurse: httpx.Client, url: str) -> str:
    answer = nurse.get(url)
    assert answer.status_code == 200 and answer.content.startswith(b"%PDF"), url
    return flat(answer.content)


def _census_row(html: str, pid: str) -> str:
    rows = re.findall(r"<tr class=\"occupied[^\"]*\">(.*?)</tr>", html, re.S)
    return next(r for r in rows if f'href="/patients/{pid}"' in r)


def _cell(row: str, name: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", re.search(rf'<td class="{name}">(.*?)</td>', row, re.S)[1]).split())


def census_cells(pdf: bytes) -> dict[str, dict[str, str]]:
    """The printed census as a table: {bed: {column head: cell text}}, from where poppler
    finds each block of text on the page (pdftotext's reading order mixes a row's cells)."""
    xml = subprocess.run(["pdftotext", "-bbox-layout", "-", "-"], input=pdf, capture_output=True,
                         check=True).stdout.decode()
    blocks = []
    for block in ET.fromstring(xml).iter("{http://www.w3.org/1999/xhtml}block"):
        lines = [" ".join(w.text or "" for w in line) for line in block]
        blocks.append((float(block.get("xMin")), float(block.get("yMin")), " ".join(lines)))
    top = next(y for x, y, text in blocks if text == "Lit")
    heads = sorted((x, text) for x, y, text in blocks if abs(y - top) < 3)
    beds = sorted((y, text.split()[0] + " " + text.split()[1]) for x, y, text in blocks
                  if re.match(r"Lit \d+", text) and x < heads[1][0])

    def column(x: float) -> str:
        return ([text for left, text in heads if left <= x + 3] or [""])[-1]

    table: dict[str, dict[str, str]] = {}
    for number, (start, bed) in enumerate(beds):
        end = beds[number + 1][0] if number + 1 < len(beds) else float("inf")
        row: dict[str, str] = {}
        for x, y, text in blocks:
            if start - 3 <= y < end - 3 and column(x) and "imprimé le" not in text and "Page " not in text:
                row[column(x)] = " ".join(filter(None, (row.get(column(x)), text)))
        table[bed] = row
    return table


def allergy_items(cell: str) -> tuple[list[str], list[str]]:
    """(severe, others) of a printed allergy list: each severe one is marked '⚠ '."""
    items = [i.strip() for i in cell.split(",") if i.strip()]
    return ([i[2:] for i in items if i.startswith("⚠ ")], [i for i in items if not i.startswith("⚠")])


def _span(html: str, css: str) -> str:
    found = re.search(rf'<span class="{css}"[^>]*>(.*?)</span>', html, re.S)
    return " ".join(found[1].split()) if found else ""


def test_patient_page_reads_the_clinical_facts(nurse: httpx.Client) -> None:
    page = nurse.get("/patients/pat-a").text
    section = re.search(r'<section class="allergies.*?</section>', page, re.S)[0]
    high = re.findall(r'<li class="high">\s*<strong class="substance">(.*?)</strong>', section)
    low = re.findall(r'<li class="low">\s*<strong class="substance">(.*?)</strong>', section)
    assert sorted(high) == sorted(SEVERE) and low == MILD
    assert "Risque de chute élevé" in page and "Régime sans sel" in page and "Paracétamol 1 g" in page
    closed = NOT_CURRENT.search(page)[0]
    assert "Warfarine 5 mg" in closed and "arrêtée" in closed
    # what is not current is named only in its list or in "Autres éléments", in words
    others = re.search(r'<section class="others.*?</section>', page, re.S)[0]
    assert not [word for word in NEVER if word in page.replace(closed, "").replace(others, "")]
    assert "Latex" not in others and "(en cours)" not in others  # entered-in-error: counted only
    assert TO_CHECK in page and ENDED in page
    none = nurse.get("/patients/pat-b").text
    assert NO_ALLERGY in re.search(r'<section class="allergies.*?</section>', none, re.S)[0]
    assert UNKNOWN in nurse.get("/patients/pat-c").text


def test_census_page_agrees_with_the_summary(nurse: httpx.Client) -> None:
    page = nurse.get(f"/wards/{UNIT}").text
    row = _census_row(page, "pat-a")
    assert "has-allergy" in re.search(r'<tr class="occupied[^"]*">(?:(?!</tr>).)*pat-a', page, re.S)[0]
    assert "×2" in _span(row, "allergy-high")
    assert sorted(_span(row, "allergy-names").split(", ")) == sorted(SEVERE)
    assert _span(row, "allergy-other") == ", ".join(MILD)
    assert "Risque de chute" in _cell(row, "flags") and 'title="Risque de chute élevé"' in row
    assert _cell(row, "diet") == "Régime sans sel"
    assert not [word for word in NEVER if word in row]
    durand = _census_row(page, "pat-b")
    assert _cell(durand, "allergies") == NO_ALLERGY and "Allergie :" not in durand
    assert "716186003" not in durand and "allergy-high" not in durand
    assert _cell(_census_row(page, "pat-c"), "allergies") == "—"


def test_printed_census_agrees_with_the_page(nurse: httpx.Client) -> None:
    answer = nurse.get(f"/wards/{UNIT}/print/census.pdf")
    table = census_cells(answer.content)
    severe, others = allergy_items(table["Lit 1"]["Allergies"])
    assert sorted(severe) == sorted(SEVERE) and others == MILD
    assert table["Lit 1"]["Alertes"] == "Risque de chute" and table["Lit 1"]["Régime"] == "Régime sans sel"
    assert table["Lit 2"]["Allergies"] == NO_ALLERGY
    assert table["Lit 3"]["Allergies"] == "—"
    text = flat(answer.content)
    assert not [word for word in NEVER if word in text]


def test_mar_agrees_with_the_summary(nurse: httpx.Client) -> None:
    for url in ("/patients/pat-a/print/mar.pdf", f"/wards/{UNIT}/print/mar.pdf"):
        text = _pdf(nurse, url)
        martin = text[text.index("MARTIN Jeanne"):]
        martin = martin[:martin.index("DURAND Paule")] if "DURAND Paule" in martin else martin
        for substance in SEVERE:
            assert re.search(rf"{substance} \([^)]*\) — GRAVE", martin), (url, substance)
        assert f"{MILD[0]} (Rhinite)" in martin and f"{MILD[0]} (Rhinite) — GRAVE" not in martin
        assert "Paracétamol 1 g" in martin and TO_CHECK in martin and ENDED in martin
        assert not [word for word in NEVER if word in text], url
    ward = _pdf(nurse, f"/wards/{UNIT}/print/mar.pdf")
    durand = ward[ward.index("DURAND Paule"):]
    assert f"Allergies : {NO_ALLERGY}" in durand and "Prednisolone 20 mg" in durand


def test_labels_wristband_and_forms_agree(nurse: httpx.Client) -> None:
    labels = _pdf(nurse, "/patients/pat-a/print/labels.pdf")
    assert labels.count("MARTIN Jeanne") == 24 and labels.count("IPP-A-1001") == 24
    band = _pdf(nurse, "/patients/pat-a/print/wristband.pdf")
    assert band.count("MARTIN Jeanne") == 2 and band.count("Médecine Test · Chambre 1 · Lit 1") == 2
    forms = _pdf(nurse, "/patients/pat-a/print/forms.pdf")
    lines = re.findall(r"Allergies (.*?) (?:Rempli par|Prescriptions)", forms)
    assert len(lines) == 2
    for line in lines:
        severe, others = allergy_items(line)
        assert sorted(severe) == sorted(SEVERE) and others == MILD
    assert not [word for word in NEVER if word in forms]
    none = _pdf(nurse, "/patients/pat-b/print/forms.pdf")
    assert NO_ALLERGY in none and "No known allergy" not in none and "⚠" not in none


def test_a_dnr_given_only_as_a_consent_shows_on_every_medium(nurse: httpx.Client) -> None:
    page = nurse.get("/patients/pat-b").text
    status = re.search(r'<section class="code-status.*?</section>', page, re.S)[0]
    assert DNR in status and "Consentement" in status
    ward = nurse.get(f"/wards/{UNIT}").text
    durand = _census_row(ward, "pat-b")
    assert _cell(durand, "flags") == DNR and "flag-dnr" in durand
    assert DNR not in _census_row(ward, "pat-a") and DNR not in _census_row(ward, "pat-c")
    table = census_cells(nurse.get(f"/wards/{UNIT}/print/census.pdf").content)
    assert table["Lit 2"].get("Alertes") == DNR and DNR not in table["Lit 1"].get("Alertes", "")
    for url in ("/patients/pat-b/print/mar.pdf", f"/wards/{UNIT}/print/mar.pdf"):
        text = _pdf(nurse, url)
        durand_mar = text[text.index("DURAND Paule"):]
        durand_mar = durand_mar[:durand_mar.index("PETIT Louise")] if "PETIT Louise" in durand_mar else durand_mar
        assert DNR.upper() in durand_mar, url
        assert DNR.upper() not in text[:text.index("DURAND Paule")], url  # not Mme MARTIN's
    binder = _binder(nurse)
    durand_part = binder[binder.index("DURAND Paule"):binder.index("PETIT Louise")]
    summary = durand_part[durand_part.index("Synthèse du dossier"):durand_part.index("Plan d'administration")]
    assert f"Statut de réanimation ⚠ {DNR}" in summary and "Consentement" in summary
    assert "Statut de réanimation" not in binder[:binder.index("DURAND Paule")]


def _binder(nurse: httpx.Client) -> str:
    """The ward binder's text, made as the ward page makes it."""
    job = nurse.post(f"/wards/{UNIT}/print/binder").headers["location"]
    deadline = time.monotonic() + 120
    while "Classeur prêt" not in nurse.get(job).text:
        assert time.monotonic() < deadline, "the binder was not made in time"
        time.sleep(0.3)
    return _pdf(nurse, job + ".pdf")
