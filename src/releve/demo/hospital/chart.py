"""One patient's record as it is being written, and the resources every part of it uses:
conditions, allergies, observations (vital signs, results, blood group), encounters.

A `Chart` owns the patient's random stream and the counters that make ids unique and
stable: `obs-000123-7` is the seventh Observation of patient 123 whatever else the
generator does for other patients.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, timedelta

from . import build as b
from .catalog import CIM10, LOINC, SNOMED
from .catalog.conditions import ALLERGENS, DIAGNOSES, REACTIONS
from .catalog.observations import BASIC_PANEL, BLOOD_GROUPS, LABS, VITALS
from .people import Person
from .site import ORG_ID, ORG_NAME, Site, Staff, Unit
from .trends import Trend

OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
DIAGNOSIS_ROLE = "http://terminology.hl7.org/CodeSystem/diagnosis-role"
ENCOUNTER_CLASS = {"IMP": "inpatient encounter", "EMER": "emergency", "AMB": "ambulatory"}
ENCOUNTER_TYPE = {"IMP": "Hospitalisation complète", "EMER": "Passage aux urgences",
                  "AMB": "Hospitalisation de jour"}
ALLERGEN_WEIGHTS = [a[4] for a in ALLERGENS]
BLOOD_WEIGHTS = [g[5] for g in BLOOD_GROUPS]


class Chart:
    """The resources of one patient, in the order they are written."""

    def __init__(self, rng: random.Random, person: Person, site: Site, now: int, today: date):
        self.rng = rng
        self.person = person
        self.site = site
        self.now = now
        self.today = today
        self.out: list[dict] = []
        self.counters: dict[str, int] = {}
        self.allergies: list[tuple[str, str, str, str]] = []  # (id, SNOMED, name, category)
        self.chronic: list[tuple[str, str]] = []  # (Condition id, CIM-10)
        self.last_event = now - rng.randint(30, 3000) * b.DAY  # when the MPI entry was touched
        self.blood_typed = False

    @property
    def pid(self) -> str:
        return self.person.id

    @property
    def patient_ref(self) -> dict:
        return b.ref(f"Patient/{self.person.id}", self.person.display)

    def header(self, rtype: str, rid: str, updated: int) -> dict:
        """resourceType, id and meta.lastUpdated, never later than now."""
        return b.header(rtype, rid, min(updated, self.now))

    def new_id(self, prefix: str) -> str:
        n = self.counters.get(prefix, 0) + 1
        self.counters[prefix] = n
        return f"{prefix}-{self.person.idx:06d}-{n}"

    def touch(self, ts: int) -> None:
        if self.last_event < ts <= self.now:
            self.last_event = ts

    def has(self, cim10: str) -> bool:
        return any(code == cim10 for _, code in self.chronic)

    def diabetic(self) -> bool:
        """Type 1 or 2 diabetes on the problem list, which insulin orders, capillary
        glucose and a diabetic diet follow."""
        return self.has("E11.9") or self.has("E10.9")

    def trend(self, scenario: str) -> Trend:
        """How this patient's numbers move through a stay of that scenario."""
        return Trend(self.rng, scenario, self.person.gender == "male", self.diabetic(),
                     self.person.weight)

    def times_of_day(self, since: int, hours: tuple[str, ...], until: int) -> list[int]:
        """Each of `hours` (Paris time) of every day from `since` to today, kept when
        within [since, until]: the rounds of a ward, the doses of a schedule."""
        out = []
        d = b.paris_date(since)
        while d <= self.today:
            for hhmm in hours:
                ts = b.at(d, hhmm)
                if since <= ts <= until:
                    out.append(ts)
            d += timedelta(days=1)
        return out

    def pick(self, people: list[Staff]) -> Staff:
        return people[self.rng.randrange(len(people))]

    def doctor(self, unit: Unit) -> Staff:
        return self.pick(unit.doctors() or self.site.by_code["urg"].doctors())

    def nurse(self, unit: Unit) -> Staff:
        return self.pick(unit.nurses() or self.site.by_code["urg"].nurses())

    def biologist(self) -> Staff:
        return self.pick(self.site.by_code["labo"].doctors())


def staff_ref(person: Staff) -> dict:
    return b.ref(f"Practitioner/{person.id}", person.title)


def condition(chart: Chart, code: str, category: str, onset: int, recorder: Staff | None = None,
              encounter: str | None = None, abated: int | None = None) -> str:
    """A Condition coded in CIM-10: a problem-list item or an encounter diagnosis."""
    rid = chart.new_id("cnd")
    status = "resolved" if abated is not None else "active"
    resource = chart.header("Condition", rid, min(chart.now, (abated or onset) + b.HOUR))
    resource.update({
        "clinicalStatus": b.concept(CONDITION_CLINICAL, status,
                                    "Résolu" if status == "resolved" else "Actif"),
        "verificationStatus": b.concept(CONDITION_VERIFICATION, "confirmed", "Confirmé"),
        "category": [b.concept(CONDITION_CATEGORY, category,
                               "Liste de problèmes" if category == "problem-list-item"
                               else "Diagnostic du séjour")],
        "code": b.concept(CIM10, code, DIAGNOSES[code]),
        "subject": chart.patient_ref,
    })
    if encounter:
        resource["encounter"] = b.ref(f"Encounter/{encounter}")
    resource["onsetDateTime"] = b.instant(onset)
    if abated is not None:
        resource["abatementDateTime"] = b.instant(abated)
    resource["recordedDate"] = b.instant(min(chart.now, onset + b.HOUR))
    if recorder:
        resource["recorder"] = staff_ref(recorder)
    chart.out.append(resource)
    return rid


