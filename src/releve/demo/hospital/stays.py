"""Stays and the care in them: past stays, emergency visits, and today's inpatients with
their orders, administrations of the last 48 hours, vital signs, results, diet and flags.

Only current inpatients get the full clinical picture (what a ward needs on the day);
an MPI patient from years ago gets what an HIS keeps of an old stay: the encounter, its
diagnosis, an admission panel and the letter.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from . import build as b
from .catalog import (
    ANTICOAGULANTS,
    ATC,
    AVOID,
    BASIC_PANEL,
    CHRONIC,
    DIAGNOSES,
    DIAGNOSIS_AGES,
    DRUGS,
    ED_REASONS,
    PROCEDURES,
    PROFILES,
    ROUTES,
    SERVICES,
    SNOMED,
    Drug,
    Profile,
)
from .chart import Chart, allergies, blood_group, condition, encounter, lab, staff_ref, vital
from .letters import document, letter_head
from .site import Bed, Staff, Unit
from .trends import Trend

ADMIT_SOURCE = "http://terminology.hl7.org/CodeSystem/admit-source"
DISCHARGE = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
MR_CATEGORY = "http://terminology.hl7.org/CodeSystem/medicationrequest-category"
MA_CATEGORY = "http://terminology.hl7.org/CodeSystem/medication-admin-category"
DOSE_TYPE = "http://terminology.hl7.org/CodeSystem/dose-rate-type"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
PRIORITY = "http://terminology.hl7.org/CodeSystem/v3-ActPriority"
EVOLUTION = {
    "infection": "Apyrexie obtenue sous antibiothérapie, syndrome inflammatoire en nette régression.",
    "sepsis": "Choc septique ayant nécessité un support vasopresseur, sevré au troisième jour ; "
              "antibiothérapie adaptée à l'antibiogramme.",
    "worsening": "Évolution d'abord défavorable, amélioration après adaptation du traitement.",
    "heart_failure": "Régression des signes congestifs sous diurétiques intraveineux.",
    "acs": "Coronarographie avec angioplastie et pose d'un stent actif ; suites simples.",
    "postop": "Suites opératoires simples, reprise du transit, cicatrice propre.",
    "renal": "Amélioration de la fonction rénale après réhydratation.",
    "anemia": "Transfusion de deux culots globulaires ; endoscopie sans saignement actif.",
    "stable": "Évolution favorable.",
}
NOT_DONE = ("Patient au bloc opératoire", "Refus du patient", "Patient à jeun (examen)",
            "Patient absent du service (imagerie)")
PANEL_HOUR = "06:30"
VITAL_TIMES = ("07:00", "15:00", "22:00")
ICU_TIMES = tuple(f"{h:02d}:00" for h in range(0, 24, 2))
RESPIRATORY = {"icu", "infection", "sepsis", "worsening", "heart_failure"}
PAST_STAYS = ((0, 12), (1, 45), (2, 25), (3, 12), (4, 6))
ADULT_REASONS = {"Douleur thoracique", "Malaise", "Lombalgie", "Confusion", "Déficit moteur brutal",
                 "Douleur de hanche après chute"}


def _ed_reason(chart: Chart, age: int) -> tuple[str, str, int]:
    """Why this patient came to the emergency department (children: children's reasons)."""
    reasons = [r for r in ED_REASONS if age >= 16 or r[0] not in ADULT_REASONS]
    return reasons[chart.rng.randrange(len(reasons))]


def pick_profile(chart: Chart, service_code: str, age: int) -> Profile:
    """A reason for a stay in that service that fits the patient's age and sex."""
    profiles = [p for p in PROFILES[service_code] if _fits(p.diagnosis, age, chart.person.gender)]
    profiles = profiles or list(PROFILES[service_code])
    return chart.rng.choices(profiles, weights=[p.weight for p in profiles])[0]


def _fits(diagnosis: str, age: int, gender: str) -> bool:
    low, high, sex = DIAGNOSIS_AGES.get(diagnosis, (0, 200, None))
    return low <= age <= high and sex in (None, gender)


def _diabetic(chart: Chart) -> bool:
    return chart.has("E11.9") or chart.has("E10.9")


def chronic_problems(chart: Chart) -> None:
    """The problem list: commoner with age, each may bring its usual treatment."""
    age = chart.person.age
    for code, min_age, p70, _ in CHRONIC:
        if age < min_age:
            continue
        chance = p70 * min(1.3, (age - min_age) / max(1, 70 - min_age))
        if chart.rng.random() < chance:
            onset = chart.now - chart.rng.randint(365, 365 * min(25, age - min_age + 1)) * b.DAY
            rid = condition(chart, code, "problem-list-item", onset)
            chart.chronic.append((rid, code))


def history(chart: Chart, before: int) -> None:
    """Allergies, problems and past stays, all ending before `before`."""
    rng = chart.rng
    allergies(chart)
    chronic_problems(chart)
    count = rng.choices([n for n, _ in PAST_STAYS], weights=[w for _, w in PAST_STAYS])[0]
    starts = sorted(rng.randint(chart.now - 8 * 365 * b.DAY, before - 3 * b.DAY) for _ in range(count))
    for number, start in enumerate(starts):
        limit = starts[number + 1] - b.DAY if number + 1 < len(starts) else before - b.DAY
        age = chart.person.age - (chart.now - start) // (365 * b.DAY)
        if age < 0 or limit < start + 6 * b.HOUR:
            continue
        unit = None if rng.random() < 0.25 else _unit_for(chart, age)
        if unit is None:
            emergency_visit(chart, start, min(limit, start + rng.randint(2, 7) * b.HOUR))
        else:
            past_stay(chart, unit, start, limit, age)
    if not chart.blood_typed and rng.random() < 0.4:
        blood_group(chart, chart.now - rng.randint(100, 3000) * b.DAY)


def _unit_for(chart: Chart, age: int) -> Unit | None:
    """A unit whose patients look like this one at that age."""
    female = chart.person.gender == "female"
    choices, weights = [], []
    for service in SERVICES:
        units = chart.site.by_service.get(service.code)
        if not units:
            continue
        kind = service.kind
        fits = (kind == "pediatrics") if age < 16 else {
            "pediatrics": False,
            "maternity": female and 18 <= age <= 44,
            "geriatrics": age >= 75,
            "rehab": age >= 40,
            "psychiatry": age <= 80,
        }.get(kind, True)
        if fits:
            choices.append(units)
            weights.append(service.share * (4 if kind == "maternity" else 1))
    if not choices:
        return None
    units = chart.rng.choices(choices, weights=weights)[0]
    return units[chart.rng.randrange(len(units))]


def _panel(chart: Chart, trend: Trend, fraction: float, when: int, enc: str | None,
           extra: tuple[str, ...] = ()) -> None:
    for key in BASIC_PANEL + extra:
        lab(chart, key, trend.at(key, fraction), when, enc)


def past_stay(chart: Chart, unit: Unit, start: int, limit: int, age: int) -> None:
    """A finished stay: encounter, diagnosis, admission (and discharge) panel, letters."""
    rng = chart.rng
    service = unit.care_service()
    profile = pick_profile(chart, service.code, age)
    length = max(0.5, min(service.max_stay_days * 0.8, rng.expovariate(3 / service.max_stay_days)))
    end = min(limit, start + int(length * b.DAY))
    if end <= start + 2 * b.HOUR:
        return
    attending = chart.doctor(unit)
    enc = chart.new_id("enc")
    lasting = profile.diagnosis[0] == "C" or chart.has(profile.diagnosis)
    cond = condition(chart, profile.diagnosis, "encounter-diagnosis", start, attending, enc,
                     abated=None if lasting else end)
    encounter(chart, "IMP", "finished", start, end, unit, attending, profile.diagnosis, cond, rid=enc,
              hospitalization={"dischargeDisposition": b.concept(DISCHARGE, "home", "Domicile")})
    trend = Trend(rng, profile.scenario, chart.person.gender == "male", _diabetic(chart),
                  chart.person.weight)
    _panel(chart, trend, 0.0, start + b.HOUR, enc, profile.labs)
    if end - start >= 3 * b.DAY:
        _panel(chart, trend, 1.0, end - 20 * b.HOUR, enc)
    recent = chart.now - end < 365 * b.DAY
    if profile.procedure:
        blood_group(chart, start + b.HOUR, enc)
        operative_report(chart, profile.procedure, unit, start + rng.randint(3, 20) * b.HOUR, enc,
                         as_pdf=recent)
    lines = letter_head(unit.name, "Compte rendu d'hospitalisation", chart.person.display,
                        b.fr_date(_birth_ts(chart)), chart.person.ipp)
    lines += [f"Hospitalisation du {b.fr_date(start)} au {b.fr_date(end)} en {unit.name}.", "",
              f"Motif : {DIAGNOSES[profile.diagnosis]}.",
              f"Antécédents : {_problems_text(chart)}.",
              f"Allergies : {_allergies_text(chart)}.", "",
              f"Évolution : {EVOLUTION[profile.scenario]}", "",
              "Traitement de sortie : " + _discharge_drugs(profile) + ".",
              f"Suivi : consultation de contrôle dans {rng.choice((2, 4, 6, 8))} semaines.", "",
              f"{attending.title}, {unit.name}"]
    chart.out.append(document(chart.new_id("doc"), "discharge", chart.pid, attending.id,
                              attending.title, end, lines, chart.now, enc, as_pdf=recent and rng.random() < 0.3,
                              setting=service.name))


def _birth_ts(chart: Chart) -> int:
    return b.at(chart.person.birth, "12:00")


def _problems_text(chart: Chart) -> str:
    names = [DIAGNOSES[code].split(",")[0].lower() for _, code in chart.chronic]
    return ", ".join(names) if names else "pas d'antécédent notable"


def _allergies_text(chart: Chart) -> str:
    names = [name.lower() for _, _, name, _ in chart.allergies]
    return ", ".join(names) if names else "aucune allergie connue"


def _discharge_drugs(profile: Profile) -> str:
    names = []
    for key in profile.orders:
        drug = DRUGS[key]
        if drug.route == "po" and drug.name not in names:
            names.append(drug.name)
    return ", ".join(names) if names else "traitement habituel inchangé"


def operative_report(chart: Chart, key: str, unit: Unit, when: int, enc: str | None,
                     as_pdf: bool) -> None:
    snomed, name, service_code, minutes, reason = PROCEDURES[key]
    surgeon = chart.doctor(unit)
    anesthetist = chart.doctor(chart.site.by_code["bloc"])
    lines = letter_head(unit.name, "Compte rendu opératoire", chart.person.display,
                        b.fr_date(_birth_ts(chart)), chart.person.ipp)
    lines += [f"Intervention : {name}, le {b.fr_date(when)}.",
              f"Opérateur : {surgeon.title}. Anesthésie générale : {anesthetist.title}.",
              f"Indication : {DIAGNOSES[reason]}.", "",
              "Installation en décubitus dorsal. Antibioprophylaxie par céfazoline 2 g IV.",
              "Intervention conduite selon la technique habituelle, sans incident peropératoire.",
              f"Durée : {minutes} minutes. Pertes sanguines estimées : {chart.rng.choice((50, 100, 200, 300))} mL.",
              "", "Consignes : lever précoce, prévention thromboembolique, surveillance de la "
                  "douleur et du pansement.", "", surgeon.title]
    chart.out.append(document(chart.new_id("doc"), "operative", chart.pid, surgeon.id, surgeon.title,
                              when + minutes * 60, lines, chart.now, enc, as_pdf=as_pdf,
                              setting=unit.service.name if unit.service else unit.name))


def emergency_visit(chart: Chart, start: int, end: int, admitted_to: Unit | None = None,
                    diagnosis: str | None = None) -> str:
    """A finished emergency visit: home with a note, or admitted for `diagnosis` (the
    stay follows)."""
    rng = chart.rng
    ed = chart.site.by_code["urg"]
    if diagnosis:
        reason, cim10, level = DIAGNOSES[diagnosis], diagnosis, rng.choice((2, 2, 3))
    else:
        reason, cim10, level = _ed_reason(chart, chart.person.age - (chart.now - start) // (365 * b.DAY))
    doctor = chart.doctor(ed)
    box = chart.site.ed_boxes[rng.randrange(len(chart.site.ed_boxes))]
    enc = chart.new_id("enc")
    disposition = (b.concept(DISCHARGE, "oth", "Hospitalisation", f"Hospitalisation en {admitted_to.name}")
                   if admitted_to else b.concept(DISCHARGE, "home", "Domicile"))
    encounter(chart, "EMER", "finished", start, end, ed, doctor, cim10 or reason, rid=enc,
              locations=[(box[0], box[1], "ro", start, end)],
              priority=_priority(level), hospitalization={"dischargeDisposition": disposition})
    if admitted_to is None:
        lines = letter_head(ed.name, "Compte rendu de passage aux urgences", chart.person.display,
                            b.fr_date(_birth_ts(chart)), chart.person.ipp)
        lines += [f"Arrivée le {b.fr_date(start)} - motif : {reason.lower()}.",
                  f"Tri infirmier : FRENCH {level}.",
                  "Examen clinique et bilan sans signe de gravité.",
                  "Orientation : retour à domicile avec consignes de surveillance écrites.", "",
                  doctor.title]
        chart.out.append(document(chart.new_id("doc"), "emergency", chart.pid, doctor.id,
                                  doctor.title, end, lines, chart.now, enc, setting=ed.name))
    return enc


def _priority(level: int) -> dict:
    code, display = {1: ("EM", "Urgence vitale"), 2: ("EM", "Urgence"), 3: ("UR", "Urgent"),
                     4: ("R", "Non urgent"), 5: ("R", "Non urgent")}[level]
    return b.concept(PRIORITY, code, display, f"Tri FRENCH {level} ({display.lower()})")


# --- today's inpatients ---------------------------------------------------------------


def _orders_for(chart: Chart, profile: Profile, kind: str) -> list[str]:
    """The profile's orders, the chronic treatments, then what allergies forbid."""
    orders = list(profile.orders)
    child = chart.person.age < 16
    if _diabetic(chart) and "insu_ivse" not in orders and kind != "psychiatry":
        orders += ["insu_glar", "insu_scale"]
    if chart.has("I10") and not {"amlo", "rami", "biso"} & set(orders) and kind != "icu":
        orders.append("amlo")
    if chart.has("E03.9"):
        orders.append("levo")
    if chart.has("I48.9") and kind != "icu" and not {"apix", "hep_ivse", "enox_cur"} & set(orders):
        orders = [o for o in orders if o != "enox_prev"] + ["apix"]
    if chart.person.age >= 75 and "macrogol" not in orders and chart.rng.random() < 0.3:
        orders.append("macrogol")
    if child:
        orders = ["para_ped" if o in ("para_po", "para_iv") else o for o in orders
                  if o not in ANTICOAGULANTS]
    for _, allergen, _, _ in chart.allergies:
        if allergen in AVOID:
            forbidden, replacement = AVOID[allergen]
            if forbidden & set(orders):
                orders = [o for o in orders if o not in forbidden]
                if replacement:
                    orders.append(replacement)
    seen: list[str] = []
    for order in orders:
        if order not in seen:
            seen.append(order)
    return seen


def _dose(drug: Drug, weight: float) -> float:
    if not drug.per_kg:
        return drug.dose
    dose = max(drug.step, round(drug.dose * weight / drug.step) * drug.step)
    return int(dose) if dose == int(dose) else round(dose, 2)


def _dose_quantity(drug: Drug, dose: float) -> dict:
    return b.quantity(dose, drug.unit, drug.ucum)


def _dosage(drug: Drug, dose: float, start: int, end: int | None) -> dict:
    route_code, route_name, _ = ROUTES[drug.route]
    repeat: dict = {"boundsPeriod": b.period(start, end), "frequency": drug.frequency,
                    "period": drug.period, "periodUnit": drug.period_unit}
    if drug.times:
        repeat["timeOfDay"] = [f"{t}:00" for t in drug.times]
    dosage: dict = {"sequence": 1,
                    "text": drug.text.format(dose=f"{b.fr_number(dose)} {drug.unit}"),
                    "timing": {"repeat": repeat}}
    if drug.prn:
        dosage["asNeededCodeableConcept"] = b.text_concept(drug.prn)
    dosage["route"] = b.concept(SNOMED, route_code, route_name)
    kind = b.concept(DOSE_TYPE, "ordered", "Ordered", "Prescrit")
    if drug.dose_range:
        low, high = drug.dose_range
        dosage["doseAndRate"] = [{"type": kind, "doseRange": {"low": _dose_quantity(drug, low),
                                                              "high": _dose_quantity(drug, high)}}]
    elif drug.continuous:
        dosage["doseAndRate"] = [{"type": kind, "rateQuantity": _dose_quantity(drug, dose)}]
    else:
        dosage["doseAndRate"] = [{"type": kind, "doseQuantity": _dose_quantity(drug, dose)}]
    return dosage


def _sliding_scale(glycaemia: float) -> int:
    return 0 if glycaemia < 1.8 else 2 if glycaemia < 2.5 else 4 if glycaemia < 3.0 else 6


def medication_order(chart: Chart, key: str, enc: str, start: int, end: int | None,
                     prescriber: Staff, reason: str | None, unit: Unit,
                     glycaemia: dict[int, float]) -> None:
    """A MedicationRequest and its administrations of the last 48 hours."""
    drug = DRUGS[key]
    dose = _dose(drug, chart.person.weight)
    rid = chart.new_id("mr")
    request = chart.header("MedicationRequest", rid, min(chart.now, end or start + 600))
    request.update({
        "status": "active" if end is None else "completed",
        "intent": "order",
        "category": [b.concept(MR_CATEGORY, "inpatient", "Inpatient", "Hospitalisation")],
        "medicationCodeableConcept": b.concept(ATC, drug.atc, drug.name),
        "subject": chart.patient_ref,
        "encounter": b.ref(f"Encounter/{enc}"),
        "authoredOn": b.instant(start),
        "requester": staff_ref(prescriber),
    })
    if reason:
        request["reasonReference"] = [b.ref(f"Condition/{reason}")]
    request["dosageInstruction"] = [_dosage(drug, dose, start, end)]
    chart.out.append(request)
    _administrations(chart, drug, dose, rid, enc, start, end, unit, glycaemia)


def _administrations(chart: Chart, drug: Drug, dose: float, request: str, enc: str, start: int,
                     end: int | None, unit: Unit, glycaemia: dict[int, float]) -> None:
    rng = chart.rng
    now = chart.now
    window_start = max(start, now - 48 * b.HOUR)
    window_end = min(end or now, now)
    if window_end <= window_start:
        return
    times: list[int] = []
    if drug.times and not (drug.prn and not drug.dose_range):
        d = b.paris_date(window_start)
        while d <= chart.today:
            for hhmm in drug.times:
                ts = b.at(d, hhmm)
                if window_start <= ts <= window_end:
                    times.append(ts)
            d += timedelta(days=1)
    else:  # as needed: a few times, whenever
        uses = rng.choices((0, 1, 2, 3), weights=(4, 3, 2, 1))[0]
        times = sorted(rng.randint(window_start, window_end) for _ in range(uses))
    route_code, route_name, _ = ROUTES[drug.route]
    for scheduled in times:
        given = scheduled + rng.randint(-10, 35) * 60
        if not now - 48 * b.HOUR <= given <= now or given < start:
            continue
        amount = dose
        reason = None
        if drug.dose_range:
            amount = _sliding_scale(glycaemia.get(scheduled, 1.5))
            if amount == 0:
                reason = "Glycémie < 1,80 g/L : pas d'insuline"
        elif rng.random() < 0.03:
            reason = rng.choice(NOT_DONE)
        rid = chart.new_id("ma")
        resource = chart.header("MedicationAdministration", rid, given + 120)
        resource["status"] = "not-done" if reason else "completed"
        if reason:
            resource["statusReason"] = [b.text_concept(reason)]
        resource.update({
            "category": b.concept(MA_CATEGORY, "inpatient", "Inpatient", "Hospitalisation"),
            "medicationCodeableConcept": b.concept(ATC, drug.atc, drug.name),
            "subject": chart.patient_ref,
            "context": b.ref(f"Encounter/{enc}"),
            "effectiveDateTime": b.instant(given),
            "performer": [{"actor": staff_ref(chart.nurse(unit))}],
            "request": b.ref(f"MedicationRequest/{request}"),
        })
        if not reason:
            dosage: dict[str, Any] = {"route": b.concept(SNOMED, route_code, route_name)}
            if drug.continuous:
                dosage["text"] = "Changement de seringue"
                dosage["rateQuantity"] = _dose_quantity(drug, amount)
            else:
                dosage["dose"] = _dose_quantity(drug, amount)
            resource["dosage"] = dosage
        chart.out.append(resource)


def _day_times(chart: Chart, since: int, hours: tuple[str, ...], until: int) -> list[int]:
    out = []
    d = b.paris_date(since)
    while d <= chart.today:
        for hhmm in hours:
            ts = b.at(d, hhmm)
            if since <= ts <= until:
                out.append(ts)
        d += timedelta(days=1)
    return out


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
    trend = Trend(rng, profile.scenario, chart.person.gender == "male", _diabetic(chart),
                  chart.person.weight)
    span = max(1, now - admitted)
    glycaemia: dict[int, float] = {}
    if _diabetic(chart):
        for ts in _day_times(chart, max(admitted, now - 5 * b.DAY), DRUGS["insu_scale"].times, now):
            value = trend.at("glyc", (ts - admitted) / span)
            glycaemia[ts] = round(value, 2)
            vital(chart, "glyc", value, ts, enc, chart.nurse(unit))
    _orders(chart, profile, unit, enc, admitted, attending, diagnosis, glycaemia)
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


def _orders(chart: Chart, profile: Profile, unit: Unit, enc: str, admitted: int, prescriber: Staff,
            diagnosis: str, glycaemia: dict[int, float]) -> None:
    rng = chart.rng
    keys = _orders_for(chart, profile, unit.care_service().kind)
    start = admitted + rng.randint(30, 120) * 60
    for key in keys:
        reason = diagnosis if key in profile.orders else None
        if key == "para_iv" and chart.now - admitted > 3 * b.DAY and rng.random() < 0.5:
            switch = admitted + rng.randint(48, 72) * b.HOUR  # IV to oral once eating again
            medication_order(chart, "para_iv", enc, start, switch, prescriber, reason, unit, glycaemia)
            medication_order(chart, "para_po", enc, switch, None, prescriber, reason, unit, glycaemia)
            continue
        medication_order(chart, key, enc, start, None, prescriber, reason, unit, glycaemia)


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
    extra = profile.labs + (("gluc",) if _diabetic(chart) else ())
    first = admitted + b.HOUR
    if first <= now - 3 * b.HOUR:
        _panel(chart, trend, 0.0, first, enc, extra + (("hba1c",) if _diabetic(chart) else ()))
    every = 1 if profile.scenario in ("sepsis", "worsening", "renal", "acs") else 2
    panels = [ts for ts in _day_times(chart, max(first + 12 * b.HOUR, now - 6 * b.DAY),
                                      (PANEL_HOUR,), now - 3 * b.HOUR)]
    for number, ts in enumerate(reversed(panels)):
        if number % every == 0:
            _panel(chart, trend, (ts - admitted) / span, ts, enc, extra)


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


def diet(chart: Chart, unit: Unit, enc: str, admitted: int, profile: Profile,
         fasting_from: int | None = None) -> None:
    """The diet order the kitchen and the ward both need."""
    rng = chart.rng
    kind = unit.care_service().kind
    age = chart.person.age
    texture = None
    if kind == "icu":
        label, instruction = "À jeun", "Nutrition entérale par sonde selon le protocole du service"
    elif age < 2:
        label, instruction = "Alimentation lactée infantile", "Biberons à la demande"
    elif _diabetic(chart):
        label, instruction = "Régime diabétique", "Glucides répartis sur trois repas, pas de sucres rapides"
    elif profile.scenario == "heart_failure" or chart.has("I10"):
        label, instruction = "Régime hyposodé", "Sel limité à 4 g par jour"
    else:
        label, instruction = "Régime normal", ""
    if fasting_from is not None:
        label, instruction = "À jeun à partir de minuit", "Intervention prévue : ne rien manger ni boire"
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


def emergency_now(chart: Chart, arrival: int, status: str, box: tuple[str, str] | None) -> None:
    """A patient in the emergency department right now, waiting or being seen."""
    rng = chart.rng
    ed = chart.site.by_code["urg"]
    reason, cim10, level = _ed_reason(chart, chart.person.age)
    doctor = chart.doctor(ed) if status == "in-progress" else None
    places = [(box[0], box[1], "ro", arrival, None)] if box else [(ed.id, ed.name, "wa", arrival, None)]
    enc = chart.new_id("enc")
    encounter(chart, "EMER", status, arrival, None, ed, doctor, cim10 or reason, rid=enc,
              locations=places, priority=_priority(level))
    nurse = chart.nurse(ed)
    triage = arrival + 10 * 60
    if status != "arrived" and triage <= chart.now:
        scenario = "infection" if reason == "Fièvre" else "stable"
        trend = Trend(rng, scenario, chart.person.gender == "male", _diabetic(chart),
                      chart.person.weight)
        vital(chart, "hr", trend.at("hr", 0), triage, enc, nurse)
        vital(chart, "bp", trend.at("sys", 0), triage, enc, nurse, diastolic=trend.at("dia", 0))
        vital(chart, "temp", trend.at("temp", 0), triage, enc, nurse)
        vital(chart, "spo2", trend.at("spo2", 0), triage, enc, nurse)
        vital(chart, "pain", rng.randint(0, 8), triage, enc, nurse)
        if status == "in-progress" and arrival + 3 * b.HOUR <= chart.now:
            _panel(chart, trend, 0.0, arrival + 30 * 60, enc, ("trop",) if cim10 == "R07.4" else ())
