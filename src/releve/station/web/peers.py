"""What a station serves its peers and the crisis cell: its journal and its status.

Only a `peer` token reaches these (bearer.py); nothing here writes. The journals listed
are every one this station holds, its own and those pulled from its own peers, so a
crisis cell that reaches one station of a ward reaches through it the others.

  GET /peer/journals                      [{station, public_key, seq, hash}] (JSON)
  GET /peer/journals/{station}?after=N&limit=M
                                          that journal's lines past N, exactly as
                                          stored, as ndjson (at most MAX_LIMIT)
  GET /peer/status                        peer_status.status_document
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ...journal import files
from ...journal.errors import JournalError
from ..peer_status import status_document
from . import crisis
from .base import station
from .bearer import refuse

PEER_ROLE = "peer"
DEFAULT_LIMIT = 1000
MAX_LIMIT = 5000
NDJSON = "application/x-ndjson"


def journals(request: Request) -> Response:
    if (refused := refuse(request, PEER_ROLE)) is not None:
        return refused
    here = station(request)
    listed = []
    for held in files.held_stations(here.dir):
        public = files.pinned_key(here.dir, held)
        seq, hash_ = here.journal.last(held)
        if public is not None:
            listed.append({"station": held, "public_key": public.to_base64(), "seq": seq,
                           "hash": hash_})
    return JSONResponse({"station": here.journal.station, "journals": listed})


def journal_lines(request: Request) -> Response:
    if (refused := refuse(request, PEER_ROLE)) is not None:
        return refused
    here = station(request)
    try:
        held = files.checked_id(request.path_params["station"])
        after = max(int(request.query_params.get("after", "0")), 0)
        limit = min(max(int(request.query_params.get("limit", DEFAULT_LIMIT)), 1), MAX_LIMIT)
    except (JournalError, ValueError):
        return JSONResponse({"error": "station must be 16 hex digits, after and limit "
                                      "whole numbers"}, status_code=400)
    if files.pinned_key(here.dir, held) is None:
        return JSONResponse({"error": f"this station holds no journal of station {held}"},
                            status_code=404)
    lines = here.journal.lines_after(held, after, limit)
    return Response(b"".join(line + b"\n" for line in lines), media_type=NDJSON)


def status(request: Request) -> Response:
    if (refused := refuse(request, PEER_ROLE)) is not None:
        return refused
    here = station(request)
    return JSONResponse(status_document(here.dir, here.journal, here.head()))


routes: list[BaseRoute] = [
    Route("/peer/journals", journals),
    Route("/peer/journals/{station}", journal_lines),
    Route("/peer/status", status),
    *crisis.routes,
]
