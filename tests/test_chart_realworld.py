"""The chart on FHIR we did not write: code status and advance directives, care plans,
history, devices, units and dates as a ward writes them, deceased patients, nothing
hidden, and documents inside the station's frame.

The resources are written by hand from the FHIR R4 definitions (Consent, Flag,
DocumentReference, CarePlan, Goal, Immunization, Procedure, DeviceUseStatement, Device,
Observation...), in the shapes other HIS send: codes without displays, partial dates,
decimals with trailing zeros, UCUM codes as units, offsets missing. The page tests go the
real way: ndjson imported into a vault, a station synced from it, pages over HTTP.
"""

from __future__ import annotations

import base64
import html
import re
import sqlite3
from pathlib import Path

import markupsafe
import orjson
import pytest

from releve.fhir.clinical import alerts, code_status
from releve.fhir.clinical.values import load_written, quantity_text, unit_text
from releve.station.i18n import english
from releve.station.views import formats
from releve.station.views import summary as chart
from releve.station.views.summary.chart_labels import STATUS, TYPE_LABELS
from releve.station.web import base as web_base
from test_station_chart import _index, paris, serve, station_audit  # noqa: F401 - serve is a fixture

from conftest import StationFixture, _station_from

PID = "rw1"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SUBJECT = {"reference": f"Patient/{PID}"}
TEXT_DOC = "Je refuse l'acharnement thérapeutique. <b>Pas de réanimation</b> & pas d'intubation."
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def concept(code: str, system: str = SNOMED, display: str | None = None, text: str | None = None) -> dict:
    coding = {"system": system, "code": code, **({"display": display} if display else {})}
    return {"coding": [coding], **({"text": text} if text else {})}


def quantity(value: float, code: str) -> dict:
    return {"value": value, "unit": code, "system": UCUM, "code": code}


PATIENT = {"resourceType": "Patient", "id": PID, "birthDate": "1940-03-15", "gender": "female",
           "name": [{"use": "official", "family": "Durand", "given": ["Jeanne"]}],
           "identifier": [{"type": concept("PI", "http://terminology.hl7.org/CodeSystem/v2-0203"),
                           "value": "RW-0001"}]}

