"""Recording orders during the downtime: the pages and their posts (docs/journal.md §5.5–5.6).

    POST /patients/{pid}/orders            a physician's new order (medication, lab,
                                           imaging), or a correction (`supersedes`, `reason`)
    GET  /patients/{pid}/orders/correct?entry=KEY   the correction form, filled from the order
    POST /patients/{pid}/orders/stop       stop or cancel an order (`entry`, `reason`)
    POST /patients/{pid}/orders/check      a pharmacist's check (`entry`, `outcome`, `comment`)
    GET  /orders/to-check                  the pharmacist's list, every station's orders
    GET  /patients/{pid}/entries           every downtime entry of the patient
    GET  /patients/{pid}/print/entries.pdf the same on paper, for the chart

Roles are the journal's (journal/roles.py): `recording.require` refuses with 403 before
anything is read from the form, and `recording.record` checks again before writing. A
form with errors answers 400 with the patient page, every problem beside its field and
the values typed kept; nothing is written. After a write, 303 back to the page.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ... import clock
from ...fhir.clinical.values import human_name, pick_name
from ...journal.entry import Draft, Entry
from ...journal.kinds import Context, Invalid, Problem
from ...journal.kinds import order as order_kind
from ...journal.kinds import order_check as check_kind
from ...journal.roles import may_record
from ..entry_history import history, with_fates
from ..order_queue import pending
from ..recorded import recorded_for
from ..views import resources
from . import access, patient
from .base import audit, current_user, db, render, station
from .recording import checked_form, record, require

ON_PAGE = 10  # the patient page shows the latest entries; the full list is one link away
FORM_FIELDS = ("type", "drug", "code", "dose", "unit", "route", "frequency", "every", "prn_reason",
               "prn_max", "start", "days", "end", "what", "priority", "reason", "specimen", "when",
               "note", "supersedes")


def install(env: jinja2.Environment) -> None:
    """What _rec_orders.html and _rec_history.html call from the patient page."""
    env.globals.update(may_record=may_record, latest_entries=latest_entries,
                       order_choices=CHOICES)


CHOICES = {  # the forms' choices: (value, French text)
    "units": [(unit, unit) for unit in order_kind.UNITS],
    "routes": [(key, text) for key, (_, text) in order_kind.ROUTES.items()],
    "frequencies": [(key, order_kind.frequency_text(key, None, "motif", None) if key not in ("h", "prn")
                     else {"h": "toutes les N h", "prn": "si besoin"}[key])
                    for key in order_kind.FREQUENCIES],
    "every": [(str(n), f"{n} h") for n in order_kind.EVERY_HOURS],
    "priorities": list(order_kind.PRIORITIES.items()),
    "categories": [(key, text) for key, (_, text) in order_kind.CATEGORIES.items()],
}


def latest_entries(request: Request, pid: str) -> tuple[list, int]:
    """The patient page's history: the ON_PAGE newest entries, and how many there are."""
    here = station(request)
    journal = here.journal
    lines, total = journal.derived(f"Patient/{pid}", f"history:{ON_PAGE}",
                                   lambda entries: history(journal, pid, ON_PAGE, entries))
    return with_fates(lines, here.fates), total


def _context(request: Request, pid: str) -> Context:
    return Context(clock.now(), station(request).settings().timezone, f"Patient/{pid}",
                   current_user(request).role)


def _known(request: Request, pid: str) -> None:
    """404 unless the station knows the patient (vault or admitted here); the usual
    reason to ask first when the patient is outside the user's wards."""
    conn = db(request)
    in_vault = conn is not None and resources.resource(conn, "Patient", pid) is not None
    if not in_vault and recorded_for(station(request).journal, pid).patient is None:
        raise HTTPException(404)
    if not access.may_open(request, pid):
        raise HTTPException(403)


def _back(pid: str, anchor: str = "rec-orders") -> RedirectResponse:
    return RedirectResponse(f"/patients/{quote(pid, safe='')}#{anchor}", status_code=303)


def _problems(exc: Invalid) -> dict[str, tuple[str, dict]]:
    return {p.field: (p.text, dict(p.values)) for p in exc.problems}


def _redo(request: Request, pid: str, state: dict[str, Any]) -> Response:
    """The patient page again, status 400, with the form's problems and values."""
    request.state.order_form = state
    response = patient.patient_page(request)
    response.status_code = 400
    return response


def _order_entry(request: Request, pid: str, key: str) -> Entry:
    """The current version of a downtime order of this patient (404 otherwise; 409 when
    another entry has replaced it since the page was shown)."""
    journal = station(request).journal
    entry = journal.entry(key) if key else None
    if entry is None or entry.kind != order_kind.KIND or entry.patient != f"Patient/{pid}":
        raise HTTPException(404)
    if journal.superseding(key):
        raise HTTPException(409)
    return entry


