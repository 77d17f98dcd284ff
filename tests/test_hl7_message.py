"""Reading HL7 v2 messages: character sets, terminators, escapes, dates, patient keys,
rejections and the ACK, on messages written in the shapes French systems and several
vendors send (tests/data/hl7/charset-*, vendor-*)."""

from __future__ import annotations

import pickle
from pathlib import Path
from zoneinfo import ZoneInfo

import hl7
import pytest

from releve.capture.hl7 import datatypes as dt
from releve.capture.hl7.message import SUPPORTED, Rejected, acknowledgement, read, required_segments
from releve.station.records.projections import _identifiers

DATA = Path(__file__).parent / "data" / "hl7"


def load(name: str):
    return read((DATA / name).read_bytes())


def rejected(raw: bytes) -> Rejected:
    with pytest.raises(Rejected) as caught:
        read(raw)
    return caught.value


def first(m, name: str):
    return dt.segments(m, name)[0]


# --- character sets and terminators --------------------------------------------------

def test_pam_france_latin1_names_keys_and_ins():
    m = load("charset-8859-1-pam-a01.hl7")
    assert m.header.charset == "latin-1"
    assert m.header.kind == "ADT^A01" and m.header.control_id == "A01-000123"
    assert m.header.sender == "SIH_CHU|CHU_EXEMPLE" and m.header.receiver == "RELEVE|CHU_EXEMPLE"
    assert m.header.version == "2.5"
    assert m.header.sent == "2026-01-14T09:30:12+01:00"
    assert m.event_time == "2026-01-14T09:20:00+01:00"  # EVN-6 rather than EVN-2
    assert m.patient == "1.2.250.1.999.10.1|0012345678"  # the IPP, by its OID
    pid = first(m, "PID")
    names = [dt.human_name(r) for r in dt.repetitions(m, pid, 5)]
    assert names == [
        {"use": "official", "family": "LEFÈVRE", "given": ["Éloïse", "Marie Noëlle"],
         "prefix": ["Mme"]},
        {"use": "usual", "family": "DUCHÊNE", "given": ["Éloïse"], "prefix": ["Mme"]}]
    idents = [dt.identifier(r) for r in dt.repetitions(m, pid, 3)]
    assert idents[1] == {"use": "official", "system": "urn:oid:1.2.250.1.213.1.4.8",
                         "type": {"coding": [{"system": dt.V2_0203, "code": "NI", "display":
                                              "National unique individual identifier"}]},
                         "value": "299037512345678"}
    assert idents[0]["system"] == "urn:oid:1.2.250.1.999.10.1"
    # the station tells the IPP and the INS apart in what these give
    assert _identifiers({"identifier": idents}) == ("0012345678", "299037512345678")
    home, birthplace = (dt.address(r) for r in dt.repetitions(m, pid, 11))
    assert home == {"use": "home", "line": ["3 allée des Châtaigniers", "Bât. B"],
                    "city": "Besançon", "postalCode": "25000", "country": "FRA"}
    assert birthplace == {"city": "Pontarlier", "country": "FRA", "district": "25462"}
    phones = [dt.contact(r) for r in dt.repetitions(m, pid, 13)]
    assert phones == [{"system": "phone", "value": "0381000000", "use": "home"},
                      {"system": "phone", "value": "0612345678", "use": "mobile"},
                      {"system": "email", "value": "eloise.lefevre@example.fr"}]
    pv1 = first(m, "PV1")
    assert dt.place(dt.repetitions(m, pv1, 3)[0]) == dt.Place(
        "1.2.250.1.999.10", "CARDIO", "0203", "02", "Cardiologie B")
    assert dt.person(dt.repetitions(m, pv1, 7)[0]) == (
        "1.2.250.1.71.4.2.1|10000000001",
        {"use": "official", "family": "MARTIN", "given": ["Paul"], "prefix": ["Dr"]})
    assert dt.visit_key(m) == "1.2.250.1.999.10.2|20260009876"
    assert dt.value(m, first(m, "ZBE"), 4) == "INSERT"