# what code status must show: (resource, text the code-status section must carry)
CODE_STATUS = [
    ({"resourceType": "Consent", "id": "cs-dnr", "status": "active",
      "scope": concept("adr", "http://terminology.hl7.org/CodeSystem/consentscope"),
      "category": [concept("dnr", "http://terminology.hl7.org/CodeSystem/consentcategorycodes")],
      "patient": SUBJECT, "dateTime": "2025-12-01",
      "provision": {"type": "deny", "code": [concept("89666000")]}}, "Ne pas réanimer"),
    ({"resourceType": "Flag", "id": "fl-lata", "status": "active", "subject": SUBJECT,
      "code": {"text": "LATA : pas de réintubation"}, "period": {"start": "2026-01-12"}},
     "Limitation des thérapeutiques actives"),
    ({"resourceType": "DocumentReference", "id": "doc-ad", "status": "current", "subject": SUBJECT,
      "type": concept("42348-3", LOINC), "date": "2024-02-02T10:00:00+01:00",
      "description": "Directives anticipées rédigées avec le médecin traitant",
      "content": [{"attachment": {"contentType": "text/plain; charset=utf-8", "data": b64(TEXT_DOC),
                                  "title": "Directives anticipées 2024"}}]}, "Directives anticipées 2024"),
]
# what code status must not show
NOT_CODE_STATUS = [
    {"resourceType": "Consent", "id": "cs-old", "status": "inactive", "patient": SUBJECT,
     "scope": concept("adr", "http://terminology.hl7.org/CodeSystem/consentscope"),
     "category": [concept("acd", "http://terminology.hl7.org/CodeSystem/consentcategorycodes")],
     "provision": {"type": "permit", "code": [{"text": "Réanimation souhaitée en 2015"}]}},
    {"resourceType": "Flag", "id": "fl-error", "status": "entered-in-error", "subject": SUBJECT,
     "code": {"text": "Ne pas réanimer (saisi sur le mauvais dossier)"}},
    {"resourceType": "DocumentReference", "id": "doc-old-ad", "status": "superseded", "subject": SUBJECT,
     "type": concept("75320-2", LOINC), "description": "Anciennes directives de 2012",
     "content": [{"attachment": {"contentType": "text/plain", "data": b64("2012")}}]},
]
CARE = [
    {"resourceType": "Goal", "id": "g1", "lifecycleStatus": "active", "subject": SUBJECT,
     "description": {"text": "Absence d'escarre"}, "target": [{"dueDate": "2026-02-01"}]},
    {"resourceType": "CarePlan", "id": "cp-skin", "status": "active", "intent": "plan", "subject": SUBJECT,
     "title": "Prévention des escarres", "period": {"start": "2026-01-10"},
     "goal": [{"reference": "Goal/g1"}],
     "activity": [{"detail": {"status": "in-progress", "code": {"text": "Changement de position toutes les 3 h"}}}]},
    {"resourceType": "CarePlan", "id": "cp-diab", "status": "active", "intent": "plan", "subject": SUBJECT,
     "category": [concept("698360004", display="Diabetes self management plan")],
     "contained": [{"resourceType": "Goal", "id": "g2", "lifecycleStatus": "active",
                    "description": {"text": "Équilibre glycémique"}, "subject": SUBJECT,
                    "target": [{"measure": {"text": "HbA1c"},
                                "detailQuantity": {"value": 7.0, "comparator": "<", "unit": "%",
                                                   "system": UCUM, "code": "%"}}]}],
     "goal": [{"reference": "#g2"}]},
]
IMMUNIZATIONS = [
    {"resourceType": "Immunization", "id": f"imm{year}", "status": "completed", "patient": SUBJECT,
     "vaccineCode": {"text": f"Vaccin de {year}"}, "occurrenceDateTime": f"{year}-10-0{year % 9 + 1}"}
    for year in range(2010, 2022)
] + [{"resourceType": "Immunization", "id": "imm-year", "status": "completed", "patient": SUBJECT,
      "vaccineCode": {"text": "DTP rappel"}, "occurrenceDateTime": "2023"}]
