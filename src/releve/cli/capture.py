"""`releve capture ...`: copy what changes on the hospital's FHIR server into the vault,
and say how the capture is doing."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.markup import escape

from ..capture.writer import Written
from ..vault.store import VaultError
from .capture_hl7 import capture_hl7, has_feeds, print_feeds
from .capture_hl7_replay import capture_hl7_replay
from .console import Say, clear_errors, err, fail, out
from .status_exit import UNREADABLE_EXIT, conclude
from .tokens import FHIR_PASSWORD, FHIR_PASSWORD_FILE, FHIR_TOKEN, FHIR_TOKEN_FILE, TOKEN_FILE, WRITER_TOKEN
from .writing import described, open_writer

capture_app = typer.Typer(help="Capture from the hospital's FHIR server (`capture hl7`: its HL7 v2 "
                                "feeds) into the vault.",
                          invoke_without_command=True)
capture_app.command("hl7")(capture_hl7)
capture_app.command("hl7-replay")(capture_hl7_replay)


@capture_app.callback()
def capture(
    ctx: typer.Context,
    vault: str | None = typer.Option(None, help="Vault folder or URL"),
    token_file: Path | None = TOKEN_FILE,
    token: str | None = WRITER_TOKEN,
    fhir: str | None = typer.Option(None, help="Base URL of the HIS's FHIR R4 API"),
    signing_key: Path | None = typer.Option(None, help="Signer's minisign secret key"),
    state: Path | None = typer.Option(None, help="Capture state folder (high-water mark, "
                                                     "writer state; default per vault)"),
    once: bool = typer.Option(False, "--once", help="One cycle, then exit"),
    interval: float = typer.Option(30.0, min=1.0, help="Seconds between cycles"),
    mode: str = typer.Option("auto", help="auto (history if the server's CapabilityStatement "
                                          "declares system _history, else search), history, "
                                          "search, or bulk ($export)"),
    deletion_walk_every: float = typer.Option(300.0, min=0.0,
                                              help="Search and bulk modes: seconds between "
                                                   "two walks of the server's ids, which "
                                                   "find deletions"),
    fhir_token_file: Path | None = FHIR_TOKEN_FILE,
    fhir_token: str | None = FHIR_TOKEN,
    fhir_user: str | None = typer.Option(None, help="Basic-auth user for the FHIR server"),
    fhir_password_file: Path | None = FHIR_PASSWORD_FILE,
    fhir_password: str | None = FHIR_PASSWORD,
    client_id: str | None = typer.Option(None, help="SMART Backend Services: the client id "
                                                    "the HIS registered"),
    client_key: Path | None = typer.Option(None, dir_okay=False,
                                           help="SMART: the client's private key (PEM, 0600; "
                                                "`releve keys client`)"),
    token_url: str | None = typer.Option(None, help="SMART: the token endpoint (default: the "
                                                    "server's .well-known/smart-configuration)"),
    scope: str = typer.Option("system/*.read", help="SMART: the scopes asked for (SMART v2 "
                                                    "servers: system/*.rs)"),
    ca_cert: Path | None = typer.Option(None, help="CA certificate of the FHIR server"),
    retries: int = typer.Option(8, min=1, help="Attempts per request before a cycle fails"),
    max_delete_share: float = typer.Option(0.2, min=0.0, max=1.0,
                                           help="A cycle deleting more than this share of "
                                                "the resources is marked suspect"),
) -> None:
    """Copy what changed on the FHIR server into the vault, one segment per cycle."""
    if ctx.invoked_subcommand is not None:
        return
    from ..capture.attention import Waits
    from ..capture.capabilities import MODES, ModeError
    from ..capture.cycles import Capture
    from ..capture.fhir_capture import CaptureError, Guard, Status
    from ..fhir.client import Auth, FhirClient, Retry

    if not (vault and fhir and signing_key):
        missing = [name for name, value in (("--vault", vault), ("--fhir", fhir),
                                            ("--signing-key", signing_key)) if not value]
        fail(f"missing {', '.join(missing)}", 2)
    if mode not in MODES:
        fail(f"--mode must be {', '.join(MODES[:-1])} or {MODES[-1]}", 2)
    say = Say(None if once else "capture")
    waits = Waits(say.note)
    with clear_errors():
        smart = smart_auth(fhir, client_id, client_key, token_url, scope, ca_cert,
                           bool(fhir_token or fhir_user), waits)
        client = FhirClient(fhir, Auth(fhir_token, fhir_user, fhir_password, smart), ca_cert,
                            retry=Retry(attempts=retries), sleep=waits, waiting=waits.waiting)
        writer = open_writer(vault, token, signing_key, state)
        state_dir = writer.state.dir
        status = Status.load(state_dir)
        if status.fhir and status.fhir != client.base:
            raise VaultError(f"{state_dir} holds the capture of {status.fhir}; give each FHIR "
                             "server its own --state")
        status.fhir = client.base
        status.interval = None if once else interval
        watch = export_watch(say, once)
        cycles = Capture(client, writer, status, mode, Guard(max_delete_share), deletion_walk_every,
                         notify=watch)
        try:
            while True:
                try:
                    report_cycle(status, cycles.cycle(), say)
                except ModeError as exc:
                    fail(f"capture cannot start: {escape(str(exc))}", 2)
                except CaptureError as exc:
                    say.problem("capture failed", str(exc))
                    if status.last_cycle.get("suspect"):
                        say.problem("ALERT", f"segment {status.last_cycle.get('segment')} "
                                             f"marked suspect: {status.last_cycle['suspect']}")
                    if once:
                        raise typer.Exit(1) from None
                finally:
                    watch.close()
                    waits.note(status)
                    status.save(state_dir)
                if once:
                    break
                time.sleep(interval)
        except KeyboardInterrupt:
            say.note("capture stopped")
        finally:
            writer.close()
            client.close()


def export_watch(say: Say, once: bool):
    """How a bulk export's progress is shown: in place on a terminal for a run by hand,
    else as lines (a log, a cron mail, a test)."""
    from ..capture.export_watch import ExportWatch

    if once and err.is_terminal:
        from .capture_display import ExportDisplay

        return ExportDisplay(say.info)
    return ExportWatch(say.info)


def smart_auth(fhir: str, client_id: str | None, key: Path | None, token_url: str | None,
               scope: str, ca_cert: Path | None, other_auth: bool, waits):
    """SMART Backend Services' tokens for every request, when a client id is given; its
    pauses before asking the token endpoint again are said and noted (`waits`)."""
    if client_id is None and key is None and token_url is None:
        return None
    if not (client_id and key):
        fail("SMART Backend Services needs both --client-id and --client-key", 2)
    if other_auth:
        fail("give --client-id or --fhir-token / --fhir-user, not both", 2)
    from ..fhir.client import tls_verify
    from ..fhir.smart import BackendAuth, load_client_key

    def sleep(seconds: float) -> None:
        waits.waiting(seconds, "the SMART token endpoint failed")
        waits(seconds)

    return BackendAuth(client_id, load_client_key(key), fhir, token_url, scope, tls_verify(ca_cert),
                       sleep=sleep)


def report_cycle(status, written: list[Written], say: Say) -> None:
    cycle, walk = status.last_cycle, status.id_walk
    alerts = [(cycle.get("segment"), cycle.get("suspect"))]
    if any(segment.seq == walk.get("segment") for segment in written):
        alerts.append((walk["segment"], walk.get("suspect") and f"id walk: {walk['suspect']}"))
    for seq, suspect in alerts:
        if suspect:
            say.problem("ALERT", f"segment {seq} marked suspect: {suspect}")
    if walk and not walk.get("ok") and walk.get("failed") == cycle.get("started"):
        say.problem("id walk failed", f"{walk.get('error')} (the cycle itself is saved)")
    if not written:
        say.info(f"cycle {status.cycles}: {cycle['seen']} versions seen, nothing changed")
    for segment in written:
        say.info(described(segment))


@capture_app.command("status")
def capture_status(state: Path = typer.Option(..., help="Capture state folder"),
                   interval: float | None = typer.Option(
                       None, min=1.0, help="Seconds between cycles, to judge the lag "
                                           "(default: the running loop's, else 30)")) -> None:
    """The last cycle, lag, counts, errors and alerts of a capture, and the HL7 v2 feeds
    received with the same state. Exit status 0 when all is well, 1 when something needs
    attention (each reason printed), 2 when the state cannot be read."""
    import sqlite3

    fhir, feeds = (state / "capture.json").exists(), has_feeds(state)
    if not (fhir or feeds):
        fail(f"no capture has run with state {state}", UNREADABLE_EXIT)
    reasons = _print_fhir_capture(state, interval) if fhir else []
    if feeds:
        with clear_errors(sqlite3.Error, OSError, code=UNREADABLE_EXIT):
            reasons += print_feeds(state)
    conclude(reasons)


def _print_fhir_capture(state: Path, interval: float | None) -> list[str]:
    from ..capture import id_walk
    from ..capture.attention import concerns, seconds_since
    from ..capture.fhir_capture import Status

    with clear_errors(ValueError, OSError, TypeError, code=UNREADABLE_EXIT):
        status = Status.load(state)
    cycle = status.last_cycle
    out.print(f"FHIR server: {status.fhir} ({status.mode}), {status.cycles} cycles", highlight=False)
    if status.mode_reason:
        out.print(f"mode: {status.mode}, because {escape(status.mode_reason)}", highlight=False)
    if status.mode in id_walk.MODES:
        _print_id_walk(status.id_walk)
    _print_export(status.bulk_job, cycle.get("export"))
    out.print(f"high-water mark: {status.since}", highlight=False)
    if cycle:
        out.print(f"last cycle: {cycle.get('started')}, {'ok' if cycle.get('ok') else 'FAILED'}, "
                  f"{cycle.get('seen', 0)} seen, {cycle.get('puts', 0)} put, "
                  f"{cycle.get('deletes', 0)} deleted, segment {cycle.get('segment')}",
                  highlight=False)
        lag = seconds_since(cycle.get("started"))
        if lag is not None:
            out.print(f"lag: {lag:.0f} s since the last cycle started")
    for alert in status.alerts[-5:]:
        out.print(f"[bold red]alert:[/] {escape(alert)}", highlight=False)
    for error in status.errors[-5:]:
        out.print(f"[yellow]error:[/] {escape(error)}", highlight=False)
    return concerns(status, interval)


def _print_export(job: dict, last: dict | None) -> None:
    """Bulk mode: the export job being polled (a capture stopped mid-export resumes it),
    else what polling the last cycle's export took."""
    if job:
        out.print(f"export in progress: job kicked off at {job.get('kicked_off')}, "
                  f"{job.get('polls', 0)} polls, {job.get('waited', 0)} s waited, progress: "
                  f"{escape(str(job.get('progress') or 'none given'))}", highlight=False)
        if job.get("wait"):
            out.print(f"export: last wait {escape(str(job['wait']))}", highlight=False)
    elif last:
        out.print(f"last export: {last.get('polls')} polls, {last.get('waited')} s waited, "
                  f"last progress: {escape(str(last.get('progress') or 'none given'))}, "
                  f"transactionTime {last.get('transaction_time')}", highlight=False)


def _print_id_walk(walk: dict) -> None:
    """Deletions in search and bulk modes: when the id walk last ran and what it found."""
    if not walk:
        out.print("deletions: no id walk yet")
    elif not walk.get("ok"):
        out.print(f"deletions: the id walk FAILED at {walk.get('failed')}: "
                  f"{escape(str(walk.get('error')))}", highlight=False)
    elif walk.get("listed") is None:
        out.print(f"deletions: complete as of the full snapshot of {walk.get('started')}",
                  highlight=False)
    else:
        refused = f", refused as suspect: {escape(walk['suspect'])}" if walk.get("suspect") else ""
        out.print(f"deletions: id walk of {walk.get('started')}, {walk.get('listed')} ids "
                  f"listed ({walk.get('asked')}), {walk.get('deletes')} deleted{refused}",
                  highlight=False)
        if walk.get("asked_why"):
            out.print(f"id walk asks for {walk.get('asked')}: {escape(walk['asked_why'])}",
                      highlight=False)
