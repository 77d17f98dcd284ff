"""ADT messages to Patient, Encounter, Location and Practitioner (mapping/adt.py), read
back through the station's own projections, as the station would show them.

The messages (tests/data/hl7/pam-*.hl7) are PAM France shaped (ZBE movements, INS in
PID-3, PID-32, ZFM) and, in pam-vendor-*, shaped as another vendor's HL7 2.3.1 feed
(no ZBE, MR numbers under a namespace, ISO 8859-1, \\r\\n terminators)."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from releve.capture.hl7 import datatypes
from releve.capture.hl7.mapping import ids
from releve.capture.hl7.mapping.adt import stay_resources
from releve.capture.hl7.message import Message, read
from releve.station.records.projections import patient_row, stay_row

DATA = Path(__file__).parent / "data" / "hl7"


def load(name: str, count: int | None = None) -> list[Message]:
    """The file's messages (its first `count`: those arrived so far), sorted as the
    segment writer sorts them: by event time, then by log sequence (here, their place
    in the file)."""
    raws = [r for r in re.split(rb"(?:\r?\n){2,}", (DATA / name).read_bytes()) if r.strip()]
    messages = [read(raw.strip()) for raw in raws[:count]]
    order = sorted(range(len(messages)), key=lambda i: (datatypes.order_key(messages[i]), i))
    return [messages[i] for i in order]


def of(resources: list[dict], rtype: str) -> list[dict]:
    return [r for r in resources if r["resourceType"] == rtype]


def by_id(resources: list[dict]) -> dict[str, dict]:
    return {f"{r['resourceType']}/{r['id']}": r for r in resources}


def where(resources: list[dict], encounter: dict) -> tuple[str, ...] | None:
    """The names of the station's current location of a stay and of what it is part
    of: ("Lit 205 2", "Chambre 205", "Pneumologie") for bed 2 of room 205 of that ward."""
    current = stay_row(encounter, None)[6]
    if current is None:
        return None
    found = by_id(resources)
    names, here = [], found[f"Location/{current}"]
    while True:
        names.append(here["name"])
        if "partOf" not in here:
            return tuple(names)
        here = found[here["partOf"]["reference"]]


def entries(encounter: dict, ward: str, resources: list[dict]) -> list[dict]:
    """The stay's location entries in that ward (named as the ward Location is)."""
    found = by_id(resources)

    def ward_of(ref: str) -> str:
        here = found[ref]
        while "partOf" in here:
            here = found[here["partOf"]["reference"]]
        return here["name"]
    return [e for e in encounter.get("location", []) if ward_of(e["location"]["reference"]) == ward]


SURVIVOR = "2.999.33.1.1|100234"


def test_pam_stay_ends_where_the_undone_movements_leave_it():
    messages = load("pam-stay.hl7")
    resources = stay_resources(messages, SURVIVOR)
    [patient], [stay] = of(resources, "Patient"), of(resources, "Encounter")
    assert patient["id"] == ids.patient(SURVIVOR)
    assert stay["subject"] == {"reference": f"Patient/{patient['id']}"}
    # A13 took the discharge back: in progress again, no end, no exit mode
    assert stay["status"] == "in-progress"
    assert stay["period"] == {"start": "2026-03-02T08:00:00+01:00"}
    assert stay["class"]["code"] == "IMP"
    assert stay["hospitalization"] == {"admitSource": {"coding": [{"code": "8"}], "text": "Domicile"}}
    # A12 cancelled the transfer to intensive care: back in the lung ward's bed
    assert where(resources, stay) == ("Lit 205 2", "Chambre 205", "Pneumologie")
    assert not [loc for loc in of(resources, "Location") if loc["name"] == "Réanimation polyvalente"]
    cardio = entries(stay, "Cardiologie", resources)
    assert {e["physicalType"]["coding"][0]["code"] for e in cardio} == {"wa", "ro", "bd"}
    assert all(e["status"] == "completed" for e in cardio)
    assert {e["period"]["end"] for e in cardio} == {"2026-03-03T14:00:00+01:00"}
    assert stay["identifier"][0]["value"] == "26000123"
    assert stay["identifier"][0]["system"] == "urn:oid:2.999.33.1.2"
    row = stay_row(stay, patient["id"])
    assert row[2:6] == ("in-progress", "IMP", "2026-03-02T08:00:00+01:00", None)
    assert row[8] == 1  # current
    [doctor] = of(resources, "Practitioner")
    assert row[7] == doctor["id"] and doctor["name"][0]["family"] == "MARTIN"
    assert stay["serviceType"] == {"text": "Pneumologie"}


