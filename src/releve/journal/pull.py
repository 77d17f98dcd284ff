"""`releve journal pull`: read every peer's journals, keep what is sound (docs/journal.md §6.4).

For each peer (peers.py) the station asks `/peer/status`, then `/peer/journals`: every
journal the peer holds, its own and those it pulled from others, so that a crisis cell
reaches through one station the wards it cannot reach directly. For each journal that
the peer holds further than this station, the lines past what is held come in batches
and go to `Journal.ingest`, which checks envelope, chain and signature and keeps every
good line before the first bad one. A station's key is pinned at first sight: a peer
later serving another key for it is refused by name, as is a forged or reordered entry.

Merging is a union of chains: nothing here edits a held entry. A peer that fails (down,
wrong token, a refused entry) is recorded in peers-state.json and the others are still
pulled; nothing in a pull is fatal to the station.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .. import clock
from ..files import PRIVATE
from . import files, peers
from .book import Journal
from .entry import entry_key
from .errors import JournalError
from .keys import public_from_base64

BATCH = 2000  # lines asked per request: ~1 MB for typical entries
TIMEOUT = httpx.Timeout(10.0, read=60.0)
LOCK_NAME = "pull.lock"


@dataclass
class PeerOutcome:
    """One peer's pull: whether it answered, how many entries came, what was refused."""

    peer: str
    reachable: bool = False
    pulled: int = 0
    errors: list[str] = field(default_factory=list)
    status: dict | None = None
    journals: list[dict] = field(default_factory=list)


def pull_all(station_dir: Path, journal: Journal | None = None,
             client: httpx.Client | None = None) -> list[PeerOutcome]:
    """Pull every peer once, in order, recording each one's outcome as it ends. One pull
    at a time per station (a lock), so `journal pull` and the sync loop do not race."""
    journal = journal or Journal(station_dir)
    own = client is None
    client = client or httpx.Client(timeout=TIMEOUT)
    outcomes = []
    fd = os.open(files.folder(station_dir) / LOCK_NAME, os.O_RDWR | os.O_CREAT, PRIVATE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        for peer in peers.load(station_dir):
            outcome = pull_peer(journal, peer, client)
            _record(station_dir, peer, outcome)
            outcomes.append(outcome)
    finally:
        os.close(fd)
        if own:
            client.close()
    return outcomes


def pull_peer(journal: Journal, peer: peers.Peer, client: httpx.Client) -> PeerOutcome:
    outcome = PeerOutcome(peer.name)
    headers = {"Authorization": f"Bearer {peer.token}"}
    try:
        outcome.status = _get(client, f"{peer.url}/peer/status", headers).json()
        outcome.journals = _get(client, f"{peer.url}/peer/journals", headers).json()["journals"]
        outcome.reachable = True
    except (httpx.HTTPError, JournalError, ValueError, KeyError, TypeError) as exc:
        outcome.errors.append(f"peer {peer.name}: {_reason(exc)}")
        return outcome
    for listed in outcome.journals:
        try:
            _pull_journal(journal, peer, listed, client, headers, outcome)
        except JournalError as exc:
            outcome.errors.append(f"peer {peer.name}: {exc}")
        except httpx.HTTPError as exc:
            outcome.reachable = False
            outcome.errors.append(f"peer {peer.name}: {_reason(exc)}")
            break
    return outcome


def _pull_journal(journal: Journal, peer: peers.Peer, listed: dict, client: httpx.Client,
                  headers: dict[str, str], outcome: PeerOutcome) -> None:
    """Lines of one station's journal past what is held, batch after batch, counted in
    `outcome` as they are kept (a refusal further on keeps them)."""
    try:
        station = files.checked_id(str(listed["station"]))
        public = public_from_base64(str(listed["public_key"]))
        their_seq = int(listed["seq"])
    except (KeyError, ValueError, TypeError, JournalError) as exc:
        raise JournalError(f"a journal listed without a valid station, key or number ({exc})") from exc
    if station == journal.station:
        return
    held = files.pinned_key(journal.dir, station)
    if held is not None and held != public:  # said before any line is fetched
        raise JournalError(f"station {station} now shows another key than the one pinned "
                           "at first contact: refused")
    seq, hash_ = journal.last(station)
    if 0 < their_seq <= seq:
        _same_copy(journal, station, their_seq, hash_ if their_seq == seq else None,
                   str(listed.get("hash")))
        return
    while seq < their_seq:
        response = _get(client, f"{peer.url}/peer/journals/{station}", headers,
                        {"after": seq, "limit": BATCH})
        lines = [line for line in response.content.split(b"\n") if line]
        if not lines:
            break
        ingested = journal.ingest(station, public, lines)
        outcome.pulled += ingested.accepted
        if ingested.refused:
            raise JournalError(f"station {station}: {ingested.refused} (the good entries "
                               f"before it are kept: {journal.last(station)[0]} held)")
        if ingested.accepted == 0:
            break
        seq = journal.last(station)[0]


def _same_copy(journal: Journal, station: str, seq: int, held: str | None, theirs: str) -> None:
    """A peer no further than this station must hold the same entry `seq`: another one
    there is a forked or altered copy, said by name (nothing held changes)."""
    if held is None:
        entry = journal.entry(entry_key(station, seq))
        held = entry.hash if entry else None
    if held != theirs:
        raise JournalError(f"station {station}: the peer's entry {entry_key(station, seq)} is "
                           "not the one held here (a forked or altered copy): refused")


def _get(client: httpx.Client, url: str, headers: dict[str, str],
         params: dict | None = None) -> httpx.Response:
    response = client.get(url, headers=headers, params=params)
    if response.status_code in (401, 403):
        raise JournalError(f"the peer refused this station's token ({response.status_code}): "
                           "make a new one there with `releve station token add NAME --role peer`")
    response.raise_for_status()
    return response


def _reason(exc: Exception) -> str:
    """Why a peer failed, short: the type of a network error, the message of the others."""
    if isinstance(exc, httpx.HTTPStatusError):
        return f"answered {exc.response.status_code}"
    if isinstance(exc, httpx.HTTPError):
        return f"unreachable ({type(exc).__name__})"
    if isinstance(exc, JournalError):
        return str(exc)
    return f"unreadable answer ({type(exc).__name__})"


def _record(station_dir: Path, peer: peers.Peer, outcome: PeerOutcome) -> None:
    """The peer's line in peers-state.json, and the ranges file from every peer's status."""
    state = peers.load_state(station_dir)
    now = clock.utc_text()
    record = state.get(peer.name, {})
    record.update(url=peer.url, last_attempt=now, reachable=outcome.reachable,
                  pulled=outcome.pulled, last_error="; ".join(outcome.errors) or None)
    if outcome.reachable:
        record.update(status=outcome.status, journals=outcome.journals)
    if outcome.reachable and not outcome.errors:
        record["last_success"] = now
    state[peer.name] = record
    peers.save_state(station_dir, state)
    peers.write_ranges(station_dir, state)
