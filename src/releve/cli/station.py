"""`releve station ...`: set up a ward's downtime station, keep it current, serve it.

  releve station init DIR --identity FILE [--no-copy-identity] [--vault VAULT|URL
                      --token-file F] [--name NAME] [--ward CODE]
  releve station set-ward --station DIR (CODE | --none)
  releve station sync --station DIR --vault VAULT|URL [--token-file F] [--identity FILE]
                      [--interval S]
  releve station status --station DIR      (exit 0 ok, 1 needs attention, 2 unreadable)
  releve station accept --station DIR --segment N
  releve station serve --station DIR [--host H] [--port P] [--allowed-host NAME]
                       [--tls-cert PEM --tls-key PEM] [--head-timeout S]
                       [--body-timeout S] [--max-connections N]
  releve station downtime --station DIR (--declare [--note TEXT] | --end)
  releve station user add|list|disable|enable|passwd ...   (station_users.py)
  releve station audit --station DIR [--limit N] [--verify]
  releve station print mar|census|or|directory|labels|wristband|forms ...   (station_print.py)
  releve station token add|remove|list ...   (station_tokens.py)
  releve station peer add|list|remove ...    (station_peers.py)
"""

from __future__ import annotations

import datetime as dt
import functools
import sqlite3
from pathlib import Path

import typer
from rich.markup import escape

from .. import clock
from ..journal.book import Journal
from ..station.attention import concerns, numbers_running_out
from ..station.index.connection import reader
from ..station.index.errors import StationIndexError
from ..station.index.generations import current_generation
from ..station.index.head import Head, read_head
from ..station.sync import Settings, Status, SyncError, accept_segment, init_station, open_source, sync_once
from ..station.sync_loop import sync_forever
from ..station.views.status import Totals, passed_segments, totals
from .console import Say, clear_errors, err, fail, out
from .journal import journal_summary, pull_peers
from .limits import BODY_TIMEOUT, HEAD_TIMEOUT, MAX_CONNECTIONS
from .station_identifiers import identifiers_command
from .station_peers import peer_app
from .station_print import print_app
from .station_tokens import token_app
from .station_users import audit_command, os_login, record_admin, user_app
from .station_ward import set_ward, ward_text
from .status_exit import UNREADABLE_EXIT, conclude
from .tls import TLS_CERT, TLS_KEY, check_tls
from .tokens import READER_TOKEN, TOKEN_FILE

HELD_EXIT = 3  # as `releve import` for a segment written but not to be adopted

station_app = typer.Typer(help="The ward's downtime station: sync from the vault, serve the pages.",
                          no_args_is_help=True)
station_app.add_typer(user_app, name="user")
station_app.add_typer(print_app, name="print")
station_app.add_typer(token_app, name="token")
station_app.add_typer(peer_app, name="peer")
station_app.command("audit")(audit_command)
station_app.command("set-ward")(set_ward)
station_app.command("identifiers")(identifiers_command)

STATION = typer.Option(..., "--station", help="The station's folder")


@station_app.command("init")
def init(directory: Path = typer.Argument(..., help="New folder for the station"),
         identity: Path = typer.Option(..., help="The station's age identity (kept 0600)"),
         copy_identity: bool = typer.Option(True, "--copy-identity/--no-copy-identity",
                                            help="Copy the identity into the station folder "
                                                 "(without a copy, it stays where it is, an "
                                                 "encrypted volume say, and each sync is "
                                                 "given --identity)"),
         vault: str | None = typer.Option(None, help="Vault folder or URL, to pin its "
                                                        "config now (else at the first sync)"),
         token_file: Path | None = TOKEN_FILE,
         token: str | None = READER_TOKEN,
         name: str | None = typer.Option(None, help="Shown on every page (default: folder name)"),
         ward: str | None = typer.Option(None, "--ward", help="The ward this station serves "
                                         "(Location id, name or code): the page it opens on")) -> None:
    """Create a station folder holding its settings, its identity (unless
    --no-copy-identity) and, later, its index."""
    with clear_errors():
        settings = init_station(directory, identity, name,
                                open_source(vault, token) if vault else None, copy_identity,
                                ward_text(ward))
        journal = Journal(directory)  # creates the station's journal key
    out.print(f"journal key created: this station's id is {journal.station}", highlight=False)
    out.print(f"station {escape(settings.name)!r} created in {escape(str(directory))}", highlight=False)
    if not vault:
        out.print("the vault's config will be pinned at the first sync: make sure that "
                  "first sync reaches the hospital's real vault", highlight=False)
    out.print(f"next: releve station user add NAME --role nurse --ward UNIT --station {escape(str(directory))}",
              highlight=False)


