"""The demo hospital: a synthetic French hospital as FHIR R4, for `releve demo generate`
and for the demo HIS.

Deterministic: the output is a pure function of (seed, beds, patients, now), never of
the clock or of hashing. The layout and the census come from their own random streams;
each patient then has a stream of their own (seeded by seed and patient number), so
patients can be generated in any order or in parallel and still give the same bytes,
and the generator never holds more than a block of patients. Sized by beds: about 85%
occupied, 100 MPI patients a bed by default. 1000 beds and 100,000 patients make about
1.9 million resources (2.2 GB of ndjson), written in under a minute on two cores.

    iter_resources(seed, beds, patients, now)   every resource, in a fixed order
    census_resources(seed, beds, now)           the site and today's census patients only
    generate_to(out_dir, seed, beds, ...)       one Type.ndjson per resource type
    parse_now(text)                             the hospital's "now"
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import BinaryIO

import orjson

from ... import clock
from ...errors import ReleveError
from ...files import AS_CREATED, atomic_file
from . import build as b
from .catalog.conditions import DIAGNOSIS_AGES
from .catalog.procedures import COURSES, PROCEDURES, PROTOCOLS, SCHEDULED_OPERATIONS, Course, Protocol
from .catalog.profiles import PROFILES, Profile
from .chart import Chart
from .people import make_person, patient_resource
from .schedule import chemotherapy, operation, radiotherapy
from .site import Bed, Site, build_site, site_resources
from .stays import emergency_now, history
from .ward import inpatient

__all__ = ["DemoInputError", "census_resources", "generate_to", "iter_resources", "parse_now"]

PATIENTS_PER_BED = 100
MIN_BEDS = 10
BLOCK = 500  # patients rendered together (and handed between processes)
PARALLEL_FROM = 5000  # patients: below this, one process is faster than forking

# Who can be in a service, and who can have a diagnosis: (youngest, oldest, sex).
KIND_AGES: dict[str, tuple[int, int, str | None]] = {
    "pediatrics": (0, 15, None), "maternity": (18, 43, "female"), "geriatrics": (75, 100, None),
    "psychiatry": (18, 75, None), "rehab": (50, 95, None), "icu": (25, 90, None),
    "oncology": (35, 90, None),
}
VIA_EMERGENCY = {"icu": 0.7, "medicine": 0.6, "geriatrics": 0.8, "short": 1.0, "pediatrics": 0.6,
                 "psychiatry": 0.4, "oncology": 0.4, "maternity": 0.2, "rehab": 0.0}
URGENT_SURGERY = {"appendectomy", "hip_fracture", "cholecystectomy"}


class DemoInputError(ReleveError):
    """A size or a date the demo hospital cannot be generated with."""


@dataclass(frozen=True)
class Inpatient:
    bed: Bed


@dataclass(frozen=True)
class Emergency:
    arrival: int
    status: str  # arrived, triaged, in-progress
    box: tuple[str, str] | None  # (id, name); None: waiting, not in a box yet


@dataclass(frozen=True)
class Chemotherapy:
    protocol: Protocol


@dataclass(frozen=True)
class Radiotherapy:
    course: Course


@dataclass(frozen=True)
class Surgery:
    operation: tuple[str, tuple[str, str], int]  # (procedure, OR room, start)


# What the census gives a patient to do today (most MPI patients have none), each kind
# with what its part of the chart is drawn from.
Role = Inpatient | Emergency | Chemotherapy | Radiotherapy | Surgery


@dataclass
class Hospital:
    seed: int
    beds: int
    patients: int
    now: int
    today: date
    site: Site
    roles: dict[int, Role] = field(default_factory=dict)
    occupied: set[str] = field(default_factory=set)


def parse_now(text: str | None) -> datetime:
    """The hospital's now: an ISO 8601 date (06:00 that day) or date-time (Paris time
    when no offset is given); by default the clock's now (releve.clock: RELEVE_NOW when
    pinned) to the minute, in Paris, so that the demo is live at any hour: what is done
    is before it, what is planned after it, at 3 a.m. as at noon."""
    if text is None:
        return clock.now_in(b.PARIS).replace(second=0, microsecond=0)
    try:
        if len(text.strip()) == 10:
            moment = datetime.combine(date.fromisoformat(text.strip()), time(6, 0))
        else:
            moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise DemoInputError(f"--now {text!r} is not an ISO 8601 date or date-time "
                             "(for example 2026-03-02T06:00:00+01:00)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=b.PARIS)
    if not 1990 <= moment.year <= 2200:
        raise DemoInputError(f"--now {text!r}: the demo hospital lives between 1990 and 2200")
    return moment


def _aware(now: datetime | str | None) -> datetime:
    """An aware datetime (Paris time when naive); text and None go through parse_now."""
    if now is None or isinstance(now, str):
        return parse_now(now)
    if not isinstance(now, datetime):
        raise DemoInputError(f"now must be a datetime, not {type(now).__name__}")
    return now if now.tzinfo is not None else now.replace(tzinfo=b.PARIS)


def plan_hospital(seed: int, beds: int, patients: int | None,
                  now: datetime | str | None) -> Hospital:
    """The layout, then today's census: who is in which bed, in the emergency department,
    under chemotherapy or radiotherapy, on the operating-room schedule."""
    if isinstance(beds, bool) or not isinstance(beds, int) or beds < MIN_BEDS:
        raise DemoInputError(f"--beds {beds}: the demo hospital needs at least {MIN_BEDS} beds")
    if patients is not None and (isinstance(patients, bool) or not isinstance(patients, int)):
        raise DemoInputError(f"--patients {patients!r} is not a whole number")
    moment = _aware(now)
    now_ts = int(moment.timestamp())
    today = moment.astimezone(b.PARIS).date()
    site = build_site(seed, beds)
    rng = random.Random(f"releve-demo/{seed}/census/{beds}/{now_ts}")
    count = round(len(site.beds) * rng.uniform(0.83, 0.87))
    occupied_beds = rng.sample(site.beds, count)
    occupied = {bed.id for bed in occupied_beds}
    roles: list[Role] = [Inpatient(bed) for bed in site.beds if bed.id in occupied]
    roles += _emergency_department(rng, site, beds, now_ts)
    roles += [Chemotherapy(p) for p in _draw(rng, PROTOCOLS, max(2, beds // 10))]
    roles += [Radiotherapy(c) for c in _draw(rng, COURSES, max(2, beds // 16))]
    roles += [Surgery(op) for op in _operating_rooms(rng, site, today, now_ts)]
    total = beds * PATIENTS_PER_BED if patients is None else patients
    if total < len(roles):
        raise DemoInputError(
            f"--patients {total} is too few for {beds} beds: today's census alone needs "
            f"{len(roles)} patients ({count} inpatients, the emergency department, oncology "
            "and the operating-room schedule)")
    indices = rng.sample(range(total), len(roles))
    return Hospital(seed, beds, total, now_ts, today, site, dict(zip(indices, roles, strict=True)), occupied)


def _draw(rng: random.Random, options: tuple, count: int) -> list:
    """`count` options by weight, the first one always the first option (FOLFOX, 25 x 2 Gy)."""
    chosen = [options[0]]
    chosen += rng.choices(options, weights=[o.weight for o in options], k=count - 1)
    return chosen


def _emergency_department(rng: random.Random, site: Site, beds: int, now: int) -> list[Emergency]:
    arrivals = sorted(now - rng.randint(5, 720) * 60 for _ in range(max(3, beds // 15)))
    free = list(site.ed_boxes)
    roles = []
    for arrival in arrivals:  # the earliest arrivals are in the boxes
        waited = (now - arrival) // 60
        status = "arrived" if waited < 20 else "triaged"
        box = None
        if waited >= 50 and free:
            status, box = "in-progress", free.pop(0)
        roles.append(Emergency(arrival, status, box))
    return roles


def _operating_rooms(rng: random.Random, site: Site, today: date,
                     now: int) -> list[tuple[str, tuple[str, str], int]]:
    """Three working days of programme in every operating room, from today: the
    operations still to begin (those of today that began before now are not booked)."""
    available = [(key, weight) for key, weight in SCHEDULED_OPERATIONS
                 if PROCEDURES[key][2] in site.by_service]
    if not available:
        return []
    keys, weights = [k for k, _ in available], [w for _, w in available]
    days: list[date] = []
    d = today
    while len(days) < 3:
        if d.weekday() < 5:
            days.append(d)
        d += timedelta(days=1)
    cases = []
    for d in days:
        for room in site.or_rooms:
            start = b.at(d, "08:00")
            close = b.at(d, "17:30")
            while True:
                key = rng.choices(keys, weights=weights)[0]
                minutes = PROCEDURES[key][3]
                if start + minutes * 60 > close:
                    break
                if start > now:
                    cases.append((key, room, start))
                start += (minutes + 30) * 60
    return cases


def _constraints(role: Role | None, profile: Profile | None) -> tuple[int, int, str | None]:
    low, high, sex = 0, 100, None
    if isinstance(role, Inpatient):
        low, high, sex = KIND_AGES.get(role.bed.unit.care_service().kind, (18, 100, None))
    elif isinstance(role, Chemotherapy | Radiotherapy | Surgery):
        low, high = 18, 90
    diagnosis = None
    if profile is not None:
        diagnosis = profile.diagnosis
    elif isinstance(role, Chemotherapy):
        diagnosis = role.protocol.diagnosis
    elif isinstance(role, Radiotherapy):
        diagnosis = role.course.diagnosis
    elif isinstance(role, Surgery):
        diagnosis = PROCEDURES[role.operation[0]][4]
    if diagnosis in DIAGNOSIS_AGES:
        d_low, d_high, d_sex = DIAGNOSIS_AGES[diagnosis]
        low, high = max(low, d_low), min(high, d_high)
        if low > high:  # a child in a unit of adults: trust the unit
            low, high = high, high
        sex = d_sex or sex
    return low, high, sex


def patient_resources(hospital: Hospital, idx: int) -> list[dict]:
    """Every resource of patient `idx`, Patient first: a pure function of the hospital
    and the number."""
    rng = random.Random(f"releve-demo/{hospital.seed}/patient/{idx}")
    role = hospital.roles.get(idx)
    profile = _profile_for(rng, role.bed) if isinstance(role, Inpatient) else None
    low, high, sex = _constraints(role, profile)
    person = make_person(rng, idx, hospital.today, low, high, sex)
    chart = Chart(rng, person, hospital.site, hospital.now, hospital.today)
    now = hospital.now
    deceased = None
    if role is None:
        history(chart, now - b.DAY)
        if person.age >= 75 and rng.random() < 0.03:
            deceased = min(now - b.DAY, chart.last_event + rng.randint(1, 300) * b.DAY)
            chart.touch(deceased)
    elif isinstance(role, Inpatient):
        assert profile is not None  # drawn above for every inpatient
        service = role.bed.unit.care_service()
        elapsed = 2 * b.HOUR + int(service.max_stay_days * b.DAY * rng.random() ** 1.6)
        admitted = now - elapsed
        via_ed = rng.random() < (0.9 if profile.procedure in URGENT_SURGERY
                                 else 0.1 if profile.procedure
                                 else VIA_EMERGENCY.get(service.kind, 0.5))
        history(chart, admitted - 12 * b.HOUR)
        inpatient(chart, role.bed, admitted, via_ed, profile)
    elif isinstance(role, Emergency):
        history(chart, role.arrival - b.DAY)
        emergency_now(chart, role.arrival, role.status, role.box)
    elif isinstance(role, Chemotherapy):
        history(chart, now - 365 * b.DAY)
        chemotherapy(chart, role.protocol)
    elif isinstance(role, Radiotherapy):
        history(chart, now - 365 * b.DAY)
        radiotherapy(chart, role.course)
    else:  # surgery
        history(chart, now - 60 * b.DAY)
        operation(chart, *role.operation)
    patient = patient_resource(rng, person, chart.last_event, deceased)
    return [patient, *chart.out]


def _profile_for(rng: random.Random, bed: Bed) -> Profile:
    profiles = PROFILES[bed.unit.care_service().code]
    return rng.choices(profiles, weights=[p.weight for p in profiles])[0]


def iter_resources(seed: int, beds: int, patients: int | None,
                   now: datetime | str | None) -> Iterator[dict]:
    """Every resource of the demo hospital as a dict, in a deterministic order: the
    Organization, Locations and staff, then patient after patient. Dicts are fresh (no
    nested object is shared between two resources): a caller may change them."""
    hospital = plan_hospital(seed, beds, patients, now)
    yield from site_resources(hospital.site, hospital.occupied, hospital.now)
    for idx in range(hospital.patients):
        yield from patient_resources(hospital, idx)


def census_resources(seed: int, beds: int, now: datetime | str | None) -> Iterator[dict]:
    """The site, staff and today's patients on a ward or in the emergency department,
    each with their whole record: the part of the hospital a census shows, without the
    MPI's other patients (the demo's HL7 v2 feed sends it)."""
    hospital = plan_hospital(seed, beds, None, now)
    yield from site_resources(hospital.site, hospital.occupied, hospital.now)
    for idx, role in sorted(hospital.roles.items()):
        if isinstance(role, Inpatient | Emergency):
            yield from patient_resources(hospital, idx)


# --- writing ndjson ---------------------------------------------------------------------

_HOSPITAL: Hospital | None = None  # inherited by forked workers


def _render(hospital: Hospital, start: int, stop: int) -> dict[str, list[bytes]]:
    lines: dict[str, list[bytes]] = {}
    for idx in range(start, stop):
        for resource in patient_resources(hospital, idx):
            lines.setdefault(resource["resourceType"], []).append(orjson.dumps(resource))
    return lines


def _render_block(bounds: tuple[int, int]) -> dict[str, tuple[int, bytes]]:
    """In a worker: one block of patients as ndjson bytes per type."""
    assert _HOSPITAL is not None
    rendered = _render(_HOSPITAL, *bounds)
    return {rtype: (len(lines), b"\n".join(lines) + b"\n") for rtype, lines in rendered.items()}


class _Files:
    """One Type.ndjson per resource type, each an atomic_file of `files` (they take their
    names when `stack` closes without an error): a crash never leaves a truncated file."""

    def __init__(self, out_dir: Path, stack: contextlib.ExitStack):
        self.out_dir = out_dir
        self.stack = stack
        self.files: dict[str, BinaryIO] = {}
        self.counts: dict[str, int] = {}

    def write(self, rtype: str, count: int, data: bytes) -> None:
        handle = self.files.get(rtype)
        if handle is None:
            handle = self.files[rtype] = self.stack.enter_context(
                atomic_file(self.out_dir / f"{rtype}.ndjson", AS_CREATED, buffering=1 << 20))
        handle.write(data)
        self.counts[rtype] = self.counts.get(rtype, 0) + count


def generate_to(out_dir: Path, seed: int, beds: int, patients: int | None = None,
                now: str | datetime | None = None, workers: int | None = None) -> dict[str, int]:
    """Write the demo hospital as FHIR ndjson, one file per resource type; return the
    count of resources per type. Same arguments, same bytes, whatever `workers` is."""
    global _HOSPITAL
    hospital = plan_hospital(seed, beds, patients, now)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        files = _Files(out_dir, stack)
        site: dict[str, list[bytes]] = {}
        for resource in site_resources(hospital.site, hospital.occupied, hospital.now):
            site.setdefault(resource["resourceType"], []).append(orjson.dumps(resource))
        for rtype, lines in site.items():
            files.write(rtype, len(lines), b"\n".join(lines) + b"\n")
        blocks = [(start, min(start + BLOCK, hospital.patients))
                  for start in range(0, hospital.patients, BLOCK)]
        if workers is None:
            workers = min(4, os.cpu_count() or 1) if hospital.patients >= PARALLEL_FROM else 1
        if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
            _HOSPITAL = hospital
            try:
                with multiprocessing.get_context("fork").Pool(workers) as pool:
                    for rendered in pool.imap(_render_block, blocks):
                        for rtype, (count, data) in rendered.items():
                            files.write(rtype, count, data)
            finally:
                _HOSPITAL = None
        else:
            for start, stop in blocks:
                for rtype, lines in _render(hospital, start, stop).items():
                    files.write(rtype, len(lines), b"\n".join(lines) + b"\n")
        return dict(files.counts)