@pytest.mark.parametrize(("count", "status", "place"), [
    (1, "planned", None),                                   # A05: planned entries only
    (2, "in-progress", ("Lit 101 1", "Chambre 101", "Cardiologie")),         # A01
    (4, "in-progress", ("Lit 3 1", "Chambre 3", "Réanimation polyvalente")),  # A02, A02
    (5, "in-progress", ("Lit 205 2", "Chambre 205", "Pneumologie")),         # A12 cancels the second
    (6, "onleave", ("Lit 205 2", "Chambre 205", "Pneumologie")),             # A21 keeps the bed
    (7, "in-progress", ("Lit 205 2", "Chambre 205", "Pneumologie")),         # A22
    (8, "finished", None),                                   # A03
])
def test_pam_stay_step_by_step(count, status, place):
    messages = load("pam-stay.hl7")[:count]
    resources = stay_resources(messages, SURVIVOR)
    [stay] = of(resources, "Encounter")
    assert stay["status"] == status
    assert where(resources, stay) == place
    if status == "finished":
        assert stay["period"]["end"] == "2026-03-07T11:00:00+01:00"
        assert stay["hospitalization"]["dischargeDisposition"]["text"] == "Domicile"
        assert stay_row(stay, None)[8] == 0
    if status == "planned":
        assert {e["status"] for e in stay["location"]} == {"planned"}
        assert stay_row(stay, None)[8] == 1  # a pre-admission is on the census to come


def test_pam_patient_identity():
    [patient] = of(stay_resources(load("pam-stay.hl7"), SURVIVOR), "Patient")
    ipp = next(i for i in patient["identifier"] if i["value"] == "100234")
    assert ipp["use"] == "usual" and ipp["system"] == "urn:oid:2.999.33.1.1"
    assert ipp["type"]["coding"][0]["code"] == "PI"
    ins = next(i for i in patient["identifier"] if i["value"] == "265047512345612")
    assert ins["system"] == "urn:oid:1.2.250.1.213.1.4.10" and ins["use"] == "official"
    [status] = patient["extension"][0]["extension"]
    assert status["valueCoding"]["code"] == "QUAL"
    # the birth name is official (what the station shows), the used name usual
    assert patient["name"][0]["use"] == "official" and patient["name"][0]["family"] == "DURAND"
    assert patient["name"][0]["given"][0] == "Élodie"
    assert patient["name"][1]["use"] == "usual" and patient["name"][1]["family"] == "LEFÈVRE"
    row = patient_row(patient)
    assert row[1:3] == ("DURAND", " ".join(patient["name"][0]["given"]))
    assert "lefevre" in row[3]  # the used name is searchable
    assert row[4:8] == ("1965-04-12", "female", "100234", "265047512345612")
    assert patient["address"][0]["city"] == "Tours"


def test_unqualified_ins_is_kept_but_not_official():
    [patient] = of(stay_resources(load("pam-update.hl7"), "2.999.33.1.1|100300"), "Patient")
    ins = next(i for i in patient["identifier"] if i["value"] == "180017512345678")
    assert "use" not in ins
    assert patient["extension"][0]["extension"][0]["valueCoding"]["code"] == "PROV"
    assert patient_row(patient)[7] == "180017512345678"


def test_pam_update_corrects_the_movement_it_names():
    messages = load("pam-update.hl7")
    for order in (messages, [messages[0], messages[2], messages[1]]):
        resources = stay_resources(order, "2.999.33.1.1|100300")
        [stay] = of(resources, "Encounter")
        assert where(resources, stay) == ("Lit 206 1", "Chambre 206", "Pneumologie")
        assert not [loc for loc in of(resources, "Location") if loc["name"] == "Chambre 205"]
        cardio = entries(stay, "Cardiologie", resources)
        assert {e["period"]["end"] for e in cardio} == {"2026-03-03T14:30:00+01:00"}


