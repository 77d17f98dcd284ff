"""`releve station peer add|list|remove`: the stations this one pulls the journal from.

  releve station peer add --station DIR --url URL --token-file F [--name NAME]
  releve station peer list --station DIR
  releve station peer remove NAME --station DIR

The token is one made on the peer with `releve station token add NAME --role peer`; it
is read from --token-file or RELEVE_PEER_TOKEN(_FILE) like every secret (tokens.py) and
kept in the station folder's peers.json, mode 0600. `releve journal pull` and `station
sync --interval` then pull every peer (journal/pull.py).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from ..journal import peers
from .console import clear_errors, out
from .station_users import record_admin
from .tokens import secret_file_option, secret_option

peer_app = typer.Typer(help="The stations whose journals this station pulls.",
                       no_args_is_help=True, add_completion=False)
STATION = typer.Option(..., "--station", help="The station's folder")
PEER_TOKEN_FILE = secret_file_option("--token", "RELEVE_PEER_TOKEN")
PEER_TOKEN = secret_option("--token", "RELEVE_PEER_TOKEN", "A peer token made on that station",
                           required=True)


@peer_app.command("add")
def add(station: Path = STATION,
        url: str = typer.Option(..., "--url", help="The peer station's address, "
                                "e.g. https://station-rea-2:8443"),
        token_file: Path | None = PEER_TOKEN_FILE,
        token: str | None = PEER_TOKEN,
        name: str | None = typer.Option(None, "--name", help="How this station calls it "
                                        "(default: HOST:PORT)")) -> None:
    """Add a peer: its journals are pulled from the next `journal pull` or sync round."""
    with clear_errors():
        if not (station / "station.json").is_file():
            raise typer.BadParameter(f"{station} is not a station folder", param_hint="--station")
        peer = peers.add(station, name, url, token or "")
        record_admin(station, "peer-add", f"{peer.name} {peer.url}")
    out.print(f"peer {escape(peer.name)!r} added ({escape(peer.url)}); pull it now with "
              f"`releve journal pull --station {escape(str(station))}`", highlight=False)


@peer_app.command("list")
def list_peers(station: Path = STATION) -> None:
    """Each peer, and how its last pull went."""
    with clear_errors():
        known = peers.load(station)
        state = peers.load_state(station)
    if not known:
        out.print("no peers")
        return
    table = Table("name", "url", "reachable", "last success", "entries pulled", "last error")
    for peer in known:
        record = state.get(peer.name, {})
        reachable = record.get("reachable")
        table.add_row(peer.name, peer.url, "—" if reachable is None else ("yes" if reachable else "NO"),
                      record.get("last_success") or "never", str(record.get("pulled", "—")),
                      escape(record.get("last_error") or ""))
    out.print(table)


@peer_app.command("remove")
def remove(name: str = typer.Argument(..., help="The peer's name or URL"),
           station: Path = STATION) -> None:
    """Stop pulling a peer (the entries already pulled stay)."""
    with clear_errors():
        peer = peers.remove(station, name)
        record_admin(station, "peer-remove", f"{peer.name} {peer.url}")
    out.print(f"peer {escape(peer.name)!r} removed", highlight=False)
