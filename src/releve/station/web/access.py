"""Who may open whom: a ward's staff open their wards' patients, others after a reason.

Search results, the census and the OR schedule list patients of every ward (a nurse must
find a patient wherever they are), but opening a patient's summary, documents or
printouts outside the account's wards (local/wards.py) goes through break-glass: the
page asks why (« urgence vitale », « transfert », « autre » with a few words), and one
POST of that form records an audit entry of action "break-glass" with the reason and
lets the user through at once. The grant lasts a shift (GRANT_HOURS) for that user and
that patient; every view under it names the break-glass entry in its own audit entry.
The admin's audit page lists break-glass entries first.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote, unquote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ... import clock
from ..views import census as census_q
from .base import current_user, db, render, station

GRANT_HOURS = 12
ACTION = "break-glass"
REASONS = {"urgence": "urgence vitale", "transfert": "transfert", "autre": "autre"}
MAX_TEXT = 300


def may_open(request: Request, pid: str) -> bool:
    """True if the user sees this patient without a reason, or has given one this shift;
    a view under a grant gets its audit mark in request.state.break_glass."""
    user = current_user(request)
    wards = station(request).wards.scope(user.name, user.role)
    conn = db(request)
    if wards is None or conn is None or census_q.in_units(conn, pid, wards):
        return True
    since = (clock.now() - dt.timedelta(hours=GRANT_HOURS)).astimezone(dt.UTC)
    grant = station(request).audit.granted(
        user.name, pid, ACTION, since.isoformat(timespec="milliseconds").replace("+00:00", "Z"))
    if grant is None:
        return False
    request.state.break_glass = f"{ACTION} #{grant.seq}: {grant.detail}"
    return True


def ask_reason(request: Request, pid: str) -> Response:
    """The break-glass form, in place of the page asked for (403: it was not shown)."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return _form(request, pid, target, 403, error=False)


def _form(request: Request, pid: str, target: str, status: int, error: bool) -> Response:
    return render(request, "break_glass.html", status_code=status, pid=pid, target=target,
                  reasons=REASONS, error=error)


def patient_target(target: str, pid: str) -> str:
    """Where to go once the reason is given: one of this patient's pages, nothing else."""
    path = target.split("?")[0]
    parts = path.split("/")
    if len(parts) >= 3 and parts[1] == "patients" and unquote(parts[2]) == pid \
            and "//" not in target and "\\" not in target and not path.endswith("/break-glass"):
        return target
    return f"/patients/{quote(pid, safe='')}"


async def break_glass(request: Request) -> Response:
    """POST /patients/{pid}/break-glass: record the reason, then go where the user was going."""
    pid = request.path_params["pid"]
    form = await request.form()
    reason = str(form.get("reason", ""))
    text = " ".join(str(form.get("text", "")).split())[:MAX_TEXT]
    target = patient_target(str(form.get("next", "")), pid)
    if reason not in REASONS or (reason == "autre" and not text):
        return await run_in_threadpool(_form, request, pid, target, 400, True)
    detail = REASONS[reason] + (f" : {text}" if text else "")
    await run_in_threadpool(station(request).audit.record, current_user(request).name, ACTION,
                            "summary", pid, detail)
    return RedirectResponse(target, status_code=303)
