"""Today's inpatients: the whole picture a ward needs during downtime. The stay (through
the emergency department or not), its diagnosis and bed, its orders and administrations
(medication.py), vital signs at the ward's rounds, results at the morning panels, the
flags that must catch the eye, and the diet order.
"""

from __future__ import annotations

from datetime import timedelta

from . import build as b
from .catalog import SNOMED
from .catalog.drugs import DRUGS
from .catalog.profiles import Profile
from .chart import Chart, blood_group, condition, encounter, panel, staff_ref, vital
from .medication import prescribe
from .site import Bed, Unit
from .stays import emergency_visit, operative_report
from .trends import Trend

ADMIT_SOURCE = "http://terminology.hl7.org/CodeSystem/admit-source"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
PANEL_HOUR = "06:30"
VITAL_TIMES = ("07:00", "15:00", "22:00")
ICU_TIMES = tuple(f"{h:02d}:00" for h in range(0, 24, 2))
RESPIRATORY = {"icu", "infection", "sepsis", "worsening", "heart_failure"}


def inpatient(chart: Chart, bed: Bed, admitted: int, via_ed: bool, profile: Profile) -> str:
    """Today's inpatient in `bed`, here for `profile`: the whole picture a ward needs
    during downtime. Returns the Encounter id."""
    rng = chart.rng
    now = chart.now
    unit = bed.unit
    service = unit.care_service()
    attending = chart.doctor(unit)
    if via_ed:
        arrival = admitted - rng.randint(3, 9) * b.HOUR
        emergency_visit(chart, arrival, admitted, admitted_to=unit, diagnosis=profile.diagnosis)
    enc = chart.new_id("enc")
    diagnosis = condition(chart, profile.diagnosis, "encounter-diagnosis", admitted, attending, enc)
    source = ("emd", "Urgences") if via_ed else (("outp", "Consultation externe")
                                                if profile.procedure else ("mp", "Médecin traitant"))
    encounter(chart, "IMP", "in-progress", admitted, None, unit, attending, profile.diagnosis,
              diagnosis, rid=enc,
              locations=[(bed.id, bed.name, "bd", admitted, None), (unit.id, unit.name, "wa", admitted, None)],
              hospitalization={"admitSource": b.concept(ADMIT_SOURCE, *source)})
    nurse = chart.nurse(unit)
    vital(chart, "weight", chart.person.weight + (0 if profile.scenario != "heart_failure" else 5),
          admitted + b.HOUR // 2, enc, nurse)
    trend = chart.trend(profile.scenario)
    span = max(1, now - admitted)
    glycaemia: dict[int, float] = {}
    if chart.diabetic():
        for ts in chart.times_of_day(max(admitted, now - 5 * b.DAY), DRUGS["insu_scale"].times, now):
            value = trend.at("glyc", (ts - admitted) / span)
            glycaemia[ts] = round(value, 2)
            vital(chart, "glyc", value, ts, enc, chart.nurse(unit))
    prescribe(chart, profile, unit, enc, admitted, attending, diagnosis, glycaemia)
    _vitals(chart, trend, profile, unit, enc, admitted)
    _labs(chart, trend, profile, enc, admitted)
    if profile.procedure:
        blood_group(chart, admitted + b.HOUR, enc)
        operated = admitted + rng.randint(2, 20) * b.HOUR
        if operated < now - 3 * b.HOUR:
            operative_report(chart, profile.procedure, unit, operated, enc, as_pdf=True)
    elif service.kind in ("icu", "maternity") or rng.random() < 0.3:
        blood_group(chart, admitted + b.HOUR, enc)
    flags(chart, unit, enc, admitted, profile)
    diet(chart, unit, enc, admitted, profile)
    return enc


def _vitals(chart: Chart, trend: Trend, profile: Profile, unit: Unit, enc: str, admitted: int) -> None:
    now = chart.now
    service = unit.care_service()
    icu = service.kind == "icu"
    hours = ICU_TIMES if icu else VITAL_TIMES
    morning = "08:00" if icu else "07:00"  # pain score and the heart-failure weight
    since = max(admitted, now - (2 if icu else 4) * b.DAY)
    span = max(1, now - admitted)
    breathing = icu or profile.scenario in RESPIRATORY or service.code == "pneu"
    pain = service.kind in ("surgery", "oncology") or profile.scenario == "postop"
    d = b.paris_date(since)
    while d <= chart.today:
        for hhmm in hours:
            ts = b.at(d, hhmm)
            if not since <= ts <= now:
                continue
            f = (ts - admitted) / span
            nurse = chart.nurse(unit)
            vital(chart, "hr", trend.at("hr", f), ts, enc, nurse)
            vital(chart, "bp", trend.at("sys", f), ts, enc, nurse, diastolic=trend.at("dia", f))
            vital(chart, "temp", trend.at("temp", f), ts, enc, nurse)
            vital(chart, "spo2", trend.at("spo2", f), ts, enc, nurse)
            if breathing:
                vital(chart, "rr", trend.at("rr", f), ts, enc, nurse)
            if hhmm == morning and pain:
                vital(chart, "pain", trend.at("pain", f), ts, enc, nurse)
            if hhmm == morning and profile.scenario == "heart_failure":
                vital(chart, "weight", trend.at("weight", f), ts, enc, nurse)
        d += timedelta(days=1)


def _labs(chart: Chart, trend: Trend, profile: Profile, enc: str, admitted: int) -> None:
    now = chart.now
    span = max(1, now - admitted)
    extra = profile.labs + (("gluc",) if chart.diabetic() else ())
    first = admitted + b.HOUR
    if first <= now - 3 * b.HOUR:
        panel(chart, trend, 0.0, first, enc, extra + (("hba1c",) if chart.diabetic() else ()))
    every = 1 if profile.scenario in ("sepsis", "worsening", "renal", "acs") else 2
    panels = chart.times_of_day(max(first + 12 * b.HOUR, now - 6 * b.DAY), (PANEL_HOUR,), now - 3 * b.HOUR)
    for number, ts in enumerate(reversed(panels)):
        if number % every == 0:
            panel(chart, trend, (ts - admitted) / span, ts, enc, extra)


def flags(chart: Chart, unit: Unit, enc: str, admitted: int, profile: Profile) -> None:
    """Fall risk, isolation precautions, do-not-resuscitate: what must catch the eye."""
    rng = chart.rng
    age = chart.person.age
    kind = unit.care_service().kind
    wanted: list[tuple[str, str | None, str, str]] = []  # (category, SNOMED, text, SNOMED display)
    if (age >= 75 or kind in ("geriatrics", "rehab")) and rng.random() < 0.7:
        wanted.append(("safety", "129839007", "Risque de chute", "À risque de chute"))
    if rng.random() < 0.06:
        wanted.append(("safety", None, "Précautions complémentaires contact (BMR)", ""))
    elif profile.diagnosis in ("J21.9", "J18.9") and rng.random() < 0.4:
        wanted.append(("safety", None, "Précautions complémentaires gouttelettes", ""))
    if (age >= 85 and rng.random() < 0.25) or (kind == "icu" and rng.random() < 0.1) or \
            (profile.diagnosis == "C34.9" and rng.random() < 0.3):
        wanted.append(("advance-directive", "304253006", "Ne pas réanimer (limitation des "
                                                          "thérapeutiques actives)", "Ne pas réanimer"))
    author = chart.doctor(unit)
    for category, snomed, text, display in wanted:
        rid = chart.new_id("flg")
        start = admitted + rng.randint(1, 12) * b.HOUR
        start = min(start, chart.now - 600)
        resource = chart.header("Flag", rid, start)
        code = b.concept(SNOMED, snomed, display, text) if snomed else b.text_concept(text)
        resource.update({
            "status": "active",
            "category": [b.concept(FLAG_CATEGORY, category,
                                   "Sécurité" if category == "safety" else "Directives anticipées")],
            "code": code,
            "subject": chart.patient_ref,
            "period": b.period(start),
            "encounter": b.ref(f"Encounter/{enc}"),
            "author": staff_ref(author),
        })
        chart.out.append(resource)


def diet(chart: Chart, unit: Unit, enc: str, admitted: int, profile: Profile) -> None:
    """The diet order the kitchen and the ward both need."""
    rng = chart.rng
    kind = unit.care_service().kind
    age = chart.person.age
    texture = None
    if kind == "icu":
        label, instruction = "À jeun", "Nutrition entérale par sonde selon le protocole du service"
    elif age < 2:
        label, instruction = "Alimentation lactée infantile", "Biberons à la demande"
    elif chart.diabetic():
        label, instruction = "Régime diabétique", "Glucides répartis sur trois repas, pas de sucres rapides"
    elif profile.scenario == "heart_failure" or chart.has("I10"):
        label, instruction = "Régime hyposodé", "Sel limité à 4 g par jour"
    else:
        label, instruction = "Régime normal", ""
    if kind == "geriatrics" and rng.random() < 0.4:
        texture = "Texture mixée"
    rid = chart.new_id("nut")
    written = min(chart.now - 600, admitted + rng.randint(1, 6) * b.HOUR)
    resource = chart.header("NutritionOrder", rid, written)
    resource.update({
        "status": "active", "intent": "order",
        "patient": chart.patient_ref,
        "encounter": b.ref(f"Encounter/{enc}"),
        "dateTime": b.instant(written),
        "orderer": staff_ref(chart.doctor(unit)),
    })
    food = [a for a in chart.allergies if a[3] == "food"]
    if food:
        resource["allergyIntolerance"] = [b.ref(f"AllergyIntolerance/{rid_}") for rid_, _, _, _ in food]
    if rng.random() < 0.08:
        resource["foodPreferenceModifier"] = [b.text_concept("Sans porc")]
    if food:
        resource["excludeFoodModifier"] = [b.concept(SNOMED, code, name) for _, code, name, _ in food]
    oral: dict = {"type": [b.text_concept(label)]}
    if texture:
        oral["texture"] = [{"modifier": b.text_concept(texture)}]
    if instruction:
        oral["instruction"] = instruction
    resource["oralDiet"] = oral
    chart.out.append(resource)
