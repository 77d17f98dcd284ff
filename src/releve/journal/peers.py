"""The stations this one pulls from, and what the last pulls found (docs/journal.md §6).

In the station's folder, beside the journal (files.py):

    peers.json          [{"name", "url", "token"}]: the peers and the bearer token each
                        gave this station (`token add NAME --role peer` over there); 0600
    peers-state.json    {name: {"last_attempt", "last_success", "last_error", "reachable",
                        "pulled", "status", "journals"}}: what the crisis page shows
    peers-ranges.json   {"<station id>": {"ranges": [{"kind", "first", "last", "system"}]}}:
                        the downtime identifier ranges the peers said they hold, so
                        that this station refuses a range that overlaps one of theirs
                        (read by station/local/identifiers.py, docs/journal.md §5.7)

Nothing here pushes: a station only ever reads its peers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

import orjson

from ..files import write_atomic
from .errors import JournalError
from .files import own_id

PEERS_NAME = "peers.json"
STATE_NAME = "peers-state.json"
RANGES_NAME = "peers-ranges.json"


@dataclass(frozen=True)
class Peer:
    name: str
    url: str  # the peer station's base URL, without a trailing slash
    token: str  # a `peer` token of that station: a secret, kept 0600

    def shown(self) -> dict[str, str]:
        """What may be listed or served: everything but the token."""
        return {"name": self.name, "url": self.url}


def peers_file(station_dir: Path) -> Path:
    return Path(station_dir) / PEERS_NAME


def state_file(station_dir: Path) -> Path:
    return Path(station_dir) / STATE_NAME


def ranges_file(station_dir: Path) -> Path:
    return Path(station_dir) / RANGES_NAME


def load(station_dir: Path) -> list[Peer]:
    raw = _read(peers_file(station_dir), [])
    try:
        return [Peer(str(p["name"]), str(p["url"]), str(p["token"])) for p in raw]
    except (KeyError, TypeError) as exc:
        raise JournalError(f"{peers_file(station_dir)} is not a list of peers ({exc})") from exc


def save(station_dir: Path, peers: list[Peer]) -> None:
    write_atomic(peers_file(station_dir),
                 orjson.dumps([asdict(p) for p in peers], option=orjson.OPT_INDENT_2) + b"\n")


def checked_url(url: str) -> str:
    """A peer's base URL: http(s), a host, no query; the trailing slash dropped."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise JournalError(f"{url!r} is not a station's address (http(s)://HOST:PORT)")
    return url.strip().rstrip("/")


def add(station_dir: Path, name: str | None, url: str, token: str) -> Peer:
    """Add a peer (its name defaults to HOST:PORT); a name or URL already known is refused."""
    url = checked_url(url)
    name = name or (urlsplit(url).netloc)
    if not token.strip():
        raise JournalError("the peer's token is empty")
    peers = load(station_dir)
    for known in peers:
        if known.name == name or known.url == url:
            raise JournalError(f"peer {known.name} ({known.url}) is already known: remove it first")
    peer = Peer(name, url, token.strip())
    save(station_dir, [*peers, peer])
    return peer


def remove(station_dir: Path, name_or_url: str) -> Peer:
    peers = load(station_dir)
    gone = [p for p in peers if name_or_url in (p.name, p.url, p.url + "/")]
    if not gone:
        raise JournalError(f"no peer named {name_or_url!r}")
    save(station_dir, [p for p in peers if p not in gone])
    state = load_state(station_dir)
    if state.pop(gone[0].name, None) is not None:
        save_state(station_dir, state)
        write_ranges(station_dir, state)
    return gone[0]


def load_state(station_dir: Path) -> dict[str, dict]:
    state = _read(state_file(station_dir), {})
    return state if isinstance(state, dict) else {}


def save_state(station_dir: Path, state: dict[str, dict]) -> None:
    write_atomic(state_file(station_dir), orjson.dumps(state, option=orjson.OPT_INDENT_2) + b"\n")


def write_ranges(station_dir: Path, state: dict[str, dict]) -> None:
    """peers-ranges.json from the status documents the peers last served (and the ones
    they relay from their own peers), one item per station."""
    own = own_id(station_dir)
    seen: dict[str, dict] = {}
    for record in state.values():
        status = record.get("status") or {}
        for item in [status.get("identifiers"), *(status.get("relayed_identifiers") or [])]:
            if isinstance(item, dict) and isinstance(item.get("station"), str) \
                    and isinstance(item.get("ranges"), list) and item["station"] != own:
                seen.setdefault(item["station"], {"ranges": item["ranges"]})
    write_atomic(ranges_file(station_dir),
                 orjson.dumps(seen, option=orjson.OPT_INDENT_2) + b"\n")


def _read(path: Path, empty):
    try:
        return orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return empty
    except orjson.JSONDecodeError as exc:
        raise JournalError(f"{path} is not valid JSON ({exc})") from exc