def test_a11_cancels_the_admission():
    resources = stay_resources(load("pam-cancel-admit.hl7"), "2.999.33.1.1|100400")
    [stay] = of(resources, "Encounter")
    assert stay["status"] == "cancelled"
    row = stay_row(stay, None)
    assert row[6] is None and row[8] == 0
    [patient] = of(resources, "Patient")
    assert patient["name"][0]["given"] == ["Anaïs"]
    # the cancellation alone (its admission came before the capture began)
    [stay] = of(stay_resources(load("pam-cancel-admit.hl7")[1:], "2.999.33.1.1|100400"), "Encounter")
    assert stay["status"] == "cancelled"


def test_a_transfer_recorded_before_the_admission_lands_after_it():
    messages = load("pam-late-admission.hl7")
    assert [datatypes.value(m, datatypes.segments(m, "EVN")[0], 1) for m in messages] == ["A02", "A01"]
    resources = stay_resources(messages, "2.999.33.1.1|100500")
    [stay] = of(resources, "Encounter")
    assert stay["period"]["start"] == "2026-03-02T08:00:00+01:00"
    assert where(resources, stay) == ("Lit 207 1", "Chambre 207", "Pneumologie")
    cardio = entries(stay, "Cardiologie", resources)
    assert cardio and {e["period"]["end"] for e in cardio} == {"2026-03-02T09:30:00+01:00"}
    [patient] = of(resources, "Patient")
    assert patient["birthDate"] == "1950"  # a partial date stays partial


def test_a40_merge_leaves_one_patient_with_every_stay():
    messages = load("pam-merge.hl7")
    merged = "2.999.33.1.1|100600"
    assert messages[-1].merged == merged and messages[-1].patient == SURVIVOR
    resources = stay_resources(messages, SURVIVOR)
    [patient] = of(resources, "Patient")
    assert patient["id"] == ids.patient(SURVIVOR)
    assert patient["name"][0]["given"][0] == "Élodie"  # the survivor's own identity
    old = next(i for i in patient["identifier"] if i["value"] == "100600")
    assert old["use"] == "old"
    assert patient_row(patient)[6] == "100234"
    stays = of(resources, "Encounter")
    assert len(stays) == 2
    assert {s["subject"]["reference"] for s in stays} == {f"Patient/{ids.patient(SURVIVOR)}"}
    consultation = next(s for s in stays if s["class"]["code"] == "AMB")
    assert consultation["status"] == "in-progress"
    assert where(resources, consultation) == ("Consultations",)


def test_other_vendor_undo_by_kind():
    messages = load("pam-vendor-stay.hl7")
    survivor = messages[0].patient
    assert survivor == "HOSP|MRN777"
    steps = {1: ("in-progress", "EMER", ("Emergency department",)),
             2: ("in-progress", "IMP", ("Lit 12 A", "Chambre 12", "MED")),
             3: ("in-progress", "IMP", ("Lit 4 B", "Chambre 4", "SURG")),
             4: ("in-progress", "IMP", ("Lit 12 A", "Chambre 12", "MED")),   # A12: the transfer undone
             5: ("finished", "IMP", None),
             6: ("in-progress", "IMP", ("Lit 12 A", "Chambre 12", "MED"))}   # A13: the discharge undone
    for count, (status, klass, place) in steps.items():
        resources = stay_resources(messages[:count], survivor)
        [stay] = of(resources, "Encounter")
        assert (stay["status"], stay["class"]["code"], where(resources, stay)) == (status, klass, place)
    [patient] = of(resources, "Patient")
    assert patient["name"][0]["family"] == "O'BRIEN"
    assert patient["name"][0]["given"][0] == "Siobhán"
    assert patient["birthDate"] == "1950-03-14"
    assert patient_row(patient)[6] == "MRN777"  # the MR number stands in for the IPP