def test_unicode_utf8_label():
    m = load("charset-utf8-a08.hl7")
    assert m.header.charset == "utf-8"
    assert dt.value(m, first(m, "PID"), 5) == "NGUYỄN"
    assert dt.value(m, first(m, "PID"), 5, 2) == "Zoë"
    assert m.header.sent == "2026-07-14T10:15:00+02:00"
    assert m.event_time == "2026-07-14T10:15:00+02:00"  # EVN-2, summer time in Paris
    assert m.patient == "CLINIQUE_SUD|IPP-4711"  # no OID: the namespace


def test_unlabelled_utf8_with_bom_and_crlf():
    raw = (DATA / "charset-utf8-bom-crlf-a04.hl7").read_bytes()
    m = read(raw)
    assert m.raw == raw  # kept exactly as received, BOM included
    assert m.header.charset == "utf-8"
    assert not m.text.startswith("\ufeff") and "\n" not in m.text
    assert [line[:3] for line in m.text.split("\r")] == ["MSH", "EVN", "PID", "PV1"]
    assert dt.value(m, first(m, "PID"), 5, 2) == "Françoise"
    assert dt.dtm(dt.value(m, first(m, "PID"), 7), dt.PARIS) == "1950"


def test_unlabelled_latin1_exported_with_newlines():
    m = load("charset-latin1-unlabelled-lf-a03.hl7")
    assert m.header.charset == "latin-1"  # not UTF-8: read as ISO-8859-1
    assert m.text.split("\r")[-1].startswith("PV1")  # trailing empty lines dropped
    assert len(m.parsed) == 4
    assert dt.human_name(dt.repetitions(m, first(m, "PID"), 5)[0])["family"] == "HÉBERT"
    assert m.event_time == "2026-01-14T17:30:00+01:00"
    assert dt.visit_key(m) == "CH_EST|NDA77"


def test_unknown_charset_is_refused_but_answered():
    raw = (DATA / "charset-unknown-iso-ir87.hl7").read_bytes()
    err = rejected(raw)
    assert err.code == "AR" and "MSH-18" in err.reason and "IR87" not in err.reason
    assert err.header is not None and err.header.control_id == "JIS-1"
    ack = hl7.parse(acknowledgement(err.header, err.code, err.reason).decode())
    assert str(ack.segment("MSA")(2)) == "JIS-1"


def test_utf8_label_on_latin1_bytes_is_an_error():
    raw = "MSH|^~\\&|A|B|C|D|20260114||ADT^A08|X1|P|2.5||||||UNICODE UTF-8\rPID|1||1^^^H^PI||É".encode("latin-1")
    err = rejected(raw)
    assert err.code == "AE" and err.header is not None and err.header.control_id == "X1"


def test_ascii_label_on_latin1_bytes_reads_latin1():
    raw = "MSH|^~\\&|A|B|C|D|20260114||ADT^A08|X1|P|2.5||||||ASCII\rPID|1||1^^^H^PI||HÉLÈNE\rPV1|1|I".encode("latin-1")
    m = read(raw)
    assert m.header.charset == "latin-1" and dt.value(m, first(m, "PID"), 5) == "HÉLÈNE"


# --- escapes, repetitions, nulls ----------------------------------------------------

