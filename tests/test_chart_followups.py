"""The chart's follow-ups on third-party FHIR: Binaries filed under their patient by their
securityContext and opened in the station's frame, the printed identity of a patient
known only as a contained Patient, French alphabetical order in the summary's lists,
and a search box that says what it finds.

The FHIR is written here by hand from the R4 definitions (Binary.securityContext,
`contained` Patients referenced as "#id", MedicationStatement); the station is real:
`releve import`, a vault, a sync, the web app on loopback.
"""

from __future__ import annotations

import base64
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from releve.station.index.connection import reader
from releve.station.views.summary import summary
from test_clinical_agreement import station_of
from test_station_print import flat
from test_station_search import _station, _sync
from test_station_web import Site, station_site

from conftest import StationFixture, run_releve

pytestmark = pytest.mark.timeout(300)

PID = "pat-f"
LAB = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                   "code": "laboratory"}]}


def _text(words: str) -> str:
    return base64.b64encode(words.encode()).decode()


def _binary(bid: str, context: str | None, words: str) -> dict:
    found = {"resourceType": "Binary", "id": bid, "contentType": "text/plain; charset=utf-8",
             "data": _text(words), "meta": {"lastUpdated": "2026-01-12T08:00:00+01:00"}}
    if context:
        found["securityContext"] = {"reference": context}
    return found


def _lab(oid: str, label: str, value: float, unit: str) -> dict:
    return {"resourceType": "Observation", "id": oid, "status": "final", "category": [LAB],
            "code": {"text": label}, "subject": {"reference": f"Patient/{PID}"},
            "effectiveDateTime": "2026-01-13T07:00:00+01:00",
            "valueQuantity": {"value": value, "unit": unit}}


def _usual(sid: str, drug: str) -> dict:
    return {"resourceType": "MedicationStatement", "id": sid, "status": "active",
            "medicationCodeableConcept": {"text": drug}, "subject": {"reference": f"Patient/{PID}"},
            "dosage": [{"text": "1 le soir"}]}


def _stopped(mid: str, drug: str) -> dict:
    return {"resourceType": "MedicationRequest", "id": mid, "status": "stopped", "intent": "order",
            "medicationCodeableConcept": {"text": drug}, "subject": {"reference": f"Patient/{PID}"},
            "authoredOn": "2026-01-05T10:00:00+01:00"}


GUEST = {"resourceType": "Patient", "id": "p1", "name": [{"family": "Leroy", "given": ["Paul"]}],
         "birthDate": "1961-07-14", "gender": "male",
         "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                              "code": "MR"}]},
                         "system": "http://clinique-voisine.example/mrn", "value": "CV-778812"},
                        {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                              "code": "PPN"}]},
                         "system": "http://hl7.org/fhir/sid/passport-FRA", "value": "19AB12345"},
                        {"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "161079912345678"}]}


def resources() -> list[dict]:
    return [
        {"resourceType": "Patient", "id": PID, "gender": "female", "birthDate": "1948-02-02",
         "name": [{"family": "Fabre", "given": ["Hélène"]}]},
        {"resourceType": "Encounter", "id": "enc-f", "status": "in-progress",
         "class": {"code": "IMP"}, "subject": {"reference": f"Patient/{PID}"},
         "period": {"start": "2026-01-10T09:00:00+01:00"}},
        # a file naming its patient, a file naming the stay, a file a document names
        _binary("bin-own", f"Patient/{PID}", "Transmissions de nuit : patiente calme."),
        _binary("bin-stay", "Encounter/enc-f", "Courrier de sortie provisoire."),
        _binary("bin-doc", f"Patient/{PID}", "Lettre du médecin traitant."),
        _binary("bin-nobody", None, "Un fichier sans contexte."),
        {"resourceType": "DocumentReference", "id": "doc-f", "status": "current",
         "subject": {"reference": f"Patient/{PID}"}, "type": {"text": "Courrier"},
         "date": "2026-01-11T10:00:00+01:00",
         "content": [{"attachment": {"contentType": "text/plain", "url": "Binary/bin-doc",
                                     "title": "Lettre du médecin traitant"}}]},
        # French order: É among the E, not after Z
        _usual("ms-zop", "Zopiclone 7,5 mg"), _usual("ms-ena", "Énalapril 5 mg"),
        _usual("ms-fur", "Furosémide 40 mg"),
        _stopped("mr-zol", "Zolpidem 10 mg"), _stopped("mr-ery", "Érythromycine 500 mg"),
        _stopped("mr-ami", "amoxicilline 1 g"),
        _lab("obs-na", "Sodium", 139, "mmol/L"), _lab("obs-ery", "Érythrocytes", 4.2, "10*12/L"),
        _lab("obs-fer", "Fer sérique", 14, "µmol/L"),
        # a patient known only as the Patient this observation contains
        {"resourceType": "Observation", "id": "obs-guest", "status": "final",
         "code": {"text": "Glycémie"}, "contained": [GUEST], "subject": {"reference": "#p1"},
         "effectiveDateTime": "2026-01-13T07:00:00+01:00",
         "valueQuantity": {"value": 5.4, "unit": "mmol/L"}},
    ]


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory) -> StationFixture:
    return station_of(tmp_path_factory, "followups", resources())


@pytest.fixture(scope="module")
def conn(station: StationFixture) -> Iterator[sqlite3.Connection]:
    opened = reader(station.dir)
    assert opened is not None
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def web(station: StationFixture) -> Iterator[Site]:
    with station_site(station.dir) as site:
        yield site


