"""The printouts as PDF at stable URLs, for the print buttons of the pages.

    /patients/{pid}/print/mar.pdf         the patient's MAR for the next 24 h
                                          (?shift=matin|apres-midi|nuit|jour: one shift)
    /patients/{pid}/print/labels.pdf      an A4 sheet of 24 labels
    /patients/{pid}/print/wristband.pdf   the wristband (two copies to cut out)
    /patients/{pid}/print/forms.pdf       downtime forms pre-filled with the identity
    /wards/{ward}/print/mar.pdf           the whole ward's MAR in one document (?shift= too)
    /wards/{ward}/print/census.pdf        the ward's census sheet
    /or/print.pdf?date=YYYY-MM-DD         one day of the OR schedule
    /directory/print.pdf                  the phone directory
    /forms/blank.pdf                      the downtime forms with empty identity boxes

Behind the sign-in like every page; a patient's printouts outside the user's wards ask
for a reason first, like the summary, and so do another ward's printouts, like its
census (web/access.py). Each print is audited as a view
(action "print": one patient's sheet names them, a sheet of many lists them all in its
one entry). The PDF is made in Starlette's thread pool, never
cached (no-store), and named for what it is, never for whom: file names end up in
download folders and print queues.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..printing import documents, entries
from ..views.summary import shifts
from . import access
from .base import current_user, language, station
from .pages import asked_day, need_db


def _desk(request: Request) -> documents.Desk:
    here = station(request)
    return documents.Desk.open(here.dir, need_db(request), current_user(request).name,
                               language(request), here.journal, here.fates)


def _pdf(request: Request, printout: documents.Printout | None, missing: str | None) -> Response:
    if printout is None:
        raise HTTPException(404, missing)
    glass = getattr(request.state, "break_glass", None)
    if glass:
        printout.detail = "; ".join(d for d in (glass, printout.detail) if d)
    documents.record(station(request).audit, current_user(request).name, printout)
    return Response(printout.pdf.data, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{printout.filename}"',
        "Cache-Control": "no-store"})  # the security headers: guard.SecurityHeadersMiddleware


def _patient(make: Callable[..., documents.Printout | None], shift: bool = False):
    """A patient's printout; `shift`: the MAR, which takes ?shift=."""
    def endpoint(request: Request) -> Response:
        pid = request.path_params["pid"]
        if not access.may_open(request, pid):
            return access.ask_reason(request, pid)
        extra = (_shift(request),) if shift else ()
        return _pdf(request, make(_desk(request), pid, *extra), None)
    return endpoint


def _ward(make: Callable[..., documents.Printout | None], shift: bool = False):
    def endpoint(request: Request) -> Response:
        ward = request.path_params["ward"]
        if not access.may_open_ward(request, ward):
            return access.ask_ward_reason(request, ward)
        extra = (_shift(request),) if shift else ()
        return _pdf(request, make(_desk(request), ward, *extra), "ward")
    return endpoint


def _shift(request: Request) -> str | None:
    """?shift=matin|apres-midi|nuit|jour: the MAR's window; anything else is refused."""
    shift = request.query_params.get("shift")
    if shift is not None and shift not in shifts.CHOICES:
        raise HTTPException(400, "shift: " + ", ".join(shifts.CHOICES))
    return shift


def operating_rooms(request: Request) -> Response:
    desk = _desk(request)
    day = asked_day(request, desk.zone)
    return _pdf(request, documents.or_sheet(desk, day), None)


def directory(request: Request) -> Response:
    return _pdf(request, documents.directory_sheet(_desk(request)), None)


def blank_forms(request: Request) -> Response:
    return _pdf(request, documents.forms(_desk(request)), None)


routes = [
    Route("/patients/{pid}/print/mar.pdf", _patient(documents.patient_mar, shift=True)),
    Route("/patients/{pid}/print/labels.pdf", _patient(documents.labels)),
    Route("/patients/{pid}/print/wristband.pdf", _patient(documents.wristband)),
    Route("/patients/{pid}/print/forms.pdf", _patient(documents.forms)),
    Route("/patients/{pid}/print/entries.pdf", _patient(entries.entries_of)),
    Route("/wards/{ward}/print/mar.pdf", _ward(documents.ward_mar, shift=True)),
    Route("/wards/{ward}/print/census.pdf", _ward(documents.census_sheet)),
    Route("/or/print.pdf", operating_rooms),
    Route("/directory/print.pdf", directory),
    Route("/forms/blank.pdf", blank_forms),
]
