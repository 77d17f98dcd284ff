"""Recording administrations during the downtime: the forms of the patient summary and of
the ward tour, and their posts (docs/journal.md §5.1).

    POST /patients/{pid}/administrations         record a dose (or correct a recorded one)
    POST /patients/{pid}/administrations/cancel  cancel a recorded dose (entered-in-error)
    GET  /wards/{ward}/tour?hour=HH              every dose due in that hour, bed by bed

A post names where it came from (`from`: the summary, or the tour and its hour) and goes
back there: 303 once written, or the same page with the form's problems in French (400,
the typed values kept, nothing written). The role is checked first (403, nothing read),
then the patient's access as the summary checks it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from urllib.parse import quote
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ... import clock
from ...fhir.refs import target
from ...journal.entry import Draft
from ...journal.kinds import Invalid, Problem
from ...journal.kinds import administration as kind
from ...journal.roles import may_record
from ..recorded import recorded_for
from ..views import census as census_q
from ..views import movements, resources
from ..views.formats import number_filter
from ..views.summary import Due, Medication, Summary, summary
from . import access, patient
from .base import audit, current_user, language, render, station
from .pages import need_db
from .recording import author, checked_form, record, require

KIND = kind.KIND
FORM = ("outcome", "time", "dose", "unit", "route", "site", "comment", "request", "planned",
        "supersedes", "reason")
ORIGIN = re.compile(r"summary|tour:([^:]{1,200}):(\d{1,2})")
TOUR_PAGE = "tour.html"


@dataclass
class Posted:
    """A form sent back with its problems: the page shows them next to its fields."""

    key: str  # which form: "<order id>|<planned time>" (or "|<entry>" for a correction)
    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)


def form_key(request_id: str, planned: str = "", supersedes: str = "") -> str:
    return f"{request_id}|{planned}|{supersedes}"


def order_of(request: Request, pid: str, order_id: str) -> dict | None:
    """The patient's order: the vault's, or one a physician wrote on a station."""
    return next((r for t, r in recorded_for(station(request).journal, pid).resources
                 if t == "MedicationRequest" and r.get("id") == order_id), None) \
        or resources.resource(need_db(request), "MedicationRequest", order_id, pid)


def context_for(request: Request, pid: str, found: Summary, order_id: str) -> kind.AdministrationContext:
    """What the checks need: now, the stay, the author, and the order the form answers."""
    here = station(request)
    reference = f"MedicationRequest/{order_id}"
    order = order_of(request, pid, order_id)
    return kind.AdministrationContext(
        now=clock.now(), zone=here.settings().timezone, patient=f"Patient/{pid}",
        role=current_user(request).role,
        encounter=f"Encounter/{found.stay.encounter}" if found.stay and found.stay.encounter else None,
        author=author(request), orders={reference: order} if order else {})


def api_context(request: Request, pid: str, resource: dict) -> kind.AdministrationContext:
    """The local FHIR API's context for a posted administration, the form's: the order it
    answers, and its planned time, if it names one, checked against the plan."""
    found = _summary(request, pid)
    ref = target(resource.get("request"))
    order_id = ref[1] if ref and ref[0] == "MedicationRequest" else ""
    _in_plan(found, order_id, kind.planned_time(resource))
    return context_for(request, pid, found, order_id)


def _summary(request: Request, pid: str) -> Summary:
    here = station(request)
    found = summary(need_db(request), pid, clock.now(), here.settings().timezone,
                    recorded_for(here.journal, pid))
    if found is None:
        raise HTTPException(404)
    return found


def _origin(value: str) -> re.Match | None:
    return ORIGIN.fullmatch(value)


def _back(pid: str, origin: re.Match) -> str:
    if origin.group(0) == "summary":
        return f"/patients/{quote(pid)}#h-plan"
    return f"/wards/{quote(origin.group(1), safe='')}/tour?hour={int(origin.group(2)):02d}"


def _allowed(request: Request, pid: str) -> re.Match:
    """The role, then the origin, then the patient's access: 403 or 400 before anything."""
    require(request, KIND)
    if not access.may_open(request, pid):
        raise HTTPException(403, "access")
    return _origin_of(request)


