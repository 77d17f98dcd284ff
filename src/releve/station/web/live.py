"""/status.json: the banners of an open page, kept current without a reload.

A page stays open on the ward's PC for hours; its data-age banner must not keep saying
"il y a 2 min" while the sync has stopped, nor miss that the newest data was refused.
static/live.js asks this endpoint every `banner_seconds` (station.json) and puts the
banners it answers in place of the page's; the page itself is never reloaded (a nurse
may be reading or scrolling it).

It names no patient (the data's age, the sync's state, the declared downtime: what
/health says), so it is open like /health, and it never reads the session: a poll must
not keep an idle session alive (web/signin.py lets it through untouched), or a PC left
open on a census would never sign its user out.
"""

from __future__ import annotations

import hashlib

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .base import common_context, station

PATH = "/status.json"
BANNERS = "_banners.html"


def status(request: Request) -> Response:
    """The banners as HTML (in the reader's language) and what they say, as data."""
    here = station(request)
    settings = here.settings()
    shown = common_context(request)
    freshness = shown["freshness"]
    banners = here.env.get_template(BANNERS).render(**shown)
    return JSONResponse({
        "banners": banners,
        "key": hashlib.sha256(banners.encode()).hexdigest()[:16],  # unchanged: left alone
        "state_time": freshness.state_time,
        "stale": freshness.stale,
        "frozen": freshness.frozen,
        "sync_error": freshness.error is not None,
        "downtime": settings.downtime is not None,
        "every_seconds": max(settings.banner_seconds, 1),
    }, headers={"Cache-Control": "no-store"})


routes = [Route(PATH, status)]
