"""Stays other than today's inpatients': a patient's history (problem list, past stays,
past emergency visits, all ending before today's stay) and the patients in the
emergency department right now.

An MPI patient from years ago gets what an HIS keeps of an old stay: the encounter, its
diagnosis, an admission panel and the letter. Today's inpatients get the whole picture
a ward needs (ward.py).
"""

from __future__ import annotations

from . import build as b
from .catalog.conditions import CHRONIC, DIAGNOSES, DIAGNOSIS_AGES, ED_REASONS
from .catalog.drugs import DRUGS
from .catalog.procedures import PROCEDURES
from .catalog.profiles import PROFILES, Profile
from .catalog.services import SERVICES
from .chart import Chart, allergies, blood_group, condition, encounter, panel, vital
from .letters import document, letter_head
from .site import Unit

DISCHARGE = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
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
    trend = chart.trend(profile.scenario)
    panel(chart, trend, 0.0, start + b.HOUR, enc, profile.labs)
    if end - start >= 3 * b.DAY:
        panel(chart, trend, 1.0, end - 20 * b.HOUR, enc)
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
        trend = chart.trend(scenario)
        vital(chart, "hr", trend.at("hr", 0), triage, enc, nurse)
        vital(chart, "bp", trend.at("sys", 0), triage, enc, nurse, diastolic=trend.at("dia", 0))
        vital(chart, "temp", trend.at("temp", 0), triage, enc, nurse)
        vital(chart, "spo2", trend.at("spo2", 0), triage, enc, nurse)
        vital(chart, "pain", rng.randint(0, 8), triage, enc, nurse)
        if status == "in-progress" and arrival + 3 * b.HOUR <= chart.now:
            panel(chart, trend, 0.0, arrival + 30 * 60, enc, ("trop",) if cim10 == "R07.4" else ())