@station_app.command("sync")
def sync(station: Path = STATION,
         vault: str = typer.Option(..., help="Vault folder or URL"),
         token_file: Path | None = TOKEN_FILE,
         token: str | None = READER_TOKEN,
         identity: Path | None = typer.Option(None, envvar="RELEVE_STATION_IDENTITY",
                                              help="The station's identity, when it is not "
                                                   "kept in the station folder"),
         interval: float | None = typer.Option(None, min=1.0, help="Keep syncing every S seconds")) -> None:
    """Pull new segments, verify them, apply them; a segment that is not sound is not
    applied and the station keeps its last good state."""
    with clear_errors():
        source = open_source(vault, token)
    say = Say(None if interval is None else "station.sync")
    try:
        if interval is not None:
            sync_forever(station, source, interval, functools.partial(_report, say=say),
                         functools.partial(_complain, say=say), identity,
                         each_round=functools.partial(pull_peers, station, say))
        try:
            outcome = sync_once(station, source, identity)
        except SyncError as exc:
            _complain(str(exc), None, say)
            raise typer.Exit(1) from None
        _report(outcome, say)
        state = Status.load(station)
        if state.held and not state.accepted:  # a run from cron or a timer must not look fine
            if outcome.held is None:  # held by an earlier sync: said again, not fetched again
                say.problem("ALERT", f"segment {state.held['seq']} is still held, not "
                                     "applied; see `releve station status`")
            raise typer.Exit(HELD_EXIT)
    except KeyboardInterrupt:
        say.note("sync stopped")


def _complain(reason: str, retry: float | None, say: Say) -> None:
    again = f"; next try in {retry:.0f} s" if retry is not None else ""
    say.problem("sync failed", f"{reason} — the station keeps serving its last good state{again}")


def _report(outcome, say: Say) -> None:
    if outcome.rebuilt is not None:
        say.note(f"the index could not be used ({outcome.rebuilt}): "
                 + ("a new one was built from the vault's latest checkpoint" if outcome.applied
                    else "the vault holds nothing to build a new one from yet"))
    for seq in outcome.skipped:
        say.problem("ALERT", f"segment {seq} is marked suspect by the capture; its content "
                             "was not adopted")
    if outcome.passed:
        say.problem("ALERT", f"checkpoint {outcome.passed}")
    if outcome.held is not None:
        say.problem("ALERT", f"segment {outcome.held} is held, not applied: it would remove "
                             "too much; see `releve station status`, and accept it with "
                             f"`releve station accept --segment {outcome.held}` if it is right")
    if outcome.applied:
        say.info(f"applied segments {outcome.applied[0]}–{outcome.applied[-1]} "
                 f"({outcome.records} records)")
    elif not outcome.skipped and outcome.held is None:
        say.info("up to date")


@station_app.command("status")
def status(station: Path = STATION) -> None:
    """State time, last sync, segments behind, errors. Exit status 0 when all is well, 1
    when something needs attention (each reason printed), 2 when the station cannot be
    read."""
    with clear_errors(ValueError, OSError, TypeError, code=UNREADABLE_EXIT):
        settings = Settings.load(station)
        state = Status.load(station)
    head, counted, passed, index_problem = _index(station)
    out.print(f"station {escape(settings.name)!r}", highlight=False)
    if head is None and index_problem is None:
        out.print("[yellow]no data yet[/]: run `releve station sync`")
    if head is not None and counted is not None:
        out.print(f"data as of {head.state_time or 'never'} "
                  f"({_age(head.state_time)}), segment {head.state_seq}; "
                  f"{counted.patients} patients, {counted.resources} resources", highlight=False)
        behind = (state.vault_seq or head.seq) - head.seq
        out.print(f"chain head: segment {head.seq}; vault at {state.vault_seq}: "
                  f"{behind} segment(s) behind", highlight=False)
        for seq, outcome, reason in passed:
            out.print(f"history: segment {seq} {outcome}: {escape(reason)}", highlight=False)
    out.print(f"last sync attempt {state.last_attempt or 'never'}, last success "
              f"{state.last_success or 'never'}", highlight=False)
    for skipped in state.skipped[-5:]:
        out.print(f"[bold red]suspect segment {skipped['seq']} not adopted:[/] "
                  f"{escape(str(skipped['reason']))}", highlight=False)
    _print_blocked(state)
    for failure in state.failures[-5:]:
        out.print(f"failed sync at {failure['time']}: {escape(str(failure['reason']))}",
                  highlight=False)
    if settings.downtime:
        out.print(f"[bold]downtime declared since {settings.downtime.get('since')}[/]", highlight=False)
    for line in journal_summary(station):
        out.print(line, highlight=False)
    if state.error:
        out.print(f"[bold red]last sync failed:[/] {escape(state.error)}", highlight=False)
    conclude(concerns(settings, state, head, index_problem) + numbers_running_out(station))