PROCEDURES = [
    {"resourceType": "Procedure", "id": "pr-app", "status": "completed", "subject": SUBJECT,
     "code": {"text": "Appendicectomie"}, "performedDateTime": "1998-05"},
    {"resourceType": "Procedure", "id": "pr-picc", "status": "completed", "subject": SUBJECT,
     "code": {"text": "Pose de PICC"}, "performedPeriod": {"start": "2026-01-10T09:00:00+01:00"}},
]
DEVICES = [
    {"resourceType": "Device", "id": "dev-picc", "status": "active", "patient": SUBJECT,
     "deviceName": [{"name": "PICC line 4 Fr", "type": "user-friendly-name"}],
     "type": concept("52124006", display="Central venous catheter")},
    {"resourceType": "DeviceUseStatement", "id": "dus-picc", "status": "active", "subject": SUBJECT,
     "device": {"reference": "Device/dev-picc"}, "timingDateTime": "2026-01-10T09:30:00+01:00",
     "bodySite": {"text": "Bras droit"}},
    {"resourceType": "Device", "id": "dev-urine", "status": "active", "patient": SUBJECT,
     "type": {"text": "Sonde urinaire"}},
]
OBSERVATIONS = [
    {"resourceType": "Observation", "id": "ob-wbc", "status": "final", "subject": SUBJECT,
     "category": [concept("laboratory", "http://terminology.hl7.org/CodeSystem/observation-category")],
     "code": concept("6690-2", LOINC, text="Leucocytes"), "effectiveDateTime": "2026-01-14T08:00:00+01:00",
     "valueQuantity": quantity(7.10, "10*3/uL")},
    {"resourceType": "Observation", "id": "ob-creat", "status": "final", "subject": SUBJECT,
     "code": {"text": "Créatinine"}, "effectiveDateTime": "2026-01-13T07:30:00",
     "valueQuantity": quantity(85, "umol/L")},
    {"resourceType": "Observation", "id": "ob-dfg", "status": "final", "subject": SUBJECT,
     "code": {"text": "DFG (CKD-EPI)"}, "effectiveDateTime": "2026-01-13T07:30:00+01:00",
     "valueQuantity": quantity(62, "mL/min/{1.73_m2}")},
    {"resourceType": "Observation", "id": "ob-hiv", "status": "final", "subject": SUBJECT,
     "code": {"text": "Sérologie VIH"}, "effectiveDateTime": "2026-01-12",
     "dataAbsentReason": concept("masked", "http://terminology.hl7.org/CodeSystem/data-absent-reason")},
]
# read by no section, read and not shown, or malformed: each with a text it carries
ELSEWHERE = [
    ({"resourceType": "RiskAssessment", "id": "ra1", "status": "final", "subject": SUBJECT,
      "code": {"text": "Score de Braden 12"}}, "Score de Braden 12"),
    ({"resourceType": "FamilyMemberHistory", "id": "fmh1", "status": "completed", "patient": SUBJECT,
      "name": "Paulette Durand", "relationship": {"text": "Mère"}}, "Paulette Durand"),
    ({"resourceType": "Specimen", "id": "sp1", "subject": SUBJECT, "type": {"text": "Sang veineux"}},
     "Sang veineux"),
    ({"resourceType": "ClinicalImpression", "id": "ci1", "status": "completed", "subject": SUBJECT,
      "description": "Patiente stable, douleur contrôlée"}, "Patiente stable, douleur contrôlée"),
    ({"resourceType": "WeirdLocalThing", "id": "w1", "subject": SUBJECT, "code": {"text": "Bracelet RFID"}},
     "Bracelet RFID"),
    ({"resourceType": "Condition", "id": "co-old", "subject": SUBJECT, "code": {"text": "Fracture du poignet"},
      "clinicalStatus": concept("resolved", "http://terminology.hl7.org/CodeSystem/condition-clinical"),
      "onsetDateTime": "2019"}, "Fracture du poignet"),
    ({"resourceType": "CarePlan", "id": "cp-done", "status": "completed", "intent": "plan", "subject": SUBJECT,
      "title": "Rééducation post-opératoire"}, "Rééducation post-opératoire"),
    ({"resourceType": "Consent", "id": "cs-privacy", "status": "active", "patient": SUBJECT,
      "scope": concept("patient-privacy", "http://terminology.hl7.org/CodeSystem/consentscope"),
      "category": [{"text": "Opposition au partage du dossier"}]}, "Opposition au partage du dossier"),
    ({"resourceType": "Encounter", "id": "enc-old", "status": "finished", "subject": SUBJECT,
      "class": {"code": "AMB"}, "type": [{"text": "Consultation de cardiologie"}],
      "period": {"start": "2025-06-03T09:00:00+02:00"}}, "Consultation de cardiologie (terminé)"),
    ({"resourceType": "Device", "id": "dev-old", "status": "inactive", "patient": SUBJECT,
      "type": {"text": "Stimulateur explanté"}}, "Stimulateur explanté"),
    # malformed: members of the wrong type
    ({"resourceType": "Procedure", "id": "pr-bad", "status": "completed", "subject": SUBJECT,
      "code": {"text": "Ponction lombaire"}, "performedPeriod": "hier", "bodySite": "dos"}, "Ponction lombaire"),
    ({"resourceType": "Immunization", "id": "imm-bad", "patient": SUBJECT, "vaccineCode": {"text": "BCG"},
      "protocolApplied": "une dose", "doseQuantity": 5}, "BCG"),
    ({"resourceType": "Goal", "id": "g-bad", "subject": SUBJECT, "description": {"text": "Marcher 20 m"},
      "target": "bientôt", "lifecycleStatus": 3}, "Marcher 20 m"),
]

