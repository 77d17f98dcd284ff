"""Paper for admissions during the downtime: a sheet of numbered labels (IPP and stay
number of each future admission) to pre-stick paper forms, and a blank admission form
printed with its numbers.

Printing *reserves* the numbers it prints (station/local/identifiers.py): a label on a
paper form may be used at any time, so the admission form never hands them out again;
the nurse who types that patient in later gives the label's numbers. That is why these
are POSTs (a reload or a prefetch must not use up numbers) and why they need the role
that may admit.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..local.identifiers import IdentifierError, Identifiers, Number
from ..printing import codes, documents
from ..printing.pdf import render
from ..views import census as census_q
from .base import current_user, language, station
from .pages import need_db
from .recording import checked_form, require

PER_SHEET = 24  # 3 x 8 stickers, as the patient labels
MAX_LABELS = 4 * PER_SHEET


def _pairs(request: Request, count: int) -> list[tuple[Number, Number]]:
    try:
        return Identifiers(station(request).dir).reserve(count)
    except IdentifierError as exc:
        raise HTTPException(409, "Numéros de mode dégradé épuisés : attribuez une nouvelle plage "
                                 f"(releve station identifiers). [{exc}]") from exc


def _count(text: str | None) -> int:
    try:
        return min(max(int(text or PER_SHEET), 1), MAX_LABELS)
    except ValueError:
        raise HTTPException(400, "count") from None


def label_view(pair: tuple[Number, Number]) -> dict:
    ipp, stay = pair
    return {"ipp": ipp.value, "stay": stay.value, "ipp_bar": codes.code128_img(ipp.value),
            "stay_bar": codes.code128_img(stay.value, height="7mm")}


def _pdf(request: Request, template: str, page: str, ward: str, pairs: list, **extra) -> Response:
    conn = need_db(request)
    desk = documents.Desk.open(station(request).dir, conn, current_user(request).name,
                               language(request))
    unit = census_q.all_places(conn).get(ward)
    pdf = render(template, desk.lang, desk.zone, sheet=desk.sheet(),
                 labels=[label_view(p) for p in pairs], ward_name=unit.name if unit else ward,
                 **extra)
    numbers = f"ipp {pairs[0][0].value}-{pairs[-1][0].value} stay {pairs[0][1].value}-{pairs[-1][1].value}"
    documents.record(station(request).audit, current_user(request).name,
                     documents.Printout(pdf, page, f"{page}.pdf", [], numbers))
    return Response(pdf.data, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{page}.pdf"', "Cache-Control": "no-store"})


async def labels(request: Request) -> Response:
    require(request, "admission")
    form = await checked_form(request)
    pairs = await run_in_threadpool(_pairs, request, _count(str(form.get("count") or "")))
    return await run_in_threadpool(_pdf, request, "rec_numbers.html", "downtime-labels",
                                   request.path_params["ward"], pairs)


async def admission_form(request: Request) -> Response:
    require(request, "admission")
    await checked_form(request)
    pairs = await run_in_threadpool(_pairs, request, 1)
    return await run_in_threadpool(_pdf, request, "rec_admission_form.html", "admission-form",
                                   request.path_params["ward"], pairs)


print_routes = [
    Route("/wards/{ward}/print/downtime-labels.pdf", labels, methods=["POST"]),
    Route("/wards/{ward}/print/admission-form.pdf", admission_form, methods=["POST"]),
]
