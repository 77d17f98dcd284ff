"""ORU^R01 results mapped to DiagnosticReports and Observations, read back through the
station's own rules (views/summary/observations.read_value), from messages written in
several laboratories' styles (tests/data/hl7/oru-*.hl7)."""

from __future__ import annotations

import base64
from pathlib import Path

import orjson
import pytest

from releve.capture.hl7 import message
from releve.capture.hl7.mapping import ids
from releve.capture.hl7.mapping.quantities import decimal, reference_range, ucum_code
from releve.capture.hl7.mapping.results import result_resources
from releve.station.views.summary.observations import read_value

DATA = Path(__file__).parent / "data" / "hl7"
PATIENT = ids.patient("1.2.250.1.71.4.2.2.1|123456")
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


def mapped(name: str) -> list[dict]:
    return result_resources(message.read((DATA / name).read_bytes()), PATIENT)


def by_code(resources: list[dict]) -> dict[str, dict]:
    return {r["code"]["coding"][0]["code"]: r for r in resources if r["resourceType"] == "Observation"}


def report_of(resources: list[dict]) -> dict:
    (report,) = [r for r in resources if r["resourceType"] == "DiagnosticReport"]
    return report


def shown(observation: dict) -> tuple[str, str, str, str]:
    """What the station's summary shows of a result: text, unit, flag, range."""
    value = read_value(observation, None, None)
    assert value is not None
    return value.text, value.unit, value.flag, value.range


def test_lab_results_read_as_the_station_reads_the_demo_hospital_s():
    resources = mapped("oru-lab-loinc.hl7")
    report, results = report_of(resources), by_code(resources)
    assert len(results) == 7
    sodium = results["2951-2"]
    assert sodium["valueQuantity"] == {"value": 138, "unit": "mmol/L", "system": UCUM, "code": "mmol/L"}
    assert sodium["code"]["coding"][0]["system"] == LOINC
    assert sodium["category"][0]["coding"][0]["code"] == "laboratory"
    assert sodium["effectiveDateTime"] == "2026-01-14T07:15:00+01:00"
    assert sodium["issued"] == "2026-01-14T08:25:00+01:00"
    assert shown(sodium) == ("138", "mmol/L", "", "135 – 145 mmol/L")
    potassium = results["2823-3"]
    assert shown(potassium) == ("5,8", "mmol/L", "↑", "3,5 – 5,1 mmol/L")
    assert potassium["interpretation"] == [{"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": "H",
        "display": "Élevé"}], "text": "Élevé"}]
    assert potassium["note"] == [{"text": "Prélèvement légèrement hémolysé : à contrôler."}]
    creatinine = results["2160-0"]
    assert creatinine["valueQuantity"]["code"] == "umol/L"  # µmol/L as written, UCUM beside it
    assert shown(creatinine) == ("92", "µmol/L", "↑", "45 – 84 µmol/L")
    assert creatinine["code"]["text"] == "Créatinine"
    crp = results["1988-5"]  # SN "<^5"
    assert crp["valueQuantity"] == {"value": 5, "comparator": "<", "unit": "mg/L", "system": UCUM, "code": "mg/L"}
    assert shown(crp) == ("<5", "mg/L", "", "≤ 5 mg/L")
    leucocytes = results["6690-2"]  # a French comma, and G/L (giga per litre), never grams
    assert leucocytes["valueQuantity"]["value"] == 12.4
    assert leucocytes["valueQuantity"]["code"] == "10*9/L"
    assert shown(leucocytes)[2] == "↑"
    assert shown(results["718-7"])[2] == "↓↓"  # LL
    pulse = results["8867-4"]  # a bedside measure sent as a result stays a vital sign
    assert pulse["category"][0]["coding"][0]["code"] == "vital-signs"
    assert pulse["valueQuantity"]["code"] == pulse["valueQuantity"]["unit"] == "/min"  # not CE-2's words
    assert "referenceRange" not in pulse and "interpretation" not in pulse

    assert report["status"] == "final"
    assert report["code"]["text"] == "Ionogramme sanguin"
    assert report["result"] == [{"reference": f"Observation/{r['id']}"} for r in results.values()]
    assert report["conclusion"] == "Bilan du matin."
    assert report["basedOn"] == [{"reference": "ServiceRequest/" + ids.make("sr", "placer|DPI|CMD-7781")}]
    for resource in resources:
        assert resource["subject"] == {"reference": f"Patient/{PATIENT}"}
        assert resource["encounter"] == {
            "reference": "Encounter/" + ids.encounter("1.2.250.1.71.4.2.2.2|V2026-0042")}
        assert resource["id"].startswith("v2-")


def test_a_correction_updates_the_same_report_and_results():
    first, corrected = mapped("oru-lab-loinc.hl7"), mapped("oru-lab-corrected.hl7")
    assert report_of(first)["id"] == report_of(corrected)["id"]
    before, after = by_code(first), by_code(corrected)
    for code in after:
        assert after[code]["id"] == before[code]["id"]
    assert report_of(corrected)["status"] == "corrected"
    potassium = after["2823-3"]
    assert potassium["status"] == "corrected"
    assert shown(potassium)[:3] == ("4,6", "mmol/L", "")
    assert potassium["note"][0]["text"].startswith("Résultat corrigé")
    assert after["2160-0"]["status"] == "entered-in-error"  # OBX-11 D: deleted
    assert after["2951-2"]["status"] == "final"