DOCUMENTS = [
    {"resourceType": "DocumentReference", "id": "doc-pdf", "status": "current", "subject": SUBJECT,
     "type": {"text": "Compte rendu opératoire"}, "date": "2026-01-10",
     "content": [{"attachment": {"contentType": "application/pdf", "data": b64(PDF), "title": "CRO PICC"}}]},
    {"resourceType": "DocumentReference", "id": "doc-bin", "status": "current", "subject": SUBJECT,
     "type": {"text": "Lettre"}, "content": [{"attachment": {"contentType": "text/plain",
                                                             "url": "Binary/bin1", "title": "Lettre"}}]},
    {"resourceType": "Binary", "id": "bin1", "contentType": "text/plain",
     "securityContext": SUBJECT, "data": b64("Lettre de liaison : retour à domicile prévu.")},
]


def everything() -> list[dict]:
    return [PATIENT, *(r for r, _ in CODE_STATUS), *NOT_CODE_STATUS, *CARE, *IMMUNIZATIONS,
            *PROCEDURES, *DEVICES, *OBSERVATIONS, *(r for r, _ in ELSEWHERE), *DOCUMENTS,
            {"resourceType": "Patient", "id": "rw2", "birthDate": "1940-03-15",
             "deceasedDateTime": "2025-11-02T14:00:00+01:00",
             "name": [{"family": "Morel", "given": ["Louis"]}]},
            {"resourceType": "Patient", "id": "rw3", "birthDate": "1950-06-01", "deceasedBoolean": True,
             "name": [{"family": "Petit", "given": ["Anne"]}]}]


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory) -> StationFixture:
    inputs = tmp_path_factory.mktemp("realworld-inputs")
    lines = b"\n".join(orjson.dumps(r) for r in everything()) + b"\n"
    written = lines.replace(b'"value":7.1,"unit":"10*3/uL"', b'"value":7.10,"unit":"10*3/uL"')
    assert written != lines  # the decimal as a lab writes it, which no float gives back
    (inputs / "chart.ndjson").write_bytes(written)
    return _station_from(tmp_path_factory.mktemp("realworld"), inputs)


@pytest.fixture(scope="module")
def conn(station: StationFixture) -> sqlite3.Connection:
    return web_base.Station(station.dir).db()


@pytest.fixture
def page(station: StationFixture, serve) -> str:  # noqa: F811 - the fixture imported above
    return serve(station.dir).get(f"/patients/{PID}").text


def section(page: str, name: str) -> str:
    found = re.search(rf'<section class="{name}[^"]*".*?</section>', page, re.S)
    assert found, name
    return found[0]