async def create(request: Request) -> Response:
    pid = request.path_params["pid"]
    require(request, order_kind.KIND)
    _known(request, pid)
    form = await checked_form(request)
    raw = {name: str(form.get(name) or "") for name in FORM_FIELDS}
    raw["requester"] = current_user(request).display_name
    reason = " ".join(str(form.get("reason_change") or "").split())
    supersedes = raw["supersedes"]
    if supersedes:
        _order_entry(request, pid, supersedes)
    try:
        draft = order_kind.from_form(raw, _context(request, pid))
        if supersedes and not reason:
            raise Invalid([Problem("reason_change", "Ce champ est obligatoire.")])
    except Invalid as exc:
        state = {"form": raw["type"] or "medication", "values": {**raw, "reason_change": reason},
                 "problems": _problems(exc)}
        if supersedes:
            return _correction_page(request, pid, supersedes, state)
        return _redo(request, pid, state)
    if supersedes:
        draft = Draft(draft.kind, draft.patient, draft.resource, supersedes, reason[:200])
    await record(request, [draft], "orders")
    return _back(pid)


async def _about_order(request: Request, kind: str) -> tuple[str, FormData, Entry]:
    """A post about one order (stop, check): the role first, then the patient, the form's
    CSRF, and the order's current version, still active (409 once stopped or cancelled)."""
    pid = request.path_params["pid"]
    require(request, kind)
    _known(request, pid)
    form = await checked_form(request)
    entry = _order_entry(request, pid, str(form.get("entry") or ""))
    if entry.resource.get("status") != "active":
        raise HTTPException(409)
    return pid, form, entry


async def stop(request: Request) -> Response:
    pid, form, entry = await _about_order(request, order_kind.KIND)
    reason = " ".join(str(form.get("reason") or "").split())
    if not reason or len(reason) > 200:
        text = "Ce champ est obligatoire." if not reason else "Texte trop long ({n} caractères, {limit} au plus)."
        return _redo(request, pid, {"stop": entry.key, "problems": {
            "reason": (text, {"n": len(reason), "limit": 200})}})
    resource = order_kind.ended(entry.resource, form.get("action") == "cancel", reason)
    await record(request, [Draft(order_kind.KIND, entry.patient, resource, entry.key, reason)], "orders")
    return _back(pid)


async def check(request: Request) -> Response:
    pid, form, entry = await _about_order(request, check_kind.KIND)
    if entry.resource.get("resourceType") != "MedicationRequest":
        raise HTTPException(404)
    raw = {"outcome": str(form.get("outcome") or ""), "comment": str(form.get("comment") or ""),
           "target": f"MedicationRequest/{entry.resource['id']}", "entry": entry.key,
           "verifier": current_user(request).display_name}
    back = "/orders/to-check" if form.get("next") == "queue" else None
    try:
        draft = check_kind.from_form(raw, _context(request, pid))
    except Invalid as exc:
        state = {"check": entry.key, "values": raw, "problems": _problems(exc)}
        if back:
            return _queue_page(request, state, 400)
        return _redo(request, pid, state)
    await record(request, [draft], "order-check")
    return RedirectResponse(back, status_code=303) if back else _back(pid)


def correction_form(request: Request) -> Response:
    pid = request.path_params["pid"]
    require(request, order_kind.KIND)
    _known(request, pid)
    key = request.query_params.get("entry") or ""
    values = order_kind.form_of(_order_entry(request, pid, key).resource)
    start = values.get("start") or values.get("when") or ""
    if start and order_kind.window_problem(dt.datetime.fromisoformat(start).replace(
            tzinfo=ZoneInfo(station(request).settings().timezone)), clock.now()):
        values["start" if "start" in values else "when"] = ""  # a start long past: now, unless retyped
    return _correction_page(request, pid, key, {"form": values["type"],
                                                "values": {**values, "supersedes": key}, "problems": {}})


def _correction_page(request: Request, pid: str, key: str, state: dict) -> Response:
    entry = _order_entry(request, pid, key)
    audit(request, "view", "order-correction", patient=pid, detail=key)
    return render(request, "rec_order_correct.html", status_code=400 if state["problems"] else 200,
                  pid=pid, entry=entry, state=state, choices=CHOICES,
                  patient_name=_patient_name(request, pid))


def to_check(request: Request) -> Response:
    require(request, check_kind.KIND)
    return _queue_page(request, {}, 200)


def _queue_page(request: Request, state: dict, status: int) -> Response:
    orders = pending(station(request).journal)
    names = {p.patient_id: _patient_name(request, p.patient_id) for p in orders}
    audit(request, "view", "orders-to-check", patients=sorted(names))
    return render(request, "rec_orders_to_check.html", status_code=status, orders=orders,
                  names=names, state=state, choices=CHOICES)


def _patient_name(request: Request, pid: str) -> str:
    conn = db(request)
    found = resources.resource(conn, "Patient", pid) if conn is not None else None
    found = found or recorded_for(station(request).journal, pid).patient
    if not found:
        return pid
    return human_name(pick_name(found.get("name")))[0] or pid


def entries_page(request: Request) -> Response:
    pid = request.path_params["pid"]
    _known(request, pid)
    lines, _ = history(station(request).journal, pid)
    lines = with_fates(lines, station(request).fates)
    audit(request, "view", "entries", patient=pid)
    return render(request, "rec_entries.html", pid=pid, lines=lines, here=station(request).journal.station,
                  patient_name=_patient_name(request, pid))


routes: list[BaseRoute] = [
    Route("/orders/to-check", to_check),
    Route("/patients/{pid}/orders", create, methods=["POST"]),
    Route("/patients/{pid}/orders/correct", correction_form),
    Route("/patients/{pid}/orders/stop", stop, methods=["POST"]),
    Route("/patients/{pid}/orders/check", check, methods=["POST"]),
    Route("/patients/{pid}/entries", entries_page),
]
