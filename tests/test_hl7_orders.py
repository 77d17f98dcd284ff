"""Orders (ORM^O01, OMG^O19, RDE^O11, RAS^O17) and appointments (SIU^S12-S15) mapped
to FHIR, read back through the station's own rules (fhir.clinical.orders, the MAR's
prescription text, the upcoming list's statuses), from messages in tests/data/hl7."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest

from releve.capture.hl7 import message
from releve.capture.hl7.mapping import ids
from releve.capture.hl7.mapping.appointments import appointment_resources
from releve.capture.hl7.mapping.orders import order_resources
from releve.fhir.clinical import orders as clinical
from releve.station.views import summary as chart
from releve.station.views.summary.medications import prescription_text
from releve.station.views.summary.timing import due_times
from test_station_chart import _index

DATA = Path(__file__).parent / "data" / "hl7"
PATIENT = ids.patient("1.2.250.1.71.4.2.2.1|123456")
PARIS = ZoneInfo("Europe/Paris")
NOW = dt.datetime(2026, 1, 14, 10, 0, tzinfo=PARIS)
STAY = "Encounter/" + ids.encounter("1.2.250.1.71.4.2.2.2|V2026-0042")
PATIENT_RESOURCE = {"resourceType": "Patient", "id": PATIENT, "name": [{"family": "DUPONT", "given": ["Marie"]}]}


def mapped(name: str) -> list[dict]:
    m = message.read((DATA / name).read_bytes())
    if name.startswith("siu-"):
        return appointment_resources(m, PATIENT)
    return order_resources(m, PATIENT)


def by_number(resources: list[dict]) -> dict[str, dict]:
    """Resources by their placer number (PLAC identifier)."""
    return {next(i["value"] for i in r["identifier"] if i["type"]["coding"][0]["code"] == "PLAC"): r
            for r in resources}


def test_new_service_requests():
    echo, bnp = mapped("orders-omg-new.hl7")
    assert echo["resourceType"] == bnp["resourceType"] == "ServiceRequest"
    assert echo["id"] == ids.make("sr", "placer|DPI|CMD-9100")
    assert (echo["status"], echo["intent"], echo["priority"]) == ("active", "order", "routine")
    assert echo["code"]["text"] == "Échographie cardiaque transthoracique"
    assert echo["occurrenceDateTime"] == "2026-01-15T09:30:00+01:00"  # TQ1-7
    assert echo["authoredOn"] == "2026-01-14T08:55:00+01:00"
    assert echo["requester"]["display"] == "BERNARD Hélène"
    assert echo["requester"]["reference"].startswith("Practitioner/v2-prac-")
    assert echo["reasonCode"][0]["coding"][0]["code"] == "I50.9"
    assert echo["note"] == [{"text": "Patient porteur d'un pace-maker."}]
    assert echo["encounter"] == {"reference": STAY}
    assert echo["subject"] == {"reference": f"Patient/{PATIENT}"}
    assert bnp["priority"] == "stat"  # ORC-7's TQ priority
    assert bnp["occurrenceDateTime"] == "2026-01-14T14:00:00+01:00"
    assert bnp["category"][0]["coding"][0]["code"] == "CH"


def test_a_cancelled_order_is_the_same_resource_revoked():
    (before,), (after,) = mapped("orders-omg-new.hl7")[:1], mapped("orders-omg-cancel.hl7")
    assert after["id"] == before["id"]
    assert after["status"] == "revoked"


def test_pharmacy_orders_read_as_the_station_reads_them():
    orders = by_number(mapped("orders-rde-new.hl7"))
    amox, para, heparin = orders["PRES-100"], orders["PRES-101"], orders["PRES-102"]
    assert amox["id"] == ids.make("mr", "placer|DPI|PRES-100")
    assert [i["value"] for i in amox["identifier"]] == ["PRES-100", "DISP-100"]
    for order in orders.values():
        assert order["resourceType"] == "MedicationRequest"
        assert (order["status"], order["intent"]) == ("active", "order")
        assert order["encounter"] == {"reference": STAY}
        assert clinical.standing(order, NOW, PARIS).current
    assert amox["medicationCodeableConcept"]["text"] == "Amoxicilline + acide clavulanique"
    assert prescription_text(clinical.dosages(amox)) == ("1 g", "Intraveineuse", "2 fois par jour à 08:00, 20:00")
    timing = amox["dosageInstruction"][0]["timing"]
    assert timing["repeat"]["timeOfDay"] == ["08:00:00", "20:00:00"]
    assert timing["repeat"]["boundsPeriod"] == {"start": "2026-01-14T08:00:00+01:00",
                                               "end": "2026-01-21T08:00:00+01:00"}
    due = due_times(timing, NOW, NOW + dt.timedelta(hours=24))
    assert [d.strftime("%d %H:%M") for d in due] == ["14 20:00", "15 08:00"]
    assert clinical.order_end(amox, PARIS) == "2026-01-21T08:00:00+01:00"
    dose, route, often = prescription_text(clinical.dosages(para))
    assert (dose, route) == ("500 – 1000 mg", "Voie orale")
    assert often == "Si douleur EVA > 3, 4 g par jour au plus"
    assert para["dosageInstruction"][0]["asNeededBoolean"] is True
    assert para["dosageInstruction"][0]["timing"]["repeat"]["period"] == 6
    assert para["note"] == [{"text": "Ne pas dépasser 4 g/24 h."}]
    assert prescription_text(clinical.dosages(heparin))[0] == "2 mL/h"


def test_stopping_and_holding_orders():
    before, after = by_number(mapped("orders-rde-new.hl7")), by_number(mapped("orders-rde-stop.hl7"))
    amox, para = after["PRES-100"], after["PRES-101"]
    assert amox["id"] == before["PRES-100"]["id"] and para["id"] == before["PRES-101"]["id"]
    assert amox["status"] == "stopped"
    standing = clinical.standing(amox, NOW, PARIS)
    assert not standing.current and standing.reason_text == "arrêtée"
    assert para["status"] == "on-hold"
    assert clinical.standing(para, NOW, PARIS).current  # on hold: still shown, no dose due


def test_an_older_pharmacy_order_with_rxo():
    (order,) = mapped("orders-orm-pharmacy.hl7")
    assert order["resourceType"] == "MedicationRequest"
    assert order["medicationCodeableConcept"]["coding"][0]["code"] == "J01DD04"
    assert order["authoredOn"] == "2026-01-14T06:55:00-05:00"
    repeat = order["dosageInstruction"][0]["timing"]["repeat"]
    assert (repeat["frequency"], repeat["period"], repeat["periodUnit"]) == (1, 8, "h")
    assert repeat["boundsPeriod"] == {"start": "2026-01-14T08:00:00-05:00"}
    assert prescription_text(clinical.dosages(order))[:2] == ("2 g", "Intravenous")


def test_administrations_point_to_their_order():
    orders = by_number(mapped("orders-rde-new.hl7"))
    given, refused = mapped("orders-ras.hl7")
    assert given["resourceType"] == refused["resourceType"] == "MedicationAdministration"
    assert given["request"] == {"reference": f"MedicationRequest/{orders['PRES-100']['id']}"}
    assert refused["request"] == {"reference": f"MedicationRequest/{orders['PRES-101']['id']}"}
    assert given["status"] == "completed"
    assert given["effectiveDateTime"] == "2026-01-14T08:05:00+01:00"
    assert given["dosage"]["dose"] == {"value": 1, "unit": "g", "system": "http://unitsofmeasure.org",
                                       "code": "g"}
    assert given["dosage"]["route"]["text"] == "Intraveineuse"
    assert given["context"] == {"reference": STAY}
    assert refused["status"] == "not-done"
    assert refused["statusReason"][0]["text"] == "Refus du patient"
    assert refused["performer"][0]["actor"]["display"] == "LEROY Claire"
    assert "dose" not in refused.get("dosage", {})
    assert given["id"] != refused["id"]


def _order(control: str, state: str, kind: str = "RDE^O11",
           segment: str = "RXE||N02BE01^Paracétamol^ATC|1|1|g") -> dict:
    raw = (f"MSH|^~\\&|DPI|CHU|RELEVE|CHU|20260114090000||{kind}|S-{control}{state}|P|2.5\r"
           "PID|1||123456^^^CHU^PI||DUPONT^Marie\r"
           f"ORC|{control}|P-1^DPI|||{state}\r{segment}\r").encode()
    (made,) = order_resources(message.read(raw), PATIENT)
    return made


@pytest.mark.parametrize(("control", "state", "medication", "service"), [
    ("NW", "", "active", "active"), ("NW", "IP", "active", "active"), ("CA", "", "cancelled", "revoked"),
    ("OC", "CA", "cancelled", "revoked"), ("DC", "", "stopped", "revoked"), ("HD", "", "on-hold", "on-hold"),
    ("RL", "HD", "active", "active"), ("SC", "CM", "completed", "completed"),
    ("SC", "ER", "entered-in-error", "entered-in-error"), ("XO", "", "active", "active"),
])
def test_order_status_rules(control, state, medication, service):
    assert _order(control, state)["status"] == medication
    assert _order(control, state, "OMG^O19", "OBR|1|P-1^DPI||NFS^Hémogramme^L")["status"] == service


def test_a_booking_its_reschedule_and_its_cancellation():
    (booked,), (moved,), (cancelled,) = (mapped(f"siu-{n}.hl7") for n in
                                         ("s12-booking", "s13-reschedule", "s15-cancel"))
    assert booked["id"] == moved["id"] == cancelled["id"] == ids.make("apt", "filler|AGENDA|AG-20260120-7")
    assert booked["status"] == "booked"
    assert (booked["start"], booked["end"], booked["minutesDuration"]) == (
        "2026-01-20T10:15:00+01:00", "2026-01-20T10:45:00+01:00", 30)
    assert booked["serviceType"][0]["text"] == "Consultation de cardiologie"
    assert booked["reasonCode"][0]["text"] == "Consultation de suivi"
    assert booked["comment"] == "Apporter l'échographie et les derniers bilans."
    assert booked["basedOn"] == [{"reference": "ServiceRequest/" + mapped("orders-omg-new.hl7")[0]["id"]}]
    patient, doctor, room = booked["participant"]
    assert patient["actor"] == {"reference": f"Patient/{PATIENT}"}
    assert doctor["actor"]["display"] == "BERNARD Hélène"
    assert doctor["type"][0]["text"] == "Cardiologue"
    assert room["actor"]["reference"] == "Location/" + ids.location("CHU_NORD", "CSCARD", "BOX3")
    assert room["actor"]["display"] == "Consultations cardiologie, box 3"
    assert all(p["status"] == "accepted" for p in booked["participant"])
    # rescheduled from the service's own start and a length in hours; a removed doctor is gone
    assert (moved["status"], moved["start"], moved["end"], moved["minutesDuration"]) == (
        "booked", "2026-01-22T14:30:00+01:00", "2026-01-22T15:30:00+01:00", 60)
    assert [p["actor"].get("display") for p in moved["participant"]] == [None, "BERNARD Hélène"]
    assert cancelled["status"] == "cancelled"
    assert cancelled["start"] == "2026-01-22T14:30:00+01:00"


def test_the_same_message_gives_the_same_bytes():
    for path in sorted([*DATA.glob("orders-*.hl7"), *DATA.glob("siu-*.hl7")]):
        once = orjson.dumps(mapped(path.name))
        assert once == orjson.dumps(mapped(path.name))
        assert once != b"[]"


def test_partial_and_deleted_administrations():
    raw = ("MSH|^~\\&|PLAN_SOINS|CHU|RELEVE|CHU|20260114091500||RAS^O17|PS-2|P|2.5\r"
           "PID|1||123456^^^CHU^PI||DUPONT^Marie\r"
           "ORC|RE|PRES-102^DPI\r"
           "RXA|0|1|20260114083000||B01AB01^Héparine sodique^ATC|20|mL|||||||||||||PA\r"
           "RXA|0|2|20260114090000||B01AB01^Héparine sodique^ATC|1|mL|||||||||||||CP|D\r").encode()
    partial, deleted = order_resources(message.read(raw), PATIENT)
    assert partial["status"] == "completed"
    assert partial["note"] == [{"text": "Administration partielle"}]
    assert partial["dosage"]["dose"]["value"] == 20
    assert deleted["status"] == "entered-in-error"
    assert partial["request"] == deleted["request"] == {
        "reference": "MedicationRequest/" + ids.make("mr", "placer|DPI|PRES-102")}


def test_the_station_s_summary_shows_what_the_feed_said():
    """The group's messages projected as the segment writer projects them (a later one
    updating what an earlier one made of the same thing): the summary shows corrected
    results, the report's PDF, current and stopped orders, the dose given, what is coming."""
    latest = projected(*(f"{name}.hl7" for name in (
        "oru-lab-loinc", "oru-pdf", "oru-lab-corrected", "orders-omg-new", "orders-rde-new",
        "orders-ras", "orders-rde-stop", "siu-s12-booking", "siu-s13-reschedule")))
    found = chart.summary(_index(list(latest.values()), PATIENT_RESOURCE), PATIENT, NOW)
    assert found is not None
    results = {s.label: s for s in found.results}
    potassium = results["Potassium"].latest
    assert (potassium.text, potassium.unit, potassium.flag) == ("4,6", "mmol/L", "")
    assert len(results["Potassium"].values) == 1  # corrected, not added
    assert "Créatinine" not in results  # deleted by the laboratory
    assert (results["Hémoglobine"].latest.text, results["Hémoglobine"].latest.flag) == ("7,9", "↓↓")
    assert results["Leucocytes"].latest.range == "4,0 – 10,0 G/L"  # as the laboratory wrote it
    assert results["Bactéries identifiées"].latest.text == "Staphylococcus aureus"
    assert [v.text for v in found.vitals[0].values] == ["88"]  # the pulse, among vital signs
    pdf = next(d for d in found.documents if d.kind == "DiagnosticReport" and d.content_type)
    assert (pdf.type, pdf.title, pdf.content_type, pdf.has_content) == (
        "Hémocultures", "Compte rendu de microbiologie", "application/pdf", True)
    current = {m.drug: m for m in found.medications}
    assert set(current) == {"Paracétamol", "Héparine sodique"}
    assert current["Paracétamol"].status == "on-hold"
    assert current["Héparine sodique"].dose == "2 mL/h"
    (stopped,) = found.not_current
    assert (stopped.drug, stopped.reason_text) == ("Amoxicilline + acide clavulanique", "arrêtée")
    given = {a.drug: a for a in found.administrations}
    assert given["Amoxicilline + acide clavulanique"].status == "completed"
    assert given["Paracétamol"].status == "not-done"
    assert given["Paracétamol"].reason == "Refus du patient"
    coming = [(u.kind, u.what, u.when) for u in found.upcoming]
    assert coming == [("ServiceRequest", "NT-proBNP", "2026-01-14T14:00:00+01:00"),
                      ("Appointment", "Consultation de cardiologie", "2026-01-22T14:30:00+01:00")]
    appointment = found.upcoming[1]
    assert appointment.who == ["BERNARD Hélène (Cardiologue)"]
    # the booking's comment and room, which the reschedule did not repeat, then its order's note
    assert appointment.note == "Apporter l'échographie et les derniers bilans. Patient porteur d'un pace-maker."
    assert appointment.where == "Consultations cardiologie, box 3"


