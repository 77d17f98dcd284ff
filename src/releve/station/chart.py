"""The patient summary as plain data: what a nurse needs on the day the HIS is gone.

`summary(conn, patient_id, now)` reads every resource of one patient in one query (plus
point lookups of the practitioners, locations and medications they reference) and turns
them into dataclasses the page, the printout and the tests share.

Nothing here trusts the data. A station meets resources from any HIS: French or US codes,
missing fields, members of the wrong JSON type, extensions, contained resources, partial
dates ("1970", "1970-05"), resource types nobody planned for. Every getter accepts
anything and answers None or an empty list, and each resource is read inside its own
guard: one that cannot be understood is listed under "Autres éléments" by its type and
text, never the reason a page fails during an outage.

Times are aware datetimes; a FHIR date without a time is read as local midnight in the
station's zone (for sorting and windows only: pages show the text as the HIS wrote it).
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from .. import clock
from ..fhir.refs import target
from .records import CURRENT_STAYS, patient_row

DEFAULT_ZONE = "Europe/Paris"
PLAN_HOURS = 24  # the administration plan looks this far ahead
GIVEN_HOURS = 24  # and the administrations this far back
SERIES_VALUES = 10  # values kept per result code (the latest and its trend)
MAX_SERIES = 80  # result codes shown (newest first)
MAX_DOCUMENTS = 60
OTHER_EXAMPLES = 5  # texts shown per resource type under "Autres éléments"
MAX_OCCURRENCES = 2000  # a timing expansion never loops further than this

# --- codes -------------------------------------------------------------------------------

NO_ALLERGY = {"716186003": "Aucune allergie connue",
              "409137002": "Aucune allergie médicamenteuse connue",
              "429625007": "Aucune allergie alimentaire connue",
              "428607008": "Aucune allergie environnementale connue",
              "428197003": "Aucune allergie connue au latex"}
BLOOD_GROUP = "882-1"
BLOOD_ABO = "883-9"
BLOOD_RH = "10331-7"
BLOOD_CODES = {BLOOD_GROUP, BLOOD_ABO, BLOOD_RH, "34530-6", "34474-7"}
BP_PANEL = {"85354-9", "55284-4", "35094-2"}
SYSTOLIC = "8480-6"
DIASTOLIC = "8462-4"
# LOINC code -> (key, French label, order on the page)
VITALS: dict[str, tuple[str, str, int]] = {
    "8310-5": ("temp", "Température", 1), "8331-1": ("temp", "Température", 1),
    "8867-4": ("hr", "Pouls", 2),
    SYSTOLIC: ("sys", "Pression artérielle systolique", 3),
    DIASTOLIC: ("dia", "Pression artérielle diastolique", 4),
    "59408-5": ("spo2", "SpO2", 5), "2708-6": ("spo2", "SpO2", 5),
    "9279-1": ("rr", "Fréquence respiratoire", 6),
    "29463-7": ("weight", "Poids", 7), "3141-9": ("weight", "Poids", 7),
    "72514-3": ("pain", "Douleur (0-10)", 8), "38208-5": ("pain", "Douleur (0-10)", 8),
    "8302-2": ("height", "Taille", 9), "39156-5": ("bmi", "IMC", 10),
    "2339-0": ("glyc", "Glycémie capillaire", 11),
}
ABNORMAL = {"H": "↑", "HH": "↑↑", "HU": "↑↑", "L": "↓", "LL": "↓↓", "LU": "↓↓", "A": "!",
            "AA": "!!", ">": "↑", "<": "↓", "POS": "!", "DET": "!", "R": "!", "W": "!"}
CHEMO_CODES = {"367336001", "265760000", "394894004"}
RADIO_CODES = {"108290001", "1287742003", "33195004", "53438000"}
ACTIVE_ORDER = ("active", "on-hold")
DONE_ACTIVITY = ("completed",)
SKIPPED_ACTIVITY = ("cancelled", "stopped", "entered-in-error")
ERROR_STATUSES = ("entered-in-error",)
BILLING = frozenset({"Claim", "ClaimResponse", "ExplanationOfBenefit", "Coverage", "Account",
                     "Invoice", "ChargeItem", "Provenance", "AuditEvent"})

# usual ward hours for Timing.when (FHIR event-timing codes)
WHEN_HOURS: dict[str, tuple[str, ...]] = {
    "WAKE": ("07:00",), "MORN": ("08:00",), "MORN.early": ("07:00",), "MORN.late": ("10:00",),
    "NOON": ("12:00",), "AFT": ("14:00",), "AFT.early": ("13:00",), "AFT.late": ("16:00",),
    "EVE": ("18:00",), "EVE.early": ("18:00",), "EVE.late": ("20:00",),
    "NIGHT": ("22:00",), "PHS": ("22:00",), "HS": ("22:00",),
    "C": ("08:00", "12:00", "18:00"), "AC": ("08:00", "12:00", "18:00"),
    "PC": ("08:00", "12:00", "18:00"),
    "CM": ("08:00",), "ACM": ("08:00",), "PCM": ("08:00",),
    "CD": ("12:00",), "ACD": ("12:00",), "PCD": ("12:00",),
    "CV": ("18:00",), "ACV": ("18:00",), "PCV": ("18:00",),
}
WHEN_TEXT = {"WAKE": "au réveil", "MORN": "le matin", "MORN.early": "tôt le matin",
             "MORN.late": "en fin de matinée", "NOON": "à midi", "AFT": "l'après-midi",
             "AFT.early": "en début d'après-midi", "AFT.late": "en fin d'après-midi",
             "EVE": "le soir", "EVE.early": "en début de soirée", "EVE.late": "en fin de soirée",
             "NIGHT": "la nuit", "PHS": "après le coucher", "HS": "au coucher",
             "C": "aux repas", "AC": "avant les repas", "PC": "après les repas",
             "CM": "au petit déjeuner", "ACM": "avant le petit déjeuner",
             "PCM": "après le petit déjeuner", "CD": "au déjeuner", "ACD": "avant le déjeuner",
             "PCD": "après le déjeuner", "CV": "au dîner", "ACV": "avant le dîner",
             "PCV": "après le dîner"}
# a daily frequency with no stated times is given at the ward's usual rounds
DAILY_HOURS: dict[int, tuple[str, ...]] = {
    1: ("08:00",), 2: ("08:00", "20:00"), 3: ("08:00", "14:00", "20:00"),
    4: ("08:00", "12:00", "18:00", "22:00"),
}
UNIT_SECONDS = {"s": 1, "min": 60, "h": 3600, "d": 86400, "wk": 7 * 86400,
                "mo": 30 * 86400, "a": 365 * 86400}
UNIT_TEXT = {"s": "s", "min": "min", "h": "h", "d": "jours", "wk": "semaines", "mo": "mois",
             "a": "ans"}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

SEX = {"female": "Femme", "male": "Homme", "other": "Autre", "unknown": "Inconnu"}
CRITICALITY = {"high": "Élevée", "low": "Faible", "unable-to-assess": "Non évaluable"}
SEVERITY = {"severe": "Sévère", "moderate": "Modérée", "mild": "Légère"}
ALLERGY_CATEGORY = {"medication": "Médicament", "food": "Aliment", "environment": "Environnement",
                    "biologic": "Produit biologique"}
ALLERGY_TYPE = {"allergy": "Allergie", "intolerance": "Intolérance"}
ORDER_STATUS = {"active": "Active", "on-hold": "Suspendue"}
ADMIN_STATUS = {"completed": "Administré", "not-done": "Non administré",
                "in-progress": "En cours", "on-hold": "Suspendu", "stopped": "Arrêté",
                "entered-in-error": "Saisie erronée", "unknown": "Inconnu"}
ROLE = {"ATND": "Médecin responsable", "ADM": "Médecin admettant", "PPRF": "Intervenant principal",
        "SPRF": "Intervenant", "CON": "Consultant", "REF": "Médecin adresseur",
        "DIS": "Médecin de sortie", "PART": "Participant", "attender": "Médecin responsable"}
CLASS = {"IMP": "Hospitalisation", "EMER": "Urgences", "AMB": "Ambulatoire",
         "ACUTE": "Hospitalisation", "SS": "Hospitalisation de jour", "OBSENC": "Observation",
         "HH": "Hospitalisation à domicile", "PRENC": "Pré-admission", "VR": "Téléconsultation"}
RESULT_GROUP = {"laboratory": "Biologie", "imaging": "Imagerie", "procedure": "Actes",
                "exam": "Examen clinique", "survey": "Questionnaires",
                "social-history": "Mode de vie", "therapy": "Thérapies", "activity": "Activité",
                "vital-signs": "Signes vitaux", "": "Autres résultats"}


# --- the summary ----------------------------------------------------------------------------


@dataclass
class Contact:
    name: str
    relation: str = ""
    phone: str = ""


@dataclass
class Identity:
    name: str  # "DUPONT Marie Claire": family in capitals, then given names
    family: str
    given: str
    birth_date: str | None
    sex: str  # French label (translated by the page)
    gender: str | None
    ipp: str | None
    ins: str | None
    address: str = ""
    phones: list[str] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)
    deceased: str | None = None  # "" when deceased without a date
    other_names: list[str] = field(default_factory=list)


@dataclass
class Stay:
    encounter: str
    status: str
    kind: str  # French label of the class
    unit: str = ""
    room: str = ""
    bed: str = ""
    admitted: str | None = None
    attending: str = ""
    reason: str = ""
    unit_phone: str = ""


@dataclass
class Allergy:
    substance: str
    reactions: list[str]
    severity: str  # French label or ""
    criticality: str  # code: high, low, unable-to-assess, ""
    category: str
    kind: str
    status: str
    recorded: str | None
    note: str = ""

    @property
    def high(self) -> bool:
        return self.criticality == "high" or self.severity == SEVERITY["severe"]


@dataclass
class BloodGroup:
    text: str
    when: str | None


@dataclass
class Problem:
    text: str
    onset: str | None
    status: str
    category: str


@dataclass
class FlagItem:
    text: str
    category: str
    since: str | None


@dataclass
class Diet:
    text: str
    details: list[str]
    since: str | None


@dataclass
class Due:
    """One planned dose: the instant, its local time, and whether it falls on another day."""

    when: dt.datetime
    local: str  # "08:00"
    day_offset: int  # 0 today, 1 tomorrow (in the station's zone)


@dataclass
class Administration:
    when: str | None
    instant: dt.datetime | None
    drug: str
    dose: str
    route: str
    who: str
    status: str  # code
    status_label: str
    reason: str
    request: str | None


@dataclass
class Medication:
    id: str
    drug: str
    dose: str
    route: str
    frequency: str  # the prescriber's text, or one built from the timing
    as_needed: bool
    as_needed_reason: str
    status: str  # active, on-hold
    start: str | None
    end: str | None
    prescriber: str
    due: list[Due] = field(default_factory=list)
    given: list[Administration] = field(default_factory=list)
    note: str = ""


@dataclass
class Value:
    when: str | None
    instant: dt.datetime | None
    text: str  # "37,8", "Positif", "120/80"
    number: float | None
    unit: str
    flag: str  # "↑", "↓", "!" or ""
    reference: dict = field(default_factory=dict)  # the first referenceRange, as sent

    @property
    def range(self) -> str:
        """'3,5 – 5,1 mmol/L': worked out only for the values a page shows."""
        return range_text(self.reference) or as_text(self.reference.get("text"))


@dataclass
class Series:
    """One measured thing over time: the latest value first."""

    key: str
    label: str
    group: str
    values: list[Value]
    order: int = 99

    @property
    def latest(self) -> Value:
        return self.values[0]

    @property
    def previous(self) -> list[Value]:
        return self.values[1:]

    @property
    def trend(self) -> str:
        """↑ ↓ → from the previous value, when both are numbers."""
        if len(self.values) < 2:
            return ""
        new, old = self.values[0].number, self.values[1].number
        if new is None or old is None:
            return ""
        if abs(new - old) <= max(abs(old) * 0.03, 1e-9):
            return "→"
        return "↑" if new > old else "↓"


@dataclass
class Document:
    id: str
    kind: str  # DocumentReference or DiagnosticReport
    type: str
    date: str | None
    author: str
    title: str
    content_type: str
    has_content: bool


@dataclass
class Oncology:
    kind: str  # "chemotherapy" or "radiotherapy" (the page labels it)
    title: str
    description: str
    status: str
    done: int
    total: int
    next_number: int | None
    next_label: str
    next_date: str | None
    last_date: str | None
    where: str
    note: str = ""


@dataclass
class Upcoming:
    when: str | None
    what: str
    where: str
    who: list[str]
    status: str
    kind: str  # Appointment, ServiceRequest, Procedure
    note: str = ""


@dataclass
class Member:
    name: str
    role: str
    phone: str = ""


@dataclass
class Other:
    type: str
    count: int
    texts: list[str]


@dataclass
class Summary:
    patient_id: str
    now: dt.datetime
    zone: str
    identity: Identity
    stay: Stay | None = None
    allergies: list[Allergy] = field(default_factory=list)
    allergy_state: str = "unknown"  # "known", "none" (recorded as none), "unknown"
    no_allergy_texts: list[str] = field(default_factory=list)
    blood_group: BloodGroup | None = None
    problems: list[Problem] = field(default_factory=list)
    flags: list[FlagItem] = field(default_factory=list)
    diets: list[Diet] = field(default_factory=list)
    medications: list[Medication] = field(default_factory=list)
    administrations: list[Administration] = field(default_factory=list)
    vitals: list[Series] = field(default_factory=list)
    results: list[Series] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)
    oncology: list[Oncology] = field(default_factory=list)
    upcoming: list[Upcoming] = field(default_factory=list)
    care_team: list[Member] = field(default_factory=list)
    others: list[Other] = field(default_factory=list)

    @property
    def scheduled(self) -> list[Medication]:
        return [m for m in self.medications if not m.as_needed or m.due]

    @property
    def as_needed(self) -> list[Medication]:
        return [m for m in self.medications if m.as_needed and not m.due]

    @property
    def result_groups(self) -> list[tuple[str, list[Series]]]:
        """Results by group (Biologie first), in the order they were sorted."""
        groups: dict[str, list[Series]] = {}
        for item in self.results:
            groups.setdefault(item.group, []).append(item)
        return list(groups.items())

    @property
    def plan(self) -> list[tuple[Due, Medication]]:
        """Every dose due in the next 24 h, in time order: the MAR sheet."""
        doses = [(due, med) for med in self.medications for due in med.due]
        return sorted(doses, key=lambda pair: (pair[0].when, pair[1].drug))


# --- defensive getters ------------------------------------------------------------------------


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def many(value: Any) -> list:
    """A list member some servers send as a single value."""
    return value if isinstance(value, list) else [value] if isinstance(value, str) else []


def as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def as_text(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, (int, float)):
        return number_text(value)
    return ""


def number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.replace(",", "."))
        except ValueError:
            return None
    return None


def number_text(value: float | int, decimal: str = ",") -> str:
    """2,5 - 4000 - 0,25: no trailing zeros, French decimal comma by default."""
    if isinstance(value, bool):
        return ""
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return f"{value:.6g}".replace(".", decimal)


def codings(concept: Any) -> list[dict]:
    concept = as_dict(concept)
    found = [c for c in as_list(concept.get("coding")) if isinstance(c, dict)]
    if "code" in concept and "system" in concept:  # a bare Coding where a concept belongs
        found.append(concept)
    return found


def codes(concept: Any) -> set[str]:
    return {c["code"] for c in codings(concept) if isinstance(c.get("code"), str)}


def first_code(concept: Any) -> str:
    if isinstance(concept, str):
        return concept
    for coding in codings(concept):
        if isinstance(coding.get("code"), str):
            return coding["code"]
    return as_text(as_dict(concept).get("code"))


def concept_text(concept: Any) -> str:
    """What a person reads of a CodeableConcept: its text, else a display, else a code."""
    if isinstance(concept, str):
        return concept.strip()
    if isinstance(concept, list):
        return ", ".join(t for t in (concept_text(c) for c in concept) if t)
    concept = as_dict(concept)
    text = as_text(concept.get("text"))
    if text:
        return text
    found = codings(concept)
    for coding in found:
        if as_text(coding.get("display")):
            return as_text(coding["display"])
    for coding in found:
        if as_text(coding.get("code")):
            return as_text(coding["code"])
    return as_text(concept.get("display"))


def reference_text(ref: Any) -> str:
    ref = as_dict(ref)
    return as_text(ref.get("display"))


def period(value: Any) -> tuple[str | None, str | None]:
    value = as_dict(value)
    start, end = value.get("start"), value.get("end")
    return (start if isinstance(start, str) else None, end if isinstance(end, str) else None)


_PARTIAL = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


def instant(text: Any, zone: ZoneInfo) -> dt.datetime | None:
    """A FHIR date, dateTime or instant as an aware datetime (dates at local midnight)."""
    if not isinstance(text, str) or not text:
        return None
    text = text.strip()
    match = _PARTIAL.match(text)
    if match:
        year, month, day = int(match[1]), int(match[2] or 1), int(match[3] or 1)
        try:
            return dt.datetime(year, month, day, tzinfo=zone)
        except ValueError:
            return None
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=zone)


def effective(resource: dict, *names: str) -> str | None:
    """The first of `names` that holds a date (a Period's start counts)."""
    for name in names:
        value = resource.get(name)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, dict):
            start, end = period(value)
            if start or end:
                return start or end
    return None