def test_other_vendor_identifier_change_and_cancelled_admission():
    messages = load("pam-vendor-ins.hl7")
    survivor = "HOSP|MRN999"
    resources = stay_resources(messages, survivor)
    [patient] = of(resources, "Patient")
    assert patient["id"] == ids.patient(survivor)
    assert [(i["value"], i.get("use")) for i in patient["identifier"]] == [
        ("MRN999", None), ("MRN888", "old")]
    assert patient["name"][0]["given"][0] == "Jan Józef"
    assert patient["birthDate"] == "1950-03"
    assert patient["deceasedDateTime"] == "2026-03-12T09:30:00+01:00"
    assert patient_row(patient)[9] == 1
    stays = {s["identifier"][0]["value"]: s for s in of(resources, "Encounter")}
    assert stays["V9100"]["status"] == "cancelled"
    assert stays["V9101"]["status"] == "in-progress"
    assert where(resources, stays["V9101"]) == ("Lit 15 A", "Chambre 15", "MED")
    assert {s["subject"]["reference"] for s in stays.values()} == {f"Patient/{patient['id']}"}


@pytest.mark.parametrize("name", ["pam-stay.hl7", "pam-merge.hl7", "pam-vendor-ins.hl7"])
def test_the_same_messages_give_the_same_bytes(name):
    messages = load(name)
    survivor = messages[-1].patient
    first = orjson.dumps(stay_resources(messages, survivor), option=orjson.OPT_SORT_KEYS)
    again = orjson.dumps(stay_resources(load(name), survivor), option=orjson.OPT_SORT_KEYS)
    assert first == again
    assert b'"v2-' in first
    keys = [f"{r['resourceType']}/{r['id']}" for r in stay_resources(messages, survivor)]
    assert len(keys) == len(set(keys))  # each resource once


def test_a_stay_known_only_from_visit_messages():
    messages = load("pam-vendor-midstay.hl7")
    survivor = "HOSP|MRN555"
    resources = stay_resources(messages[:1], survivor)
    [stay] = of(resources, "Encounter")
    assert (stay["status"], stay["class"]["code"]) == ("in-progress", "IMP")
    assert stay["period"] == {"start": "2026-03-09T16:00:00+01:00"}
    assert where(resources, stay) == ("Chambre 7", "CARD")
    resources = stay_resources(messages, survivor)
    [stay] = of(resources, "Encounter")
    assert (stay["status"], stay["class"]["code"]) == ("in-progress", "AMB")  # A07
    assert where(resources, stay) == ("Chambre 7", "CARD")
    [patient] = of(resources, "Patient")
    assert patient["name"][0]["family"] == "NGUYEN"  # the latest A08's spelling
    assert stay["participant"][0]["individual"]["reference"] == \
        f"Practitioner/{of(resources, 'Practitioner')[0]['id']}"


def test_bed_names_carry_their_room():
    messages = load("pam-vendor-box.hl7")
    resources = stay_resources(messages[:1], "HOSP|MRN556")
    assert where(resources, of(resources, "Encounter")[0]) == ("Lit BOX3", "ER")
    resources = stay_resources(messages, "HOSP|MRN556")
    [stay] = of(resources, "Encounter")
    assert where(resources, stay) == ("Lit 12A", "Chambre 12", "MED")
    assert [e["location"]["display"] for e in stay["location"]][:2] == ["ER", "Lit BOX3"]
    assert [e["status"] for e in stay["location"]] == ["completed", "completed", "active",
                                                       "active", "active"]
    resources = stay_resources(load("pam-vendor-labels.hl7"), "HOSP|MRN557")
    assert where(resources, of(resources, "Encounter")[0]) == ("Lit 12 porte", "Chambre 12",
                                                               "Médecine interne")


def test_a_cancel_by_movement_id_holds_whatever_the_arrival_order():
    messages = load("pam-stay.hl7")
    early = [*messages[:3], messages[4], messages[3], *messages[5:]]  # A12 before its A02
    assert stay_resources(early, SURVIVOR) == stay_resources(messages, SURVIVOR)


