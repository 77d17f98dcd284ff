"""« Imprimer le classeur du service » from the ward page: the binder is made in the
background while a page shows how far it is, then offers the PDF.

    POST /wards/{ward}/print/binder           start (or find) the user's binder of that ward
    GET  /wards/{ward}/print/binder/{job}     its progress; once made, the link to the PDF
    GET  /wards/{ward}/print/binder/{job}.pdf the PDF

A 30-patient binder takes seconds (bench/results/print.md), too long for one request to
hang without a word. The progress page refreshes itself (a meta refresh: no script) until
the binder is made. Access is the ward printouts' (web/access.py): the ward's staff, or a
reason given for it; a job and its PDF are for the user who asked for them only, kept in
the app's memory (never on disk: the PDF names every patient of the ward) for
KEEP_MINUTES, and audited once made, like any printout, listing every patient in it.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..index.connection import reader
from ..local.audit import Audit
from ..printing import documents
from ..printing.binder import ward_binder
from ..views import census as census_q
from . import access
from .base import current_user, language, render, station
from .pages import need_db

log = logging.getLogger("releve.station.web")
KEEP_MINUTES = 30
REFRESH_SECONDS = 1


@dataclass
class Job:
    """One binder being made (or made) for one user."""

    id: str
    user: str
    ward: str
    lang: str
    glass: str | None  # the break-glass entry the request came under, for the audit
    started: float = field(default_factory=time.monotonic)
    done: int = 0
    total: int | None = None
    printout: documents.Printout | None = None
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.printout is not None or self.error is not None


class Jobs:
    """The app's binders: made in a thread each, forgotten after KEEP_MINUTES."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.jobs: dict[str, Job] = {}

    def start(self, station_dir: Path, audit: Audit, user: str, ward: str, lang: str,
              glass: str | None) -> Job:
        """The user's running binder of this ward, else a new one started now."""
        with self.lock:
            self._forget_old()
            for job in self.jobs.values():
                if job.user == user and job.ward == ward and not job.finished:
                    return job
            job = Job(secrets.token_urlsafe(16), user, ward, lang, glass)
            self.jobs[job.id] = job
        threading.Thread(target=make, args=(job, station_dir, audit), daemon=True,
                         name="binder").start()
        return job

    def find(self, job_id: str, user: str, ward: str) -> Job:
        with self.lock:
            job = self.jobs.get(job_id)
        if job is None or job.user != user or job.ward != ward:
            raise HTTPException(404)
        return job

    def _forget_old(self) -> None:
        oldest = time.monotonic() - KEEP_MINUTES * 60
        for job_id in [j.id for j in self.jobs.values() if j.finished and j.started < oldest]:
            del self.jobs[job_id]


_JOBS_LOCK = threading.Lock()


def jobs(request: Request) -> Jobs:
    """The app's binders (made at the first binder asked for)."""
    state = request.app.state
    with _JOBS_LOCK:
        if not hasattr(state, "binders"):
            state.binders = Jobs()
        return state.binders


def make(job: Job, station_dir: Path, audit: Audit) -> None:
    """The thread: its own index connection, the binder, the audit entry once made; any
    failure ends the job with an error the page shows (never a page refreshing for ever)."""
    conn = None
    try:
        conn = reader(station_dir)
        if conn is None:
            raise RuntimeError("no data")
        desk = documents.Desk.open(station_dir, conn, job.user, job.lang)

        def progress(done: int, total: int) -> None:
            job.done, job.total = done, total

        printout = ward_binder(desk, job.ward, progress)
        if printout is None:
            raise RuntimeError("no such ward")
        if job.glass:
            printout.detail = "; ".join(d for d in (job.glass, printout.detail) if d)
        documents.record(audit, job.user, printout)
        job.printout = printout
    except Exception as exc:  # said by its kind only: a message may quote the data
        job.error = type(exc).__name__
        log.error("ward binder failed: %s", job.error)
    finally:
        if conn is not None:
            conn.close()


def _ward(request: Request) -> str:
    ward = request.path_params["ward"]
    if ward not in census_q.all_places(need_db(request)):
        raise HTTPException(404, "ward")
    return ward


def _job_url(job: Job) -> str:
    return f"/wards/{quote(job.ward, safe='')}/print/binder/{job.id}"


def start(request: Request) -> Response:
    ward = request.path_params["ward"]
    if not access.may_open_ward(request, ward):
        return access.ask_ward_reason(request, ward)
    ward = _ward(request)
    job = jobs(request).start(station(request).dir, station(request).audit,
                              current_user(request).name, ward, language(request),
                              getattr(request.state, "break_glass", None))
    return RedirectResponse(_job_url(job), status_code=303)


def progress_page(request: Request) -> Response:
    job = jobs(request).find(request.path_params["job"], current_user(request).name,
                             request.path_params["ward"])
    unit = census_q.all_places(need_db(request)).get(job.ward)
    return render(request, "binder.html", job=job, url=_job_url(job),
                  unit_name=unit.name if unit else job.ward,
                  refresh=REFRESH_SECONDS if not job.finished else None)


def pdf(request: Request) -> Response:
    job = jobs(request).find(request.path_params["job"], current_user(request).name,
                             request.path_params["ward"])
    if job.printout is None:
        return RedirectResponse(_job_url(job), status_code=303)
    return Response(job.printout.pdf.data, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{job.printout.filename}"',
        "Cache-Control": "no-store"})


routes = [
    Route("/wards/{ward}/print/binder", start, methods=["POST"]),
    Route("/wards/{ward}/print/binder/{job}.pdf", pdf),
    Route("/wards/{ward}/print/binder/{job}", progress_page),
]
