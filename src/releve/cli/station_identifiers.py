"""`releve station identifiers`: give a station its downtime IPP and stay number ranges,
or list them with what is used and free (station/local/identifiers.py says the rules).

    releve station identifiers --station DIR --ipp 900000-900999 --stay 7700000-7704999
    releve station identifiers --station DIR --list

The identifier systems default to those the vault's patients and stays use (so the HIS
reads a downtime IPP as one of its own), else to documented URNs.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from ..station.index.connection import reader
from ..station.local.identifiers import Identifiers, Range, parse_range, vault_systems
from .console import clear_errors, err, fail, out
from .station_users import record_admin


def identifiers_command(
        station: Path = typer.Option(..., "--station", help="The station's folder"),
        ipp: str | None = typer.Option(None, "--ipp", help="IPP range FROM-TO, e.g. 900000-900999"),
        stay: str | None = typer.Option(None, "--stay", help="Stay number range FROM-TO"),
        ipp_system: str | None = typer.Option(None, "--ipp-system", help="System URI of the IPPs "
                                              "(default: the one the vault's patients use most)"),
        stay_system: str | None = typer.Option(None, "--stay-system", help="System URI of the "
                                               "stay numbers (default: the vault's stays')"),
        show: bool = typer.Option(False, "--list", help="List the ranges, used and free")) -> None:
    """Assign this station its ranges of downtime numbers; a range overlapping one of
    this station's or of a known peer's is refused."""
    if not (ipp or stay or show):
        fail("give --ipp FROM-TO and/or --stay FROM-TO, or --list", 2)
    with clear_errors():
        book = Identifiers(station)
        systems = _systems(station) if ipp or stay else {}
        wanted = [parse_range(kind, text, chosen or systems[kind])
                  for kind, text, chosen in (("ipp", ipp, ipp_system), ("stay", stay, stay_system))
                  if text]
        for item in wanted:
            book.add(item)
            record_admin(station, "identifiers", f"{item.kind} {item.label()}")
            out.print(f"{item.kind} range {item.label()} added (system {escape(item.system)})",
                      highlight=False)
        if show:
            _list(book)
        for warning in book.running_out():
            err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)


def _systems(station: Path) -> dict[str, str]:
    conn = reader(station)
    try:
        return vault_systems(conn)
    finally:
        if conn is not None:
            conn.close()


def _list(book: Identifiers) -> None:
    uses = book.usage()
    if not uses:
        out.print("no range yet: assign them with --ipp FROM-TO --stay FROM-TO")
    for use in uses:
        item: Range = use.range
        out.print(f"{item.kind:<5} {item.label():<25} used {use.used:>7}  free {use.free:>7}  "
                  f"system {escape(item.system)}", highlight=False)