def test_escape_sequences_in_names_and_text():
    m = load("vendor-lab-oru-escapes.hl7")
    assert m.header.kind == "ORU^R01" and m.header.sender == "LABO^2.16.840.1.113883.999.1^ISO|BIOLOGIE"
    assert m.header.sent == "2026-01-14T10:10:10.25+01:00"
    assert dt.value(m, first(m, "PID"), 5) == "O^BRIEN & FILS"
    obx = dt.segments(m, "OBX")
    assert dt.value(m, obx[1], 5) == "Hémolyse & lipémie\nVoir A|B, C^D, E~F, G\\H, café"
    assert dt.concept(dt.repetitions(m, obx[0], 3)[0]) == {
        "coding": [{"system": "http://loinc.org", "code": "2345-7",
                    "display": "Glucose [Moles/volume] in Serum or Plasma"},
                   {"code": "GLY", "display": "Glycémie"}],
        "text": "Glucose [Moles/volume] in Serum or Plasma"}
    assert dt.concept(dt.repetitions(m, obx[0], 6)[0])["coding"][0]["system"] == \
        "http://unitsofmeasure.org"
    assert dt.value(m, obx[0], 5) == "5.4" and dt.value(m, obx[0], 7) == "3.9-5.8"
    assert dt.concept(dt.repetitions(m, obx[1], 3)[0]) == {"text": "Commentaire"}
    assert m.patient == "1.2.250.1.999.10.1|0012345678"


def test_hex_escapes_are_bytes_of_the_message_charset():
    raw = (b"MSH|^~\\&|A|B|C|D|20260114||ORU^R01|X1|P|2.5||||||UNICODE UTF-8\r"
           b"PID|1||1^^^H^PI||CAF\\XC389\\^Zo\\XC3AB\\\r"
           b"OBR|1\rOBX|1|TX|^C||\\H\\Urgent\\N\\ : voir\\.br\\\\XE282AC\\ 5")
    m = read(raw)
    assert "parsed" not in vars(m)  # read parses only what the acknowledgement needs
    assert dt.value(m, first(m, "PID"), 5) == "CAFÉ" and dt.value(m, first(m, "PID"), 5, 2) == "Zoë"
    assert dt.value(m, first(m, "OBX"), 5) == "Urgent : voir\n€ 5"


def test_values_repetitions_empty_and_null():
    raw = (b"MSH|^~\\&|A|B|C|D|20260114||ADT^A08|X1|P|2.5\r"
           b"PID|1|\"\"|~1^^^H^PI~~\"\"~2^^^H^MR||DOE^\"\"^^^^^L|\"\"|\r"
           b"PV1|1|I")
    m = read(raw)
    pid = first(m, "PID")
    assert dt.value(m, pid, 2) is None  # the HL7 null
    assert dt.value(m, pid, 3) is None  # the first repetition is empty
    assert dt.value(m, pid, 3, repetition=2) == "1"
    assert dt.value(m, pid, 3, 4, repetition=5) == "H"
    assert [r.get(5) for r in dt.repetitions(m, pid, 3)] == ["PI", "MR"]
    assert dt.human_name(dt.repetitions(m, pid, 5)[0]) == {"use": "official", "family": "DOE"}
    assert dt.value(m, pid, 6) is None and dt.value(m, pid, 7) is None
    assert dt.value(m, pid, 40) is None and dt.repetitions(m, pid, 40) == []
    msh = first(m, "MSH")
    assert dt.value(m, msh, 1) == "|" and dt.value(m, msh, 2) == "^~\\&"
    assert dt.value(m, msh, 9, 2) == "A08" and dt.value(m, msh, 3) == "A"
    assert m.patient == "H|1"  # PI rather than the first


# --- dates --------------------------------------------------------------------------

@pytest.mark.parametrize("text, fhir", [
    ("2026", "2026"), ("202601", "2026-01"), ("20260114", "2026-01-14"),
    ("2026011409", "2026-01-14T09:00:00+01:00"),
    ("202601140930", "2026-01-14T09:30:00+01:00"),
    ("20260714093015.1234", "2026-07-14T09:30:15.1234+02:00"),
    ("20260114093015-0500", "2026-01-14T09:30:15-05:00"),
    ("20260114093015+0000", "2026-01-14T09:30:15+00:00"),
    ("20261025023000", "2026-10-25T02:30:00+02:00"),  # the hour that happens twice: first
    ("20260230", None), ("2026011425", None), ("2026011409306", None),
    ("0000", None), ("abc", None), ("", None), (None, None), ("20260114+2500", None),
])
def test_dtm(text, fhir):
    assert dt.dtm(text, dt.PARIS) == fhir