def test_local_codes_and_structured_numbers_of_a_us_laboratory():
    resources = mapped("oru-us-local.hl7")
    report, results = report_of(resources), by_code(resources)
    assert report["status"] == "preliminary"
    assert report["effectiveDateTime"] == "2026-01-14T08:00:00-05:00"  # the sender's offset kept
    assert "encounter" not in report  # no visit number (PV1-19)
    assert all(c.get("system") != LOINC for r in results.values() for c in r["code"]["coding"])
    assert results["WBC"]["status"] == "preliminary"
    assert results["WBC"]["valueQuantity"] == {"value": 7.2, "unit": "10*3/uL", "system": UCUM, "code": "10*3/uL"}
    assert shown(results["WBC"])[1] == "10³/µL"
    assert results["TITER"]["valueRatio"] == {"numerator": {"value": 1}, "denominator": {"value": 160}}
    assert results["TITER"]["referenceRange"] == [{"text": "<1:40"}]
    assert shown(results["TITER"])[2] == "!"
    assert results["RANGE"]["valueRange"]["low"]["value"] == 150
    assert results["RANGE"]["valueRange"]["high"]["value"] == 200
    assert results["UA-PROT"]["valueString"] == "2+"
    assert results["ABO"]["valueCodeableConcept"]["text"] == "Group A"
    assert results["TECH"]["valueString"] == "Specimen received at room temp"
    assert results["BACT"]["valueString"] == "FEW"  # text sent as NM is kept as text
    assert results["GFR"]["valueQuantity"]["comparator"] == ">"
    assert results["GFR"]["referenceRange"] == [{"low": {"value": 60, "unit": "mL/min/{1.73_m2}",
                                                        "system": UCUM, "code": "mL/min/{1.73_m2}"}}]
    potassium = results["K"]  # X: cannot be obtained
    assert potassium["status"] == "cancelled"
    assert potassium["dataAbsentReason"]["coding"][0]["code"] == "error"
    assert "valueQuantity" not in potassium


def test_text_reports_keep_their_lines():
    resources = mapped("oru-imaging-text.hl7")
    report, results = report_of(resources), by_code(resources)
    assert report["category"][0]["coding"][0]["code"] == "imaging"
    assert results["18748-4"]["valueString"] == (
        "Indication : dyspnée.\nPas d'épanchement pleural.\nCœur de taille normale.")
    assert results["19005-8"]["valueString"] == "Conclusion :\nRadiographie normale, & pas de foyer."
    # one line per OBX, same code and sub-id: one Observation, its blank line kept
    assert results["59776-5"]["valueString"] == "Ligne un du commentaire\n\nLigne trois"
    assert len(results) == 3 and len(report["result"]) == 3
    assert shown(results["18748-4"])[0].startswith("Indication : dyspnée.")


def test_an_encapsulated_pdf_becomes_the_report_s_presented_form():
    resources = mapped("oru-pdf.hl7")
    report, results = report_of(resources), by_code(resources)
    assert list(results) == ["600-7"]  # no Observation for the documents
    assert results["600-7"]["valueCodeableConcept"]["coding"][0] == {
        "system": "http://snomed.info/sct", "code": "3092008", "display": "Staphylococcus aureus"}
    forms = report["presentedForm"]
    assert [f["contentType"] for f in forms] == ["application/pdf", "application/pdf"]
    assert [f["title"] for f in forms] == ["Compte rendu de microbiologie", "Antibiogramme"]
    assert all(base64.b64decode(f["data"]).startswith(b"%PDF-1.4") for f in forms)
    assert report["identifier"][0]["system"] == "urn:oid:1.2.250.1.999.1"
    assert "basedOn" not in report  # no placer number: no order to point to


def test_a_cancelled_order_s_results():
    resources = mapped("oru-cancelled.hl7")
    report, (quick,) = report_of(resources), by_code(resources).values()
    assert report["status"] == "cancelled"
    assert quick["status"] == "cancelled"
    assert quick["note"] == [{"text": "Tube coagulé, prélèvement à refaire."}]


def test_the_same_message_gives_the_same_bytes():
    for path in sorted(DATA.glob("oru-*.hl7")):
        once = orjson.dumps(mapped(path.name))
        assert orjson.dumps(mapped(path.name)) == once