def quantity_text(value: Any) -> str:
    value = as_dict(value)
    amount = number(value.get("value"))
    unit = as_text(value.get("unit")) or as_text(value.get("code"))
    comparator = as_text(value.get("comparator"))
    if amount is None:
        return unit if unit and not value.get("code") else ""
    return " ".join(p for p in (comparator + number_text(amount), _unit(unit)) if p)


def _unit(unit: str) -> str:
    """UCUM spellings a ward does not read: mm[Hg], [iU], Cel, {score}."""
    unit = {"Cel": "°C", "[degF]": "°F", "mm[Hg]": "mmHg", "/min": "/min", "{score}": ""}.get(unit, unit)
    return unit.replace("[iU]", "UI").replace("[IU]", "UI").replace("ug", "µg") \
        if unit not in ("ug/L",) else unit


def range_text(value: Any) -> str:
    """'3,5 – 5,1 mmol/L', '≤ 125 pg/mL', '≥ 60': a range as a ward reads it."""
    value = as_dict(value)
    low, high = as_dict(value.get("low")), as_dict(value.get("high"))
    low_text, high_text = quantity_text(low), quantity_text(high)
    if low_text and high_text:
        low_unit = as_text(low.get("unit")) or as_text(low.get("code"))
        high_unit = as_text(high.get("unit")) or as_text(high.get("code"))
        if low_unit == high_unit and number(low.get("value")) is not None:
            return f"{number_text(number(low.get('value')) or 0)} – {high_text}"
        return f"{low_text} – {high_text}"
    if high_text:
        return f"≤ {high_text}"
    return f"≥ {low_text}" if low_text else ""


