"""Who may open whom: a ward's staff open their wards' patients, others after a reason.

Search results and the OR schedule list patients of every ward (a nurse must find a
patient wherever they are), but opening a patient's summary, documents or printouts
outside the account's wards (local/wards.py) goes through break-glass: the page asks why
(« urgence vitale », « transfert », « autre » with a few words), and one POST of that
form records an audit entry of action "break-glass" with the reason and lets the user
through at once. The grant lasts a shift (GRANT_HOURS) for that user and that patient;
every view under it names the break-glass entry in its own audit entry.

Another ward's census and its printouts (census sheet, ward MAR) show every patient of
that ward with allergies and diet: they go through the same form, for the ward. Its
entry has no patient, page "census" and detail "ward=ID: reason"; the grant covers that
ward's census pages only, not its patients' records. The list of wards names nobody
and stays open. The admin's audit page lists break-glass entries first.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, unquote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ... import clock
from ..local.accounts import User
from ..local.audit import AuditEntry, ward_detail
from ..views import census as census_q
from ..views import movements
from ..views.wards import UnknownWard, find_ward
from .base import current_user, db, render, station

GRANT_HOURS = 12
ACTION = "break-glass"
REASONS = {"urgence": "urgence vitale", "transfert": "transfert", "autre": "autre"}
MAX_TEXT = 300
WARDS = "/wards"


def may_open(request: Request, pid: str) -> bool:
    """True if the user sees this patient without a reason, or has given one this shift;
    a view under a grant gets its audit mark in request.state.break_glass."""
    user = current_user(request)
    wards = station(request).wards.scope(user.name, user.role)
    conn = db(request)
    if wards is None or conn is None or census_q.in_units(conn, pid, wards) \
            or movements.in_units(conn, movements.read(station(request).journal), pid, wards):
        return True
    return _under_grant(request, station(request).audit.granted(user.name, pid, ACTION, _shift_start()))


def may_open_ward(request: Request, ward: str) -> bool:
    """True if the ward is (within) one of the user's, or its census was asked for with a
    reason this shift; the census views under a grant get their mark like a patient's."""
    user = current_user(request)
    if in_ward_scope(request, user, ward):
        return True
    return _under_grant(request, station(request).audit.granted_ward(user.name, ward, ACTION,
                                                                     _shift_start()))


def in_ward_scope(request: Request, user: User, ward: str) -> bool:
    """True if the ward is (within) one of the account's wards, or the account sees all."""
    wards = station(request).wards.scope(user.name, user.role)
    conn = db(request)
    return wards is None or conn is None or ward in wards or _within(conn, ward, wards)


def landing(request: Request, user: User) -> str:
    """Where a user lands after sign-in: the census of the ward this station serves
    (station.json's `ward`, cli/station_ward.py) when the account sees it without a
    reason; else, on a station set to a ward, the census of the account's own ward when
    it has exactly one (a nurse of another ward signing in here); else the list of wards
    (a break-glass form is no page to land on). A station set to no ward opens on the
    list."""
    chosen = station(request).settings().ward
    conn = db(request)
    if not chosen or conn is None:
        return WARDS
    if (ward := _known_ward(conn, chosen)) and in_ward_scope(request, user, ward):
        return f"{WARDS}/{quote(ward, safe='')}"
    own = station(request).wards.scope(user.name, user.role) or []
    if len(own) == 1 and (ward := _known_ward(conn, own[0])):
        return f"{WARDS}/{quote(ward, safe='')}"
    return WARDS


def _known_ward(conn: sqlite3.Connection, text: str) -> str | None:
    try:
        return find_ward(conn, text)
    except UnknownWard:
        return None


def _within(conn: sqlite3.Connection, ward: str, units: list[str]) -> bool:
    """A unit nested in one of the account's units (a department's wards) is theirs too."""
    children = census_q.children_of(census_q.all_places(conn))
    return any(ward in census_q.descendants(unit, children) for unit in units)


def _shift_start() -> str:
    """The oldest grant still valid, as audit times are written (UTC, milliseconds, Z)."""
    since = (clock.now() - dt.timedelta(hours=GRANT_HOURS)).astimezone(dt.UTC)
    return since.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _under_grant(request: Request, grant: AuditEntry | None) -> bool:
    if grant is None:
        return False
    request.state.break_glass = f"{ACTION} #{grant.seq}: {grant.detail}"
    return True


@dataclass(frozen=True)
class Door:
    """What a break-glass opens: one patient's pages, or one ward's census pages."""
    kind: str   # "patient" or "ward", as the form's variant
    id: str
    section: str  # the first segment of its pages' paths

    @property
    def home(self) -> str:
        return f"/{self.section}/{quote(self.id, safe='')}"


def patient_door(pid: str) -> Door:
    return Door("patient", pid, "patients")


def ward_door(ward: str) -> Door:
    return Door("ward", ward, "wards")


def ask_reason(request: Request, pid: str) -> Response:
    """The break-glass form, in place of the page asked for (403: it was not shown)."""
    return _ask(request, patient_door(pid))


def ask_ward_reason(request: Request, ward: str) -> Response:
    """The same form for another ward's census or printout (403: it was not shown)."""
    return _ask(request, ward_door(ward))


def _ask(request: Request, door: Door) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return _form(request, door, target, 403, error=False)


def _form(request: Request, door: Door, target: str, status: int, error: bool) -> Response:
    return render(request, "break_glass.html", status_code=status, door=door, target=target,
                  reasons=REASONS, error=error)


def door_target(target: str, door: Door) -> str:
    """Where to go once the reason is given: one of the door's pages, nothing else."""
    path = target.split("?")[0]
    parts = path.split("/")
    if len(parts) >= 3 and parts[1] == door.section and unquote(parts[2]) == door.id \
            and "//" not in target and "\\" not in target and not path.endswith("/break-glass"):
        return target
    return door.home


async def break_glass(request: Request) -> Response:
    """POST /patients/{pid}/break-glass: record the reason, then go where the user was going."""
    pid = request.path_params["pid"]
    return await _give_reason(request, patient_door(pid),
                              lambda reason: ("summary", pid, reason))


async def ward_break_glass(request: Request) -> Response:
    """POST /wards/{ward}/break-glass: the same for a ward's census (no patient named)."""
    ward = request.path_params["ward"]
    return await _give_reason(request, ward_door(ward),
                              lambda reason: ("census", None, ward_detail(ward, reason)))


async def _give_reason(request: Request, door: Door,
                       entry: Callable[[str], tuple[str, str | None, str]]) -> Response:
    """Check the form, record (page, patient, detail) = entry(reason), redirect at once."""
    form = await request.form()
    reason = str(form.get("reason", ""))
    text = " ".join(str(form.get("text", "")).split())[:MAX_TEXT]
    target = door_target(str(form.get("next", "")), door)
    if reason not in REASONS or (reason == "autre" and not text):
        return await run_in_threadpool(_form, request, door, target, 400, True)
    page, patient, detail = entry(REASONS[reason] + (f" : {text}" if text else ""))
    await run_in_threadpool(station(request).audit.record, current_user(request).name, ACTION,
                            page, patient, detail)
    return RedirectResponse(target, status_code=303)