def test_dtm_other_zone_and_order_key():
    assert dt.dtm("20260114093000", ZoneInfo("America/Cayenne")) == "2026-01-14T09:30:00-03:00"
    late = read(b"MSH|^~\\&|A|B|C|D|20260114100000||ADT^A08|X1|P|2.5\r"
                b"EVN||20260114100000||||20260114090000+0000\rPID|1||1^^^H^PI\rPV1|1|I")
    early = read(b"MSH|^~\\&|A|B|C|D|20260114110000||ADT^A08|X2|P|2.5\r"
                 b"EVN||20260114093000\rPID|1||1^^^H^PI\rPV1|1|I")
    assert dt.order_key(late) == ("2026-01-14T09:00:00.000000Z", "2026-01-14T09:00:00.000000Z")
    assert dt.order_key(early) < dt.order_key(late)
    bare = read(b"MSH|^~\\&|A|B|C|D|||ADT^A08|X3|P|2.5\rPID|1||1^^^H^PI\rPV1|1|I")
    assert bare.event_time is None and dt.order_key(bare) == ("", "")


# --- patient keys -------------------------------------------------------------------

def test_patient_key_rules():
    def key(pid3: str) -> str | None:
        return read(f"MSH|^~\\&|A|B|C|D|20260114||ADT^A08|X|P|2.5\rPID|1||{pid3}\rPV1|1|I"
                    .encode()).patient
    ins = "2990375^^^INS&1.2.250.1.213.1.4.8&ISO^INS"
    assert key(f"{ins}~77^^^H&1.2.3&ISO^PI") == "1.2.3|77"
    assert key(f"{ins}~77^^^HOSP") == "HOSP|77"  # no PI: the first that is not the INS
    assert key("77") == "|77"
    assert key(ins) == "1.2.250.1.213.1.4.8|2990375"
    m = load("vendor-v23-orm-pid2.hl7")  # an older vendor: the IPP in PID-2
    assert m.patient == "|778899" and m.header.sent == "2026-01-14T09:30:00+01:00"
    merge = load("vendor-a40-merge.hl7")
    assert merge.patient == "1.2.250.1.999.10.1|0012345678"
    assert merge.merged == "1.2.250.1.999.10.1|0099999999"


def test_appointment_message():
    m = load("vendor-siu-s12.hl7")
    assert m.header.kind == "SIU^S12" and m.patient == "1.2.250.1.999.10.1|0012345678"
    assert dt.dtm(dt.value(m, first(m, "SCH"), 11, 4), dt.PARIS) == "2026-01-20T14:00:00+01:00"


# --- rejections ---------------------------------------------------------------------

def test_not_hl7():
    err = rejected((DATA / "vendor-not-hl7.hl7").read_bytes())
    assert err.code == "AR" and err.header is None and "MSH" in err.reason
    assert rejected(b"").code == "AR"
    assert rejected(b"\x00\x01garbage").code == "AR"
    assert rejected(b"MSH\rPID|1||1^^^H^PI").code == "AR"  # MSH cut short
    err = rejected(b"MSH|^^\\&|A|B|C|D|20260114||ADT^A08|X|P|2.5\rPID|1||1\rPV1|1|I")
    assert (err.code, err.reason) == ("AR", "MSH-1 and MSH-2 (the separators) are not usable")


