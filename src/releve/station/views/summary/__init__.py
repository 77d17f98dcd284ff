"""The patient summary: what a nurse needs on the day the HIS is gone, as plain data.

`summary(conn, patient_id, now, zone)` reads every resource of one patient in one query
(plus point lookups of the practitioners, locations and medications they reference),
then walks SECTIONS in order: each section is a module that reads its resource types
into its part of the `Summary` (model.py) the page, the printouts and the tests share.
A new section, or an overlay on one (the journal's on the medications), is a new module
and a line in SECTIONS, not an edit of the others.

Nothing here trusts the data. Every getter (fhir/clinical/values.py) accepts anything,
each resource is read inside its own guard (Reader.each) and each section inside its
own: one resource that cannot be understood is listed under "Autres éléments" by its type
and text, one section that fails leaves the others, and neither is ever the reason a page
fails during an outage. The clinical rules (which allergy is shown, which is severe,
which order is current...) are fhir/clinical's, shared with the census and the printouts.

Times are aware datetimes; a FHIR date without a time is read as local midnight in the
station's zone (for sorting and windows only: pages show the text as the HIS wrote it).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from zoneinfo import ZoneInfo

from .... import clock
from ....fhir.clinical.values import load_written
from ...index.identities import contained_patient
from .allergies import allergies
from .care_plans import care_plans
from .care_team import care_team
from .code_status import code_status
from .devices import devices
from .diets import diets
from .documents import documents
from .downtime_notes import downtime_notes
from .downtime_orders import downtime_orders
from .flags import flags
from .history import history
from .labels import (
    ADMIN_STATUS,
    ALLERGY_CATEGORY,
    ALLERGY_TYPE,
    CLASS,
    CRITICALITY,
    ORDER_STATUS,
    RESULT_GROUP,
    ROLE,
    SEVERITY,
    SEX,
)
from .medications import GIVEN_HOURS, PLAN_HOURS, medications
from .model import (
    Administration,
    Allergy,
    BloodGroup,
    Contact,
    Diet,
    Document,
    Due,
    FlagItem,
    Identity,
    Medication,
    Member,
    Oncology,
    Other,
    Problem,
    Series,
    Stay,
    Summary,
    Upcoming,
    Value,
)
from .observations import VITALS, observations
from .oncology import oncology
from .others import others
from .person import identity, stay
from .problems import problems
from .reader import Reader, Recorded
from .timing import DEFAULT_ZONE, due_times, set_times, timing_text
from .upcoming import upcoming
from .usual import usual

Section = Callable[[Reader, Summary], None]

# The summary's sections in the order they are read. `others` comes last: it lists what
# no section before it read.
SECTIONS: list[tuple[str, Section]] = [
    ("stay", stay), ("allergies", allergies), ("problems", problems), ("flags", flags),
    ("diets", diets), ("medications", medications),
    ("downtime_orders", downtime_orders), ("observations", observations),
    ("documents", documents), ("downtime_notes", downtime_notes), ("oncology", oncology),
    ("upcoming", upcoming),
    ("care_team", care_team), ("usual", usual),
    ("code_status", code_status), ("care_plans", care_plans), ("history", history),
    ("devices", devices),
    ("others", others),
]
BILLING = frozenset({"Claim", "ClaimResponse", "ExplanationOfBenefit", "Coverage", "Account",
                     "Invoice", "ChargeItem", "Provenance", "AuditEvent"})

__all__ = [
    "ADMIN_STATUS", "ALLERGY_CATEGORY", "ALLERGY_TYPE", "CLASS", "CRITICALITY", "DEFAULT_ZONE",
    "GIVEN_HOURS", "ORDER_STATUS", "PLAN_HOURS", "RESULT_GROUP", "ROLE", "SECTIONS", "SEVERITY",
    "SEX", "VITALS", "Administration", "Allergy", "BloodGroup", "Contact", "Diet", "Document",
    "Due", "FlagItem", "Identity", "Medication", "Member", "Oncology", "Other", "Problem",
    "Reader", "Series", "Stay", "Summary", "Upcoming", "Value", "due_times", "summary",
    "timing_text", "set_times",
]


def summary(conn: sqlite3.Connection, patient_id: str, now: dt.datetime | None = None,
            zone: str = DEFAULT_ZONE, local: Recorded | None = None) -> Summary | None:
    """The summary of one patient, or None if neither the index nor the journal holds
    such a patient. `local` is what the wards recorded about the patient during the
    downtime (station/recorded.py): read with the vault's resources, each known by its
    entry, so that plan, trends and notes show both."""
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
        resource = load_written(raw)
        if resource is None:
            skipped[rtype] = skipped.get(rtype, 0) + 1
            continue
        if rtype == "Patient":
            if resource.get("id") == patient_id:
                patient = resource
            continue
        resources.append((rtype, resource))
    if patient is None and rows:  # a patient a contained Patient stands for (identities.py)
        patient = contained_patient(conn, patient_id)
    local = local or Recorded()
    patient = local.patient or patient  # a death recorded here: the patient as recorded
    if patient is None:
        return None
    mine = {(rtype, r.get("id")) for rtype, r in local.resources}  # e.g. a stay moved here
    resources = [(rtype, r) for rtype, r in resources if (rtype, r.get("id")) not in mine]
    reader = Reader(conn, patient, [*resources, *local.resources], skipped, now, zone)
    reader.entries = local.entries
    return build(reader)


def build(reader: Reader) -> Summary:
    """Walk the sections; one that fails leaves the summary without it, never without the rest."""
    found = Summary(reader.patient.get("id") or "", reader.now, reader.zone, identity(reader))
    for _, section in SECTIONS:
        try:
            section(reader, found)
        except Exception:  # noqa: BLE001 - a section that fails leaves the others
            continue
    return found