def test_a_patient_known_only_by_results_gets_a_patient_and_no_stay():
    oru = read(b"MSH|^~\\&|LAB|CHTR|RELEVE|CHTR|20260302101500||ORU^R01^ORU_R01|R1|P|2.5|||||FRA|"
               b"UNICODE UTF-8\rPID|||100900^^^CHTR&2.999.33.1.1&ISO^PI||FAURE^Ma\xc3\xabl^^^^^L||1971|M\r"
               b"OBR|1||LAB1|2345-7^Glucose^LN\rOBX|1|NM|2345-7^Glucose^LN||5.4|mmol/L|||||F\r")
    resources = stay_resources([oru], "2.999.33.1.1|100900")
    [patient] = resources
    assert patient["name"][0]["given"] == ["Maël"] and patient["birthDate"] == "1971"


@pytest.mark.parametrize("path", sorted(DATA.glob("*.hl7")), ids=lambda p: p.name)
def test_every_shipped_adt_message_maps(path):
    """Each ADT message the tests ship, from any feed, maps alone to one Patient and
    stays with a status the station knows."""
    from releve.capture.hl7.message import Rejected
    for raw in re.split(rb"(?:\r?\n){2,}", path.read_bytes()):
        try:
            m = read(raw.strip())
        except Rejected:
            continue
        if not m.header.kind.startswith("ADT^") or m.patient is None:
            continue
        resources = stay_resources([m], m.patient)
        assert [r["id"] for r in of(resources, "Patient")] == [ids.patient(m.patient)]
        for stay in of(resources, "Encounter"):
            assert stay["status"] in ("planned", "in-progress", "onleave", "finished", "cancelled")


# --- identity feeds (A28, A31, A29, A24, A37) ----------------------------------------

IDENTITY_PATIENT = "2.999.33.1.1|100700"


def test_identity_feed_gives_the_latest_identity_by_event_time():
    messages = load("pam-person-feed.hl7")
    assert [m.header.kind for m in messages][:3] == ["ADT^A28", "ADT^A31", "ADT^A31"]
    resources = stay_resources(messages, IDENTITY_PATIENT)
    assert of(resources, "Encounter") == []  # PV1 class N: no stay
    [patient] = of(resources, "Patient")
    # the A31 of 5 March wins over the one of 3 March logged after it
    official, usual = patient["name"]
    assert (official["family"], official["given"], official["use"]) == ("ROUSSEL", ["Maëlle", "Anne"],
                                                                         "official")
    assert (usual["family"], usual["use"]) == ("GIRARD", "usual")
    row = patient_row(patient)
    assert (row[6], row[7], row[8]) == ("100700", "262043707212345", 1)
    assert patient["telecom"] == [{"system": "phone", "value": "0247222222", "use": "home"}]
    assert patient["meta"] == {"lastUpdated": "2026-03-07T08:00:00+01:00"}


def test_birth_place_is_an_extension_never_the_shown_address():
    from releve.station.views.summary.person import address as shown_address
    [patient] = of(stay_resources(load("pam-person-feed.hl7")[:1], IDENTITY_PATIENT), "Patient")
    assert patient["address"] == [{"use": "home", "line": ["5 place du Marché"], "city": "Loches",
                                   "postalCode": "37600", "country": "FRA"}]
    [born] = [e for e in patient["extension"] if e["url"].endswith("patient-birthPlace")]
    assert born["valueAddress"] == {"city": "Chinon", "postalCode": "37500", "country": "FRA",
                                    "district": "37072"}
    assert shown_address(patient["address"]) == "5 place du Marché, 37600 Loches, FRA"
    # the PAM France A01 the message tests ship: a birth place written before the home
    [patient] = of(stay_resources([read((DATA / "charset-8859-1-pam-a01.hl7").read_bytes())],
                                  "1.2.250.1.999.10.1|0012345678"), "Patient")
    assert [a.get("city") for a in patient["address"]] == ["Besançon"]