# --- later messages update what earlier ones made (mapping.project, updates.py) -------------

SURVIVOR = "1.2.250.1.71.4.2.2.1|123456"
PID = "PID|1||123456^^^CHU_NORD&1.2.250.1.71.4.2.2.1&ISO^PI||DUPONT^Marie"


def sent(kind: str, control: str, when: str, *segments: str, sender: str = "PHARMA") -> bytes:
    """A message as a feed sends a status-only follow-up: MSH, PID and the bare segments."""
    head = f"MSH|^~\\&|{sender}|CHU_NORD|RELEVE|CHU_NORD|{when}||{kind}|{control}|P|2.5"
    return "\r".join([head, PID, *segments]).encode() + b"\r"


def projected(*arrived: str | bytes) -> dict[str, dict]:
    """What the group's messages give, in the order they arrived (a file name or bytes)."""
    from releve.capture.hl7.mapping import project

    raws = [(DATA / a).read_bytes() if isinstance(a, str) else a for a in arrived]
    return project([message.read(raw) for raw in raws], SURVIVOR)


def medication(found: dict[str, dict], number: str) -> dict:
    return found["MedicationRequest/" + ids.make("mr", f"placer|DPI|{number}")]


BARE_DC = sent("RDE^O11^RDE_O11", "PH-3010", "20260114160000",
               "ORC|DC|PRES-100^DPI|DISP-100^PHARMA||DC||||20260114155500",
               "RXE||J01CR02^Amoxicilline + acide clavulanique^ATC")


