"""Finding a patient as other hospitals' data identifies them: by any identifier they carry
(a national id, a social security number, a passport, another system's record number),
by a year of birth, by a name typed as one word or with a title; and resources whose
subject is a Patient they contain, filed under the right patient or their own, never lost.

The FHIR is written here by hand from the R4 definitions (Patient.identifier with system
and type, `contained` resources referenced as "#id"); the station is real: `releve
import`, a vault, a sync in a process of its own (test_station_search.py's `_station`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest

from releve.station.index.schema import FORMAT
from releve.station.views.search import search
from releve.station.views.summary import summary
from test_station_search import _station, _sync

from conftest import run_releve

PASSPORT = "http://hl7.org/fhir/sid/passport-FRA"
OTHER_MRN = "http://chu-autre.example/fhir/mrn"
SSN = "http://hl7.org/fhir/sid/us-ssn"
LAB = "http://lab.example/patient-id"
CLINIC = "http://clinic.example/id"


def ident(system: str, value: str, code: str | None = None) -> dict:
    found: dict = {"system": system, "value": value}
    if code:
        found["type"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                     "code": code}]}
    return found


def patient(pid: str, family: str, given: str, born: str, *identifiers: dict) -> dict:
    return {"resourceType": "Patient", "id": pid, "birthDate": born,
            "name": [{"use": "official", "family": family, "given": [given]}],
            "identifier": list(identifiers)}


PEOPLE = [
    patient("p-dupont", "Dupont", "Marie", "1948-03-12",
            ident("urn:oid:1.2.250.1.71.4.2.1", "700123", "PI"),
            ident("urn:oid:1.2.250.1.213.1.4.8", "248037512345678"),
            ident(PASSPORT, "19AB12345", "PPN"),
            ident(OTHER_MRN, "884211", "MR"),
            ident(SSN, "999-45-6789", "SS")),
    patient("p-martin", "Martin", "Jean", "1948-11-02", ident("urn:oid:1.2.250.1.71.4.2.1", "700124", "PI")),
    patient("p-dupont2", "Dupont", "Pierre", "1950-06-01",
            ident("urn:oid:1.2.250.1.71.4.2.1", "700125", "PI"), ident(OTHER_MRN, "884212", "MR")),
    patient("p-twin-a", "Bernard", "Luc", "1975-01-01", ident(LAB, "LAB-42")),
    patient("p-twin-b", "Bernard", "Léa", "1975-01-01", ident(LAB, "LAB-42")),
]


def observation(oid: str, contained: dict | None, reference: str = "#pat") -> dict:
    found = {"resourceType": "Observation", "id": oid, "status": "final",
             "code": {"text": "Glycémie"}, "subject": {"reference": reference}}
    if contained is not None:
        found["contained"] = [contained]
    return found


def guest(family: str, given: str, *identifiers: dict) -> dict:
    """A Patient as another system sends it inside the resource it is the subject of."""
    return {"resourceType": "Patient", "id": "pat", "name": [{"family": family, "given": [given]}],
            "birthDate": "1961-07-14", "identifier": list(identifiers)}


CONTAINING = [
    # the index's p-dupont carries this identifier: filed under her
    observation("obs-known", guest("DUPONT", "M", ident(OTHER_MRN, "884211"))),
    # no patient of the index carries it: a patient of its own, the same for both
    observation("obs-alone", guest("Leroy", "Paul", ident(CLINIC, "C-7"))),
    observation("obs-alone-2", guest("Leroy", "Paul", ident(CLINIC, "C-7"))),
    # two patients carry it: neither is chosen
    observation("obs-twin", guest("Bernard", "L", ident(LAB, "LAB-42"))),
    # no identifier at all: its own patient, found by name
    observation("obs-noid", guest("Garnier", "Odile")),
    # a "#" reference to something that is not a contained Patient: no patient, no error
    observation("obs-group", {"resourceType": "Group", "id": "pat", "type": "person", "actual": True}),
]


STAY = {"resourceType": "Encounter", "id": "enc-known", "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "contained": [guest("DUPONT", "M", ident(OTHER_MRN, "884211"))],
        "subject": {"reference": "#pat"}}


def ndjson(path: Path, resources: list[dict]) -> None:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in resources))


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory) -> sqlite3.Connection:
    root = tmp_path_factory.mktemp("search-identifiers")
    export = root / "export"
    export.mkdir()
    ndjson(export / "Patient.ndjson", PEOPLE)
    ndjson(export / "Observation.ndjson", CONTAINING)
    ndjson(export / "Encounter.ndjson", [STAY])
    conn = _station(root, export)
    yield conn
    conn.close()


def ids(conn: sqlite3.Connection, text: str) -> list[str]:
    return [hit.id for hit in search(conn, text)]


# --- any identifier -------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "19AB12345", "19ab12345", "19 AB 12345", "passeport 19AB12345", "Passport: 19AB12345",
    "PPN 19-AB-12345",                                   # a passport
    "999-45-6789", "999456789", "SSN 999 45 6789",       # a social security number
    "884211", "MRN 884211",                              # another hospital's record number
])
def test_any_identifier_finds_the_one_patient(station, text):
    hits = search(station, text)
    assert [(h.id, h.why) for h in hits] == [("p-dupont", "identifier")]


def test_ipp_and_ins_are_still_named_as_such(station):
    assert [(h.id, h.why) for h in search(station, "700123")] == [("p-dupont", "ipp")]
    assert [(h.id, h.why) for h in search(station, "2 48 03 75 123 456 78")] == [("p-dupont", "ins")]


def test_an_identifier_several_patients_carry_finds_them_all(station):
    """Both twins, and the patient obs-twin's contained Patient stands for (filed under
    neither twin, below)."""
    found = sorted(ids(station, "LAB-42"))
    assert found[1:] == ["p-twin-a", "p-twin-b"] and found[0] == filed(station)["obs-twin"]


def test_a_piece_of_an_identifier_finds_no_one(station):
    """Identity vigilance: part of a number, or a number after words that are not a kind
    of identifier, is nobody's."""
    assert ids(station, "8842") == [] and ids(station, "19AB") == []
    assert ids(station, "dupont 884211") == []