def test_a24_links_and_a37_unlinks_another_record_of_the_person():
    messages = load("pam-person-feed.hl7")
    [patient] = of(stay_resources(messages, IDENTITY_PATIENT), "Patient")
    assert patient["link"] == [{"other": {"reference": f"Patient/{ids.patient('2.999.33.1.1|100702')}"},
                                "type": "seealso"}]
    [patient] = of(stay_resources(messages[:-1], IDENTITY_PATIENT), "Patient")  # before the A37
    assert {link["other"]["reference"] for link in patient["link"]} == {
        f"Patient/{ids.patient('2.999.33.1.1|100702')}", f"Patient/{ids.patient('2.999.33.1.1|100703')}"}


def test_a29_makes_the_person_inactive_until_spoken_of_again():
    messages = load("pam-person-delete.hl7")
    survivor = "2.999.33.1.1|100710"
    [patient] = of(stay_resources(messages[:2], survivor), "Patient")
    assert patient["active"] is False and patient_row(patient)[8] == 0
    assert patient["name"][0]["family"] == "PERRIN"  # the A29's bare PID is not read
    [patient] = of(stay_resources(messages, survivor), "Patient")
    assert patient["active"] is True
    assert patient["name"][0]["given"] == ["Gaël", "Louis"]


def test_an_a08_of_class_n_without_visit_number_makes_no_stay():
    """Some identity sources send their corrections as A08 with PV1 class N (not
    applicable): that is no stay under way, which the station would count as current."""
    m = read("MSH|^~\\&|GAM|CHTR|RELEVE|CHTR|20260305090000||ADT^A08^ADT_A01|I9|P|2.5\r"
             "EVN||20260305090000\rPID|||100700^^^CHTR&2.999.33.1.1&ISO^PI||ROUSSEL^Maëlle^^^^^L\r"
             "PV1|1|N".encode())
    resources = stay_resources([m], IDENTITY_PATIENT)
    assert [r["resourceType"] for r in resources] == ["Patient"]
    assert resources[0]["name"][0]["given"] == ["Maëlle"]


# --- changes of responsibility (A54/A55, PAM France Z80/Z81, Z84/Z85) ----------------

def _doctor(resources: list[dict], stay: dict) -> str:
    ref = stay["participant"][0]["individual"]["reference"]
    return by_id(resources)[ref]["name"][0]["family"]


@pytest.mark.parametrize(("count", "doctor", "unit"), [
    (1, "MARTIN", "Cardiologie"),
    (2, "LEROY", "Cardiologie"),      # A54
    (3, "LEROY", "Rythmologie"),      # Z80
    (4, "MARTIN", "Rythmologie"),     # A55 cancels the A54
    (5, "MARTIN", "Cardiologie"),     # Z81 cancels the Z80
])
def test_attending_doctor_and_medical_unit_change_and_cancel(count, doctor, unit):
    messages = load("pam-responsibility.hl7", count)  # the cancels sort by their EVN-6
    resources = stay_resources(messages, "2.999.33.1.1|100800")
    [stay] = of(resources, "Encounter")
    assert (_doctor(resources, stay), stay["serviceType"]["text"]) == (doctor, unit)
    assert stay["status"] == "in-progress"
    assert where(resources, stay) == ("Lit 101 1", "Chambre 101", "Cardiologie")  # nobody moved
    assert [e["status"] for e in stay["location"]] == ["active"] * 3


def test_other_vendor_a55_gives_back_the_previous_doctor():
    def adt(event: str, control: str, when: str, doctor: str) -> Message:
        return read(f"MSH|^~\\&|ADT|HOSP|RELEVE|HOSP|{when}||ADT^{event}|{control}|P|2.3.1\r"
                    f"EVN|{event}|{when}\rPID|||MRN321^^^HOSP^MR||KOWALSKI^Ewa||19700101|F\r"
                    f"PV1|1|I|MED^12^A||||{doctor}||||||||||||V321".encode())
    messages = [adt("A01", "V1", "202603100800", "D1^NOWAK^Anna"),
                adt("A54", "V2", "202603110900", "D2^WOJCIK^Piotr"),
                adt("A55", "V3", "202603111000", "")]
    resources = stay_resources(messages[:2], "HOSP|MRN321")
    assert _doctor(resources, of(resources, "Encounter")[0]) == "WOJCIK"
    resources = stay_resources(messages, "HOSP|MRN321")
    assert _doctor(resources, of(resources, "Encounter")[0]) == "NOWAK"


