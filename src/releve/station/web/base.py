"""What every page of the station shares: the index connection, the signed-in user, the
language, the age of the data, the audit, and rendering.

Pages are plain Starlette endpoints that call `render(request, "name.html", **context)`.
The index is opened read-only, one connection per thread, reopened when a sync switches
to a new index generation (the CURRENT file changes), so pages never block a sync and
never read a half-built generation.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse

from ... import clock
from ...journal.book import Journal
from ...journal.fates import Fates
from .. import templates
from ..i18n import LANGUAGES, translator
from ..index.connection import connect
from ..index.generations import current_generation
from ..index.head import Head, read_head
from ..local.accounts import Accounts, User
from ..local.audit import Audit
from ..local.throttle import LoginThrottle
from ..local.tokens import Tokens
from ..local.wards import Wards
from ..sync import Settings, Status
from ..views import formats

TEMPLATES = templates.WEB
STATIC = Path(__file__).parent / "static"
LANG_COOKIE = "lang"


@dataclass
class Freshness:
    """How old the data shown is: on every page, in the warning colour once stale."""

    state_time: str | None  # capture time of the last applied segment (UTC ISO)
    shown: str  # "22/11 14:03" in the station's zone
    ago: str  # "il y a 2 min"
    seconds: float | None
    stale: bool
    last_sync: str | None  # last successful sync, shown
    error: str | None  # why the last sync failed, if it did
    held: dict | None = None  # a segment held as implausible until accepted (sync.Status)
    unreadable: dict | None = None  # a signed segment that cannot be read, until passed
    frozen: bool = False  # the newest segments were refused: the data is the last safe copy
    frozen_day: str = ""  # "14/01/2026": that copy's capture time, in the station's zone
    frozen_time: str = ""  # "09:40"


class Station:
    """The app's long-lived parts, in `app.state.station`."""

    def __init__(self, station_dir: Path):
        self.dir = Path(station_dir)
        Settings.load(self.dir)  # fails early, with a clear message, on a non-station folder
        self.accounts = Accounts(self.dir)
        self.audit = Audit(self.dir)
        self.throttle = LoginThrottle(self.dir)
        self.wards = Wards(self.dir)
        self.tokens = Tokens(self.dir)
        self.journal = Journal(self.dir)  # a station made before the journal gets its key here
        self.fates = Fates(self.dir)  # read only: `releve journal reconcile` writes it
        self.env = templates.environment(TEMPLATES)
        self._local = threading.local()

    def settings(self) -> Settings:
        """Read on each request: `releve station downtime` changes it under a running app."""
        return Settings.load(self.dir)

    def db(self) -> sqlite3.Connection | None:
        """This thread's read-only connection to the current index generation."""
        path = current_generation(self.dir)
        if path is None:
            return None
        held = getattr(self._local, "held", None)
        if held is None or held[0] != path:
            if held is not None:
                held[1].close()
            self._local.held = (path, connect(path, readonly=True))
        return self._local.held[1]

    def head(self) -> Head | None:
        conn = self.db()
        if conn is None:
            return None
        return read_head(conn)

    def freshness(self, lang: str) -> Freshness:
        settings = self.settings()
        head = self.head()
        status = Status.load(self.dir)
        when = formats.parse_instant(head.state_time) if head else None
        seconds = (clock.now() - when).total_seconds() if when else None
        stale = seconds is None or seconds > settings.stale_minutes * 60
        frozen = head is not None and is_frozen(head, status)
        return Freshness(
            state_time=head.state_time if head else None,
            shown=formats.datetime_text(head.state_time, settings.timezone) if head else "",
            ago=formats.ago_text(seconds, lang) if seconds is not None else "",
            seconds=seconds, stale=stale,
            last_sync=formats.datetime_text(status.last_success, settings.timezone)
            if status.last_success else None,
            error=status.error, held=status.held, unreadable=status.unreadable, frozen=frozen,
            frozen_day=formats.date_text(head.state_time, settings.timezone) if head and frozen else "",
            frozen_time=formats.time_text(head.state_time, settings.timezone) if head and frozen else "")


def is_frozen(head: Head, status: Status) -> bool:
    """Whether the newest data the vault holds was refused, so that what the pages show
    is the last safe copy, however recent its sync: a segment held as implausible and
    not applied yet (accepted or not), one that cannot be read, or the last segments
    accounted for skipped as suspect by the capture (the head past the state, sync.py)."""
    return status.held is not None or status.unreadable is not None or head.seq > head.state_seq


def station(request: Request) -> Station:
    return request.app.state.station


def db(request: Request) -> sqlite3.Connection | None:
    return station(request).db()


def current_user(request: Request) -> User:
    """Set by the sign-in middleware; every page but /login has one."""
    return request.state.user


def language(request: Request) -> str:
    chosen = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return station(request).settings().language


def audit(request: Request, action: str, page: str, patient: str | None = None,
          detail: str | None = None, patients: list[str] | tuple[str, ...] = ()) -> None:
    """Every patient view and search: who, when, which patient (or patients, for a page
    that lists them), which page; a view let through by break-glass says so."""
    user = getattr(request.state, "user", None)
    glass = getattr(request.state, "break_glass", None)
    if glass:
        detail = "; ".join(d for d in (glass, detail) if d)
    station(request).audit.record(user.name if user else "-", action, page, patient, detail, patients)


def common_context(request: Request) -> dict[str, Any]:
    """What every page shows: language, user, data age, downtime."""
    here = station(request)
    lang = language(request)
    settings = here.settings()
    return {
        "request": request, "lang": lang, "_": translator(lang),
        "user": getattr(request.state, "user", None),
        "freshness": here.freshness(lang), "downtime": settings.downtime,
        "station_name": settings.name, "zone": settings.timezone,
        "banner_seconds": max(settings.banner_seconds, 1),
        "age": lambda birth: formats.age_text(birth, lang=lang, zone=settings.timezone),
        "moves": _page_moves(request),
    }


def _page_moves(request: Request) -> Any:
    """Movements and downtime numbers for the templates, read only when a page asks."""
    from .rec_movements import PageMoves  # it imports this module

    return PageMoves(request)


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page with what every page shows: language, user, data age, downtime."""
    lang = language(request)
    html = station(request).env.get_template(template).render(**common_context(request), **context)
    response = HTMLResponse(html, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"  # patient data never stays in a cache
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="strict",
                            secure=request.url.scheme == "https")
    return response
