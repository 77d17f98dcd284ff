"""The patient summary as plain data: the dataclasses the page, the printouts and the tests
share. Each section module fills its part of a `Summary`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from ....fhir.clinical.code_status import Directive, at_a_glance
from ....fhir.clinical.hints import Hint
from ....fhir.clinical.values import as_text, range_text
from .reader import Mark

# A dose may be recorded from the plan up to this long before it falls due (given early,
# or the round that starts before the hour); later doses get their form when they near.
RECORD_AHEAD = dt.timedelta(hours=2)


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
    high: bool = False  # fhir.clinical.allergies.high_risk: what every medium marks severe


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
    record: Administration | None = None  # what was recorded for this dose, if anything


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
    planned: dt.datetime | None = None  # the planned dose it answers (journal's extension)
    entry: str | None = None  # "<station>/<seq>" when recorded on a station
    outcome: str = ""  # why not done, in words ("Refusé par le patient")
    duplicate_of: str | None = None  # another entry giving the same planned dose


@dataclass
class DowntimeOrder:
    """An order written on a station during the downtime, and where its check stands
    (views/summary/downtime_orders.py)."""

    key: str  # the journal entry of its current version
    rtype: str  # MedicationRequest or ServiceRequest
    id: str
    text: str  # "Paracétamol 1 g, voie orale, 3 fois par jour" or "NFS (biologie)"
    status: str
    author: str
    time: str  # when it was written (UTC ISO)
    check: str = ""  # "" (no check needed), "to-check", "validee", "a-modifier"
    checker: str = ""
    checked_at: str = ""
    comment: str = ""


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
    ended: str | None = None  # its end passed while the HIS still says active: to check
    overdue: list[Due] = field(default_factory=list)  # fell due lately, no administration
    done: list[Due] = field(default_factory=list)  # fell due lately, recorded (Due.record)
    dose_value: str = ""  # the prescribed dose's number and unit, apart: the forms' defaults
    dose_unit: str = ""
    unscheduled: bool = False  # a frequency without set times: "heure à définir"
    downtime: DowntimeOrder | None = None  # written on a station: its pharmacist's check


@dataclass
class Value:
    when: str | None
    instant: dt.datetime | None
    text: str  # "37,8", "Positif", "120/80"
    number: float | None
    unit: str
    flag: str  # "↑", "↓", "!" or ""
    reference: dict = field(default_factory=dict)  # the first referenceRange, as sent
    mark: Mark | None = None  # recorded on a station during the downtime: by whom, where
    warning: str = ""  # French: why a value recorded here looked implausible

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
    kind: str  # DocumentReference, DiagnosticReport or Binary (a file no document names)
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
    label: str = ""  # the type in words (others.TYPE_LABELS)


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
    not_current: list[NotCurrent] = field(default_factory=list)  # orders, and why not shown
    usual: list[UsualTreatment] = field(default_factory=list)  # MedicationStatement
    hints: list[Hint] = field(default_factory=list)  # fhir.clinical.hints, never blocking
    chart: Chart = field(default_factory=lambda: Chart())
    downtime_orders: list[DowntimeOrder] = field(default_factory=list)  # written on stations

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

    @property
    def record_until(self) -> dt.datetime:
        """The plan offers a form for the doses due up to this time."""
        return self.now + RECORD_AHEAD

    @property
    def done(self) -> list[tuple[Due, Medication]]:
        """The doses that fell due lately and were recorded (given or not), oldest first."""
        doses = [(due, med) for med in self.medications for due in med.done]
        return sorted(doses, key=lambda pair: (pair[0].when, pair[1].drug))

    @property
    def late(self) -> list[tuple[Due, Medication]]:
        """The doses that fell due lately with no administration, oldest first."""
        doses = [(due, med) for med in self.medications for due in med.overdue]
        return sorted(doses, key=lambda pair: (pair[0].when, pair[1].drug))


@dataclass
class NotCurrent:
    """An order that is not current treatment, listed with why (never silently gone)."""

    id: str
    drug: str
    dose: str
    frequency: str
    reason: str  # code: a status, or "stay-ended" (fhir.clinical.orders.REASONS)
    reason_text: str  # French
    start: str | None
    end: str | None


@dataclass
class UsualTreatment:
    """A MedicationStatement: the patient's usual (home) treatment, beside the orders."""

    id: str
    drug: str
    dose: str
    route: str
    dosage: str  # the dosage text, or one built from its timing
    status: str  # code
    status_text: str  # French
    current: bool
    start: str | None
    end: str | None
    ended: str | None = None  # its period ended while it is still said active
    source: str = ""  # informationSource
    note: str = ""


# --- the rest of the chart: code status, care plans, history, devices, what was not shown ---


@dataclass
class Goal:
    text: str
    status: str  # French label
    targets: list[str]  # "HbA1c < 7 %", "d'ici le 01/06/2026" is the page's
    due: str | None = None


@dataclass
class Activity:
    text: str
    status: str  # French label
    when: str | None = None


@dataclass
class CarePlanItem:
    title: str
    category: str
    status: str  # French label
    start: str | None
    end: str | None
    goals: list[Goal] = field(default_factory=list)
    activities: list[Activity] = field(default_factory=list)
    note: str = ""


@dataclass
class Dated:
    """One event of the record's history (a vaccination, a procedure), most recent first."""

    when: str | None
    text: str
    detail: str = ""
    status: str = ""  # French label when it is not simply done


@dataclass
class DeviceItem:
    text: str
    kind: str  # "line" for catheters, PICC, drains, probes; "" otherwise
    since: str | None
    site: str = ""
    status: str = ""
    note: str = ""


@dataclass
class Unshown:
    """Resources of a type some section read but chose not to show (ended, inactive...)."""

    type: str
    label: str  # the type in words
    count: int
    texts: list[str]


@dataclass
class Chart:
    code_status: list[Directive] = field(default_factory=list)
    care_plans: list[CarePlanItem] = field(default_factory=list)
    immunizations: list[Dated] = field(default_factory=list)
    procedures: list[Dated] = field(default_factory=list)
    devices: list[DeviceItem] = field(default_factory=list)
    unshown: list[Unshown] = field(default_factory=list)
    mistaken: int = 0  # resources marked entered-in-error, counted and never shown

    @property
    def code_alerts(self) -> list[Directive]:
        """Do-not-resuscitate and limitation of care, each once: the MAR's header and the
        printed summary's alerts, as the census shows them (code_status.at_a_glance)."""
        return at_a_glance(self.code_status)