@pytest.mark.parametrize("name, code, says", [
    ("vendor-ack-received.hl7", "AR", "message type ACK^A01 is not supported"),
    ("vendor-mfn-unsupported.hl7", "AR", "message type MFN^M02 is not supported"),
    ("vendor-a02-no-pv1.hl7", "AE", "ADT^A02 without the required PV1 segment"),
])
def test_rejections_name_the_kind_or_segment(name, code, says):
    raw = (DATA / name).read_bytes()
    err = rejected(raw)
    assert (err.code, says in err.reason) == (code, True)
    assert "LEF" not in err.reason and "0012345678" not in err.reason
    assert err.header is not None and err.header.control_id in raw.decode("latin-1")


@pytest.mark.parametrize("kind", sorted(SUPPORTED))
def test_every_kind_needs_its_segments(kind):
    base = {"PID": "PID|1||1^^^H^PI", "PV1": "PV1|1|I", "MRG": "MRG|2^^^H^PI",
            "OBR": "OBR|1", "ORC": "ORC|NW", "RXE": "RXE|1", "RXA": "RXA|0|1", "SCH": "SCH|1"}
    needed = required_segments(kind)
    assert "PID" in needed
    head = f"MSH|^~\\&|A|B|C|D|20260114||{kind}|X|P|2.5"
    assert read("\r".join([head, *(base[s] for s in needed)]).encode()).header.kind == kind
    for missing in needed:
        err = rejected("\r".join([head, *(base[s] for s in needed if s != missing)]).encode())
        assert err.code == "AE" and err.reason == f"{kind} without the required {missing} segment"


@pytest.mark.parametrize("msh, code, reason", [
    ("MSH|^~\\&|A|B|C|D|20260114||ADT^A01||P|2.5", "AR", "MSH-10 (message control id) is missing"),
    ("MSH|^~\\&|A|B|C|D|20260114|||X|P|2.5", "AR", "MSH-9 (message type) is missing"),
    ("MSH|^~\\&|A|B|C|D|20260114||^A01|X|P|2.5", "AR", "MSH-9 (message type) is missing"),
    ("MSH|^~\\&|A|B|C|D|20260114||DUPONT Jean^né le 1/2/50|X|P|2.5", "AR",
     "the message type in MSH-9 is not supported by this receiver"),
])
def test_header_rejections(msh, code, reason):
    err = rejected(f"{msh}\rPID|1||1^^^H^PI\rPV1|1|I".encode())
    assert (err.code, err.reason) == (code, reason)


def test_patient_without_identifier_and_batches():
    err = rejected(b"MSH|^~\\&|A|B|C|D|20260114||ADT^A01|X|P|2.5\rPID|1||^^^H^PI\rPV1|1|I")
    assert err.code == "AE" and err.reason.startswith("PID-3")
    err = rejected(b"MSH|^~\\&|A|B|C|D|20260114||ADT^A40|X|P|2.5\rPID|1||1^^^H^PI\rMRG|")
    assert err.code == "AE" and err.reason.startswith("MRG-1")
    two = b"MSH|^~\\&|A|B|C|D|20260114||ADT^A08|X|P|2.5\rPID|1||1\rPV1|1|I\r"
    assert rejected(two + two.replace(b"|X|", b"|Y|")).code == "AR"


# --- acknowledgements ---------------------------------------------------------------

def test_ack_accept_parsed_back():
    m = load("charset-8859-1-pam-a01.hl7")
    raw = acknowledgement(m.header, "AA")
    ack = hl7.parse(raw.decode("latin-1"))
    msh = ack.segment("MSH")
    assert [str(msh(n)) for n in (3, 4, 5, 6)] == ["RELEVE", "CHU_EXEMPLE", "SIH_CHU", "CHU_EXEMPLE"]
    assert str(msh(9)) == "ACK^A01^ACK" and str(msh(11)) == "P" and str(msh(12)) == "2.5"
    assert str(msh(18)) == "8859/1" and str(msh(7)).startswith("20260114")
    assert str(msh(10)) and str(msh(10)) != m.header.control_id
    assert [str(f) for f in ack.segment("MSA")[1:]] == ["AA", "A01-000123"]
    assert [s[0][0] for s in ack] == ["MSH", "MSA"]
    assert acknowledgement(m.header, "AA").split(b"\r")[2:] == [b""]  # one \r per segment
    assert str(hl7.parse(acknowledgement(m.header, "AA").decode()).segment("MSH")(10)) != str(msh(10))


