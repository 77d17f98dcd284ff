"""Who the patients admitted during the downtime are in the restored HIS
(wayback/downtime_patients.py, `releve journal identities`), against the demo HIS on loopback.

The journal holds admissions as the ward's form makes them (journal/kinds/movement.py);
the HIS holds patients some of whom are the same people, written differently.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from starlette.responses import Response

from releve import clock
from releve.demo.his.server import create_app
from releve.demo.his.store import Store
from releve.fhir.client import FhirClient
from releve.journal.book import Journal
from releve.journal.entry import Author, Entry
from releve.journal.fates import Fate, Fates
from releve.journal.index import since
from releve.journal.kinds import Context, movement
from releve.wayback import downtime_patients as identity

from conftest import run_releve
from helpers import serving

IPP_SYSTEM = "urn:oid:1.2.250.1.71.4.2.7"
INS = movement.INS_SYSTEM
PI = {"coding": [{"system": movement.V2_0203, "code": "PI"}]}


def ins_number(first13: str) -> str:
    """A valid INS-NIR: the 13 digits and their key."""
    return f"{first13}{97 - int(first13) % 97:02d}"


DELORME_INS = ins_number("2510375056012")
TWIN_INS = ins_number("1700175056099")


def his_patient(pid: str, family: str, given: list[str], birth: str, gender: str,
                ins: str = "", ipp: str = "") -> dict:
    identifiers = [{"type": PI, "system": IPP_SYSTEM, "value": ipp}] if ipp else []
    if ins:
        identifiers.append({"system": INS, "value": ins})
    return {"resourceType": "Patient", "id": pid, "identifier": identifiers,
            "name": [{"use": "official", "family": family, "given": given}],
            "gender": gender, "birthDate": birth}


HIS_PATIENTS = [
    # known by INS; the ward typed a shorter family name
    his_patient("his-delorme", "Delorme-Roux", ["Agathe"], "1951-03-12", "female",
                ins=DELORME_INS, ipp="100001"),
    # known by traits: accents and case differ from what the ward typed
    his_patient("his-lemaitre", "Lemaître", ["Hélène"], "1962-05-04", "female", ipp="100002"),
    # born the same day, another name: found by a search by birth date, never proposed
    his_patient("his-bernard", "Bernard", ["Sophie"], "1962-05-04", "female"),
    # same names, another birth date: never proposed
    his_patient("his-lemaitre-62", "Lemaître", ["Hélène"], "1962-05-05", "female"),
    # the HIS holds two records of one person (a duplicate of the HIS's own)
    his_patient("his-martin-a", "Martin", ["Paul"], "1970-01-01", "male"),
    his_patient("his-martin-b", "MARTIN", ["Paul"], "1970-01-01", "male"),
    # one INS on two records
    his_patient("his-twin-a", "Roux", ["Léa"], "1970-01-09", "female", ins=TWIN_INS),
    his_patient("his-twin-b", "Roux", ["Lea"], "1970-01-09", "female", ins=TWIN_INS),
]


@pytest.fixture
def his(tmp_path: Path) -> Iterator[str]:
    """The demo HIS holding HIS_PATIENTS, served on loopback."""
    store = Store(tmp_path / "his.db")
    assert store.load(HIS_PATIENTS) == len(HIS_PATIENTS)
    with serving(create_app(store, export_dir=tmp_path / "exports"), seconds=10) as url:
        yield url


def refusing(app, parameter: str):
    """The server, except that it refuses (400) a Patient search by `parameter`, as a
    server that does not support it must."""
    async def wrapped(scope, receive, send):
        if scope["type"] == "http" and scope["path"].endswith("/Patient") and \
                f"{parameter}=".encode() in scope.get("query_string", b""):
            body = orjson.dumps({"resourceType": "OperationOutcome", "issue": [
                {"severity": "error", "code": "not-supported",
                 "diagnostics": f"search parameter {parameter} is not supported"}]})
            await Response(body, 400, media_type="application/fhir+json")(scope, receive, send)
            return
        await app(scope, receive, send)
    return wrapped


class Ward:
    """A station's journal, and admissions as the ward's form writes them."""

    def __init__(self, station: Path):
        self.dir = station
        self.journal = Journal(station)
        self.next_ipp = 900001

    def admit(self, family: str, given: str, birth: str, sex: str, ins: str = "") -> str:
        context = Context(clock.now(), "Europe/Paris", "", "nurse")
        ipp, self.next_ipp = self.next_ipp, self.next_ipp + 1
        drafts = movement.admission_from_form(
            {"family": family, "given": given, "birth_date": birth, "sex": sex, "ins": ins,
             "class": "EMER", "bed": "b1", "ipp": str(ipp), "stay": str(7700000 + ipp - 900000),
             "ipp_system": IPP_SYSTEM, "stay_system": "urn:test:stay"},
            context, {"b1": ("Box 1", "urg")})
        self.journal.append(drafts, Author("inf1", "Infirmière Une", "nurse"))
        return drafts[0].patient or ""

    def entries(self) -> list[Entry]:
        return list(since(self.journal.db(), None))

    def patients(self) -> dict[str, dict]:
        return identity.downtime_patients(self.entries())


@pytest.fixture
def ward(tmp_path: Path) -> Ward:
    station = tmp_path / "station"
    station.mkdir()
    return Ward(station)


def proposal_for(url: str, ward: Ward, ref: str):
    client = FhirClient(url)
    try:
        return identity.propose(client, ward.patients()[ref])
    finally:
        client.close()


# --- the search ------------------------------------------------------------------------------------


def test_the_admissions_patients_are_the_downtime_patients(ward):
    """The form gives the Patient an id of its own, not its journal identifier's uuid."""
    agathe = ward.admit("Delorme", "Agathe", "1951-03-12", "female", DELORME_INS)
    nobody = ward.admit("Nouveau", "Jean", "1990-02-02", "male")
    patients = ward.patients()
    assert sorted(patients) == sorted([agathe, nobody])
    assert patients[agathe]["name"][0]["family"] == "Delorme"
    assert identity.downtime_ipp(patients[agathe]) == "900001"