def test_only_the_first_patient_s_results_are_this_patient_s():
    raw = ("MSH|^~\\&|LABO|CHU|RELEVE|CHU|20260114083000||ORU^R01|B-1|P|2.5\r"
           "PID|1||111^^^CHU^PI||UN^Patient\r"
           "OBR|1||F-1^LABO|GLY^Glycémie^L|||20260114070000||||||||||||||20260114080000||CH|F\r"
           "OBX|1|NM|2345-7^Glucose^LN||5.1|mmol/L|3.9-5.8|N|||F\r"
           "PID|2||222^^^CHU^PI||DEUX^Patient\r"
           "OBR|1||F-2^LABO|GLY^Glycémie^L|||20260114070000||||||||||||||20260114080000||CH|F\r"
           "OBX|1|NM|2345-7^Glucose^LN||9.9|mmol/L|3.9-5.8|H|||F\r").encode()
    resources = result_resources(message.read(raw), PATIENT)
    assert len(resources) == 2
    assert by_code(resources)["2345-7"]["valueQuantity"]["value"] == 5.1


@pytest.mark.parametrize(("text", "expected"), [
    ("3.5-5.1", {"low": 3.5, "high": 5.1}), ("3,5 - 5,1", {"low": 3.5, "high": 5.1}),
    ("-2-2", {"low": -2, "high": 2}), ("<5", {"high": 5}), ("< 0.5", {"high": 0.5}),
    (">10", {"low": 10}), ("≥ 60", {"low": 60}),
])
def test_reference_ranges(text, expected):
    found = reference_range(text, "mmol/L", "mmol/L")
    assert {side: found[side]["value"] for side in found} == expected
    assert all(found[side]["code"] == "mmol/L" for side in found)


def test_ranges_and_numbers_that_are_not_numbers():
    assert reference_range("Négatif", None, None) == {"text": "Négatif"}
    assert reference_range("", None, None) is None
    assert decimal("12,40") == 12.4 and decimal("140") == 140 and decimal("+3") == 3
    assert decimal("FEW") is None and decimal("1.2.3") is None


@pytest.mark.parametrize(("unit", "system", "code"), [
    ("G/L", None, "10*9/L"), ("g/L", None, "g/L"), ("g/l", None, "g/L"), ("µmol/l", None, "umol/L"),
    ("UI/L", None, "[IU]/L"), ("mmHg", None, "mm[Hg]"), ("10*3/uL", None, "10*3/uL"),
    ("{cells}/uL", "UCUM", "{cells}/uL"), ("cp", None, None), ("croix", None, None),
])
def test_ucum_codes_only_when_sure(unit, system, code):
    assert ucum_code(unit, system) == code


def test_a_correction_sending_one_result_keeps_the_report_s_others():
    """OBR-25 C with only the corrected OBX (no flag, no comment this time), then a bare
    deletion: the report still lists its seven results; the potassium is the corrected
    one, its old flag and comment gone with its old value; the deleted creatinine keeps
    what it was, marked entered-in-error (the station counts it, never shows it)."""
    from releve.capture.hl7.mapping import project

    head = ("MSH|^~\\&|LABO|CHU_NORD|RELEVE|CHU_NORD|{}||ORU^R01^ORU_R01|{}|P|2.5\r"
            "PID|1||123456^^^CHU_NORD&1.2.250.1.71.4.2.2.1&ISO^PI||DUPONT^Marie\r"
            "OBR|1|CMD-7781^DPI|LB-26-0114-01^LABO|IONO^Ionogramme sanguin^L||||||||||||||||||||CH|C\r")
    corrected = (head.format("20260114110000", "LAB-0010")
                 + "OBX|2|NM|2823-3^Potassium^LN||4.6|mmol/L|3.5-5.1||||C\r").encode()
    deleted = (head.format("20260114113000", "LAB-0011")
               + "OBX|3|NM|2160-0^Créatinine^LN||||||||D\r").encode()
    found = project([message.read(raw) for raw in (
        (DATA / "oru-lab-loinc.hl7").read_bytes(), corrected, deleted)], "1.2.250.1.71.4.2.2.1|123456")
    (report,) = [r for r in found.values() if r["resourceType"] == "DiagnosticReport"]
    results = by_code([r for r in found.values() if r["resourceType"] == "Observation"])
    assert report["status"] == "corrected"
    assert [ref["reference"] for ref in report["result"]] == [
        f"Observation/{results[code]['id']}" for code in
        ("2951-2", "2823-3", "2160-0", "1988-5", "6690-2", "718-7", "8867-4")]
    assert report["conclusion"] == "Bilan du matin."
    # no OBR-22 this time: issued when the last version was sent; taken when first said
    assert report["issued"] == results["2160-0"]["issued"] == "2026-01-14T11:30:00+01:00"
    assert report["effectiveDateTime"] == results["2823-3"]["effectiveDateTime"] == "2026-01-14T07:15:00+01:00"
    potassium = results["2823-3"]
    assert potassium["status"] == "corrected"
    assert shown(potassium) == ("4,6", "mmol/L", "", "3,5 – 5,1 mmol/L")
    assert "interpretation" not in potassium and "note" not in potassium
    assert shown(results["2951-2"])[0] == "138"
    creatinine = results["2160-0"]
    assert creatinine["status"] == "entered-in-error"
    assert creatinine["valueQuantity"]["value"] == 92
    assert creatinine["code"]["text"] == "Créatinine"