def allergies(chart: Chart) -> None:
    """One patient in five has a known allergy, a few have two."""
    rng = chart.rng
    count = 0 if rng.random() > 0.2 else (2 if rng.random() < 0.2 else 1)
    for _ in range(count):
        code, name, category, kind, _, reactions = rng.choices(ALLERGENS, weights=ALLERGEN_WEIGHTS)[0]
        if any(a[1] == code for a in chart.allergies):
            continue
        reaction_code, reaction_name, severity = REACTIONS[rng.choice(reactions)]
        rid = chart.new_id("alg")
        recorded = chart.now - rng.randint(60, 4000) * b.DAY
        year = b.paris_date(recorded).year - rng.randint(0, 15)
        resource = chart.header("AllergyIntolerance", rid, recorded)
        resource.update({
            "clinicalStatus": b.concept(ALLERGY_CLINICAL, "active", "Active"),
            "verificationStatus": b.concept(ALLERGY_VERIFICATION, "confirmed", "Confirmée"),
            "type": kind,
            "category": [category],
            "criticality": "high" if severity == "severe" else "low",
            "code": b.concept(SNOMED, code, name),
            "patient": chart.patient_ref,
            "recordedDate": b.instant(recorded),
            "recorder": staff_ref(chart.doctor(chart.site.by_code["urg"])),
            "reaction": [{"substance": b.concept(SNOMED, code, name),
                          "manifestation": [b.concept(SNOMED, reaction_code, reaction_name)],
                          "description": f"{reaction_name} ({name.lower()}) vers {year}",
                          "severity": severity}],
        })
        chart.out.append(resource)
        chart.allergies.append((rid, code, name, category))
        chart.touch(recorded)


def blood_group(chart: Chart, when: int, encounter: str | None = None) -> None:
    """ABO and RhD group, typed once (two determinations are the rule; one record here)."""
    if chart.blood_typed or when + 3 * b.HOUR > chart.now:
        return
    chart.blood_typed = True
    abo, abo_name, rh, rh_name, label, _ = chart.rng.choices(BLOOD_GROUPS, weights=BLOOD_WEIGHTS)[0]
    rid = chart.new_id("obs")
    resource = chart.header("Observation", rid, when + 3 * b.HOUR)
    resource.update({
        "status": "final",
        "category": [b.concept(OBS_CATEGORY, "laboratory", "Laboratory", "Biologie")],
        "code": b.concept(LOINC, "882-1", "Groupe sanguin ABO et rhésus D"),
        "subject": chart.patient_ref,
    })
    if encounter:
        resource["encounter"] = b.ref(f"Encounter/{encounter}")
    resource.update({
        "effectiveDateTime": b.instant(when),
        "issued": b.instant(when + 3 * b.HOUR),
        "performer": [staff_ref(chart.biologist())],
        "valueCodeableConcept": b.text_concept(f"{abo_name} {rh_name} ({label})"),
        "component": [
            {"code": b.concept(LOINC, "883-9", "Groupe ABO"),
             "valueCodeableConcept": b.concept(SNOMED, abo, f"Groupe {abo_name}")},
            {"code": b.concept(LOINC, "10331-7", "Rhésus D"),
             "valueCodeableConcept": b.concept(SNOMED, rh, f"RhD {rh_name}")},
        ],
    })
    chart.out.append(resource)


def lab(chart: Chart, key: str, value: float, when: int, encounter: str | None) -> None:
    """A laboratory result with its reference range and H/L/N interpretation."""
    spec = LABS[key]
    low, high = spec.reference_range(male=chart.person.gender == "male")
    value = round(value, spec.decimals) if spec.decimals else int(round(value))
    flag = "H" if value > high else "L" if low and value < low else "N"
    issued = when + chart.rng.randint(60, 150) * 60
    rid = chart.new_id("obs")
    resource = chart.header("Observation", rid, issued)
    resource.update({
        "status": "final",
        "category": [b.concept(OBS_CATEGORY, "laboratory", "Laboratory", "Biologie")],
        "code": b.concept(LOINC, spec.loinc, spec.name),
        "subject": chart.patient_ref,
    })
    if encounter:
        resource["encounter"] = b.ref(f"Encounter/{encounter}")
    reference = {"high": b.quantity(high, spec.unit, spec.ucum)}
    if low:
        reference = {"low": b.quantity(low, spec.unit, spec.ucum), **reference}
    resource.update({
        "effectiveDateTime": b.instant(when),
        "issued": b.instant(issued),
        "performer": [staff_ref(chart.biologist())],
        "valueQuantity": b.quantity(value, spec.unit, spec.ucum),
        "interpretation": [b.concept(INTERPRETATION, flag, {"H": "Élevé", "L": "Bas", "N": "Normal"}[flag])],
        "referenceRange": [reference],
    })
    chart.out.append(resource)