@pytest.mark.parametrize(("count", "ward"), [(1, "Pneumologie"), (2, "Soins intensifs pneumologie"),
                                             (3, "Pneumologie")])
def test_nursing_unit_change_places_a_patient_known_by_zbe8_alone(count, ward):
    resources = stay_resources(load("pam-responsibility-nursing.hl7", count), "2.999.33.1.1|100810")
    [stay] = of(resources, "Encounter")
    assert (stay["status"], where(resources, stay)) == ("in-progress", (ward,))
    assert stay["serviceType"]["text"] == "Pneumologie"


# --- a cancel stamped with the time of what it cancels ---------------------------------

def _vendor(event: str, control: str, evn6: str, place: str) -> Message:
    """Another vendor's message (no ZBE), all sent at the same time: only the log
    sequence orders equal event times."""
    return read(f"MSH|^~\\&|ADT|HOSP|RELEVE|HOSP|202603101200||ADT^{event}|{control}|P|2.5\r"
                f"EVN|{event}|202603101200||||{evn6}\rPID|||MRN400^^^HOSP^MR||ROY^Lucie||1980|F\r"
                f"PV1|1|I|{place}||||||||||||||||V400".encode())


@pytest.mark.parametrize("cancel_first", [True, False], ids=["cancel-logged-first", "cancel-logged-after"])
def test_a12_with_the_cancelled_transfers_time_undoes_that_transfer(cancel_first):
    admit = _vendor("A01", "T1", "202603100800", "MED^12^A")
    first_move = _vendor("A02", "T2", "202603100900", "SURG^4^B")
    second_move = _vendor("A02", "T3", "202603101000", "ICU^2^A")
    cancel = _vendor("A12", "T4", "202603101000", "SURG^4^B")  # EVN-6: the cancelled A02's
    tail = [cancel, second_move] if cancel_first else [second_move, cancel]
    messages = [admit, first_move, *tail]
    assert [datatypes.order_key(m) for m in tail][0] == datatypes.order_key(tail[1])  # a tie
    resources = stay_resources(messages, "HOSP|MRN400")
    [stay] = of(resources, "Encounter")
    assert where(resources, stay) == ("Lit 4 B", "Chambre 4", "SURG")


@pytest.mark.parametrize("cancel_first", [True, False], ids=["cancel-logged-first", "cancel-logged-after"])
@pytest.mark.parametrize(("events", "status"), [(("A01", "A11"), "cancelled"), (("A03", "A13"), "in-progress")])
def test_a11_a13_with_the_cancelled_events_time_apply_whatever_the_tie(cancel_first, events, status):
    done, undo = events
    admit = _vendor("A01", "U1", "202603100800", "MED^12^A")
    event = _vendor(done, "U2", "202603100930", "MED^12^A") if done == "A03" else admit
    cancel = _vendor(undo, "U3", "202603100930" if done == "A03" else "202603100800", "MED^12^A")
    assert datatypes.order_key(cancel) == datatypes.order_key(event)  # a tie
    tail = [cancel, event] if cancel_first else [event, cancel]
    messages = tail if done == "A01" else [admit, *tail]
    [stay] = of(stay_resources(messages, "HOSP|MRN400"), "Encounter")
    assert stay["status"] == status
    assert "end" not in stay.get("period", {})


@pytest.mark.parametrize("cancel_first", [True, False], ids=["cancel-logged-first", "cancel-logged-after"])
def test_pam_cancels_with_equal_zbe2_apply_whatever_the_tie(cancel_first):
    messages = load("pam-responsibility.hl7", 4)
    a54, a55 = messages[1], messages[2]
    assert (a54.header.kind, a55.header.kind) == ("ADT^A54", "ADT^A55")
    assert datatypes.instant(a54.event_time) == datatypes.instant(a55.event_time)
    order = [messages[0], a55, a54, messages[3]] if cancel_first else messages
    resources = stay_resources(order, "2.999.33.1.1|100800")
    assert _doctor(resources, of(resources, "Encounter")[0]) == "MARTIN"