def test_ack_error_parsed_back_with_err_segment():
    err = rejected((DATA / "vendor-mfn-unsupported.hl7").read_bytes())
    raw = err.acknowledgement()
    assert raw.partition(b"\rMSA")[2] == acknowledgement(
        err.header, err.code, err.reason, condition=err.condition,
        location=err.location).partition(b"\rMSA")[2]
    ack = hl7.parse(raw.decode("ascii"))
    assert str(ack.segment("MSH")(9)) == "ACK^M02^ACK"
    assert str(ack.segment("MSA")(1)) == "AR" and str(ack.segment("MSA")(2)) == "MFN-1"
    errs = ack.segment("ERR")
    assert ack.unescape(str(errs(8))) == err.reason == "message type MFN^M02 is not supported by this receiver"
    assert str(errs(3)) == "200^Unsupported message type^HL70357" and str(errs(4)) == "E"
    assert str(errs(2)) == "MSH^1^9"
    again = pickle.loads(pickle.dumps(err))  # as a worker process would send it
    assert (again.code, again.reason, again.header, again.condition, again.location) == (
        err.code, err.reason, err.header, err.condition, err.location)
    assert ack.unescape(str(ack.segment("MSA")(3))) == err.reason


def test_ack_for_what_is_not_hl7_is_still_hl7():
    err = rejected(b"hello")
    ack = hl7.parse(acknowledgement(err.header, err.code, err.reason).decode())
    assert str(ack.segment("MSA")(1)) == "AR" and str(ack.segment("MSA")(2)) == ""
    assert "MSH" in ack.unescape(str(ack.segment("ERR")(8)))


def test_ack_keeps_the_message_separators_and_charset():
    raw = "MSH#$*!@#A$1#B#RELEVE#CHU#20260114##ADT$A08#Z9#T#2.5######8859/1\rPID#1##7$$$H$PI##É\rPV1#1#I"
    m = read(raw.encode("latin-1"))
    assert m.header.separators == "#$*!@" and m.header.sender == "A$1|B"
    assert dt.value(m, first(m, "PID"), 3, 4) == "H" and m.patient == "H|7"
    ack = acknowledgement(m.header, "AE", "a^b", condition="100", location="PV1")
    assert ack.startswith(b"MSH#$*!@#RELEVE#CHU#A$1#B#")
    parsed = hl7.parse(ack.decode("latin-1"))
    assert str(parsed.segment("MSH")(9)) == "ACK$A08$ACK" and str(parsed.segment("MSH")(11)) == "T"
    assert parsed.unescape(str(parsed.segment("ERR")(8))) == "a^b"


def test_given_names_first_not_repeated():
    m = read(b"MSH|^~\\&|A|B|C|D|20260114||ADT^A08|X|P|2.5\r"
             b"PID|1||1^^^H^PI||MARTIN^Marie^Marie-Claire^^^^L~SMITH^John^Paul^Jr^Mr^^A~"
             b"DURAND^Jean^Jean Luc Andr\xc3\xa9^^^^L\rPV1|1|I")
    names = [dt.human_name(r) for r in dt.repetitions(m, first(m, "PID"), 5)]
    assert [n["given"] for n in names] == [["Marie", "Marie-Claire"], ["John", "Paul"],
                                           ["Jean", "Luc André"]]
    assert names[1] == {"use": "usual", "family": "SMITH", "given": ["John", "Paul"],
                        "prefix": ["Mr"], "suffix": ["Jr"]}


