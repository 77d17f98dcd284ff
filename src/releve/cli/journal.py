"""`releve journal ...`: the downtime entries of a station (docs/journal.md).

  releve journal verify --station DIR     every held journal, every entry (exit 0 / 1)
  releve journal export --station DIR [--since TIME] [--out FILE]
                                          the entries as FHIR ndjson, one resource a line
  releve journal pull --station DIR       every peer's journals once (journal/pull.py)
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.markup import escape

from ..journal.book import Journal
from ..journal.entry import utc_text
from .console import Say, clear_errors, fail, out
from .identities import identities_app
from .reconcile import reconcile

journal_app = typer.Typer(help="The downtime entries the wards recorded: verify, export, pull.",
                          no_args_is_help=True)
STATION = typer.Option(..., "--station", help="The station's folder")
journal_app.command("reconcile")(reconcile)
journal_app.add_typer(identities_app, name="identities")


def journal_summary(station: Path) -> list[str]:
    """For `releve station status`: this station's entries, and what it holds of others."""
    held = Journal(station).held()
    lines = []
    for number, (station_id, (count, last)) in enumerate(held.items()):
        whose = "this station" if number == 0 else "from station"
        lines.append(f"journal: {whose} {station_id}: {count} entries"
                     f"{f', last at {last}' if last else ''}")
    return lines


@journal_app.command("verify")
def verify(station: Path = STATION) -> None:
    """Check every entry of every journal the station holds: chain and signatures."""
    with clear_errors():
        Journal(station)  # its own key exists and is pinned
        from ..journal.verify import verify_all

        report = verify_all(station)
    for verdict in report.verdicts:
        if verdict.problem:
            out.print(f"[red]FAIL[/] station {verdict.station}: {escape(verdict.problem)} "
                      f"(after {verdict.entries} good entries)", highlight=False)
        else:
            tail = " (a torn last line, never acknowledged, is ignored)" if verdict.torn_tail else ""
            out.print(f"ok   station {verdict.station}: {verdict.entries} entries, chain and "
                      f"signatures verified{tail}", highlight=False)
    if not report.sound:
        raise typer.Exit(1)


@journal_app.command("export")
def export(station: Path = STATION,
           since: str | None = typer.Option(None, help="Only entries written at or after "
                                            "this time (ISO 8601, e.g. 2026-01-14T08:00+01:00)"),
           out_file: Path | None = typer.Option(None, "--out", help="File to write (default: "
                                                "standard output)")) -> None:
    """Write the entries of every held journal as FHIR R4 ndjson."""
    with clear_errors():
        start = None
        if since:
            from ..station.views.formats import parse_instant

            when = parse_instant(since)
            if when is None:
                fail(f"--since {since!r} is not an ISO 8601 time")
            start = utc_text(when)
        from ..journal.export import ndjson
        from ..journal.index import since as entries_since

        journal = Journal(station)
        lines = ndjson(iter(entries_since(journal.db(), start)))
        if out_file is None:
            for line in lines:
                sys.stdout.buffer.write(line)
            return
        count = 0
        with open(out_file, "wb") as handle:
            for line in lines:
                handle.write(line)
                count += 1
    out.print(f"{count} resources written to {escape(str(out_file))}", highlight=False)


@journal_app.command("pull")
def pull(station: Path = STATION) -> None:
    """Pull every peer's journals once: exit 0 when every peer answered and nothing was
    refused, 1 otherwise (each problem printed; the good entries are kept)."""
    with clear_errors():
        Journal(station)
        from ..journal.peers import load as load_peers

        if not load_peers(station):
            fail("no peers: add one with `releve station peer add`")
        sound = pull_peers(station, Say())
    if not sound:
        raise typer.Exit(1)


def pull_peers(station: Path, say: Say) -> bool:
    """One pull of every peer, each outcome said; whether all went well. Shared with
    `station sync --interval`, which calls it each round."""
    from ..journal.pull import pull_all

    outcomes = pull_all(station)
    for outcome in outcomes:
        if outcome.errors:
            for error in outcome.errors:
                say.problem("pull", error)
        else:
            say.info(f"peer {outcome.peer}: {outcome.pulled} entries pulled")
    return all(not o.errors for o in outcomes)
