"""`releve <component> <verb>`: one command per operation, each with a clear message."""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn
from typer.core import TyperGroup

from .capture.files import InputError, discover, import_tasks, total_size
from .capture.state import StateError
from .capture.writer import ImportError_, Writer, Written
from .vault import keys as vault_keys
from .vault.format import FormatError
from .vault.chain import BrokenSegment
from .vault.minisign import MinisignError
from .vault.segment import DecryptError, open_plaintext
from .vault.source import open_source, open_target
from .vault.state import current_lines
from .vault.store import LocalVault, VaultError
from .vault.verify import verify as verify_vault


class LazyGroup(TyperGroup):
    """Sub-apps named in LAZY are imported only when their command runs (or help lists
    them): a capture does not pay for the demo hospital's or the station's modules."""

    LAZY = {"demo": ("releve.demo.commands", "demo_app"),
            "station": ("releve.station.commands", "station_app")}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> Optional[click.Command]:
        if cmd_name in self.LAZY and cmd_name not in self.commands:
            module, attribute = self.LAZY[cmd_name]
            sub_app = getattr(importlib.import_module(module), attribute)
            command = typer.main.get_group(sub_app)  # a group, without completion options
            command.name = cmd_name
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


app = typer.Typer(help="Relève: the hospital's care goes on when its information system is down.",
                  no_args_is_help=True, add_completion=False, cls=LazyGroup)
keys_app = typer.Typer(help="Create station identities and capture signing keys.", no_args_is_help=True)
vault_app = typer.Typer(help="Create, check, read and serve a vault.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(vault_app, name="vault")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

KNOWN_ERRORS = (VaultError, InputError, ImportError_, StateError, vault_keys.KeyError_,
                DecryptError, BrokenSegment, FormatError, MinisignError)


@contextlib.contextmanager
def clear_errors(*more: type[Exception]) -> Iterator[None]:
    """Turn the errors an operator can act on (KNOWN_ERRORS, and `more`) into one red
    line and exit status 1."""
    try:
        yield
    except (*KNOWN_ERRORS, *more) as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from None


def progress_bar(total: int) -> Progress:
    return Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                    TransferSpeedColumn(), TimeRemainingColumn(), console=err,
                    disable=not err.is_terminal or total < 8 * 1024 * 1024)


# --- keys ---------------------------------------------------------------------------------


@keys_app.command("station")
def keys_station(name: str, out_dir: Path = typer.Option(..., "--out", help="Folder for NAME.key")) -> None:
    """Create a station's age identity (0600); print its public recipient."""
    with clear_errors():
        path, recipient = vault_keys.create_station_identity(out_dir, name)
    err.print(f"identity written to {escape(str(path))} (mode 0600)")
    print(recipient)


@keys_app.command("signer")
def keys_signer(name: str, out_dir: Path = typer.Option(..., "--out", help="Folder for the key pair")) -> None:
    """Create a capture's signing key (0600) and public key, in minisign's formats."""
    with clear_errors():
        key_path, pub_path, public = vault_keys.create_signer(out_dir, name)
    err.print(f"signing key written to {escape(str(key_path))} (mode 0600), "
              f"public key to {escape(str(pub_path))}")
    print(public.to_base64())


# --- vault ---------------------------------------------------------------------------------


@vault_app.command("init")
def vault_init(
    vault: Path,
    recipient: list[str] = typer.Option(..., "--recipient", help="Station age recipient (age1...)"),
    signer: list[str] = typer.Option(..., "--signer", help="Signer public key file (minisign .pub)"),
    checkpoint_interval: int = typer.Option(50, help="Write a full segment every N segments"),
) -> None:
    """Create an empty vault."""
    with clear_errors():
        created = LocalVault.init(vault, recipient, signer, checkpoint_interval)
    out.print(f"vault {created.config.vault_id} created in {escape(str(vault))}: "
              f"{len(recipient)} recipient(s), {len(signer)} signer(s)", highlight=False)