def test_an_overlong_identifier_list_is_refused_at_once():
    raw = (b"MSH|^~\\&|A|B|C|D|20260114||ADT^A01|X7|P|2.5\rPID|1||"
           + b"1^^^H^PI~" * 100_000 + b"\rPV1|1|I")
    err = rejected(raw)  # python-hl7 would take seconds on it, holding every feed
    assert (err.code, err.location) == ("AE", "PID^1^3")
    assert err.reason == "PID-3 is longer than this receiver reads (4096 characters)"
    assert err.header is not None and err.header.control_id == "X7"
    err = rejected(b"MSH|^~\\&|" + b"A^" * 5000 + b"|B|C|D|20260114||ADT^A01|X8|P|2.5\rPID|1||1")
    assert err.code == "AR" and err.reason.startswith("the MSH segment is longer")


def test_ack_error_of_an_older_version_has_err_1():
    err = rejected(b"MSH|^~\\&|OLD|HOP|RELEVE|HOP|202601140930||ADT^A02|Z1|P|2.3\rPID|1||5^^^H^PI")
    ack = hl7.parse(acknowledgement(err.header, err.code, err.reason, condition=err.condition,
                                    location=err.location).decode())
    assert str(ack.segment("MSH")(12)) == "2.3"
    assert str(ack.segment("ERR")) == "ERR|PV1^^^100&Segment sequence error&HL70357"
    assert ack.unescape(str(ack.segment("MSA")(3))) == "ADT^A02 without the required PV1 segment"


def test_readers_of_the_other_shapes():
    m = read("MSH|^~\\&|A|B|C|D|20260114||ORU^R01|X|P|2.5\r"
             "PID|1||1^^^H^PI||||||||^^Paris^^75012^FRA^M~1 rue A^^Lyon^^^^BA||"
             "^WPN^PH^^33^1^44556677^12~^NET^X.400^a@b.fr~^^FX^^^^0144556678\r"
             "OBR|1\rOBX|1|CWE|I10^Diag^HL70396^A41.9^Sepsis^I10^^^Sepsis sévère|1|"
             "SCT^Sous-code^2.16.840.1.113883.6.96||||||F\rPV1|1|I|^^^^^^^^Salle de réveil||||"
             "^DUPONT^Jean~^^^^^^^^H".encode())
    pid, obx = first(m, "PID"), first(m, "OBX")
    assert [dt.address(r) for r in dt.repetitions(m, pid, 11)] == [
        {"type": "postal", "city": "Paris", "postalCode": "75012", "country": "FRA"},
        {"use": "old", "line": ["1 rue A"], "city": "Lyon"}]
    assert [dt.contact(r) for r in dt.repetitions(m, pid, 13)] == [
        {"system": "phone", "value": "33144556677", "use": "work"},
        {"system": "email", "value": "a@b.fr"}, {"system": "fax", "value": "0144556678"}]
    assert dt.concept(dt.repetitions(m, obx, 3)[0]) == {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0396", "code": "I10",
                    "display": "Diag"},
                   {"system": "http://hl7.org/fhir/sid/icd-10", "code": "A41.9",
                    "display": "Sepsis"}],
        "text": "Sepsis sévère"}
    assert dt.concept(dt.repetitions(m, obx, 5)[0])["coding"][0]["system"] == \
        "urn:oid:2.16.840.1.113883.6.96"
    assert dt.place(dt.repetitions(m, first(m, "PV1"), 3)[0]) == dt.Place(
        None, None, None, None, "Salle de réveil")
    assert [dt.person(r) for r in dt.repetitions(m, first(m, "PV1"), 7)] == [
        ("name|DUPONT|Jean", {"family": "DUPONT", "given": ["Jean"]}), None]
    assert dt.visit_key(m) is None


