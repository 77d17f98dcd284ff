"""`releve station token add|remove|list`: bearer tokens for devices, scripts and peers.

  releve station token add NAME --role nurse|physician|pharmacist|peer --station DIR
  releve station token remove NAME --station DIR
  releve station token list --station DIR

A token is printed once, alone on standard output (so `> file` captures just it), and
kept only as its SHA-256 (station/local/tokens.py). Each change is in the audit log.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from ..station.local.tokens import TOKEN_ROLES, Tokens
from .console import err, out
from .station_users import local_errors, record_admin

token_app = typer.Typer(help="Bearer tokens for bedside devices, scripts and peer stations.",
                        no_args_is_help=True, add_completion=False)
STATION = typer.Option(..., "--station", help="The station's folder")


@token_app.command("add")
def add(name: str,
        role: str = typer.Option(..., "--role", help=f"One of: {', '.join(TOKEN_ROLES)} (peer: "
                                 "another station that pulls this one's journal)"),
        station: Path = STATION) -> None:
    """Make a token and print it, once: it cannot be shown again, only replaced."""
    with local_errors():
        token = Tokens(station).add(name, role)
        record_admin(station, "token-add", f"{name} ({role})")
    print(token)
    err.print(f"token {escape(name)!r} ({role}) created: it is shown this once; give it to the "
              "device or station that uses it, through a file only its owner may read",
              highlight=False)


@token_app.command("remove")
def remove(name: str, station: Path = STATION) -> None:
    """Revoke a token: its next request is refused."""
    with local_errors():
        Tokens(station).remove(name)
        record_admin(station, "token-remove", name)
    out.print(f"token {escape(name)!r} removed", highlight=False)


@token_app.command("list")
def list_tokens(station: Path = STATION) -> None:
    """The tokens' names, roles and creation times (never the tokens themselves)."""
    with local_errors():
        tokens = Tokens(station).list()
    if not tokens:
        out.print("no tokens")
        return
    table = Table("name", "role", "created")
    for token in tokens:
        table.add_row(token.name, token.role, token.created)
    out.print(table)
