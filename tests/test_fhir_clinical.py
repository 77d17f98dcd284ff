"""The clinical rules of fhir/clinical, on resources written by hand from the FHIR R4
definitions: the one reading the summary, the census and the printouts share."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from releve.fhir.clinical import alerts, allergies, orders

PARIS = ZoneInfo("Europe/Paris")
NOW = dt.datetime(2026, 1, 14, 10, tzinfo=PARIS)
SNOMED = "http://snomed.info/sct"


def _status(system: str, code: str) -> dict:
    return {"coding": [{"system": f"http://terminology.hl7.org/CodeSystem/{system}", "code": code}]}


def test_allergy_kinds_set_aside_and_no_known_allergy() -> None:
    plain = {"code": {"text": "Pénicilline"}}
    assert allergies.kind(plain) == allergies.ALLERGY  # no status at all: still an allergy
    for clinical in ("inactive", "resolved"):
        assert allergies.kind({**plain, "clinicalStatus": _status("allergyintolerance-clinical", clinical)}) is None
    for verification in ("refuted", "entered-in-error"):
        resource = {**plain, "verificationStatus": _status("allergyintolerance-verification", verification)}
        assert allergies.kind(resource) is None
    unconfirmed = {**plain, "verificationStatus": _status("allergyintolerance-verification", "unconfirmed")}
    assert allergies.kind(unconfirmed) == allergies.ALLERGY
    none = {"code": {"coding": [{"system": SNOMED, "code": "409137002"}]}}
    assert allergies.kind(none) == allergies.STATEMENT
    assert allergies.no_allergy_text(none) == "409137002"  # the code is all it says
    assert allergies.no_allergy_text({"code": {"coding": [{"code": "716186003"}], "text": "NKA"}}) == "NKA"
    mistaken = {**none, "verificationStatus": _status("allergyintolerance-verification", "entered-in-error")}
    assert allergies.kind(mistaken) is None
    assert [allergies.state(a, s) for a, s in ((1, 1), (0, 1), (0, 0))] == ["known", "none", "unknown"]


def test_high_risk_is_criticality_or_a_severe_reaction_or_anaphylaxis() -> None:
    def high(**more) -> bool:
        return allergies.high_risk({"code": {"text": "X"}, **more})

    assert high(criticality="high")
    assert not high(criticality="low") and not high(criticality="unable-to-assess") and not high()
    assert high(reaction=[{"severity": "mild"}, {"severity": "severe"}])
    assert high(criticality="low", reaction=[{"severity": "severe"}])  # the fact wins
    assert not high(reaction=[{"severity": "moderate", "manifestation": [{"text": "Urticaire"}]}])
    assert high(reaction=[{"manifestation": [{"coding": [{"system": SNOMED, "code": "39579001"}]}]}])
    assert high(reaction=[{"manifestation": [{"text": "Choc anaphylactique"}]}])
    assert high(reaction=[{"description": "Anaphylaxis after the first dose"}])
    assert not high(reaction="severe") and not high(criticality=["high"])  # wrong types: no crash
    assert allergies.worst_severity({"reaction": [{"severity": "mild"}, {"severity": "moderate"}]}) == "moderate"


def test_allergy_substance_and_manifestations() -> None:
    resource = {"reaction": [{"substance": {"text": "Amoxicilline"},
                              "manifestation": [{"text": "Urticaire"}, {"text": "Urticaire"}]},
                             {"description": "Malaise"}]}
    assert allergies.substance(resource) == "Amoxicilline"
    assert allergies.manifestations(resource) == ["Urticaire", "Malaise"]
    assert allergies.substance({}) == allergies.UNNAMED


def test_order_current_by_status_and_end() -> None:
    def order(status: str = "active", end: str | None = None, validity: str | None = None) -> dict:
        repeat: dict = {"frequency": 1, "period": 1, "periodUnit": "d"}
        if end:
            repeat["boundsPeriod"] = {"start": "2026-01-01", "end": end}
        found: dict = {"status": status, "dosageInstruction": [{"timing": {"repeat": repeat}}]}
        if validity:
            found["dispenseRequest"] = {"validityPeriod": {"end": validity}}
        return found

    assert orders.standing(order(), NOW, PARIS).current
    assert orders.standing(order("on-hold"), NOW, PARIS).current
    for status in ("stopped", "completed", "cancelled", "draft", "entered-in-error", "unknown"):
        assert not orders.standing(order(status), NOW, PARIS).current
    # an end date includes its day
    assert orders.standing(order(end="2026-01-14"), NOW, PARIS) == orders.Standing(True, end="2026-01-14")
    # an end that passed while the HIS says active: still current, marked ended, to check
    ended = orders.standing(order(end="2026-01-13"), NOW, PARIS)
    assert ended == orders.Standing(True, ended="2026-01-13", end="2026-01-13")
    assert orders.standing(order(end="2026-01-14T09:00:00+01:00"), NOW, PARIS).ended
    # the dispense validity is not the end of treatment
    assert orders.standing(order(validity="2026-01-10"), NOW, PARIS) == orders.Standing(True)
    both = order(end="2026-01-13")
    both["dosageInstruction"].append({"timing": {"repeat": {"boundsPeriod": {"end": "2026-02-01"}}}})
    assert orders.order_end(both, PARIS) == "2026-02-01" and orders.standing(both, NOW, PARIS).current
    assert orders.standing(order("stopped"), NOW, PARIS).reason_text == "arrêtée"
    assert orders.standing(order(), NOW, PARIS, {"status": "finished"}).reason == orders.STAY_ENDED


def test_flags_kinds_and_diets() -> None:
    fall = {"status": "active", "code": {"coding": [{"system": SNOMED, "code": "129839007"}]}}
    assert alerts.flag_active(fall, NOW, PARIS) and alerts.flag_kind(fall) == alerts.FALL
    assert not alerts.flag_active({**fall, "status": "inactive"}, NOW, PARIS)
    assert not alerts.flag_active({**fall, "period": {"end": "2026-01-13"}}, NOW, PARIS)
    assert alerts.flag_active({**fall, "period": {"end": "2026-01-14"}}, NOW, PARIS)
    assert alerts.flag_kind({"code": {"coding": [{"code": "304253006"}]}}) == alerts.DNR
    assert alerts.flag_kind({"code": {"text": "Ne pas réanimer"}}) == alerts.DNR
    assert alerts.flag_kind({"code": {"text": "BMR"}, "category": [{"text": "Isolement"}]}) == alerts.ISOLATION
    assert alerts.flag_kind({"code": {"text": "Patient sourd"}}) == alerts.OTHER
    diet = {"status": "active", "oralDiet": {"type": [{"text": "Hyposodé"}, {"text": "Diabétique"}]}}
    assert alerts.diet_in_force(diet) and alerts.diet_text(diet) == "Hyposodé, Diabétique"
    assert alerts.diet_in_force({**diet, "status": "on-hold"}) and alerts.diet_suspended({**diet, "status": "on-hold"})
    assert not alerts.diet_in_force({**diet, "status": "draft"})
    assert alerts.diet_text({"oralDiet": {"instruction": "Eau gélifiée"}}) == "Eau gélifiée"