@vault_app.command("verify")
def vault_verify(vault: Path, identity: Optional[Path] = typer.Option(
        None, help="Also decrypt every segment and check its plaintext")) -> None:
    """Check signatures, numbering and hash chain (and, with --identity, the plaintext)."""
    with clear_errors():
        opened = LocalVault(vault)
        identities = vault_keys.load_identities(identity) if identity else None
        total = sum(p.stat().st_size for p in opened.segments_dir.glob("*.age"))
        with progress_bar(total) as bar:
            task = bar.add_task("verifying", total=total)
            try:
                report = verify_vault(opened, identities, lambda n: bar.advance(task, n))
            except BrokenSegment as exc:
                err.print(f"[bold red]BROKEN[/] segment {exc.seq}: {escape(exc.reason)}",
                          highlight=False)
                raise typer.Exit(1) from None
    for warning in report.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    checked = f", {report.records} records decrypted and checked" if identities else ""
    suspect = f", suspect: {', '.join(map(str, report.suspect))}" if report.suspect else ""
    out.print(f"[green]OK[/] vault {opened.config.vault_id}: {report.segments} segments "
              f"({report.full} full), {report.bytes} bytes, chain sound{checked}{suspect}; "
              f"head {report.head[:16]}", highlight=False)


@vault_app.command("cat")
def vault_cat(
    vault: Path,
    identity: Path = typer.Option(..., help="Station identity (age)"),
    segment: Optional[int] = typer.Option(None, help="Print this segment's whole plaintext"),
) -> None:
    """Plaintext to stdout: one segment as stored, or else the current state as FHIR ndjson
    (every segment checked, the chain followed; memory stays small whatever the vault's
    size)."""
    with clear_errors():
        opened = LocalVault(vault)
        identities = vault_keys.load_identities(identity)
        stdout = sys.stdout.buffer
        if segment is not None:
            opened.info(segment)  # exists, and signed by one of the vault's signers
            with open_plaintext(opened.segment_path(segment), identities) as plaintext:
                stdout.writelines(plaintext)
            return
        stdout.writelines(current_lines(opened, identities))


@vault_app.command("serve")
def vault_serve(
    vault: Path,
    port: int = typer.Option(8700, help="TCP port"),
    host: str = typer.Option("127.0.0.1", help="Address to listen on"),
    writer_token: str = typer.Option(..., envvar="RELEVE_WRITER_TOKEN", help="Token allowed to append"),
    reader_token: str = typer.Option(..., envvar="RELEVE_READER_TOKEN", help="Token allowed to read"),
) -> None:
    """Serve the vault over HTTP: read with the reader token, append-only with the writer's."""
    import uvicorn

    from .vault.server import create_app

    with clear_errors():
        application = create_app(LocalVault(vault), writer_token, reader_token)
    err.print(f"vault served on http://{host}:{port}/v1 (append-only)")
    uvicorn.run(application, host=host, port=port, log_level="warning", access_log=False)


@vault_app.command("checkpoint")
def vault_checkpoint(
    vault: str = typer.Option(..., help="Vault folder or URL"),
    signing_key: Path = typer.Option(..., help="Signer's minisign secret key"),
    token: Optional[str] = typer.Option(None, envvar="RELEVE_TOKEN", help="Writer token (URL vaults)"),
    state: Optional[Path] = typer.Option(None, help="Writer state folder"),
) -> None:
    """Append a full segment holding the current state, so stations start from it."""
    with clear_errors():
        writer = open_writer(vault, token, signing_key, state)
        try:
            written = writer.checkpoint()
        finally:
            writer.close()
    out.print(f"checkpoint: segment {written.seq}, {written.puts} resources, {written.size} bytes")


@vault_app.command("rebuild-state")
def vault_rebuild_state(
    vault: str = typer.Option(..., help="Vault folder or URL"),
    identity: Path = typer.Option(..., help="A station identity (age) that can read the vault"),
    token: Optional[str] = typer.Option(None, envvar="RELEVE_TOKEN", help="Reader token (URL vaults)"),
    state: Optional[Path] = typer.Option(None, help="Writer state folder to rebuild"),
) -> None:
    """Rebuild a writer's lost or stale state from the vault (reads from the last full segment)."""
    from .capture.writer import rebuild_state

    with clear_errors():
        source = open_source(vault, token)
        identities = vault_keys.load_identities(identity)
        state_dir = state or default_state_dir(source.config.vault_id)
        count = rebuild_state(source, identities, state_dir)
    out.print(f"writer state in {escape(str(state_dir))} rebuilt: {count} resources")


# --- import ---------------------------------------------------------------------------------