def human_name(value: Any) -> tuple[str, str, str]:
    """(display, family, given) of a HumanName: "DUPONT Marie", family in capitals."""
    value = as_dict(value)
    family = value["family"].strip() if isinstance(value.get("family"), str) else ""
    given = " ".join(g.strip() for g in as_list(value.get("given")) if isinstance(g, str) and g.strip())
    if not family and not given:
        text = as_text(value.get("text"))
        return text, "", ""
    shown = " ".join(p for p in (family.upper(), given) if p)
    return shown, family, given


def pick_name(names: Any) -> dict:
    names = [n for n in as_list(names) if isinstance(n, dict)]
    for use in ("official", "usual"):
        for name in names:
            if name.get("use") == use:
                return name
    return names[0] if names else {}


def phone_of(telecom: Any) -> list[str]:
    return [as_text(t.get("value")) for t in as_list(telecom)
            if isinstance(t, dict) and t.get("system") in ("phone", "sms", None)
            and as_text(t.get("value"))]


def resource_text(resource: dict) -> str:
    """The best human text of a resource of any type, for "Autres éléments"."""
    for name in ("code", "vaccineCode", "medicationCodeableConcept", "type", "category",
                 "serviceType"):
        text = concept_text(resource.get(name))
        if text:
            return text
    for name in ("title", "description", "name", "status"):
        value = resource.get(name)
        text = as_text(value) if not isinstance(value, list) else \
            ", ".join(human_name(v)[0] if isinstance(v, dict) else as_text(v) for v in value)
        if text:
            return text
    return ""


# --- lookups outside the patient's own resources ------------------------------------------------


class Lookup:
    """Practitioners, locations and medications a record points to, read once each."""

    def __init__(self, conn: sqlite3.Connection, own: dict[tuple[str, str], dict]):
        self.conn = conn
        self.own = own
        self.cache: dict[tuple[str, str], dict | None] = {}

    def resource(self, rtype: str, rid: str) -> dict | None:
        key = (rtype, rid)
        if key in self.own:
            return self.own[key]
        if key not in self.cache:
            row = self.conn.execute("SELECT json FROM resources WHERE type = ? AND id = ?",
                                    key).fetchone()
            self.cache[key] = _load(row[0]) if row else None
        return self.cache[key]

    def of(self, ref: Any, rtype: str | None = None) -> dict | None:
        found = target(ref)
        if found is None or (rtype and found[0] != rtype):
            return None
        return self.resource(*found)

    def person(self, ref: Any) -> str:
        """A Practitioner's (or PractitionerRole's, RelatedPerson's...) name for a reference."""
        shown = reference_text(ref)
        if shown:
            return shown
        found = target(ref)
        if found is None:
            return ""
        resource = self.resource(*found)
        if resource is None:
            return ""
        if found[0] == "PractitionerRole":
            return self.person(resource.get("practitioner")) or concept_text(resource.get("code"))
        name = resource.get("name")
        if isinstance(name, str):
            return name
        return human_name(pick_name(name))[0]

    def phone(self, ref: Any) -> str:
        resource = self.of(ref)
        if resource is None:
            return ""
        phones = phone_of(resource.get("telecom"))
        return phones[0] if phones else ""

    def location(self, location_id: str) -> dict:
        """The bed, room and unit a location is part of: {"bd": name, "ro": name, "wa": name}."""
        out: dict[str, str] = {}
        seen: set[str] = set()
        current: str | None = location_id
        while current and current not in seen and len(seen) < 8:
            seen.add(current)
            row = self.conn.execute("SELECT name, physical_type, part_of, phone FROM locations "
                                    "WHERE id = ?", (current,)).fetchone()
            if row is None:
                break
            name, kind, part_of, phone = row
            kind = kind or ("wa" if not out else "")
            if kind and kind not in out and name:
                out[kind] = name
                if kind == "wa" and phone:
                    out["phone"] = phone
            current = part_of
        return out


def _load(raw: bytes | str) -> dict | None:
    try:
        value = orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError):
        return None
    return value if isinstance(value, dict) else None


# --- timing: the administration plan -------------------------------------------------------------