def test_an_ins_found_once_is_a_match_on_the_ins(his, ward):
    ref = ward.admit("Delorme", "Agathe", "1951-03-12", "female", DELORME_INS)
    found = proposal_for(his, ward, ref)
    assert (found.patient, found.proposal, found.basis, found.his) == (
        ref, "match", "ins", "Patient/his-delorme")
    assert identity.people(found.candidates) == [
        {"his": "Patient/his-delorme", "name": "DELORME-ROUX Agathe", "family": "Delorme-Roux",
         "given": "Agathe", "birthDate": "1951-03-12", "gender": "female", "ipp": "100001",
         "ins": DELORME_INS}]


def test_traits_match_across_accents_and_case_but_not_another_birth_date(his, ward):
    ref = ward.admit("LEMAITRE", "helene", "1962-05-04", "female")
    found = proposal_for(his, ward, ref)
    assert (found.proposal, found.basis, found.his) == ("match", "traits", "Patient/his-lemaitre")
    assert [p["his"] for p in identity.people(found.candidates)] == ["Patient/his-lemaitre"]
    assert "no INS recorded at admission" in identity.notes(found.candidates)


def test_two_his_records_for_the_traits_are_for_a_person_to_choose(his, ward):
    ref = ward.admit("Martin", "Paul", "1970-01-01", "male")
    found = proposal_for(his, ward, ref)
    assert (found.proposal, found.basis, found.his) == ("ambiguous", "traits", None)
    assert sorted(p["his"] for p in identity.people(found.candidates)) == [
        "Patient/his-martin-a", "Patient/his-martin-b"]
    assert any("a person must choose" in note for note in identity.notes(found.candidates))


def test_one_ins_on_two_his_records_is_ambiguous_not_a_creation(his, ward):
    ref = ward.admit("Roux", "Léa", "1970-01-09", "female", TWIN_INS)
    found = proposal_for(his, ward, ref)
    assert (found.proposal, found.basis, found.his) == ("ambiguous", "ins", None)
    assert sorted(p["his"] for p in identity.people(found.candidates)) == [
        "Patient/his-twin-a", "Patient/his-twin-b"]


