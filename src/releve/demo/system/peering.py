"""The demo's two stations pull each other's journals, and hand out their own numbers.

What an operator does by hand on a real site (docs/journal/peers.md, docs/journal/
movements.md), the demo does itself:

- at every start, before the syncs start, each station is made a peer of the other at
  the other's current address (the web ports may change from one start to the next).
  The pulling station keeps the token in its peers.json (0600), which is the only copy
  of it: a start whose address did not change leaves both sides as they are, one whose
  address changed re-adds the peer with the same token, and only a token lost on one
  side is replaced (the old one revoked first), so tokens never pile up;
- once a station's first sync has indexed the hospital, it is given its ranges of
  downtime IPPs and stay numbers, one thousand of each, the next station the next
  thousand: the admission form then works. The ranges use the systems of the vault's
  own numbers, as `releve station identifiers` chooses them, which the index knows only
  after that first sync.
"""

from __future__ import annotations

from pathlib import Path

from ...journal import peers
from ...station.index.connection import reader
from ...station.local.audit import Audit
from ...station.local.identifiers import Identifiers, Range, vault_systems
from ...station.local.tokens import Tokens
from .place import WARDS

# the first number of each kind's ranges; station n (in WARDS order) gets the n-th thousand
FIRST_NUMBERS = {"ipp": 9_900_000, "stay": 8_800_000}
RANGE_SIZE = 1000
WHO = "releve-demo"  # the audit log's user for what the demo does as an operator


def token_name(ward: str) -> str:
    """The name, on a station, of the `peer` token another station pulls it with."""
    return f"peer-{ward}"


def pair_stations(stations: dict[str, Path], urls: dict[str, str]) -> None:
    """Each station a peer of every other one, at its address of this start."""
    for ward, station in stations.items():
        for other, other_station in stations.items():
            if other != ward:
                make_peer(station, other, other_station, urls[other], token_name(ward))


def make_peer(station: Path, name: str, peer_station: Path, url: str, token: str) -> None:
    """`station` pulls `peer_station` (called `name`) at `url`, with the `peer` token
    named `token` over there: kept when both sides still have it."""
    known = next((p for p in peers.load(station) if p.name == name), None)
    tokens = Tokens(peer_station)
    held = any(t.name == token and t.role == "peer" for t in tokens.list())
    if known is not None and held and known.url == url:
        return
    audit, peer_audit = Audit(station), Audit(peer_station)
    if known is not None:
        peers.remove(station, name)
        audit.record(WHO, "peer-remove", "cli", detail=f"{known.name} {known.url}")
    if known is not None and held:
        secret = known.token
    else:
        if any(t.name == token for t in tokens.list()):
            tokens.remove(token)  # its value is lost: revoke it before making another
            peer_audit.record(WHO, "token-remove", "cli", detail=token)
        secret = tokens.add(token, "peer")
        peer_audit.record(WHO, "token-add", "cli", detail=f"{token} (peer)")
    peers.add(station, name, url, secret)
    audit.record(WHO, "peer-add", "cli", detail=f"{name} {url}")


def give_ranges(station: Path, ward: str) -> bool:
    """The station's ranges of downtime numbers, once its index knows the vault's number
    systems; True once it has them (a resumed demo's stations have them already)."""
    book = Identifiers(station)
    missing = [kind for kind in FIRST_NUMBERS if not book.ranges(kind)]
    if not missing:
        return True
    conn = reader(station)
    if conn is None:
        return False
    try:
        systems = vault_systems(conn)
    finally:
        conn.close()
    rank = [name for name, _ in WARDS].index(ward)
    audit = Audit(station)
    for kind in missing:
        first = FIRST_NUMBERS[kind] + rank * RANGE_SIZE
        chosen = book.add(Range(kind, first, first + RANGE_SIZE - 1, 0, systems[kind]))
        audit.record(WHO, "identifiers", "cli", detail=f"{kind} {chosen.label()}")
    return True