def panel(chart: Chart, trend: Trend, fraction: float, when: int, encounter: str | None,
          extra: tuple[str, ...] = ()) -> None:
    """The basic panel (and `extra` tests) at `fraction` of the way through the stay."""
    for key in BASIC_PANEL + extra:
        lab(chart, key, trend.at(key, fraction), when, encounter)


def vital(chart: Chart, key: str, value: float, when: int, encounter: str | None,
          nurse: Staff, diastolic: float | None = None) -> None:
    """A vital sign (vital-signs profile codes); blood pressure as a panel of two."""
    code, name, unit, ucum, decimals = VITALS[key]
    rid = chart.new_id("obs")
    resource = chart.header("Observation", rid, when + 300)
    category = "vital-signs" if key != "glyc" else "laboratory"
    resource.update({
        "status": "final",
        "category": [b.concept(OBS_CATEGORY, category,
                               "Vital Signs" if category == "vital-signs" else "Laboratory",
                               "Signes vitaux" if category == "vital-signs" else "Biologie délocalisée")],
        "code": b.concept(LOINC, code, name),
        "subject": chart.patient_ref,
    })
    if key == "spo2":
        resource["code"]["coding"].append(b.coding(LOINC, "2708-6", "Saturation en oxygène"))
    if encounter:
        resource["encounter"] = b.ref(f"Encounter/{encounter}")
    resource["effectiveDateTime"] = b.instant(when)
    resource["performer"] = [staff_ref(nurse)]
    if key == "bp":
        s_code, s_name, _, _, _ = VITALS["sys"]
        d_code, d_name, _, _, _ = VITALS["dia"]
        resource["component"] = [
            {"code": b.concept(LOINC, s_code, s_name), "valueQuantity": b.quantity(int(round(value)), unit, ucum)},
            {"code": b.concept(LOINC, d_code, d_name),
             "valueQuantity": b.quantity(int(round(diastolic or 0)), unit, ucum)}]
    else:
        value = round(value, decimals) if decimals else int(round(value))
        resource["valueQuantity"] = b.quantity(value, unit, ucum)
    chart.out.append(resource)


def encounter(chart: Chart, cls: str, status: str, start: int, end: int | None, unit: Unit,
              attending: Staff | None, reason: str | None = None, diagnosis: str | None = None,
              locations: Sequence[tuple[str, str, str, int, int | None]] | None = None,
              rid: str | None = None, **extra) -> dict:
    """An Encounter; `locations` are (Location id, name, physical type, start, end)."""
    rid = rid or chart.new_id("enc")
    updated = end if end is not None else start
    resource = chart.header("Encounter", rid, min(chart.now, updated + 600))
    year = b.paris_date(start).year % 100
    resource.update({
        "identifier": [{"use": "official", "system": b.NDA_SYSTEM,
                        "value": f"{year:02d}{chart.person.idx:07d}{int(rid.rsplit('-', 1)[1]):02d}"}],
        "status": status,
        "class": b.coding(ACT_CODE, cls, ENCOUNTER_CLASS[cls]),
        "type": [b.text_concept(ENCOUNTER_TYPE[cls])],
        "serviceType": b.text_concept(unit.service.name if unit.service else unit.name),
        "subject": chart.patient_ref,
    })
    if attending:
        resource["participant"] = [{
            "type": [b.concept(PARTICIPATION, "ATND", "attender", "Médecin responsable")],
            "individual": staff_ref(attending)}]
    resource["period"] = b.period(start, end)
    if reason:
        resource["reasonCode"] = [b.concept(CIM10, reason, DIAGNOSES[reason]) if reason in DIAGNOSES
                                  else b.text_concept(reason)]
    if diagnosis:
        resource["diagnosis"] = [{"condition": b.ref(f"Condition/{diagnosis}"),
                                  "use": b.concept(DIAGNOSIS_ROLE, "DD" if end else "AD",
                                                   "Discharge diagnosis" if end else "Admission diagnosis"),
                                  "rank": 1}]
    resource.update(extra)
    places = locations or [(unit.id, unit.name, "wa", start, end)]
    resource["location"] = [
        {"location": b.ref(f"Location/{loc}", name),
         "status": "active" if loc_end is None else "completed",
         "physicalType": b.concept("http://terminology.hl7.org/CodeSystem/location-physical-type",
                                   kind, {"bd": "Lit", "ro": "Chambre", "wa": "Unité"}[kind]),
         "period": b.period(loc_start, loc_end)}
        for loc, name, kind, loc_start, loc_end in places]
    resource["serviceProvider"] = b.ref(f"Organization/{ORG_ID}", ORG_NAME)
    chart.out.append(resource)
    chart.touch(min(chart.now, updated))
    return resource
