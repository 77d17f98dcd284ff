"""The routes of the paper with the next downtime numbers (station/printing/numbers.py):

    POST /wards/{ward}/print/downtime-labels.pdf   count=N numbered labels
    POST /wards/{ward}/print/admission-form.pdf    a blank admission form, numbered

Printing reserves the numbers printed, hence POSTs (a reload or a prefetch must not use
numbers up) for the roles that may admit.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..local.identifiers import IdentifierError
from ..printing import documents
from ..printing.numbers import PER_SHEET, numbered
from .base import current_user, language, station
from .pages import need_db
from .recording import checked_form, require


def _print(request: Request, page: str, count: int) -> Response:
    desk = documents.Desk.open(station(request).dir, need_db(request), current_user(request).name,
                               language(request))
    try:
        printout = numbered(desk, station(request).dir, request.path_params["ward"], page, count)
    except IdentifierError as exc:
        raise HTTPException(409, "Numéros de mode dégradé épuisés : attribuez une nouvelle plage "
                                 "(releve station identifiers).") from exc
    documents.record(station(request).audit, current_user(request).name, printout)
    return Response(printout.pdf.data, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{printout.filename}"', "Cache-Control": "no-store"})


async def labels(request: Request) -> Response:
    require(request, "admission")
    form = await checked_form(request)
    try:
        count = int(str(form.get("count") or PER_SHEET))
    except ValueError:
        raise HTTPException(400, "count") from None
    return await run_in_threadpool(_print, request, "downtime-labels", count)


async def admission_form(request: Request) -> Response:
    require(request, "admission")
    await checked_form(request)
    return await run_in_threadpool(_print, request, "admission-form", 1)


print_routes = [
    Route("/wards/{ward}/print/downtime-labels.pdf", labels, methods=["POST"]),
    Route("/wards/{ward}/print/admission-form.pdf", admission_form, methods=["POST"]),
]
