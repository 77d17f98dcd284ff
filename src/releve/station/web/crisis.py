"""The crisis cell's page, /crisis: every station known, one line per ward, then each.

The crisis cell's station pulls the wards' stations (journal/pull.py), which relay the
stations they pull, so the cell sees here: this station, each of its peers as that peer
last described itself (/peer/status), and the stations known only through a relayed
journal. For each: how old its data is, how much of its journal this station holds and
its last entry, whether its peers answer, and the errors. Once `releve journal
reconcile` has run from this station's folder, how many entries reached the HIS and how
many wait (per state, journal/fates.py). Admins and the crisis cell only; nothing here
names a patient.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ... import clock
from ...journal import files, peers
from ...journal.fates import STATES
from ..peer_status import journal_summary, relayed, status_document, summary
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
    found = [_known(summary(own), "here", here)]
    state = peers.load_state(here.dir)
    for name, record in sorted(state.items()):
        status = record.get("status")
        known = _known(summary(status), "peer", here) if status else Known("", name, NO_WARD, "peer")
        if record.get("last_error"):
            known.errors.append(record["last_error"])
        known.unreachable = not record.get("reachable")
        known.last_success = record.get("last_success")
        found.append(known)
    listed = {k.station for k in found}
    for item in relayed(state, here.journal.station).values():
        if item["station"] not in listed:
            found.append(_known(item, "relayed", here))
            listed.add(item["station"])
    for held in files.held_stations(here.dir):  # a journal whose station no status names
        if held not in listed:
            found.append(Known(held, held, NO_WARD, "relayed",
                               held=journal_summary(here.dir, here.journal, held)))
    return sorted(found, key=lambda k: (k.ward, k.how != "here", k.name))


def _known(brief: dict, how: str, here) -> Known:
    """A station from its status in brief (peer_status.summary): its own, a peer's, or
    one relayed by a peer."""
    when = formats.parse_instant(brief.get("data_time"))
    known = Known(str(brief.get("station") or ""), str(brief.get("name") or ""),
                  str(brief.get("ward") or NO_WARD), how, brief.get("data_time"),
                  (clock.now() - when).total_seconds() if when else None, brief.get("time"),
                  own_entries=brief.get("entries"), downtime=bool(brief.get("downtime")),
                  peers=brief.get("peers") or [])
    if known.station and files.pinned_key(here.dir, known.station) is not None:
        known.held = journal_summary(here.dir, here.journal, known.station)
    if brief.get("sync_error"):
        known.errors.append(f"sync: {brief['sync_error']}")
    known.errors += [f"{p.get('name')} : {p.get('last_error')}" for p in known.peers
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


def way_back(request: Request) -> list[tuple[str, int]]:
    """The entries per state on the way back into the HIS, in STATES' order; none when
    no reconcile ran (the file is not made for that)."""
    counts = station(request).fates.counts()
    return [(state, counts[state]) for state in (*STATES, *sorted(set(counts) - set(STATES)))
            if counts.get(state)]


def page(request: Request) -> Response:
    if current_user(request).role not in ROLES:
        raise HTTPException(403, "admin")
    known = stations(request)
    audit(request, "view", "crisis")
    lang = language(request)
    return render(request, "crisis.html", known=known, wards=wards(known), way_back=way_back(request),
                  ago=lambda seconds: formats.ago_text(seconds, lang))


routes: list[BaseRoute] = [Route("/crisis", page)]