@pytest.mark.filterwarnings("ignore:The 'warn' method is deprecated")  # python-hl7's
def test_unknown_escapes_are_dropped_and_never_logged(caplog):
    import logging.config

    # as uvicorn does when a process also serves HTTP: existing loggers are enabled again
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
    m = read(b"MSH|^~\\&|A|B|C|D|20260114||ADT^A08|X|P|2.5\r"
             b"PID|1||1^^^H^PI||MARTIN\\Zpriv\\\\C2842\\\\\\ROSE^Anne\rPV1|1|I")
    with caplog.at_level("DEBUG"):
        assert dt.value(m, first(m, "PID"), 5) == "MARTINROSE"
    assert "MARTIN" not in caplog.text and "ROSE" not in caplog.text


def test_truncation_character_of_v27():
    m = read(b"MSH|^~\\&#|A|B|C|D|20260114||ADT^A08^ADT_A01|X|P|2.8\rPID|1||9^^^H^PI||NOM#^Pr\rPV1|1|I")
    assert m.header.separators == "|^~\\&" and m.header.version == "2.8"
    assert m.patient == "H|9" and dt.value(m, first(m, "PID"), 5) == "NOM#"


# --- identity feeds and changes of responsibility ------------------------------------

@pytest.mark.parametrize("event", ["A28", "A31", "A29", "A24", "A37"])
def test_identity_events_are_taken_without_pv1(event):
    """IHE PAM France's identity feed: a person created, updated, deleted, linked or
    unlinked. An AR would never be sent again, and the correction would be lost."""
    second = "\rPID|||100702^^^CHTR&2.999.33.1.1&ISO^PI||ROUSSEL^Maëlle" if event in ("A24", "A37") else ""
    raw = (f"MSH|^~\\&|GAM|CHTR|RELEVE|CHTR|20260305090000||ADT^{event}|I1|P|2.5|||||FRA|UNICODE UTF-8\r"
           f"EVN||20260305090000||||20260305085500\r"
           f"PID|||100700^^^CHTR&2.999.33.1.1&ISO^PI||ROUSSEL^Maëlle^^^^^L||19620412|F{second}")
    m = read(raw.encode())
    assert (m.header.kind, m.patient, m.merged) == (f"ADT^{event}", "2.999.33.1.1|100700", None)
    assert m.event_time == "2026-03-05T08:55:00+01:00"
    assert required_segments(m.header.kind) == ("PID",)


def test_shipped_identity_and_responsibility_messages_are_all_taken():
    kinds = []
    for name in ("pam-person-feed.hl7", "pam-person-delete.hl7", "pam-responsibility.hl7",
                 "pam-responsibility-nursing.hl7"):
        for raw in (DATA / name).read_bytes().split(b"\n\n"):
            kinds.append(read(raw.strip()).header.kind.partition("^")[2])
    assert set(kinds) == {"A01", "A24", "A28", "A29", "A31", "A37", "A54", "A55", "Z80", "Z81",
                          "Z84", "Z85"}


@pytest.mark.parametrize("event", ["A54", "A55", "Z80", "Z81", "Z84", "Z85"])
def test_changes_of_responsibility_need_their_visit(event):
    head = f"MSH|^~\\&|SIH|CHTR|RELEVE|CHTR|20260311090500||ADT^{event}|R1|P|2.5\rPID|||100800^^^CHTR^PI"
    assert read(f"{head}\rPV1|1|I".encode()).header.kind == f"ADT^{event}"
    err = rejected(head.encode())
    assert (err.code, err.reason) == ("AE", f"ADT^{event} without the required PV1 segment")


def test_unknown_pam_events_are_still_refused():
    err = rejected(b"MSH|^~\\&|SIH|CHTR|RELEVE|CHTR|20260311090500||ADT^Z82|R1|P|2.5\r"
                   b"PID|||100800^^^CHTR^PI\rPV1|1|I")
    assert (err.code, err.reason) == ("AR", "message type ADT^Z82 is not supported by this receiver")
    assert {"ADT^A28", "ADT^A31", "ADT^Z84"} <= SUPPORTED