def _origin_of(request: Request) -> re.Match:
    origin = _origin(str(request.query_params.get("from", "")))
    if origin is None:
        raise HTTPException(400)
    return origin


async def post_administration(request: Request) -> Response:
    pid = request.path_params["pid"]
    origin = _allowed(request, pid)
    form = await checked_form(request)
    values = {name: str(form.get(name, "")) for name in FORM}
    found = await run_in_threadpool(_summary, request, pid)
    context = await run_in_threadpool(context_for, request, pid, found, values["request"].strip())
    key = form_key(values["request"], values["planned"], values["supersedes"])
    try:
        draft = kind.from_form(values, context)
        supersedes, reason = _correction(request, pid, values)
        if not supersedes:
            _in_plan(found, values["request"].strip(), kind.planned_time(draft.resource))
    except Invalid as invalid:
        return await _again(request, pid, origin, Posted(key, values, _errors(invalid.problems)))
    if supersedes:
        draft = Draft(KIND, draft.patient, draft.resource, supersedes, reason)
    written = await record(request, [draft], "administration")
    return RedirectResponse(_noted(_back(pid, origin), written[0].key), status_code=303)


def _noted(back: str, key: str) -> str:
    """The page to go back to, told which entry was just recorded (to confirm it)."""
    path, _, anchor = back.partition("#")
    return f"{path}{'&' if '?' in path else '?'}noted={quote(key)}{'#' + anchor if anchor else ''}"


def noted(request: Request) -> dict | None:
    """The entry just recorded (?noted=), for the page to confirm it with its warnings
    (a dose other than the prescribed one): shown, never blocking. None when the entry is
    not an administration of this station the user may see."""
    key = str(request.query_params.get("noted", ""))
    entry = station(request).journal.entry(key) if key else None
    if entry is None or entry.kind != KIND or not entry.patient:
        return None
    pid = entry.patient.removeprefix("Patient/")
    if request.path_params.get("pid", pid) != pid:
        return None
    found = target(entry.resource.get("request"))
    order = order_of(request, pid, found[1]) if found else None
    dose = (entry.resource.get("dosage") or {}).get("dose")
    warnings = kind.dose_warnings(dose, order) if order and dose else []
    return {"key": key, "when": entry.resource.get("effectiveDateTime"),
            "status": entry.resource.get("status"), "warnings": [w.message() for w in warnings]}


def _in_plan(found: Summary, order_id: str, planned: str | None) -> None:
    """A planned time posted must be one of the order's doses the plan shows (late,
    recorded or to come): the form's hidden field is the browser's to change."""
    if planned is None:
        return
    medication = next((m for m in found.medications if m.id == order_id), None)
    doses = [d.when for d in [*medication.overdue, *medication.done, *medication.due]] if medication else []
    if kind.parse_planned(planned) not in doses:
        raise Invalid([Problem("planned", "Cette prise n'est pas au plan de la prescription.")])


def _correction(request: Request, pid: str, values: dict[str, str]) -> tuple[str | None, str | None]:
    """The entry a correction replaces (this patient's administration) and why."""
    key = values["supersedes"].strip()
    if not key:
        return None, None
    old = station(request).journal.entry(key)
    problems = []
    if old is None or old.kind != KIND or old.patient != f"Patient/{pid}":
        problems.append(Problem("supersedes", "Saisie à corriger introuvable."))
    reason = " ".join(values["reason"].split())
    if not reason:
        problems.append(Problem("reason", "Dites pourquoi vous corrigez."))
    elif len(reason) > kind.MAX_REASON:
        problems.append(Problem("reason", "Texte trop long ({n} caractères, {limit} au plus).",
                                {"n": len(reason), "limit": kind.MAX_REASON}))
    if problems:
        raise Invalid(problems)
    return key, reason


