"""The station's pages other than the patient summary: wards, census, patient search,
directory, OR schedule, audit log, and the health check.

Endpoints are plain functions (Starlette runs them in its thread pool, where each thread
has its own read-only index connection). Every page that shows patients writes its audit
entry before rendering, listing every patient it shows: a census or an OR day is a view,
a search is a search with its text and its results; the audit is the one place where
that text may be kept. Another ward's census goes through break-glass (web/access.py).
"""

from __future__ import annotations

import datetime as dt
import math

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from ... import clock
from ..views import census as census_q
from ..views import directory as directory_q
from ..views import movements
from ..views import schedule as schedule_q
from ..views.search import search
from ..views.search.admitted import admitted
from . import access
from .base import audit, current_user, db, language, render, station

SEARCH_LIMIT = 30
AUDIT_PAGE = 50
MAX_QUERY = 200


class NoData(HTTPException):
    """The station has not received its first sync: there is nothing to show yet."""

    def __init__(self) -> None:
        super().__init__(503, "nodata")


def need_db(request: Request):
    conn = db(request)
    if conn is None:
        raise NoData()
    return conn


def asked_day(request: Request, zone: str) -> dt.date:
    """The ?date= of the OR pages; a day that is not one is the asker's error (400)."""
    try:
        return schedule_q.parse_day(request.query_params.get("date"), zone)
    except ValueError:
        raise HTTPException(400, "date") from None


def home(request: Request) -> Response:
    """The station's ward when it has one the user sees (access.landing), else the wards."""
    return RedirectResponse(access.landing(request, current_user(request)), status_code=303)


def wards(request: Request) -> Response:
    """Units with occupied/total beds: no patient named, so not audited."""
    units = census_q.units(need_db(request))
    sites: dict[str, list[census_q.Unit]] = {}
    for unit in units:
        sites.setdefault(unit.site, []).append(unit)
    return render(request, "wards.html", sites=sites, units=units)


def ward(request: Request) -> Response:
    """One ward's census: another ward's asks for a reason first (web/access.py)."""
    ward_id = request.path_params["ward"]
    if not access.may_open_ward(request, ward_id):
        return access.ask_ward_reason(request, ward_id)
    found = census_q.census(need_db(request), ward_id, clock.now(), station(request).settings().timezone,
                            movements.read(station(request).journal))
    if found is None:
        raise HTTPException(404, "ward")
    audit(request, "view", "census", detail=ward_id, patients=found.patient_ids)
    return render(request, "ward.html", census=found, patient_name=census_q.patient_name)


def patients(request: Request) -> Response:
    """Search results, each linking to its summary; the search is audited with its text."""
    query = request.query_params.get("q", "").strip()[:MAX_QUERY]
    hits = []
    if query:
        hits = admitted(movements.read(station(request).journal), query)
        hits += search(need_db(request), query, limit=SEARCH_LIMIT - len(hits))
        audit(request, "search", "patients", detail=query, patients=[h.id for h in hits])
    return render(request, "patients.html", q=query, hits=hits, limit=SEARCH_LIMIT,
                  patient_name=census_q.patient_name)


def directory(request: Request) -> Response:
    query = request.query_params.get("q", "").strip()[:MAX_QUERY]
    found = directory_q.search(need_db(request), query)
    return render(request, "directory.html", q=query,
                  units=[e for e in found if e.kind == "unit"],
                  people=[e for e in found if e.kind == "person"][:directory_q.MAX_SHOWN],
                  more=max(sum(1 for e in found if e.kind == "person") - directory_q.MAX_SHOWN, 0))


def operating_rooms(request: Request) -> Response:
    """One day of the OR schedule; it names patients, so it is audited as a view."""
    zone = station(request).settings().timezone
    day = asked_day(request, zone)
    rooms = schedule_q.day_schedule(need_db(request), day, zone)
    audit(request, "view", "or", detail=day.isoformat(), patients=schedule_q.patient_ids(rooms))
    return render(request, "or.html", day=day, rooms=rooms,
                  day_title=schedule_q.long_date(day, language(request)),
                  previous=(day - dt.timedelta(days=1)).isoformat(),
                  following=(day + dt.timedelta(days=1)).isoformat(),
                  today=schedule_q.today(zone).isoformat(),
                  patient_name=census_q.patient_name)


def audit_log(request: Request) -> Response:
    """Admins only: the entries newest first, by pages, for one user or one patient; the
    break-glass openings (of that user or patient) in their own table above, on page 1."""
    if current_user(request).role != "admin":
        raise HTTPException(403, "admin")
    user = request.query_params.get("user", "").strip() or None
    patient = request.query_params.get("patient", "").strip() or None
    page = _page_number(request.query_params.get("page"))
    log = station(request).audit
    entries = log.entries(limit=AUDIT_PAGE + 1, offset=(page - 1) * AUDIT_PAGE,
                          patient=patient, user=user)
    verified = error = None
    if request.query_params.get("verify") == "1":
        try:
            verified = log.verify()
        except Exception as exc:  # AuditError names the first bad entry
            error = str(exc)
    glass = log.entries(limit=AUDIT_PAGE, patient=patient, user=user, action=access.ACTION) \
        if page == 1 else []
    audit(request, "view", "audit", patient=patient, detail=f"user={user}" if user else None)
    return render(request, "audit.html", entries=entries[:AUDIT_PAGE], glass=glass, page=page,
                  has_more=len(entries) > AUDIT_PAGE, filter_user=user or "",
                  filter_patient=patient or "", verified=verified, verify_error=error)


def _page_number(text: str | None) -> int:
    try:
        number = int(text or 1)
    except ValueError:
        return 1
    return min(max(number, 1), 1_000_000)


def health(request: Request) -> Response:
    """For the crisis cell and `releve demo status`: how current the data is, nothing else."""
    here = station(request)
    settings = here.settings()
    head = here.head()
    freshness = here.freshness(settings.language)
    age = freshness.seconds
    return JSONResponse({
        "station": settings.name,
        "state_time": head.state_time if head else None,
        "seq": head.seq if head else None,
        "state_seq": head.state_seq if head else None,
        "age_seconds": round(age, 1) if age is not None and math.isfinite(age) else None,
        "stale": freshness.stale,
        "sync_error": freshness.error is not None,
        "held_segment": freshness.held["seq"] if freshness.held else None,
        "unreadable_segment": freshness.unreadable["seq"] if freshness.unreadable else None,
        "downtime": settings.downtime is not None,
    }, headers={"Cache-Control": "no-store"})
