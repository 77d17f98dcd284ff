"""The crisis cell's page, /crisis: every station known, one line per ward, then each.

The crisis cell's station pulls the wards' stations (journal/pull.py), which relay the
stations they pull, so the cell sees here: this station, each of its peers as that peer
last described itself (/peer/status), and the stations known only through a relayed
journal. For each: how old its data is, how much of its journal this station holds and
its last entry, whether its peers answer, and the errors. Admins and the crisis cell
only; nothing here names a patient.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ... import clock
from ...journal import files, peers
from ..peer_status import journal_summary, status_document
from ..views import formats
from .base import audit, current_user, language, render, station

ROLES = ("admin", "crisis")
NO_WARD = ""


@dataclass
class Known:
    """One station as the crisis cell sees it."""

    station: str  # its id ("" for a peer never reached)
    name: str
    ward: str
    how: str  # "here", "peer" or "relayed"
    data_time: str | None = None  # capture time of the data it shows
    data_age: float | None = None  # seconds
    seen: str | None = None  # when it last described itself
    held: dict | None = None  # its journal as this station holds it (journal_summary)
    own_entries: int | None = None  # entries it says it has written
    downtime: bool = False
    peers: list[dict] = field(default_factory=list)  # {name, reachable}
    errors: list[str] = field(default_factory=list)
    unreachable: bool = False  # a peer that did not answer this station's last pull
    last_success: str | None = None  # this station's last full pull of it


@dataclass
class Ward:
    """One line per ward: its stations, its oldest data, its last entry, its errors."""

    ward: str
    stations: int
    oldest_age: float | None
    last_entry: str | None
    errors: int


def stations(request: Request) -> list[Known]:
    here = station(request)
    own = status_document(here.dir, here.journal, here.head())
    found = [_from_status(own, "here", here)]
    for name, record in sorted(peers.load_state(here.dir).items()):
        status = record.get("status")
        known = _from_status(status, "peer", here) if status else Known("", name, NO_WARD, "peer")
        if record.get("last_error"):
            known.errors.append(record["last_error"])
        known.unreachable = not record.get("reachable")
        known.last_success = record.get("last_success")
        found.append(known)
    listed = {k.station for k in found}
    for held in files.held_stations(here.dir):
        if held not in listed:
            found.append(Known(held, held, NO_WARD, "relayed",
                               held=journal_summary(here.dir, here.journal, held)))
    return sorted(found, key=lambda k: (k.ward, k.how != "here", k.name))


def _from_status(status: dict, how: str, here) -> Known:
    data = status.get("data") or {}
    when = formats.parse_instant(data.get("state_time"))
    known = Known(str(status.get("station", "")), str(status.get("name", "")),
                  str(status.get("ward") or NO_WARD), how, data.get("state_time"),
                  (clock.now() - when).total_seconds() if when else None, status.get("time"),
                  own_entries=(status.get("journal") or {}).get("entries"),
                  downtime=bool(status.get("downtime")),
                  peers=[{"name": p.get("name"), "reachable": p.get("reachable")}
                         for p in status.get("peers") or []])
    if known.station and files.pinned_key(here.dir, known.station) is not None:
        known.held = journal_summary(here.dir, here.journal, known.station)
    sync_error = (status.get("sync") or {}).get("error")
    if sync_error:
        known.errors.append(f"sync: {sync_error}")
    known.errors += [f"{p.get('name')} : {p.get('last_error')}" for p in status.get("peers") or []
                     if p.get("last_error")]
    return known


def wards(known: list[Known]) -> list[Ward]:
    lines: dict[str, list[Known]] = {}
    for item in known:
        lines.setdefault(item.ward, []).append(item)
    out = []
    for ward, items in lines.items():
        ages = [k.data_age for k in items if k.data_age is not None]
        times = [k.held["last_time"] for k in items if k.held and k.held.get("last_time")]
        out.append(Ward(ward, len(items), max(ages) if ages else None, max(times) if times else None,
                        sum(len(k.errors) + k.unreachable for k in items)))
    return out


def page(request: Request) -> Response:
    if current_user(request).role not in ROLES:
        raise HTTPException(403, "admin")
    known = stations(request)
    audit(request, "view", "crisis")
    lang = language(request)
    return render(request, "crisis.html", known=known, wards=wards(known),
                  ago=lambda seconds: formats.ago_text(seconds, lang))


routes: list[BaseRoute] = [Route("/crisis", page)]