def _clock(text: Any) -> dt.time | None:
    if not isinstance(text, str):
        return None
    match = re.match(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?", text.strip())
    if not match:
        return None
    hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    return dt.time(hour, minute, second)


def _days(start: dt.datetime, end: dt.datetime, zone: ZoneInfo) -> Iterable[dt.date]:
    day = start.astimezone(zone).date() - dt.timedelta(days=1)
    last = end.astimezone(zone).date()
    while day <= last:
        yield day
        day += dt.timedelta(days=1)


def _at(day: dt.date, clock: dt.time, zone: ZoneInfo) -> dt.datetime:
    """A wall-clock time on a local day (zoneinfo resolves DST gaps and folds)."""
    local = dt.datetime.combine(day, clock, tzinfo=zone)
    return local.astimezone(dt.timezone.utc).astimezone(zone)


def _daily(clocks: list[dt.time], window: tuple[dt.datetime, dt.datetime], zone: ZoneInfo,
           weekdays: set[int] | None, every_days: int = 1,
           anchor_day: dt.date | None = None) -> list[dt.datetime]:
    start, end = window
    out = []
    for day in _days(start, end, zone):
        if weekdays is not None and day.weekday() not in weekdays:
            continue
        if every_days > 1 and anchor_day is not None and (day - anchor_day).days % every_days:
            continue
        for clock in clocks:
            when = _at(day, clock, zone)
            if start <= when < end:
                out.append(when)
    return out


def due_times(timing: Any, start: dt.datetime, end: dt.datetime, zone: str = DEFAULT_ZONE,
              fallback_start: dt.datetime | None = None) -> list[dt.datetime]:
    """Every moment a FHIR Timing falls due in [start, end), in order.

    Explicit events first; otherwise the repeat: timeOfDay, then `when` (at the ward's usual
    hours, with its offset), then frequency per period (a daily frequency without stated
    times at the ward's rounds; hours and other periods counted from the bounds' start, or
    `fallback_start`, else local midnight). boundsPeriod limits it, `count` stops it, and
    dayOfWeek filters the days. A timing it cannot read gives no times rather than wrong ones.
    """
    tz = ZoneInfo(zone)
    timing = as_dict(timing)
    repeat = as_dict(timing.get("repeat"))
    events = [w for w in (instant(e, tz) for e in many(timing.get("event"))) if w]
    if events and not repeat:
        return sorted(w for w in events if start <= w < end)
    bounds_start, bounds_end = period(repeat.get("boundsPeriod"))
    low = instant(bounds_start, tz)
    high = instant(bounds_end, tz)
    if high is not None and bounds_end and len(bounds_end) <= 10:
        high += dt.timedelta(days=1)  # an end date includes its day
    count = number(repeat.get("count"))
    anchor = low or fallback_start
    if count is not None and (anchor is None or count > MAX_OCCURRENCES):
        count = None  # a count needs a first dose to count from
    # with a count, generate from the first dose so that earlier ones are counted
    gen_start = max(x for x in (start, low) if x is not None) if count is None else anchor
    gen_end = min(x for x in (end, high) if x is not None)
    if gen_start is None or gen_end <= gen_start:
        return []
    times = _repeat_times(repeat, (gen_start, gen_end), tz, anchor)
    if low is not None:
        times = [t for t in times if t >= low]
    if count is not None:
        times = times[:max(0, int(count))]
    return [t for t in times if start <= t < end]


def _repeat_times(repeat: dict, window: tuple[dt.datetime, dt.datetime], tz: ZoneInfo,
                  anchor: dt.datetime | None) -> list[dt.datetime]:
    weekdays = {WEEKDAYS.index(d) for d in many(repeat.get("dayOfWeek")) if d in WEEKDAYS}
    days = weekdays or None
    frequency = number(repeat.get("frequency")) or 1
    period_value = number(repeat.get("period"))
    unit = repeat.get("periodUnit") if repeat.get("periodUnit") in UNIT_SECONDS else None
    every_days = 1
    if unit == "d" and period_value and period_value >= 2 and period_value.is_integer() \
            and frequency == 1:
        every_days = int(period_value)
    anchor_day = anchor.astimezone(tz).date() if anchor else None
    clocks = [c for c in (_clock(t) for t in many(repeat.get("timeOfDay"))) if c]
    if clocks:
        return _daily(sorted(set(clocks)), window, tz, days, every_days, anchor_day)
    whens = [w for w in many(repeat.get("when")) if isinstance(w, str) and w in WHEN_HOURS]
    if whens:
        offset = number(repeat.get("offset")) or 0
        clocks_at: set[dt.time] = set()
        for code in whens:
            for hhmm in WHEN_HOURS[code]:
                base = dt.datetime.combine(dt.date(2000, 1, 2), _clock(hhmm) or dt.time(8))
                sign = -1 if code.startswith("AC") else 1
                moved = base + dt.timedelta(minutes=sign * offset) if code[:2] in ("AC", "PC") else base
                clocks_at.add(moved.time())
        return _daily(sorted(clocks_at), window, tz, days, every_days, anchor_day)
    if period_value is None or period_value <= 0 or unit is None or frequency <= 0:
        return []
    seconds = period_value * UNIT_SECONDS[unit] / frequency
    if seconds < 60:
        return []
    if unit == "d" and period_value == 1 and frequency.is_integer() and int(frequency) in DAILY_HOURS:
        hours = [c for c in (_clock(h) for h in DAILY_HOURS[int(frequency)]) if c]
        return _daily(hours, window, tz, days)
    return _interval(window, seconds, anchor, tz, days)


def _interval(window: tuple[dt.datetime, dt.datetime], seconds: float, anchor: dt.datetime | None,
              tz: ZoneInfo, days: set[int] | None) -> list[dt.datetime]:
    """Every `seconds` from the anchor (or the window's local midnight)."""
    start, end = window
    if anchor is None:
        anchor = dt.datetime.combine(start.astimezone(tz).date(), dt.time(0), tzinfo=tz)
    step = dt.timedelta(seconds=seconds)
    skip = max(0, int((start - anchor) / step)) if start > anchor else 0
    when = anchor + skip * step
    out = []
    while when < end and len(out) < MAX_OCCURRENCES:
        if when >= start and (days is None or when.astimezone(tz).weekday() in days):
            out.append(when.astimezone(tz))
        when += step
    return out


def timing_text(timing: Any) -> str:
    """A French reading of a Timing when the prescriber wrote none: "toutes les 6 h"."""
    timing = as_dict(timing)
    code = concept_text(timing.get("code"))
    repeat = as_dict(timing.get("repeat"))
    parts: list[str] = []
    frequency = number(repeat.get("frequency"))
    period_value = number(repeat.get("period"))
    unit = repeat.get("periodUnit") if isinstance(repeat.get("periodUnit"), str) else ""
    if period_value and unit:
        if (frequency or 1) == 1:
            if unit == "d" and period_value == 1:
                parts.append("une fois par jour")
            elif unit == "wk" and period_value == 1:
                parts.append("une fois par semaine")
            else:
                parts.append(f"toutes les {number_text(period_value)} {UNIT_TEXT.get(unit, unit)}")
        else:
            per = {"h": "heure", "d": "jour", "wk": "semaine", "mo": "mois"}.get(unit, unit)
            each = f"par {per}" if period_value == 1 else \
                f"toutes les {number_text(period_value)} {UNIT_TEXT.get(unit, unit)}"
            parts.append(f"{number_text(frequency or 1)} fois {each}")
    clocks = [c for c in (_clock(t) for t in many(repeat.get("timeOfDay"))) if c]
    if clocks:
        parts.append("à " + ", ".join(c.strftime("%H:%M") for c in sorted(clocks)))
    whens = [WHEN_TEXT.get(w, w) for w in many(repeat.get("when")) if isinstance(w, str)]
    if whens:
        parts.append(", ".join(whens))
    days = [d for d in many(repeat.get("dayOfWeek")) if isinstance(d, str)]
    if days:
        parts.append("(" + ", ".join(days) + ")")
    count = number(repeat.get("count"))
    if count:
        parts.append(f"{number_text(count)} prise(s) au total")
    return " ".join(parts) or code


# --- the builder ------------------------------------------------------------------------------


class Builder:
    """Reads one patient's resources into a Summary; each section defends itself."""

    def __init__(self, conn: sqlite3.Connection, patient: dict, resources: list[tuple[str, dict]],
                 skipped: dict[str, int], now: dt.datetime, zone: str):
        self.zone = zone
        self.tz = ZoneInfo(zone)
        self.now = now.astimezone(self.tz)
        self.patient = patient
        self.by_type: dict[str, list[dict]] = {}
        own: dict[tuple[str, str], dict] = {}
        for rtype, resource in resources:
            self.by_type.setdefault(rtype, []).append(resource)
            if isinstance(resource.get("id"), str):
                own[(rtype, resource["id"])] = resource
        self.lookup = Lookup(conn, own)
        self.others: dict[str, list[str]] = {}
        self.skipped = skipped
        self.used: set[str] = set()

    def when(self, text: Any) -> dt.datetime | None:
        return instant(text, self.tz)

    def sort_key(self, text: Any) -> float:
        when = self.when(text)
        return when.timestamp() if when else float("-inf")

    def each(self, rtype: str, read: Callable[[dict], Any]) -> list:
        """Read every resource of a type; a resource that fails goes to "Autres éléments"."""
        self.used.add(rtype)
        out = []
        for resource in self.by_type.get(rtype, []):
            if as_text(resource.get("status")) in ERROR_STATUSES:
                continue
            try:
                item = read(resource)
            except Exception:  # noqa: BLE001 - one odd resource never fails the page
                self.other(rtype, resource)
                continue
            if item is not None:
                out.append(item)
        return out

    def other(self, rtype: str, resource: dict) -> None:
        try:
            text = resource_text(resource)
        except Exception:  # noqa: BLE001
            text = ""
        self.others.setdefault(rtype, []).append(text)

    def build(self) -> Summary:
        summary = Summary(self.patient.get("id") or "", self.now, self.zone, self.identity())
        sections: list[tuple[str, Callable[[Summary], None]]] = [
            ("stay", self.stay), ("allergies", self.allergies), ("problems", self.problems),
            ("flags", self.flags), ("diets", self.diets), ("medications", self.medications),
            ("observations", self.observations), ("documents", self.documents),
            ("oncology", self.oncology), ("upcoming", self.upcoming),
            ("care_team", self.care_team),
        ]
        for _, section in sections:
            try:
                section(summary)
            except Exception:  # noqa: BLE001 - a section that fails leaves the others
                continue
        self.rest(summary)
        return summary

    # --- identity and stay ---------------------------------------------------------------------

    def identity(self) -> Identity:
        patient = self.patient
        try:
            ipp, ins = patient_row(patient)[6:8]
        except Exception:  # noqa: BLE001
            ipp = ins = None
        shown, family, given = human_name(pick_name(patient.get("name")))
        others = []
        for name in as_list(patient.get("name")):
            text = human_name(name)[0]
            if text and text != shown and text not in others:
                others.append(text)
        gender = patient.get("gender") if isinstance(patient.get("gender"), str) else None
        birth = patient.get("birthDate") if isinstance(patient.get("birthDate"), str) else None
        deceased = None
        if isinstance(patient.get("deceasedDateTime"), str):
            deceased = patient["deceasedDateTime"]
        elif patient.get("deceasedBoolean") is True:
            deceased = ""
        return Identity(
            name=shown or "(nom inconnu)", family=family, given=given, birth_date=birth,
            sex=SEX.get(gender or "", "Non renseigné"), gender=gender,
            ipp=ipp if isinstance(ipp, str) else None, ins=ins if isinstance(ins, str) else None,
            address=self.address(patient.get("address")),
            phones=phone_of(patient.get("telecom")),
            contacts=[c for c in (self.contact(c) for c in as_list(patient.get("contact"))) if c],
            deceased=deceased, other_names=others)

    @staticmethod
    def address(value: Any) -> str:
        addresses = [a for a in as_list(value) if isinstance(a, dict)]
        if isinstance(value, dict):
            addresses = [value]
        chosen = next((a for a in addresses if a.get("use") == "home"), addresses[0] if addresses else {})
        if as_text(chosen.get("text")):
            return as_text(chosen["text"])
        lines = [as_text(line) for line in as_list(chosen.get("line")) if as_text(line)]
        town = " ".join(p for p in (as_text(chosen.get("postalCode")), as_text(chosen.get("city"))) if p)
        return ", ".join(p for p in (*lines, town, as_text(chosen.get("country"))) if p)

    @staticmethod
    def contact(value: Any) -> Contact | None:
        value = as_dict(value)
        name = human_name(value.get("name"))[0] or as_text(as_dict(value.get("organization")).get("display"))
        relations = [concept_text(r) for r in as_list(value.get("relationship"))]
        phones = phone_of(value.get("telecom"))
        if not name and not phones:
            return None
        return Contact(name, ", ".join(r for r in relations if r), phones[0] if phones else "")

    def current_encounter(self) -> dict | None:
        """The stay in progress: an inpatient one before an emergency visit, latest first."""
        candidates = [e for e in self.by_type.get("Encounter", [])
                      if e.get("status") in CURRENT_STAYS and e.get("status") != "planned"]
        if not candidates:
            return None

        def rank(encounter: dict) -> tuple:
            klass = first_code(encounter.get("class"))
            start = self.sort_key(period(encounter.get("period"))[0])
            return (encounter.get("status") == "in-progress", klass in ("IMP", "ACUTE"), start)

        return max(candidates, key=rank)

    def stay(self, summary: Summary) -> None:
        self.used.add("Encounter")
        encounter = self.current_encounter()
        if encounter is None:
            return
        klass = first_code(encounter.get("class"))
        stay = Stay(encounter=as_text(encounter.get("id")), status=as_text(encounter.get("status")),
                    kind=CLASS.get(klass, concept_text(encounter.get("class")) or klass))
        stay.admitted = period(encounter.get("period"))[0]
        places: dict[str, str] = {}
        for entry in as_list(encounter.get("location")):
            entry = as_dict(entry)
            if entry.get("status") in ("completed", "planned") or period(entry.get("period"))[1]:
                continue
            found = target(entry.get("location"))
            if found and found[0] == "Location":
                for kind, name in self.lookup.location(found[1]).items():
                    places.setdefault(kind, name)
            kind = first_code(entry.get("physicalType"))
            if kind in ("bd", "ro", "wa") and kind not in places and reference_text(entry.get("location")):
                places[kind] = reference_text(entry.get("location"))
        stay.bed, stay.room, stay.unit = places.get("bd", ""), places.get("ro", ""), places.get("wa", "")
        stay.unit_phone = places.get("phone", "")
        if not stay.unit:
            stay.unit = concept_text(encounter.get("serviceType"))
        stay.attending = self.attending(encounter)
        stay.reason = self.reason(encounter)
        summary.stay = stay

    def attending(self, encounter: dict) -> str:
        chosen = ""
        for participant in as_list(encounter.get("participant")):
            participant = as_dict(participant)
            kinds = set().union(*(codes(t) for t in as_list(participant.get("type")))) \
                if participant.get("type") else set()
            name = self.lookup.person(participant.get("individual"))
            if name and ("ATND" in kinds or not chosen):
                chosen = name
                if "ATND" in kinds:
                    break
        return chosen

    def reason(self, encounter: dict) -> str:
        texts = [concept_text(c) for c in as_list(encounter.get("reasonCode"))]
        for diagnosis in as_list(encounter.get("diagnosis")):
            condition = self.lookup.of(as_dict(diagnosis).get("condition"), "Condition")
            if condition:
                texts.append(concept_text(condition.get("code")))
        for ref in as_list(encounter.get("reasonReference")):
            resource = self.lookup.of(ref)
            texts.append(concept_text(resource.get("code")) if resource else reference_text(ref))
        unique = list(dict.fromkeys(t for t in texts if t))
        return " ; ".join(unique)

    # --- allergies, problems, flags, diet ---------------------------------------------------

    def allergies(self, summary: Summary) -> None:
        none_recorded: list[str] = []

        def read(resource: dict) -> Allergy | None:
            status = first_code(resource.get("clinicalStatus"))
            verification = first_code(resource.get("verificationStatus"))
            if status in ("inactive", "resolved") or verification in ("refuted", "entered-in-error"):
                return None
            code = resource.get("code")
            found = codes(code) & NO_ALLERGY.keys()
            if found:
                none_recorded.append(concept_text(code) or NO_ALLERGY[min(found)])
                return None
            reactions = [as_dict(r) for r in as_list(resource.get("reaction"))]
            substance = concept_text(code) or next(
                (concept_text(r.get("substance")) for r in reactions if concept_text(r.get("substance"))), "")
            manifestations = []
            severity = ""
            order = {"severe": 3, "moderate": 2, "mild": 1}
            for reaction in reactions:
                for item in as_list(reaction.get("manifestation")):
                    text = concept_text(item)
                    if text and text not in manifestations:
                        manifestations.append(text)
                if not as_list(reaction.get("manifestation")) and as_text(reaction.get("description")):
                    manifestations.append(as_text(reaction["description"]))
                level = reaction.get("severity")
                if isinstance(level, str) and order.get(level, 0) > order.get(severity, 0):
                    severity = level
            notes = [as_text(as_dict(n).get("text")) for n in as_list(resource.get("note"))]
            criticality = resource.get("criticality") if isinstance(resource.get("criticality"), str) else ""
            return Allergy(
                substance=substance or "Substance non précisée", reactions=manifestations,
                severity=SEVERITY.get(severity, ""), criticality=criticality,
                category=", ".join(ALLERGY_CATEGORY.get(c, as_text(c)) for c in as_list(resource.get("category"))
                                   if as_text(c)),
                kind=ALLERGY_TYPE.get(resource.get("type"), "") if isinstance(resource.get("type"), str) else "",
                status=verification, recorded=effective(resource, "recordedDate", "onsetDateTime"),
                note=" ".join(n for n in notes if n))

        found = self.each("AllergyIntolerance", read)
        found.sort(key=lambda a: (not a.high, a.substance.casefold()))
        summary.allergies = found
        summary.no_allergy_texts = list(dict.fromkeys(none_recorded))
        summary.allergy_state = "known" if found else ("none" if none_recorded else "unknown")

    def problems(self, summary: Summary) -> None:
        def read(resource: dict) -> Problem | None:
            status = first_code(resource.get("clinicalStatus"))
            verification = first_code(resource.get("verificationStatus"))
            if verification in ("refuted", "entered-in-error"):
                return None
            if status:
                if status not in ("active", "recurrence", "relapse"):
                    return None
            elif any(k.startswith("abatement") for k in resource):
                return None
            categories = set().union(*(codes(c) for c in as_list(resource.get("category")))) \
                if resource.get("category") else set()
            category = "Diagnostic du séjour" if "encounter-diagnosis" in categories else "Problème"
            return Problem(concept_text(resource.get("code")) or "Problème non précisé",
                           effective(resource, "onsetDateTime", "onsetPeriod", "onsetString",
                                     "recordedDate"),
                           status or "active", category)

        found = self.each("Condition", read)
        found.sort(key=lambda p: -self.sort_key(p.onset))
        summary.problems = found

    def flags(self, summary: Summary) -> None:
        def read(resource: dict) -> FlagItem | None:
            if resource.get("status") not in ("active", None):
                return None
            start, end = period(resource.get("period"))
            ended = self.when(end)
            if ended is not None and ended < self.now:
                return None
            return FlagItem(concept_text(resource.get("code")) or "Alerte",
                            concept_text(as_list(resource.get("category"))), start)

        summary.flags = self.each("Flag", read)

    def diets(self, summary: Summary) -> None:
        def read(resource: dict) -> Diet | None:
            if resource.get("status") not in ("active", "on-hold", "draft", None):
                return None
            oral = as_dict(resource.get("oralDiet"))
            labels = [concept_text(t) for t in as_list(oral.get("type"))]
            details = [concept_text(as_dict(t).get("modifier")) for t in as_list(oral.get("texture"))]
            details += [concept_text(as_dict(f).get("type")) for f in as_list(oral.get("fluidConsistencyType"))]
            if as_text(oral.get("instruction")):
                details.append(as_text(oral["instruction"]))
            excluded = [concept_text(x) for x in as_list(resource.get("excludeFoodModifier"))]
            if any(excluded):
                details.append("Exclure : " + ", ".join(x for x in excluded if x))
            details += [concept_text(x) for x in as_list(resource.get("foodPreferenceModifier"))]
            for supplement in as_list(resource.get("supplement")):
                supplement = as_dict(supplement)
                details.append(as_text(supplement.get("productName")) or concept_text(supplement.get("type")))
            enteral = as_dict(resource.get("enteralFormula"))
            if enteral:
                labels.append(as_text(enteral.get("baseFormulaProductName"))
                              or concept_text(enteral.get("baseFormulaType")) or "Nutrition entérale")
                if as_text(enteral.get("administrationInstruction")):
                    details.append(as_text(enteral["administrationInstruction"]))
            text = ", ".join(t for t in labels if t) or resource_text(resource) or "Régime"
            if resource.get("status") == "on-hold":
                details.insert(0, "Suspendu")
            return Diet(text, [d for d in details if d], effective(resource, "dateTime"))

        summary.diets = self.each("NutritionOrder", read)

    # --- medications ---------------------------------------------------------------------------

    def drug_name(self, resource: dict) -> str:
        concept = resource.get("medicationCodeableConcept")
        if concept is not None:
            return concept_text(concept) or "Médicament non précisé"
        ref = resource.get("medicationReference")
        ref_text = as_text(as_dict(ref).get("reference"))
        medication = None
        if ref_text.startswith("#"):
            medication = next((c for c in as_list(resource.get("contained"))
                               if isinstance(c, dict) and c.get("id") == ref_text[1:]), None)
        elif ref_text:
            medication = self.lookup.of(ref, "Medication")
        if medication:
            name = concept_text(medication.get("code"))
            if not name:
                ingredients = [concept_text(as_dict(i).get("itemCodeableConcept"))
                               or reference_text(as_dict(i).get("itemReference"))
                               for i in as_list(medication.get("ingredient"))]
                name = " + ".join(i for i in ingredients if i)
            if name:
                return name
        return reference_text(ref) or "Médicament non précisé"

    @staticmethod
    def dose(dosage: dict) -> str:
        parts = []
        for entry in as_list(dosage.get("doseAndRate")):
            entry = as_dict(entry)
            if "doseQuantity" in entry:
                parts.append(quantity_text(entry["doseQuantity"]))
            elif "doseRange" in entry:
                parts.append(range_text(entry["doseRange"]))
            if "rateQuantity" in entry:
                text = quantity_text(entry["rateQuantity"])
                parts.append(text if "/" in text else f"{text}/h" if text else "")
            elif "rateRatio" in entry:
                ratio = as_dict(entry["rateRatio"])
                parts.append(f"{quantity_text(ratio.get('numerator'))}/{quantity_text(ratio.get('denominator'))}")
            elif "rateRange" in entry:
                parts.append(range_text(entry["rateRange"]))
        if "doseQuantity" in dosage:  # STU3 spelling some servers still send
            parts.append(quantity_text(dosage["doseQuantity"]))
        return ", ".join(p for p in parts if p)

    def medications(self, summary: Summary) -> None:
        window = (self.now, self.now + dt.timedelta(hours=PLAN_HOURS))
        today = self.now.date()

        def read(resource: dict) -> Medication | None:
            status = resource.get("status")
            if status not in ACTIVE_ORDER:
                return None
            dosages = [as_dict(d) for d in as_list(resource.get("dosageInstruction"))]
            dosages.sort(key=lambda d: number(d.get("sequence")) or 0)
            ends = []
            starts = []
            for dosage in dosages:
                start, end = period(as_dict(as_dict(dosage.get("timing")).get("repeat")).get("boundsPeriod"))
                starts.append(start)
                ends.append(end)
            validity = period(as_dict(resource.get("dispenseRequest")).get("validityPeriod"))
            end_text = max(ends, key=self.sort_key) if ends and all(ends) else None
            if end_text is None and validity[1]:
                end_text = validity[1]
            ended = self.when(end_text)
            if end_text and ended is not None:
                if len(end_text) <= 10:
                    ended += dt.timedelta(days=1)
                if ended <= self.now:
                    return None
            as_needed = any(d.get("asNeededBoolean") is True or "asNeededCodeableConcept" in d
                            for d in dosages)
            reasons = [concept_text(d.get("asNeededCodeableConcept")) for d in dosages]
            texts = [as_text(d.get("text")) or timing_text(d.get("timing")) for d in dosages]
            routes = [concept_text(d.get("route")) for d in dosages]
            authored = self.when(resource.get("authoredOn"))
            due: list[dt.datetime] = []
            if status == "active":
                for dosage in dosages:
                    timing = as_dict(dosage.get("timing"))
                    explicit = as_dict(timing.get("repeat")).get("timeOfDay") or \
                        as_dict(timing.get("repeat")).get("when") or timing.get("event")
                    prn = dosage.get("asNeededBoolean") is True or "asNeededCodeableConcept" in dosage
                    if prn and not explicit:
                        continue
                    due += due_times(timing, *window, zone=self.zone, fallback_start=authored)
            due = sorted(set(due))
            notes = [as_text(as_dict(n).get("text")) for n in as_list(resource.get("note"))]
            return Medication(
                id=as_text(resource.get("id")), drug=self.drug_name(resource),
                dose=" ; ".join(d for d in (self.dose(d) for d in dosages) if d),
                route=", ".join(dict.fromkeys(r for r in routes if r)),
                frequency=" ; ".join(t for t in texts if t),
                as_needed=as_needed, as_needed_reason=", ".join(r for r in reasons if r),
                status=status, start=next((s for s in starts if s), None) or
                (resource.get("authoredOn") if isinstance(resource.get("authoredOn"), str) else None),
                end=end_text, prescriber=self.lookup.person(resource.get("requester")),
                due=[Due(w, w.astimezone(self.tz).strftime("%H:%M"),
                         (w.astimezone(self.tz).date() - today).days) for w in due],
                note=" ".join(n for n in notes if n))

        meds = self.each("MedicationRequest", read)
        meds.sort(key=lambda m: (m.status != "active", m.as_needed and not m.due, m.drug.casefold()))
        by_id = {m.id: m for m in meds}
        since = self.now - dt.timedelta(hours=GIVEN_HOURS)

        def given(resource: dict) -> Administration | None:
            when_text = effective(resource, "effectiveDateTime", "effectivePeriod")
            when = self.when(when_text)
            if when is None or not since <= when <= self.now + dt.timedelta(minutes=5):
                return None
            dosage = as_dict(resource.get("dosage"))
            dose = quantity_text(dosage.get("dose"))
            rate = quantity_text(dosage.get("rateQuantity"))
            status = as_text(resource.get("status"))
            performers = [self.lookup.person(as_dict(p).get("actor")) for p in as_list(resource.get("performer"))]
            reasons = [concept_text(r) for r in as_list(resource.get("statusReason"))]
            reasons += [as_text(as_dict(n).get("text")) for n in as_list(resource.get("note"))]
            request = target(resource.get("request"))
            return Administration(
                when=when_text, instant=when, drug=self.drug_name(resource),
                dose=" ".join(p for p in (dose, rate and f"{rate}", as_text(dosage.get("text"))) if p),
                route=concept_text(dosage.get("route")), who=", ".join(p for p in performers if p),
                status=status, status_label=ADMIN_STATUS.get(status, status),
                reason=" ; ".join(r for r in reasons if r),
                request=request[1] if request and request[0] == "MedicationRequest" else None)

        administrations = self.each("MedicationAdministration", given)
        administrations.sort(key=lambda a: a.instant or self.now, reverse=True)
        for administration in administrations:
            if administration.request in by_id:
                by_id[administration.request].given.append(administration)
        summary.medications = meds
        summary.administrations = administrations

    # --- observations ------------------------------------------------------------------------------

    def observations(self, summary: Summary) -> None:
        series: dict[str, Series] = {}
        blood: list[tuple[float, BloodGroup]] = []

        def add(key: str, label: str, group: str, value: Value, order: int = 99) -> None:
            found = series.get(key)
            if found is None:
                found = series[key] = Series(key, label, group, [], order)
            found.values.append(value)

        def read(resource: dict) -> bool:
            if resource.get("status") in ("cancelled", "entered-in-error"):
                return True
            code = resource.get("code")
            found = codes(code)
            when_text = effective(resource, "effectiveDateTime", "effectivePeriod", "effectiveInstant",
                                  "issued")
            when = self.when(when_text)
            if found & BLOOD_CODES:
                text = self.blood_text(resource)
                if text:
                    blood.append((when.timestamp() if when else float("-inf"), BloodGroup(text, when_text)))
                return True
            categories = set().union(*(codes(c) for c in as_list(resource.get("category")))) \
                if resource.get("category") else set()
            label = concept_text(code) or "Résultat"
            if found & BP_PANEL or (found & {SYSTOLIC, DIASTOLIC} and resource.get("component")):
                self.blood_pressure(resource, when_text, when, add)
                return True
            vital = next((VITALS[c] for c in sorted(found) if c in VITALS), None)
            if vital is None and "vital-signs" in categories:
                vital = ("code:" + (first_code(code) or label), label, 50)
            if vital is not None:
                value = self.value(resource, when_text, when)
                if value is not None:
                    add(vital[0], vital[1], "vital", value, vital[2])
                return True
            components = [as_dict(c) for c in as_list(resource.get("component"))]
            value = self.value(resource, when_text, when)
            group = next((RESULT_GROUP[c] for c in ("laboratory", "imaging", "exam", "procedure", "survey",
                                                    "social-history", "therapy", "activity")
                          if c in categories), RESULT_GROUP[""])
            key = "code:" + (first_code(code) or label)
            if value is not None:
                add(key, label, group, value)
            for component in components:
                part = self.value(component, when_text, when)
                if part is None:
                    continue
                name = concept_text(component.get("code")) or "Composant"
                add(f"{key}/{first_code(component.get('code')) or name}", f"{label} : {name}",
                    group, part)
            if value is None and not components:
                note = as_text(resource.get("valueString")) or concept_text(resource.get("dataAbsentReason"))
                add(key, label, group, Value(when_text, when, note or "—", None, "", ""))
            return True

        self.each("Observation", read)
        if blood:
            summary.blood_group = max(blood, key=lambda pair: pair[0])[1]
        for item in series.values():
            item.values.sort(key=lambda v: v.instant.timestamp() if v.instant else float("-inf"),
                             reverse=True)
            del item.values[SERIES_VALUES:]
        vitals = [s for s in series.values() if s.group == "vital"]
        vitals.sort(key=lambda s: s.order)
        results = [s for s in series.values() if s.group != "vital"]
        results.sort(key=lambda s: (s.group != "Biologie", -(s.latest.instant.timestamp()
                                                              if s.latest.instant else float("-inf")),
                                    s.label.casefold()))
        summary.vitals = vitals
        summary.results = results[:MAX_SERIES]

    def blood_pressure(self, resource: dict, when_text: str | None, when: dt.datetime | None,
                       add: Callable[..., None]) -> None:
        systolic = diastolic = None
        for component in as_list(resource.get("component")):
            component = as_dict(component)
            found = codes(component.get("code"))
            if SYSTOLIC in found:
                systolic = self.value(component, when_text, when)
            elif DIASTOLIC in found:
                diastolic = self.value(component, when_text, when)
        if systolic is None and diastolic is None:
            value = self.value(resource, when_text, when)
            if value is not None:
                add("bp", "Pression artérielle", "vital", value, 3)
            return
        text = f"{systolic.text if systolic else '?'}/{diastolic.text if diastolic else '?'}"
        flag = (systolic.flag if systolic else "") or (diastolic.flag if diastolic else "")
        add("bp", "Pression artérielle", "vital",
            Value(when_text, when, text, systolic.number if systolic else None, "mmHg", flag), 3)

    def value(self, holder: dict, when_text: str | None, when: dt.datetime | None) -> Value | None:
        """The value of an Observation or of a component, with its flag and range."""
        amount: float | None = None
        unit = ""
        if "valueQuantity" in holder:
            quantity = as_dict(holder["valueQuantity"])
            amount = number(quantity.get("value"))
            unit = _unit(as_text(quantity.get("unit")) or as_text(quantity.get("code")))
            text = (as_text(quantity.get("comparator")) + number_text(amount)) if amount is not None else ""
        elif "valueCodeableConcept" in holder:
            text = concept_text(holder["valueCodeableConcept"])
        elif "valueString" in holder:
            text = as_text(holder["valueString"])
        elif "valueBoolean" in holder:
            text = "Oui" if holder["valueBoolean"] is True else "Non"
        elif "valueInteger" in holder:
            amount = number(holder["valueInteger"])
            text = number_text(amount) if amount is not None else ""
        elif "valueRange" in holder:
            text = range_text(holder["valueRange"])
        elif "valueRatio" in holder:
            ratio = as_dict(holder["valueRatio"])
            text = f"{quantity_text(ratio.get('numerator'))}/{quantity_text(ratio.get('denominator'))}"
        elif "valueDateTime" in holder or "valuePeriod" in holder or "valueTime" in holder:
            text = as_text(holder.get("valueDateTime") or holder.get("valueTime")) or \
                " – ".join(p for p in period(holder.get("valuePeriod")) if p)
        elif "valueSampledData" in holder:
            text = "Données échantillonnées"
        elif "dataAbsentReason" in holder:
            text = concept_text(holder["dataAbsentReason"]) or "Non mesuré"
        else:
            return None
        ranges = [as_dict(r) for r in as_list(holder.get("referenceRange"))]
        flag = ""
        for interpretation in as_list(holder.get("interpretation")):
            for code in codes(interpretation):
                flag = flag or ABNORMAL.get(code, "")
        if not flag and amount is not None and ranges:
            low = number(as_dict(ranges[0].get("low")).get("value"))
            high = number(as_dict(ranges[0].get("high")).get("value"))
            flag = "↑" if high is not None and amount > high else "↓" if low is not None and amount < low else ""
        return Value(when_text, when, text or "—", amount, unit, flag, ranges[0] if ranges else {})

    @staticmethod
    def blood_text(resource: dict) -> str:
        """ABO and RhD of a blood-group Observation: its value, or its two components."""
        value = concept_text(resource.get("valueCodeableConcept")) or as_text(resource.get("valueString"))
        if value:
            return value
        parts = [concept_text(as_dict(c).get("valueCodeableConcept")) or as_text(as_dict(c).get("valueString"))
                 for c in as_list(resource.get("component"))]
        return " ".join(p for p in parts if p)

    # --- documents, oncology, upcoming, care team -------------------------------------------

    def documents(self, summary: Summary) -> None:
        def reference(resource: dict) -> Document | None:
            if resource.get("status") in ("superseded",):
                return None
            contents = [as_dict(as_dict(c).get("attachment")) for c in as_list(resource.get("content"))]
            attachment = next((a for a in contents if a.get("data") or a.get("url")),
                              contents[0] if contents else {})
            authors = [self.lookup.person(a) for a in as_list(resource.get("author"))]
            date = effective(resource, "date") or as_text(attachment.get("creation")) or \
                period(as_dict(resource.get("context")).get("period"))[0]
            return Document(
                id=as_text(resource.get("id")), kind="DocumentReference",
                type=concept_text(resource.get("type")) or concept_text(as_list(resource.get("category"))),
                date=date or None, author=", ".join(a for a in authors if a),
                title=as_text(attachment.get("title")) or as_text(resource.get("description")) or "Document",
                content_type=as_text(attachment.get("contentType")),
                has_content=bool(attachment.get("data") or attachment.get("url")))

        def report(resource: dict) -> Document | None:
            forms = [as_dict(f) for f in as_list(resource.get("presentedForm"))]
            conclusion = as_text(resource.get("conclusion"))
            if not forms and not conclusion:
                return None  # a panel whose results are shown with the results
            authors = [self.lookup.person(a) for a in as_list(resource.get("performer"))]
            form = forms[0] if forms else {}
            return Document(
                id=as_text(resource.get("id")), kind="DiagnosticReport",
                type=concept_text(resource.get("code")) or "Compte rendu",
                date=effective(resource, "effectiveDateTime", "effectivePeriod", "issued"),
                author=", ".join(a for a in authors if a),
                title=as_text(form.get("title")) or conclusion[:120] or concept_text(resource.get("code")),
                content_type=as_text(form.get("contentType")),
                has_content=bool(form.get("data") or form.get("url")))

        found = self.each("DocumentReference", reference) + self.each("DiagnosticReport", report)
        found.sort(key=lambda d: -self.sort_key(d.date))
        summary.documents = found[:MAX_DOCUMENTS]

    def oncology(self, summary: Summary) -> None:
        def read(resource: dict) -> Oncology | None:
            if resource.get("status") in ("completed", "revoked", "entered-in-error"):
                return None
            activities = [as_dict(as_dict(a).get("detail")) for a in as_list(resource.get("activity"))]
            activities = [a for a in activities if a]
            kind = self.treatment_kind(resource, activities)
            if kind is None:
                return None
            counted = [a for a in activities if a.get("status") not in SKIPPED_ACTIVITY]
            done = [a for a in counted if a.get("status") in DONE_ACTIVITY]
            pending = [a for a in counted if a.get("status") not in DONE_ACTIVITY]
            pending.sort(key=lambda a: self.sort_key(self.activity_date(a)) if self.activity_date(a)
                         else float("inf"))
            upcoming = next((a for a in pending if (w := self.when(self.activity_date(a))) and w >= self.now
                             - dt.timedelta(hours=12)), pending[0] if pending else None)
            total = len(counted)
            next_number = None
            label = ""
            if upcoming is not None:
                label = concept_text(upcoming.get("code")) or as_text(upcoming.get("description"))
                match = re.search(r"(\d+)\s*/\s*(\d+)", label)
                if match:
                    next_number, total = int(match[1]), max(total, int(match[2]))
                else:
                    next_number = len(done) + 1
            elif done:
                match = re.search(r"(\d+)\s*/\s*(\d+)", concept_text(done[-1].get("code")))
                if match:
                    total = max(total, int(match[2]))
            last = max((self.activity_date(a) for a in done if self.activity_date(a)),
                       key=self.sort_key, default=None)
            where = ""
            if upcoming is not None:
                where = self.lookup.person(upcoming.get("location")) or reference_text(upcoming.get("location"))
                found = target(upcoming.get("location"))
                if not where and found and found[0] == "Location":
                    where = self.lookup.location(found[1]).get("wa", "")
            notes = [as_text(as_dict(n).get("text")) for n in as_list(resource.get("note"))]
            return Oncology(
                kind=kind, title=as_text(resource.get("title")) or concept_text(as_list(resource.get("category"))),
                description=as_text(resource.get("description")), status=as_text(resource.get("status")),
                done=len(done), total=total, next_number=next_number, next_label=label,
                next_date=self.activity_date(upcoming) if upcoming is not None else None,
                last_date=last, where=where, note=" ".join(n for n in notes if n))

        summary.oncology = self.each("CarePlan", read)

    @staticmethod
    def treatment_kind(resource: dict, activities: list[dict]) -> str | None:
        """Chemotherapy or radiotherapy, from codes first, then from the words used."""
        found: set[str] = set()
        for category in as_list(resource.get("category")):
            found |= codes(category)
        for activity in activities:
            found |= codes(activity.get("code"))
        if found & RADIO_CODES:
            return "radiotherapy"
        if found & CHEMO_CODES:
            return "chemotherapy"
        words = " ".join([concept_text(as_list(resource.get("category"))), as_text(resource.get("title"))]).casefold()
        if "radioth" in words or "radiation" in words:
            return "radiotherapy"
        if "chimioth" in words or "chemother" in words:
            return "chemotherapy"
        return None

    @staticmethod
    def activity_date(activity: dict | None) -> str | None:
        if activity is None:
            return None
        start = period(activity.get("scheduledPeriod"))[0]
        if start:
            return start
        if isinstance(activity.get("scheduledString"), str):
            return None
        timing = as_dict(activity.get("scheduledTiming"))
        events = [e for e in many(timing.get("event")) if isinstance(e, str)]
        return events[0] if events else period(as_dict(timing.get("repeat")).get("boundsPeriod"))[0]

    def upcoming(self, summary: Summary) -> None:
        horizon = self.now - dt.timedelta(hours=2)
        linked: set[str] = set()

        def appointment(resource: dict) -> Upcoming | None:
            if resource.get("status") in ("cancelled", "noshow", "fulfilled", "entered-in-error"):
                return None
            start = resource.get("start") if isinstance(resource.get("start"), str) else None
            when = self.when(start)
            if when is None or when < horizon:
                return None
            for ref in as_list(resource.get("basedOn")):
                found = target(ref)
                if found:
                    linked.add(found[1])
            where, who = "", []
            for participant in as_list(resource.get("participant")):
                actor = as_dict(participant).get("actor")
                found = target(actor)
                if found and found[0] == "Location":
                    where = where or reference_text(actor) or self.lookup.location(found[1]).get("ro", "")
                elif found and found[0] == "Patient":
                    continue
                else:
                    name = self.lookup.person(actor)
                    role = concept_text(as_list(as_dict(participant).get("type")))
                    if name:
                        who.append(f"{name} ({role})" if role else name)
            notes = [as_text(resource.get("comment")), as_text(resource.get("patientInstruction"))]
            for ref in as_list(resource.get("basedOn")):
                request = self.lookup.of(ref, "ServiceRequest")
                if request:
                    notes += [as_text(as_dict(n).get("text")) for n in as_list(request.get("note"))]
            what = as_text(resource.get("description")) or concept_text(as_list(resource.get("serviceType"))) \
                or concept_text(as_list(resource.get("serviceCategory"))) or "Rendez-vous"
            return Upcoming(start, what, where, who, as_text(resource.get("status")), "Appointment",
                            " ".join(n for n in notes if n))

        def request(resource: dict) -> Upcoming | None:
            if resource.get("id") in linked or resource.get("status") not in ("active", "draft", "on-hold"):
                return None
            if resource.get("intent") in ("proposal", "plan", "filler-order") and not resource.get("occurrenceDateTime"):
                return None
            when_text = effective(resource, "occurrenceDateTime", "occurrencePeriod")
            when = self.when(when_text)
            if when is not None and when < horizon:
                return None
            where = ", ".join(reference_text(r) for r in as_list(resource.get("locationReference"))
                              if reference_text(r))
            who = [self.lookup.person(p) for p in as_list(resource.get("performer"))]
            notes = [as_text(as_dict(n).get("text")) for n in as_list(resource.get("note"))]
            return Upcoming(when_text, concept_text(resource.get("code")) or "Demande", where,
                            [w for w in who if w], as_text(resource.get("status")), "ServiceRequest",
                            " ".join(n for n in notes if n))

        def procedure(resource: dict) -> Upcoming | None:
            if resource.get("status") not in ("preparation", "in-progress"):
                return None
            when_text = effective(resource, "performedDateTime", "performedPeriod")
            who = [self.lookup.person(as_dict(p).get("actor")) for p in as_list(resource.get("performer"))]
            return Upcoming(when_text, concept_text(resource.get("code")) or "Acte",
                            reference_text(resource.get("location")), [w for w in who if w],
                            as_text(resource.get("status")), "Procedure")

        found = self.each("Appointment", appointment)
        found += self.each("ServiceRequest", request)
        for resource in self.by_type.get("Procedure", []):
            if resource.get("status") in ("preparation", "in-progress"):
                try:
                    item = procedure(resource)
                except Exception:  # noqa: BLE001
                    self.other("Procedure", resource)
                    continue
                if item:
                    found.append(item)
        found.sort(key=lambda u: self.sort_key(u.when) if u.when else float("inf"))
        summary.upcoming = found

    def care_team(self, summary: Summary) -> None:
        members: list[Member] = []
        seen: set[tuple[str, str]] = set()

        def add(name: str, role: str, ref: Any) -> None:
            if not name or (name, role) in seen:
                return
            seen.add((name, role))
            members.append(Member(name, role, self.lookup.phone(ref)))

        encounter = self.current_encounter()
        if encounter is not None:
            for participant in as_list(encounter.get("participant")):
                participant = as_dict(participant)
                kinds = [first_code(t) for t in as_list(participant.get("type"))]
                role = next((ROLE[k] for k in kinds if k in ROLE), concept_text(as_list(participant.get("type"))))
                add(self.lookup.person(participant.get("individual")), role or "Intervenant",
                    participant.get("individual"))

        def team(resource: dict) -> bool:
            if resource.get("status") not in ("active", "proposed", None):
                return False
            for participant in as_list(resource.get("participant")):
                participant = as_dict(participant)
                member = participant.get("member")
                found = target(member)
                if found and found[0] in ("Patient", "Organization"):
                    continue
                add(self.lookup.person(member), concept_text(as_list(participant.get("role"))) or "Équipe", member)
            return True

        self.each("CareTeam", team)
        for ref in as_list(self.patient.get("generalPractitioner")):
            add(self.lookup.person(ref), "Médecin traitant", ref)
        summary.care_team = members

    # --- the rest ----------------------------------------------------------------------------------

    def rest(self, summary: Summary) -> None:
        """Everything the sections above did not read, by type, so nothing is hidden."""
        for rtype, resources in self.by_type.items():
            if rtype in self.used or rtype == "Patient":
                continue
            for resource in resources:
                self.other(rtype, resource)
        for rtype, count in self.skipped.items():
            self.others.setdefault(rtype, []).extend([""] * count)
        others = []
        for rtype, texts in sorted(self.others.items()):
            unique = list(dict.fromkeys(t for t in texts if t))
            others.append(Other(rtype, len(texts), unique[:OTHER_EXAMPLES]))
        summary.others = others


# --- entry point --------------------------------------------------------------------------------


def summary(conn: sqlite3.Connection, patient_id: str, now: dt.datetime | None = None,
            zone: str = DEFAULT_ZONE) -> Summary | None:
    """The summary of one patient, or None if the index holds no such patient."""
    now = now or clock.now()
    if now.tzinfo is None:
        now = now.replace(tzinfo=ZoneInfo(zone))
    rows = conn.execute("SELECT type, json FROM resources WHERE patient = ?", (patient_id,)).fetchall()
    patient: dict | None = None
    resources: list[tuple[str, dict]] = []
    skipped: dict[str, int] = {}
    for rtype, raw in rows:
        if rtype in BILLING:  # claims and audit trails: counted, never parsed
            skipped[rtype] = skipped.get(rtype, 0) + 1
            continue
        resource = _load(raw)
        if resource is None:
            skipped[rtype] = skipped.get(rtype, 0) + 1
            continue
        if rtype == "Patient":
            if resource.get("id") == patient_id:
                patient = resource
            continue
        resources.append((rtype, resource))
    if patient is None:
        return None
    return Builder(conn, patient, resources, skipped, now, zone).build()