def test_a_status_only_stop_or_hold_keeps_the_dose_route_and_timing():
    """DC, HD with a bare RXE (the drug at most) after the full RDE: the orders are
    stopped and on hold, and still say what was given, how and when."""
    found = projected("orders-rde-new.hl7", BARE_DC,
                      sent("RDE^O11^RDE_O11", "PH-3011", "20260114160500",
                           "ORC|HD|PRES-101^DPI||||||||20260114160000", "RXE|"),
                      sent("RDE^O11^RDE_O11", "PH-3012", "20260114161000",
                           "ORC|HD|PRES-102^DPI", "RXE||B01AB01^Héparine sodique^ATC|||UI"))
    amox, para, heparin = (medication(found, n) for n in ("PRES-100", "PRES-101", "PRES-102"))
    assert amox["status"] == "stopped"
    assert clinical.standing(amox, NOW, PARIS).reason_text == "arrêtée"
    assert prescription_text(clinical.dosages(amox)) == ("1 g", "Intraveineuse", "2 fois par jour à 08:00, 20:00")
    assert clinical.order_end(amox, PARIS) == "2026-01-21T08:00:00+01:00"
    assert amox["authoredOn"] == "2026-01-14T08:00:00+01:00"  # when written, not when stopped
    assert amox["encounter"] == {"reference": STAY}
    assert [i["value"] for i in amox["identifier"]] == ["PRES-100", "DISP-100"]
    assert para["status"] == "on-hold" and clinical.standing(para, NOW, PARIS).current
    assert para["medicationCodeableConcept"]["text"] == "Paracétamol"  # the bare RXE named nothing
    assert prescription_text(clinical.dosages(para)) == (
        "500 – 1000 mg", "Voie orale", "Si douleur EVA > 3, 4 g par jour au plus")
    assert para["dosageInstruction"][0]["asNeededBoolean"] is True
    assert para["note"] == [{"text": "Ne pas dépasser 4 g/24 h."}]
    assert heparin["status"] == "on-hold"
    assert prescription_text(clinical.dosages(heparin))[:2] == ("2 mL/h", "Intraveineuse")