@app.command("import")
def import_(
    paths: list[Path] = typer.Argument(..., help="ndjson (.gz, .zst), Bundle JSON files or folders"),
    vault: str = typer.Option(..., help="Vault folder or URL"),
    signing_key: Path = typer.Option(..., help="Signer's minisign secret key"),
    token: Optional[str] = typer.Option(None, envvar="RELEVE_TOKEN", help="Writer token (URL vaults)"),
    state: Optional[Path] = typer.Option(None, help="Writer state folder (default: per vault, "
                                                     "under ~/.local/state/releve)"),
    full: bool = typer.Option(False, "--full", help="The input is the whole current state: "
                                                    "write a full segment"),
    max_resource_mb: float = typer.Option(16.0, min=0.001, help="Largest resource accepted, in MiB"),
) -> None:
    """Import FHIR files into the vault as one segment (unchanged resources are skipped)."""
    with clear_errors():
        sources = discover(paths)
        size = total_size(sources)
        writer = open_writer(vault, token, signing_key, state, int(max_resource_mb * 1024 * 1024))
        try:
            with progress_bar(size) as bar:
                task = bar.add_task("importing", total=size)
                written = writer.write(lambda: import_tasks(sources), f"import ({len(sources)} files)",
                                       kind="full" if full else "delta", size_hint=size,
                                       progress=lambda n: bar.advance(task, n))
        finally:
            writer.close()
    if written is None:
        out.print("nothing changed: no segment written")
        return
    describe(written)
    if written.checkpoint:
        describe(written.checkpoint)
    if written.checkpoint_error:
        err.print(f"[yellow]warning:[/] the periodic checkpoint was not written: "
                  f"{escape(written.checkpoint_error)}", highlight=False)


def describe(written: Written) -> None:
    out.print(f"segment {written.seq} ({written.kind}): {written.puts} put, {written.deletes} "
              f"deleted, {written.size} bytes, sha256 {written.sha256[:16]}", highlight=False)


def open_writer(vault: str, token: str | None, signing_key: Path, state: Path | None,
                max_resource: int | None = None) -> Writer:
    target = open_target(vault, token)
    signer = vault_keys.load_signer(signing_key)
    if not target.config.signer(signer.key_id):
        raise VaultError("this signing key is not one of the vault's signers")
    state_dir = state or default_state_dir(target.config.vault_id)
    kwargs = {"max_resource": max_resource} if max_resource else {}
    return Writer(target, signer, state_dir, **kwargs)


def default_state_dir(vault_id: str) -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "releve" / "writer" / vault_id


capture_app = typer.Typer(help="Capture from the hospital's FHIR server into the vault.",
                          invoke_without_command=True)
app.add_typer(capture_app, name="capture")