def test_nobody_found_is_a_creation(his, ward):
    ref = ward.admit("Nouveau", "Jean", "1990-02-02", "male", ins_number("1900275056123"))
    found = proposal_for(his, ward, ref)
    assert (found.proposal, found.basis, found.his) == ("create", "none", None)
    assert identity.people(found.candidates) == []
    assert identity.notes(found.candidates) == ["no HIS patient has this INS",
                                                "no HIS patient has these names and birth date"]


def test_a_server_refusing_the_ins_search_falls_back_to_traits(tmp_path, ward):
    store = Store(tmp_path / "his.db")
    store.load(HIS_PATIENTS)
    app = refusing(create_app(store, export_dir=tmp_path / "exports"), "identifier")
    ref = ward.admit("Lemaître", "Hélène", "1962-05-04", "female", ins_number("2620575056077"))
    with serving(app, seconds=10) as url:
        found = proposal_for(url, ward, ref)
    assert (found.proposal, found.basis, found.his) == ("match", "traits", "Patient/his-lemaitre")
    assert identity.notes(found.candidates) == [
        "the HIS refused the search by INS (HTTP 400: search parameter identifier is not "
        "supported): fell back to the next rule"]


# --- the command ---------------------------------------------------------------------------------


def identities(ward: Ward, *args: str, check: bool = True, user: str = "cadre-urg"):
    return run_releve("journal", "identities", *args, "--station", ward.dir, check=check,
                      env={"LOGNAME": user, "USER": user})


def test_list_confirm_and_confirm_proposed(his, ward):
    agathe = ward.admit("Delorme", "Agathe", "1951-03-12", "female", DELORME_INS)
    helene = ward.admit("LEMAITRE", "helene", "1962-05-04", "female")
    paul = ward.admit("Martin", "Paul", "1970-01-01", "male")
    before = identities(ward, "list").stdout.decode()
    assert f"{agathe}  IPP 900001  DELORME Agathe  born 1951-03-12" in before
    assert "proposal: none yet" in before

    listed = identities(ward, "list", "--fhir", his).stdout.decode()
    assert "proposal: match Patient/his-delorme (basis ins)" in listed
    assert "proposal: match Patient/his-lemaitre (basis traits)" in listed
    assert "proposal: ambiguous (basis traits)" in listed
    assert "candidate Patient/his-martin-b: MARTIN Paul, born 1970-01-01, male, IPP -, INS -" in listed
    assert listed.count("decision: none") == 3
    assert "3 patients admitted during the downtime: 0 decided, 3 waiting for a decision" in listed

    accepted = run_releve("journal", "identities", "--station", ward.dir, "confirm-proposed",
                          env={"LOGNAME": "cadre-urg", "USER": "cadre-urg"}).stdout.decode()
    assert f"accepted {agathe} (IPP 900001, DELORME Agathe): match Patient/his-delorme" in accepted
    assert "1 proposals accepted" in accepted
    held = Fates(ward.dir).identities()
    assert (held[agathe].decision, held[agathe].decided_his, held[agathe].decided_by) == (
        "match", "Patient/his-delorme", "cadre-urg")
    assert held[helene].decision is None and held[paul].decision is None  # traits: a person looks

    identities(ward, "confirm", "900003", "--his", "Patient/his-martin-b", user="dr-house")
    identities(ward, "confirm", helene, "--create")
    held = Fates(ward.dir).identities()
    assert (held[paul].decision, held[paul].decided_his, held[paul].decided_by) == (
        "match", "Patient/his-martin-b", "dr-house")
    assert (held[helene].decision, held[helene].decided_his) == ("create", None)
    after = identities(ward, "list", "--fhir", his).stdout.decode()  # decisions survive a search
    assert "decision: match Patient/his-martin-b by dr-house" in after
    assert "decision: create by cadre-urg" in after
    assert "3 patients admitted during the downtime: 3 decided, 0 waiting for a decision" in after


