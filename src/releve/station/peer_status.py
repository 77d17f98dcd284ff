"""What a station says of itself to its peers and to the crisis cell: `/peer/status`.

One document, built the same way for the peer endpoint and for this station's own line
on the crisis page, so that what the crisis cell sees of a station it reaches is what
that station sees of itself. It names no patient.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from .. import clock
from ..journal import files as journal_files
from ..journal import peers
from ..journal.book import Journal
from ..journal.entry import entry_key
from .index.head import Head
from .local.identifiers import Identifiers
from .sync import Settings, Status


def status_document(station_dir: Path, journal: Journal, head: Head | None) -> dict:
    """`head`: the index's head, as the caller already holds it (None before any sync)."""
    settings = Settings.load(station_dir)
    sync = Status.load(station_dir)
    state = peers.load_state(station_dir)
    return {
        "station": journal.station,
        "name": settings.name,
        "ward": settings.ward,
        "time": clock.utc_text(),
        "data": {"state_time": head.state_time if head else None,
                 "vault_seq": head.seq if head else None,
                 "vault_hash": head.sha256 if head else None},
        "downtime": settings.downtime,
        "sync": {"last_attempt": sync.last_attempt, "last_success": sync.last_success,
                 "error": sync.error, "vault_seq": sync.vault_seq},
        "journal": journal_summary(station_dir, journal, journal.station),
        "peers": [{"name": name, "url": record.get("url"), "reachable": record.get("reachable"),
                   "last_success": record.get("last_success"), "last_error": record.get("last_error")}
                  for name, record in sorted(state.items())],
        "relayed": list(relayed(state, journal.station).values()),
        "identifiers": identifier_ranges(station_dir, journal.station),
        "relayed_identifiers": _relayed_ranges(station_dir),
    }


def summary(status: dict) -> dict:
    """A station's status in brief, as passed on to the stations that pull this one: what
    the crisis page needs of a station it cannot reach directly."""
    data = status.get("data") or {}
    return {"station": status.get("station"), "name": status.get("name"),
            "ward": status.get("ward"), "time": status.get("time"),
            "data_time": data.get("state_time"), "downtime": bool(status.get("downtime")),
            "entries": (status.get("journal") or {}).get("entries"),
            "sync_error": (status.get("sync") or {}).get("error"),
            "peers": [{"name": p.get("name"), "reachable": p.get("reachable"),
                       "last_error": p.get("last_error")} for p in status.get("peers") or []]}


def relayed(state: dict[str, dict], own: str) -> dict[str, dict]:
    """Every station known through the peers (each peer, and those it relays in turn),
    in brief, by id: the most recent word of each, never this station itself."""
    known: dict[str, dict] = {}
    for record in state.values():
        status = record.get("status") or {}
        for item in [summary(status), *(status.get("relayed") or [])]:
            station = item.get("station") if isinstance(item, dict) else None
            if not isinstance(station, str) or station == own:
                continue
            if station not in known or str(item.get("time") or "") > str(known[station].get("time") or ""):
                known[station] = item
    return known


def journal_summary(station_dir: Path, journal: Journal, station: str) -> dict:
    """A held journal's size and last entry: how far a crisis cell sees a ward's writing."""
    seq, hash_ = journal.last(station)
    last = journal.entry(entry_key(station, seq)) if seq else None
    return {"station": station, "entries": seq, "bytes": journal_files.file_size(station_dir, station),
            "last_hash": hash_, "last_time": last.time if last else None}


def identifier_ranges(station_dir: Path, station: str) -> dict:
    """This station's downtime identifier ranges, as its peers file them in their
    peers-ranges.json: {"station", "ranges": [{"kind", "first", "last", "system"}]}."""
    return {"station": station, **Identifiers(station_dir).document()}


def _relayed_ranges(station_dir: Path) -> list[dict]:
    """The ranges this station learnt from its peers, passed on to whoever pulls it."""
    try:
        ranges = orjson.loads(peers.ranges_file(station_dir).read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return []
    if not isinstance(ranges, dict):
        return []
    return [{"station": station, "ranges": held.get("ranges") or []}
            for station, held in sorted(ranges.items()) if isinstance(held, dict)]