def words(fragment: str) -> str:
    """The text of an HTML fragment as a reader sees it."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment)))


# --- 1. code status and advance directives -----------------------------------------------------


def test_code_status_at_the_top_in_words(page: str) -> None:
    status = section(page, "code-status")
    assert page.index('class="code-status') < page.index('class="allergies')
    shown = words(status)
    for _, text in CODE_STATUS:
        assert text in shown
    assert "refus : réanimation cardio-pulmonaire" in shown  # the Consent's provision: deny
    for bare in ("89666000", "42348-3", "dnr", "adr"):  # never a code without words
        assert bare not in shown
    for bare in ("89666000", "42348-3", "75320-2", "acd"):  # nor anywhere else on the page
        assert not re.search(rf"\b{bare}\b", words(page)), bare
    for text in ("2015", "saisi sur le mauvais dossier", "2012"):  # inactive, mistaken, superseded
        assert text not in shown
    assert shown.index("Ne pas réanimer") < shown.index("Limitation") < shown.index("Directives anticipées")
    assert f"/patients/{PID}/documents/doc-ad/view" in status


def test_code_status_rules() -> None:
    now, zone = paris(2026, 1, 14, 10), paris(2026, 1, 14, 10).tzinfo
    dnr_flag = {"resourceType": "Flag", "status": "active", "code": concept("304253006")}
    found = code_status.flag(dnr_flag, now, zone)
    assert found is not None and found.text == "Ne pas réanimer" and "304253006" not in found.detail
    ended = {**dnr_flag, "period": {"end": "2026-01-01"}}
    assert code_status.flag(ended, now, zone) is None
    polst = {"resourceType": "Consent", "status": "active",
             "category": [concept("polst", "http://terminology.hl7.org/CodeSystem/consentcategorycodes")]}
    assert code_status.consent(polst, now, zone).kind == code_status.POLST
    proxy = {"resourceType": "DocumentReference", "status": "current", "type": concept("64298-3", LOINC)}
    assert code_status.document(proxy).kind == code_status.PROXY
    report = {"resourceType": "DocumentReference", "status": "current", "type": {"text": "Compte rendu"}}
    assert code_status.document(report) is None
    fall = {"resourceType": "Flag", "status": "active", "code": {"text": "Risque de chute"}}
    assert code_status.flag(fall, now, zone) is None
    both = {"resourceType": "Flag", "status": "active",
            "code": concept("304253006", text="Ne pas réanimer (limitation des thérapeutiques actives)")}
    found = code_status.flag(both, now, zone)  # the demo hospital's: do-not-resuscitate first
    assert found.kind == code_status.DNR and "limitation" in found.detail
    for full_code in ("Réanimation : oui (code complet)", "Full code: resuscitate", "Réanimation polyvalente"):
        flag = {"resourceType": "Flag", "status": "active", "code": {"text": full_code}}
        assert alerts.flag_kind(flag) != alerts.DNR and code_status.flag(flag, now, zone) is None, full_code
    for dnr in ("DNR/DNI", "Pas de réanimation", "NTBR"):
        assert alerts.flag_kind({"code": {"text": dnr}}) == alerts.DNR, dnr
    mobility = {"resourceType": "Flag", "status": "active", "code": {"text": "Limitation des déplacements"}}
    assert code_status.flag(mobility, now, zone) is None  # a limitation, not of treatment
    record = {"resourceType": "DocumentReference", "status": "current", "type": {"text": "Fiche de réanimation"}}
    assert code_status.document(record) is None  # about resuscitation, not against it


def test_an_alert_coded_without_words_is_said_in_words() -> None:
    flags = [{"resourceType": "Flag", "id": "f1", "status": "active", "code": concept("304253006")},
             {"resourceType": "Flag", "id": "f2", "status": "active", "code": concept("999999")}]
    found = chart.summary(_index(flags), "p1", paris(2026, 1, 14, 10))
    assert sorted(f.text for f in found.flags) == ["Alerte (code 999999)", "Ne pas réanimer"]


def test_a_consent_to_resuscitation_is_never_do_not_resuscitate() -> None:
    now, zone = paris(2026, 1, 14, 10), paris(2026, 1, 14, 10).tzinfo
    scope = "http://terminology.hl7.org/CodeSystem/consentscope"

    def consent(scope_code: str, decision: str, act: dict) -> dict:
        return {"resourceType": "Consent", "status": "active", "scope": concept(scope_code, scope),
                "provision": {"type": decision, "code": [act]}}

    cpr = concept("89666000")
    full_code = code_status.consent(consent("adr", "permit", cpr), now, zone)
    assert full_code.kind == code_status.DIRECTIVE
    assert full_code.detail == "accord : réanimation cardio-pulmonaire"
    assert code_status.consent(consent("treatment", "permit", {"text": "Réanimation"}), now, zone) is None
    assert code_status.consent(consent("treatment", "deny", cpr), now, zone).kind == code_status.DNR
    dnr_order = concept("304253006", display="Not for resuscitation")
    assert code_status.consent(consent("adr", "permit", dnr_order), now, zone).kind == code_status.DNR
    assert code_status.consent(consent("adr", "deny", dnr_order), now, zone).kind == code_status.DIRECTIVE
    lata = {"text": "Limitation des thérapeutiques actives"}
    assert code_status.consent(consent("adr", "permit", lata), now, zone).kind == code_status.LIMITATION
    assert code_status.consent({**consent("adr", "permit", lata), "status": "rejected"}, now, zone) is None


# --- 2. care plans, history, devices -------------------------------------------------------------


def test_care_plans_with_goals_and_activities(page: str) -> None:
    shown = words(section(page, "care-plans"))
    for text in ("Prévention des escarres", "Absence d'escarre", "01/02/2026",
                 "Changement de position toutes les 3 h", "Diabetes self management plan",
                 "Équilibre glycémique", "HbA1c : <7,0 %", "Marcher 20 m"):
        assert text in shown, text
    assert "Rééducation post-opératoire" not in shown  # completed: listed with the others


def test_immunizations_and_procedures_dated_newest_first_all_reachable(page: str) -> None:
    vaccines = section(page, "history immunizations")
    shown = words(vaccines)
    order = [shown.index(f"Vaccin de {year}") for year in range(2021, 2009, -1)]
    assert order == sorted(order) and shown.index("DTP rappel") < order[0]
    assert "2023" in shown and "01/01/2023" not in shown  # a year only stays a year
    folded = vaccines[vaccines.index("<details"):]
    assert "Vaccin de 2010" in folded and "Vaccin de 2021" not in folded
    procedures = words(section(page, "history procedures"))
    assert procedures.index("Pose de PICC") < procedures.index("Appendicectomie")
    assert "10/01/2026" in procedures and "05/1998" in procedures and "01/05/1998" not in procedures


def test_devices_and_lines(page: str) -> None:
    devices = section(page, "devices")
    shown = words(devices)
    assert "PICC line 4 Fr" in shown and "Bras droit" in shown and "10/01/2026" in shown
    assert "Sonde urinaire" in shown and shown.count("PICC line 4 Fr") == 1
    assert devices.count('class="line"') == 2  # the PICC and the urinary catheter
    assert "Stimulateur explanté" not in shown


def test_a_contained_device_and_an_ended_statement() -> None:
    statements = [
        {"resourceType": "DeviceUseStatement", "id": "s1", "status": "active", "subject": {"reference": "Patient/p1"},
         "contained": [{"resourceType": "Device", "id": "d", "deviceName": [{"name": "Drain thoracique"}]}],
         "device": {"reference": "#d"}, "timingPeriod": {"start": "2026-01-13T15:00:00+01:00"}},
        {"resourceType": "DeviceUseStatement", "id": "s2", "status": "completed",
         "subject": {"reference": "Patient/p1"}, "device": {"reference": "Device/old"}},
        {"resourceType": "Device", "id": "old", "status": "active", "patient": {"reference": "Patient/p1"},
         "deviceName": [{"name": "Voie veineuse périphérique"}]},
    ]
    found = chart.summary(_index(statements), "p1", paris(2026, 1, 14, 10))
    assert [(d.text, d.kind, d.since) for d in found.chart.devices] == \
        [("Drain thoracique", "line", "2026-01-13T15:00:00+01:00")]
    unshown = {u.type: u.texts for u in found.chart.unshown}
    assert unshown["Device"] == ["Voie veineuse périphérique (non en vigueur)"]  # its statement ended


# --- 3. display ---------------------------------------------------------------------------------


def test_units_as_people_write_them() -> None:
    for ucum, shown in (("10*3/uL", "10³/µL"), ("10*9/L", "10⁹/L"), ("umol/L", "µmol/L"),
                        ("mL/min/{1.73_m2}", "mL/min/1,73 m²"), ("Cel", "°C"), ("%", "%"),
                        ("mm[Hg]", "mmHg"), ("ug/L", "µg/L"), ("kg/m2", "kg/m²"), ("[iU]/L", "UI/L"),
                        ("{beats}/min", "/min"), ("g/dL", "g/dL"), ("µmol/L", "µmol/L")):
        assert unit_text(ucum) == shown, ucum
    assert quantity_text({"value": 4.2, "code": "10*12/L"}) == "4,2 10¹²/L"


def test_decimals_as_written() -> None:
    found = load_written(b'{"valueQuantity": {"value": 7.10, "unit": "mmol/L"}, "n": [1.0, 2.50e1]}')
    assert quantity_text(found["valueQuantity"]) == "7,10 mmol/L"
    assert found["n"][0] == 1.0 and isinstance(found["n"][0], float)
    assert quantity_text({"value": 123.4567, "unit": "mg"}) == "123,4567 mg"
    assert quantity_text({"value": "0.50", "unit": "mg"}) == "0,50 mg"


def test_dates_in_french_form() -> None:
    zone = "Europe/Paris"
    assert formats.datetime_text("2026-01-14T09:00:00Z", zone) == "14/01/2026 10:00"
    assert formats.datetime_text("2026-01-14T10:00:00", zone) == "14/01/2026 10:00"  # no offset
    assert formats.date_text("2026-01-14T10:00", zone) == "14/01/2026"
    assert formats.date_text("2019", zone) == "2019" and formats.datetime_text("2019-03", zone) == "03/2019"
    assert formats.time_text("2026-01-14T10:05:00", zone) == "10:05"


def test_values_units_dates_on_the_page(page: str) -> None:
    results = words(section(page, "results"))
    assert "7,10 10³/µL" in results and "85 µmol/L" in results and "62 mL/min/1,73 m²" in results
    assert "masqué" in results
    assert "14/01/2026 08:00" in results and "13/01/2026 07:30" in results
    assert "T07:30" not in page and "10*3/uL" not in page and "umol/L" not in page


def test_absent_values_in_words() -> None:
    reasons = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
    for code, text in (("not-performed", "non mesuré"), ("unknown", "inconnu"), ("masked", "masqué")):
        observation = {"resourceType": "Observation", "id": code, "status": "final", "code": {"text": code},
                       "subject": {"reference": "Patient/p1"}, "dataAbsentReason": concept(code, reasons)}
        found = chart.summary(_index([observation]), "p1", paris(2026, 1, 14, 10))
        assert [r.latest.text for r in found.results] == [text]


def test_the_chart_in_english(station: StationFixture, serve) -> None:  # noqa: F811
    client = serve(station.dir)
    page = words(client.get(f"/patients/{PID}?lang=en").text)
    for text in ("Code status and advance directives", "Do not resuscitate", "Advance directives",
                 "Care plans and goals", "Immunizations", "Procedures", "Devices and lines in place",
                 "Not shown in the sections above"):
        assert text in page, text
    assert "Deceased on 02/11/2025, aged 85 y" in words(client.get("/patients/rw2?lang=en").text)


def test_deceased_patients(station: StationFixture, serve) -> None:  # noqa: F811
    client = serve(station.dir)
    dead = words(client.get("/patients/rw2").text)
    assert "Patient décédé le 02/11/2025, à 85 ans" in dead
    assert "(85 ans)" not in dead and "(86 ans)" not in dead  # no age today for the dead
    unknown_date = words(client.get("/patients/rw3").text)
    assert "Patient décédé" in unknown_date and "(75 ans)" not in unknown_date


def test_subject_that_is_a_contained_patient() -> None:
    observation = {"resourceType": "Observation", "id": "k", "status": "final",
                   "contained": [{"resourceType": "Patient", "id": "pat", "name": [{"family": "X"}]}],
                   "subject": {"reference": "#pat"}, "code": {"text": "Potassium"},
                   "valueQuantity": quantity(4.10, "mmol/L")}
    condition = {"resourceType": "Condition", "id": "c", "subject": {"reference": "#pat"},
                 "contained": [{"resourceType": "Patient", "id": "pat"}], "code": {"text": "Asthme"}}
    found = chart.summary(_index([observation, condition]), "p1", paris(2026, 1, 14, 10))
    assert [r.label for r in found.results] == ["Potassium"] and [p.text for p in found.problems] == ["Asthme"]


# --- 4. nothing hidden ----------------------------------------------------------------------------


def test_every_resource_appears_somewhere(page: str) -> None:
    shown = words(page)
    expected = [text for _, text in CODE_STATUS + ELSEWHERE]
    expected += [r["vaccineCode"]["text"] for r in IMMUNIZATIONS]
    expected += [r["code"]["text"] for r in PROCEDURES + OBSERVATIONS[1:]] + ["Leucocytes"]
    expected += ["Prévention des escarres", "Diabetes self management plan", "Absence d'escarre",
                 "PICC line 4 Fr", "Sonde urinaire", "Durand".upper(), "CRO PICC", "Lettre"]
    missing = [text for text in expected if text not in shown]
    assert not missing
    others = words(section(page, "others"))
    for rtype in ("RiskAssessment", "FamilyMemberHistory", "Specimen", "ClinicalImpression"):
        assert TYPE_LABELS[rtype] in others  # the type in words
    assert "Fracture du poignet (résolu)" in others and "Rééducation post-opératoire (terminé)" in others
    assert "Opposition au partage du dossier (" not in others  # in force, not code status: no reason
    assert "1 élément(s) marqué(s) comme saisi(s) par erreur" in others


def test_a_binary_is_shown_as_the_document_that_names_it() -> None:
    binary = {**DOCUMENTS[2], "securityContext": {"reference": "Patient/p1"}}
    loose = {**binary, "id": "bin2"}
    found = chart.summary(_index([DOCUMENTS[1], binary, loose]), "p1", paris(2026, 1, 14, 10))
    # the one no document names is a document of its own (test_chart_followups.py opens it)
    assert [(d.kind, d.id) for d in found.documents] == [("DocumentReference", DOCUMENTS[1]["id"]),
                                                         ("Binary", "bin2")]
    assert [o.type for o in found.others] == []


# --- 5. documents inside the station's frame --------------------------------------------------


def test_documents_open_in_the_frame(station: StationFixture, serve, tmp_path: Path) -> None:  # noqa: F811
    client = serve(station.dir)
    summary_page = client.get(f"/patients/{PID}").text
    assert f'href="/patients/{PID}/documents/doc-ad/view"' in summary_page
    text_page = client.get(f"/patients/{PID}/documents/doc-ad/view")
    assert text_page.status_code == 200
    body = text_page.text
    assert "DURAND Jeanne" in body and "RW-0001" in body  # the patient banner
    assert f'href="/patients/{PID}"' in body  # the way back
    assert str(markupsafe.escape(TEXT_DOC)) in body and "<b>Pas" not in body  # escaped
    pdf_page = client.get(f"/patients/{PID}/documents/doc-pdf/view").text
    assert f'<iframe class="document-frame" src="/patients/{PID}/documents/doc-pdf"' in pdf_page
    framed = client.get(f"/patients/{PID}/documents/doc-pdf")
    assert framed.content == PDF and framed.headers["x-frame-options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in framed.headers["content-security-policy"]
    binary = client.get(f"/patients/{PID}/documents/doc-bin/view").text
    assert "Lettre de liaison" in words(binary)  # the Binary the URL names, read from the index
    assert client.get(f"/patients/{PID}/documents/doc-ad/view",
                      headers={"accept": "text/html"}).status_code == 200
    assert client.get("/patients/rw2/documents/doc-ad/view").status_code == 404  # not rw2's
    audited = [e for e in station_audit(station.dir) if e.page == "document" and e.patient == PID]
    assert {e.detail for e in audited} >= {"doc-ad", "doc-pdf", "doc-bin"}




# --- the English catalogue ---------------------------------------------------------------------


def test_every_new_text_has_english() -> None:
    texts = []
    for name in ("patient_chart.html", "patient_document.html"):
        template = (web_base.TEMPLATES / name).read_text()
        texts += re.findall(r'_\("((?:[^"\\]|\\.)*)"[,)]', template)
        texts += re.findall(r'chart\.dated\("[a-z]+", "([^"]+)", [^,]+, "([^"]+)"\)',
                            (web_base.TEMPLATES / "patient.html").read_text())[0]
    texts += [*code_status.LABELS.values(), *code_status.SOURCES.values(), *TYPE_LABELS.values(),
              *(v for v in STATUS.values() if v)]
    missing = [t for t in texts if t not in english()]
    assert not missing