# --- year of birth --------------------------------------------------------------------------


def test_a_year_of_birth_finds_those_born_that_year(station):
    hits = search(station, "1948")
    assert sorted(h.id for h in hits) == ["p-dupont", "p-martin"]
    assert {h.why for h in hits} == {"birth year"}


def test_a_year_of_birth_with_a_name(station):
    assert ids(station, "dupont 1948") == ["p-dupont"]
    assert ids(station, "1950 Dupont") == ["p-dupont2"]
    assert ids(station, "marie 1950") == []


# --- names ----------------------------------------------------------------------------------


def test_a_name_in_capitals_or_with_the_given_name(station):
    assert sorted(ids(station, "DUPONT")) == ["p-dupont", "p-dupont2"]
    assert ids(station, "marie dupont")[0] == "p-dupont"
    assert ids(station, "Dupont Marie")[0] == "p-dupont"


@pytest.mark.parametrize("text", ["dupontmarie", "mariedupont", "DUPONTMARIE"])
def test_a_name_typed_as_one_word(station, text):
    assert ids(station, text) == ["p-dupont"]


@pytest.mark.parametrize("title", ["mme", "Mme.", "M.", "mr", "Mlle", "madame", "Dr", "Pr"])
def test_a_title_before_the_name_is_passed_over(station, title):
    assert ids(station, f"{title} Martin") == ["p-martin"]
    assert ids(station, f"{title} marie dupont") == ids(station, "marie dupont")


# --- contained Patients ---------------------------------------------------------------------


def filed(conn: sqlite3.Connection) -> dict[str, str | None]:
    return dict(conn.execute("SELECT id, patient FROM records WHERE type = 'Observation'"))


def test_a_contained_patient_with_a_known_identifier_is_that_patient(station):
    assert filed(station)["obs-known"] == "p-dupont"
    page = summary(station, "p-dupont")
    assert page is not None


def test_a_stay_of_a_contained_patient_is_that_patients_stay(station):
    assert station.execute("SELECT patient, current FROM stays WHERE encounter = 'enc-known'"
                           ).fetchone() == ("p-dupont", 1)
    assert station.execute("SELECT patient FROM records WHERE id = 'enc-known'").fetchone() == ("p-dupont",)


def test_a_contained_patient_no_one_carries_is_a_patient_of_its_own(station):
    where = filed(station)
    alone = where["obs-alone"]
    assert alone is not None and alone.startswith("contained-")
    assert where["obs-alone-2"] == alone  # the same person, as identified
    hits = search(station, "leroy paul")
    assert [h.id for h in hits] == [alone]
    assert (hits[0].family, hits[0].given, hits[0].birth_date) == ("Leroy", "Paul", "1961-07-14")
    page = summary(station, alone)
    assert page is not None


def test_an_identifier_two_patients_carry_files_under_neither(station):
    twin = filed(station)["obs-twin"]
    assert twin not in ("p-twin-a", "p-twin-b") and twin is not None
    assert twin.startswith("contained-")