def test_confirm_refuses_what_it_cannot_take(his, ward):
    ref = ward.admit("Martin", "Paul", "1970-01-01", "male")
    early = identities(ward, "confirm", ref, "--create", check=False)
    assert early.returncode == 1 and b"no proposal for" in early.stderr
    identities(ward, "list", "--fhir", his)
    for args, code, said in (([ref, "--his", "his-martin-a"], 2, b"--his must be Patient/<id>"),
                             ([ref], 2, b"give --his Patient/<id> or --create"),
                             ([ref, "--create", "--his", "Patient/x"], 2, b"one of them"),
                             (["123456", "--create"], 1, b"nor a downtime IPP")):
        refused = identities(ward, "confirm", *args, check=False)
        assert (refused.returncode, said in refused.stderr) == (code, True), refused.stderr
    assert Fates(ward.dir).identities()[ref].decision is None


def test_a_decision_is_fixed_once_reconcile_filed_under_it(his, ward):
    ref = ward.admit("Martin", "Paul", "1970-01-01", "male")
    other = ward.admit("Nouveau", "Jean", "1990-02-02", "male")
    identities(ward, "list", "--fhir", his)
    identities(ward, "confirm", ref, "--his", "Patient/his-martin-a")
    identities(ward, "confirm", ref, "--his", "Patient/his-martin-b")  # nothing filed: may change
    identities(ward, "confirm", other, "--create")
    stay = next(e for e in ward.entries() if e.patient == ref and e.resource["resourceType"] == "Encounter")
    fates = Fates(ward.dir)
    run = fates.start_run(his)
    fates.record([Fate(stay.key, "filed", "Encounter/his-stay-1")],
                 [(stay.identifier or "", "Encounter/his-stay-1", stay.key)], run)
    fates.close()
    refused = identities(ward, "confirm", "900001", "--create", check=False)
    assert refused.returncode == 1
    said = refused.stderr.decode()
    assert "reconcile has filed 1 entries" in said and stay.key in said
    assert Fates(ward.dir).identities()[ref].decided_his == "Patient/his-martin-b"
    identities(ward, "confirm", ref, "--his", "Patient/his-martin-b")  # the same decision again
    identities(ward, "confirm", other, "--his", "Patient/his-martin-a")  # other patient: free
    assert Fates(ward.dir).identities()[other].decided_his == "Patient/his-martin-a"


def test_a_namesake_with_another_ins_is_not_proposed(his, ward):
    """Same names and birth date as two HIS records, but the ward read another INS from
    the patient's card: a different person, to be created."""
    ref = ward.admit("Roux", "Lea", "1970-01-09", "female", ins_number("2700175056044"))
    found = proposal_for(his, ward, ref)
    assert (found.proposal, found.basis, found.his) == ("create", "none", None)
    assert identity.notes(found.candidates) == [
        "no HIS patient has this INS",
        "HIS patients with these names and birth date but another INS, not proposed: "
        "Patient/his-twin-a, Patient/his-twin-b"]


def test_a_server_whose_name_search_compares_accents(tmp_path, ward):
    """Medplum's engine (not ours) matches "LEMAITRE" to no "Lemaître": the patient is
    found among those born that day, the names compared here; the INS search works as
    the spec says."""
    from test_capture_engine import running_engine

    with running_engine(tmp_path / "engine.log") as base:
        his_ids = {}
        for patient in HIS_PATIENTS:
            created = httpx.post(f"{base}/Patient", content=orjson.dumps(
                {k: v for k, v in patient.items() if k != "id"}),
                headers={"content-type": "application/fhir+json"})
            assert created.status_code == 201, created.text
            his_ids[patient["id"]] = f"Patient/{created.json()['id']}"
        helene = ward.admit("LEMAITRE", "helene", "1962-05-04", "female")
        agathe = ward.admit("Delorme", "Agathe", "1951-03-12", "female", DELORME_INS)
        by_name = proposal_for(base, ward, helene)
        by_ins = proposal_for(base, ward, agathe)
    assert (by_name.proposal, by_name.basis, by_name.his) == ("match", "traits", his_ids["his-lemaitre"])
    assert identity.notes(by_name.candidates)[-1].startswith("found among the HIS patients born that day")
    assert (by_ins.proposal, by_ins.basis, by_ins.his) == ("match", "ins", his_ids["his-delorme"])