def _index(station: Path) -> tuple[Head | None, Totals | None, list, str | None]:
    """The index's head, counts and latest passed segments (None before the first
    sync), or why the index cannot be read."""
    try:
        conn = reader(station)
        if conn is None:
            return None, None, [], None
        try:
            return read_head(conn), totals(conn), passed_segments(conn), None
        finally:
            conn.close()
    except (StationIndexError, sqlite3.Error) as exc:
        return None, None, [], str(exc)


def _print_blocked(state: Status) -> None:
    if state.held:
        held = state.held
        accepted = (f"; accepted by {escape(str(state.accepted.get('by')))}, the next sync "
                    "applies it" if state.accepted else
                    f"; accept it with `releve station accept --segment {held['seq']}`")
        out.print(f"[bold red]segment {held['seq']} ({held['kind']}) held since "
                  f"{held['since']}, not applied:[/] {escape(str(held['reason']))}{accepted}",
                  highlight=False)
    if state.unreadable:
        bad = state.unreadable
        out.print(f"[bold red]segment {bad['seq']} cannot be read since {bad['since']}:[/] "
                  f"{escape(str(bad['reason']))}; waiting for the vault's next checkpoint",
                  highlight=False)


@station_app.command("accept")
def accept(station: Path = STATION,
           segment: int = typer.Option(..., "--segment", help="The held segment's number")) -> None:
    """Accept a segment held as implausible (it would remove too much): the next sync
    applies it. Recorded in the station's audit log."""
    with clear_errors():
        held = accept_segment(station, segment, os_login(), lambda held: record_admin(
            station, "accept-segment", f"segment {held['seq']} ({held['sha256'][:16]}): "
                                       f"{held['reason']}"))
    out.print(f"segment {segment} accepted ({escape(str(held['reason']))}): the next sync "
              "applies it", highlight=False)


def _age(instant: str | None) -> str:
    if not instant:
        return "no data"
    when = dt.datetime.fromisoformat(instant.replace("Z", "+00:00"))
    minutes = (clock.now() - when).total_seconds() / 60
    return f"{minutes:.0f} min old"


@station_app.command("serve")
def serve(station: Path = STATION,
          host: str = typer.Option("127.0.0.1", help="Address to listen on"),
          port: int = typer.Option(8000, help="TCP port"),
          allowed_host: list[str] = typer.Option(
              [], "--allowed-host", help="A name the ward's browsers use to reach the station "
              "(repeatable; loopback and the listening address are always allowed)"),
          tls_cert: Path | None = TLS_CERT, tls_key: Path | None = TLS_KEY,
          head_timeout: float = HEAD_TIMEOUT,
          body_timeout: float = BODY_TIMEOUT,
          max_connections: int = MAX_CONNECTIONS) -> None:
    """The ward's web app (census, patients, directory, OR schedule)."""
    from ..serving import Limits
    from ..station.web.app import serve as serve_app

    check_tls(tls_cert, tls_key)
    with clear_errors():
        Settings.load(station)
        if current_generation(station) is None:
            err.print("[yellow]warning:[/] this station holds no data yet; pages will say so "
                      "until the first sync", highlight=False)
        serve_app(station, host, port, Limits(head_timeout, body_timeout, max_connections),
                  extra_hosts=allowed_host, tls_cert=tls_cert, tls_key=tls_key)


@station_app.command("downtime")
def downtime(station: Path = STATION,
             declare: bool = typer.Option(False, "--declare", help="Declare the downtime"),
             end: bool = typer.Option(False, "--end", help="End it"),
             note: str | None = typer.Option(None, help="Shown on every page")) -> None:
    """Declare (or end) the downtime: every page then says so."""
    if declare == end:
        fail("give exactly one of --declare or --end", 2)
    with clear_errors():
        settings = Settings.load(station)
        settings.downtime = ({"since": clock.now().isoformat(), "note": note}
                             if declare else None)
        settings.save(station)
        record_admin(station, "downtime-declare" if declare else "downtime-end", note)
    out.print("downtime declared" if declare else "downtime ended")