async def cancel_administration(request: Request) -> Response:
    """A cancellation: a new entry, the same resource entered-in-error, with the reason."""
    pid = request.path_params["pid"]
    origin = _allowed(request, pid)
    form = await checked_form(request)
    values = {name: str(form.get(name, "")) for name in FORM}
    try:
        key, reason = _correction(request, pid, values)
    except Invalid as invalid:
        return await _again(request, pid, origin, Posted(f"cancel|{values['supersedes']}", values,
                                                         _errors(invalid.problems)))
    old = station(request).journal.entry(key or "")
    assert old is not None and key is not None
    resource = {**old.resource, "status": "entered-in-error"}
    await record(request, [Draft(KIND, old.patient, resource, key, reason)], "administration")
    return RedirectResponse(_back(pid, origin), status_code=303)


def _errors(problems: list[Problem]) -> dict[str, str]:
    out: dict[str, str] = {}
    for problem in problems:
        out.setdefault(problem.field, problem.message())
    return out


async def _again(request: Request, pid: str, origin: re.Match, posted: Posted) -> Response:
    """The page the form came from, its problems shown, status 400: nothing written."""
    request.state.administration = posted
    if origin.group(0) == "summary":
        response = patient.patient_page(request)
    else:
        response = tour_page(request, origin.group(1), int(origin.group(2)))
    response.status_code = 400
    return response


# --- the tour ------------------------------------------------------------------------------------


@dataclass
class TourDose:
    due: Due
    medication: Medication
    late: bool


@dataclass
class TourBed:
    place: str
    s: Summary
    doses: list[TourDose]


def hour_window(now: dt.datetime, hour: int, zone: str) -> tuple[dt.datetime, dt.datetime]:
    """The hour HH:00–HH:59 nearest to now (the night's 23:00 seen at 01:00 is yesterday's)."""
    local = now.astimezone(ZoneInfo(zone))
    start = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if start - local > dt.timedelta(hours=12):
        start -= dt.timedelta(days=1)
    elif local - start >= dt.timedelta(hours=12):
        start += dt.timedelta(days=1)
    return start, start + dt.timedelta(hours=1)


def tour(request: Request) -> Response:
    ward = request.path_params["ward"]
    hour_text = request.query_params.get("hour", "")
    zone = station(request).settings().timezone
    if not hour_text:
        hour = clock.now().astimezone(ZoneInfo(zone)).hour
    elif hour_text.isdigit() and int(hour_text) < 24:
        hour = int(hour_text)
    else:
        raise HTTPException(400)
    return tour_page(request, ward, hour)


def tour_page(request: Request, ward: str, hour: int) -> Response:
    if not access.may_open_ward(request, ward):
        return access.ask_ward_reason(request, ward)
    here = station(request)
    zone = here.settings().timezone
    conn = need_db(request)
    now = clock.now()
    census = census_q.census(conn, ward, now, zone, movements.read(here.journal))
    if census is None:
        raise HTTPException(404, "ward")
    start, end = hour_window(now, hour, zone)
    beds = []
    for pid, place in census_q.ward_patients(census):
        found = summary(conn, pid, now, zone, recorded_for(here.journal, pid))
        if found is None:
            continue
        doses = [TourDose(d, m, d in m.overdue) for m in found.medications
                 for d in [*m.overdue, *m.done, *m.due] if start <= d.when < end]
        doses.sort(key=lambda t: (t.due.when, t.medication.drug))
        beds.append(TourBed(place, found, doses))
    audit(request, "view", "tour", detail=f"{ward} {hour:02d}",
          patients=[b.s.patient_id for b in beds if b.doses])
    return render(request, TOUR_PAGE, census=census, beds=beds, hour=hour, start=start, end=end,
                  num=number_filter(language(request)),
                  may_give=may_record(current_user(request).role, KIND),
                  origin=f"tour:{ward}:{hour}")


routes: list[BaseRoute] = [
    Route("/patients/{pid}/administrations", post_administration, methods=["POST"]),
    Route("/patients/{pid}/administrations/cancel", cancel_administration, methods=["POST"]),
    Route("/wards/{ward}/tour", tour),
]