def test_a_late_older_status_message_does_not_win():
    """A hold sent before the stop but arriving after it: the stop stands, the dose stays,
    and the projection is the same bytes whatever the arrival order."""
    late_hold = sent("RDE^O11^RDE_O11", "PH-3009", "20260114120000", "ORC|HD|PRES-100^DPI", "RXE|")
    arrived = ("orders-rde-new.hl7", BARE_DC, late_hold)
    found = projected(*arrived)
    amox = medication(found, "PRES-100")
    assert amox["status"] == "stopped"
    assert clinical.standing(amox, NOW, PARIS).reason_text == "arrêtée"
    assert prescription_text(clinical.dosages(amox))[:2] == ("1 g", "Intraveineuse")
    assert orjson.dumps(projected(*reversed(arrived))) == orjson.dumps(found)


def test_a_cancelled_service_request_keeps_what_was_asked():
    """An OMG whose CA carries the order number and nothing else: revoked, and still
    saying what was asked, when and why."""
    cancel = sent("OMG^O19^OMG_O19", "DPI-5003", "20260114100000",
                  "ORC|CA|CMD-9100^DPI|||||||20260114095500", "OBR|1|CMD-9100^DPI", sender="DPI")
    found = projected("orders-omg-new.hl7", cancel)
    echo = found["ServiceRequest/" + ids.make("sr", "placer|DPI|CMD-9100")]
    assert echo["status"] == "revoked"
    assert echo["code"]["text"] == "Échographie cardiaque transthoracique"
    assert echo["occurrenceDateTime"] == "2026-01-15T09:30:00+01:00"
    assert echo["authoredOn"] == "2026-01-14T08:55:00+01:00"
    assert echo["reasonCode"][0]["coding"][0]["code"] == "I50.9"
    assert echo["note"] == [{"text": "Patient porteur d'un pace-maker."}]
    summary = chart.summary(_index(list(found.values()), PATIENT_RESOURCE), PATIENT, NOW)
    assert summary is not None
    assert [u.what for u in summary.upcoming] == ["NT-proBNP"]  # the cancelled echo is gone


def test_a_minimal_cancellation_keeps_the_appointment_s_time_and_place():
    """S12, S13 naming no place, then an S15 with a bare SCH: cancelled, at the time it
    was moved to, in the room booked first, with its doctor."""
    cancel = sent("SIU^S15^SIU_S12", "AG-103", "20260113110000",
                  "SCH||AG-20260120-7^AGENDA" + "|" * 23 + "Cancelled", sender="AGENDA")
    found = projected("siu-s12-booking.hl7", "siu-s13-reschedule.hl7", cancel)
    (appointment,) = [r for r in found.values() if r["resourceType"] == "Appointment"]
    assert appointment["status"] == "cancelled"
    assert (appointment["start"], appointment["end"], appointment["minutesDuration"]) == (
        "2026-01-22T14:30:00+01:00", "2026-01-22T15:30:00+01:00", 60)
    assert appointment["serviceType"][0]["text"] == "Consultation de cardiologie"
    assert [p["actor"]["reference"].partition("/")[0] for p in appointment["participant"]] == [
        "Patient", "Practitioner", "Location"]
    assert appointment["participant"][2]["actor"]["display"] == "Consultations cardiologie, box 3"
    assert appointment["participant"][1]["actor"]["display"] == "BERNARD Hélène"