def test_a_contained_patient_without_identifiers_is_never_lost(station):
    noid = filed(station)["obs-noid"]
    assert noid is not None and noid.startswith("contained-")
    assert ids(station, "garnier") == [noid]
    assert filed(station)["obs-group"] is None  # a contained Group is no patient


def test_a_build_through_the_workers_files_them_the_same(tmp_path, station):
    """A large segment is parsed by worker processes that leave the rows in their stages
    (records/stages.py): forced here on small blocks, it files every resource as the
    in-process build of the fixture did."""
    export = tmp_path / "export"
    export.mkdir()
    ndjson(export / "Patient.ndjson", PEOPLE)
    ndjson(export / "Observation.ndjson", CONTAINING)
    forced = ("import releve.station.records.parser as parser; parser.PARALLEL_FROM = 0; "
              "parser.BLOCK = 512; ")
    _station(tmp_path, export).close()  # in process: the first sync
    for path in (tmp_path / "station" / "index").iterdir():  # start again, through the workers
        path.unlink()
    conn = _sync(tmp_path, forced)
    assert filed(conn) == filed(station)
    assert ids(conn, "leroy") == ids(station, "leroy") and ids(conn, "19AB12345") == ["p-dupont"]
    conn.close()


def test_a_delta_files_contained_subjects_again(tmp_path):
    """The patient a contained Patient's identifier designates can arrive, or go, later:
    each apply files its resources again."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    ndjson(first / "Patient.ndjson", PEOPLE)
    ndjson(first / "Observation.ndjson", CONTAINING)
    ndjson(first / "Encounter.ndjson", [STAY])
    _station(tmp_path, first).close()
    leroy = patient("p-leroy", "Leroy", "Paul", "1961-07-14", ident(CLINIC, "C-7"))
    ndjson(second / "Patient.ndjson", [leroy])
    (second / "deletions.json").write_bytes(orjson.dumps({
        "resourceType": "Bundle", "type": "transaction",
        "entry": [{"request": {"method": "DELETE", "url": "Patient/p-dupont"}}]}))
    run_releve("import", "--vault", tmp_path / "vault", "--signing-key",
               tmp_path / "keys" / "capture.minisign.key", "--state", tmp_path / "state", second)
    conn = _sync(tmp_path)
    where = filed(conn)
    assert where["obs-alone"] == where["obs-alone-2"] == "p-leroy"
    assert ids(conn, "leroy paul") == ["p-leroy"]  # the patient it stood for is gone
    assert where["obs-known"] is not None and where["obs-known"].startswith("contained-")
    assert ids(conn, "19AB12345") == []
    stay = conn.execute("SELECT patient FROM stays WHERE encounter = 'enc-known'").fetchone()[0]
    assert stay == where["obs-known"]  # the same person, as identified: one patient
    assert conn.execute("SELECT count(*) FROM patients WHERE id LIKE 'contained-%'").fetchone() == (3,)
    conn.close()


def test_an_index_of_the_previous_format_is_rebuilt_with_identifiers(tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    ndjson(export / "Patient.ndjson", PEOPLE)
    conn = _station(tmp_path, export)
    generation = conn.execute("PRAGMA database_list").fetchone()[2]
    conn.close()
    old = sqlite3.connect(generation)
    old.execute("UPDATE meta SET value = '3' WHERE key = 'format'")
    old.execute("DELETE FROM patient_ids")
    old.commit()
    old.close()
    conn = _sync(tmp_path)
    assert conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone() == (FORMAT,)
    assert ids(conn, "19AB12345") == ["p-dupont"]
    conn.close()


def test_the_page_of_a_patient_a_contained_patient_stands_for(tmp_path):
    """Found by search on the station's pages, it opens with the contained Patient's
    name and its resources."""
    from test_station_web import add_users, station_site

    export = tmp_path / "export"
    export.mkdir()
    ndjson(export / "Patient.ndjson", PEOPLE)
    ndjson(export / "Observation.ndjson", CONTAINING)
    conn = _station(tmp_path, export)
    alone = filed(conn)["obs-alone"]
    conn.close()
    add_users(tmp_path / "station")
    with station_site(tmp_path / "station") as site:
        nurse = site.login("nurse")
        found = nurse.get("/patients", params={"q": "leroy"})
        assert found.status_code == 200 and f'href="/patients/{alone}"' in found.text
        page = nurse.get(f"/patients/{alone}")
        assert page.status_code == 200
        assert "LEROY" in page.text.upper() and "Glycémie" in page.text