@capture_app.callback()
def capture(
    ctx: typer.Context,
    vault: Optional[str] = typer.Option(None, help="Vault folder or URL"),
    token: Optional[str] = typer.Option(None, envvar="RELEVE_TOKEN", help="Writer token (URL vaults)"),
    fhir: Optional[str] = typer.Option(None, help="Base URL of the HIS's FHIR R4 API"),
    signing_key: Optional[Path] = typer.Option(None, help="Signer's minisign secret key"),
    state: Optional[Path] = typer.Option(None, help="Capture state folder (high-water mark, "
                                                     "writer state; default per vault)"),
    once: bool = typer.Option(False, "--once", help="One cycle, then exit"),
    interval: float = typer.Option(30.0, min=1.0, help="Seconds between cycles"),
    mode: str = typer.Option("history", help="history (sees deletes), search, or bulk ($export)"),
    fhir_token: Optional[str] = typer.Option(None, envvar="RELEVE_FHIR_TOKEN",
                                             help="Bearer token for the FHIR server"),
    fhir_user: Optional[str] = typer.Option(None, help="Basic-auth user for the FHIR server"),
    fhir_password: Optional[str] = typer.Option(None, envvar="RELEVE_FHIR_PASSWORD",
                                                help="Basic-auth password"),
    ca_cert: Optional[Path] = typer.Option(None, help="CA certificate of the FHIR server"),
    retries: int = typer.Option(8, min=1, help="Attempts per request before a cycle fails"),
    max_delete_share: float = typer.Option(0.2, min=0.0, max=1.0,
                                           help="A cycle deleting more than this share of "
                                                "the resources is marked suspect"),
) -> None:
    """Copy what changed on the FHIR server into the vault, one segment per cycle."""
    if ctx.invoked_subcommand is not None:
        return
    from .capture.fhir_capture import CaptureError, Guard, Status, run_cycle
    from .fhir.client import Auth, FhirClient, FhirError, Retry

    missing = [name for name, value in (("--vault", vault), ("--fhir", fhir),
                                        ("--signing-key", signing_key)) if not value]
    if missing:
        err.print(f"[bold red]error:[/] missing {', '.join(missing)}", highlight=False)
        raise typer.Exit(2)
    if mode not in ("history", "search", "bulk"):
        err.print("[bold red]error:[/] --mode must be history, search or bulk", highlight=False)
        raise typer.Exit(2)
    with clear_errors():
        try:
            client = FhirClient(fhir, Auth(fhir_token, fhir_user, fhir_password), ca_cert,
                                retry=Retry(attempts=retries))
        except FhirError as exc:
            raise VaultError(str(exc)) from exc
        writer = open_writer(vault, token, signing_key, state)
        state_dir = writer.state.dir
        status = Status.load(state_dir)
        if status.fhir and status.fhir != client.base:
            raise VaultError(f"{state_dir} holds the capture of {status.fhir}; give each FHIR "
                             "server its own --state")
        status.fhir, status.mode = client.base, mode
        try:
            while True:
                try:
                    written = run_cycle(client, writer, status, mode, Guard(max_delete_share))
                    report_cycle(status, written)
                except CaptureError as exc:
                    err.print(f"[bold red]capture failed:[/] {escape(str(exc))}", highlight=False)
                    if status.last_cycle.get("suspect"):
                        err.print(f"[bold red]ALERT:[/] segment {status.last_cycle.get('segment')} "
                                  f"marked suspect: {escape(status.last_cycle['suspect'])}",
                                  highlight=False)
                    if once:
                        raise typer.Exit(1) from None
                finally:
                    status.save(state_dir)
                if once:
                    break
                time.sleep(interval)
        except KeyboardInterrupt:
            err.print("capture stopped")
        finally:
            writer.close()
            client.close()


def report_cycle(status, written: Optional[Written]) -> None:
    cycle = status.last_cycle
    if cycle.get("suspect"):
        err.print(f"[bold red]ALERT:[/] segment {cycle.get('segment')} marked suspect: "
                  f"{escape(cycle['suspect'])}", highlight=False)
    if written is None:
        out.print(f"cycle {status.cycles}: {cycle['seen']} versions seen, nothing changed")
    else:
        describe(written)


@capture_app.command("status")
def capture_status(state: Path = typer.Option(..., help="Capture state folder")) -> None:
    """The last cycle, lag, counts, errors and alerts of a capture."""
    from .capture.fhir_capture import Status

    if not (state / "capture.json").exists():
        err.print(f"[bold red]error:[/] no capture has run with state {escape(str(state))}")
        raise typer.Exit(1)
    status = Status.load(state)
    cycle = status.last_cycle
    out.print(f"FHIR server: {status.fhir} ({status.mode}), {status.cycles} cycles", highlight=False)
    out.print(f"high-water mark: {status.since}", highlight=False)
    if cycle:
        out.print(f"last cycle: {cycle.get('started')}, {'ok' if cycle.get('ok') else 'FAILED'}, "
                  f"{cycle.get('seen', 0)} seen, {cycle.get('puts', 0)} put, "
                  f"{cycle.get('deletes', 0)} deleted, segment {cycle.get('segment')}",
                  highlight=False)
        lag = _lag(cycle.get("started"))
        if lag is not None:
            out.print(f"lag: {lag:.0f} s since the last cycle started")
    for alert in status.alerts[-5:]:
        out.print(f"[bold red]alert:[/] {escape(alert)}", highlight=False)
    for error in status.errors[-5:]:
        out.print(f"[yellow]error:[/] {escape(error)}", highlight=False)


def _lag(started: Optional[str]) -> Optional[float]:
    import datetime as dt

    if not started:
        return None
    return (dt.datetime.now(dt.timezone.utc) - dt.datetime.fromisoformat(started)).total_seconds()


if __name__ == "__main__":
    app()