@pytest.fixture(scope="module")
def nurse(web: Site) -> httpx.Client:
    return web.login("nurse")


# --- Binaries and their securityContext ---------------------------------------------------------


def test_a_binary_is_filed_under_the_patient_its_context_names(conn: sqlite3.Connection) -> None:
    owners = dict(conn.execute("SELECT id, patient FROM records WHERE type = 'Binary'"))
    # by the Patient it names, by the patient of the Encounter it names; without one, nobody's
    assert owners == {"bin-own": PID, "bin-stay": PID, "bin-doc": PID, "bin-nobody": None}


def test_a_binary_no_document_names_is_listed_and_opens_in_the_frame(nurse: httpx.Client) -> None:
    page = nurse.get(f"/patients/{PID}").text
    documents = re.search(r'<section class="documents".*?</section>', page, re.S)[0]
    for bid in ("bin-own", "bin-stay"):
        assert f'href="/patients/{PID}/documents/{bid}/view"' in documents
    assert "bin-doc" not in documents and "Lettre du médecin traitant" in documents  # shown once
    assert "Fichier texte" in documents
    framed = nurse.get(f"/patients/{PID}/documents/bin-stay/view")
    assert framed.status_code == 200
    assert "Courrier de sortie provisoire." in framed.text and "FABRE Hélène" in framed.text
    raw = nurse.get(f"/patients/{PID}/documents/bin-own")
    assert raw.status_code == 200 and raw.text == "Transmissions de nuit : patiente calme."
    assert raw.headers["content-type"].startswith("text/plain")
    assert nurse.get(f"/patients/{PID}/documents/bin-nobody/view").status_code == 404  # not hers


def test_a_later_segment_files_a_binary_whose_resource_comes_after_it(tmp_path: Path) -> None:
    """Deltas: the Binary first, the DocumentReference its context names a segment later."""
    first, second, third = (tmp_path / name for name in ("first", "second", "third"))
    for folder, resources_ in ((first, [resources()[0], resources()[1]]),
                               (second, [_binary("bin-late", "DocumentReference/doc-late", "Note tardive.")]),
                               (third, [{"resourceType": "DocumentReference", "id": "doc-late",
                                         "status": "current", "subject": {"reference": f"Patient/{PID}"},
                                         "content": [{"attachment": {"title": "Note"}}]}])):
        folder.mkdir()
        (folder / "data.ndjson").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in resources_))
    _station(tmp_path, first).close()

    def owner(data: Path) -> str | None:
        run_releve("import", "--vault", tmp_path / "vault", "--signing-key",
                   tmp_path / "keys" / "capture.minisign.key", "--state", tmp_path / "state", data)
        conn = _sync(tmp_path)
        found = conn.execute("SELECT patient FROM records WHERE type = 'Binary' AND id = 'bin-late'").fetchone()
        conn.close()
        return found[0]

    assert owner(second) is None  # its document is not there yet
    assert owner(third) == PID


# --- a patient known only as a contained Patient ------------------------------------------------


def _guest(conn: sqlite3.Connection) -> str:
    (pid,) = conn.execute("SELECT id FROM patients WHERE id LIKE 'contained-%'").fetchone()
    return pid


def test_the_wristband_and_labels_of_a_contained_patient_say_who_they_are(
        conn: sqlite3.Connection, nurse: httpx.Client) -> None:
    pid = _guest(conn)
    for sheet, count in (("wristband", 2), ("labels", 24)):
        answer = nurse.get(f"/patients/{pid}/print/{sheet}.pdf")
        assert answer.status_code == 200 and answer.content.startswith(b"%PDF"), sheet
        text = flat(answer.content)
        assert text.count("LEROY Paul") == count, sheet
        assert text.count("14/07/1961") == count and text.count("CV-778812") == count, sheet
        assert text.count("161079912345678") == count, sheet
        assert "Pas de DataMatrix INS" not in text, sheet  # the INS traits are the contained Patient's


# --- French alphabetical order ------------------------------------------------------------------


def test_the_summarys_lists_are_in_french_order(conn: sqlite3.Connection) -> None:
    found = summary(conn, PID)
    assert found is not None
    assert [u.drug for u in found.usual] == ["Énalapril 5 mg", "Furosémide 40 mg", "Zopiclone 7,5 mg"]
    assert [n.drug for n in found.not_current] == ["amoxicilline 1 g", "Érythromycine 500 mg",
                                                    "Zolpidem 10 mg"]
    assert [s.label for s in found.results] == ["Érythrocytes", "Fer sérique", "Sodium"]


# --- the search box -----------------------------------------------------------------------------


def test_the_search_box_says_what_it_finds(nurse: httpx.Client) -> None:
    french = nurse.get("/patients").text
    label = re.search(r'<label for="q">(.*?)</label>', french, re.S)[1]
    for word in ("Nom", "lit", "année de naissance", "identifiant", "IPP", "INS", "passeport"):
        assert word in label, word
    placeholder = re.search(r'id="top-q"[^>]*placeholder="([^"]*)"', french, re.S)[1]
    for word in ("Nom", "lit", "année", "IPP", "INS", "passeport"):
        assert word in placeholder, word
    english = nurse.get("/patients?lang=en").text
    label = re.search(r'<label for="q">(.*?)</label>', english, re.S)[1]
    for word in ("Name", "bed", "year", "any identifier", "MRN", "INS", "passport"):
        assert word in label, word
    placeholder = re.search(r'id="top-q"[^>]*placeholder="([^"]*)"', english, re.S)[1]
    assert "passport" in placeholder and "year" in placeholder
