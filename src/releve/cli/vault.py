"""`releve vault ...`: create, check, read, serve and checkpoint a vault."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import typer
from rich.markup import escape

from .. import logs
from ..vault import keys as vault_keys
from ..vault.chain import BrokenSegment, Walked, follow
from ..vault.errors import VaultError
from ..vault.plaintext import segment_records
from ..vault.s3_client import is_s3
from ..vault.source import open_source, open_walked
from ..vault.state import current_lines
from ..vault.store import LocalVault, UploadLimits
from ..vault.verify import verify as verify_vault
from .console import clear_errors, err, out, progress_bar
from .limits import BODY_TIMEOUT, HEAD_TIMEOUT, MAX_CONNECTIONS
from .tls import TLS_CERT, TLS_KEY, check_tls
from .tokens import (
    READER_TOKEN,
    SERVE_READER,
    SERVE_READER_FILE,
    SERVE_WRITER,
    SERVE_WRITER_FILE,
    TOKEN_FILE,
    WRITER_TOKEN,
)
from .writing import default_state_dir, open_writer

vault_app = typer.Typer(help="Create, check, read and serve a vault.", no_args_is_help=True)


ENDPOINT = typer.Option(None, "--endpoint", help="S3 endpoint URL, over AWS_ENDPOINT_URL "
                        "(s3:// vaults)")
REGION = typer.Option(None, "--region", help="S3 region, over AWS_REGION (s3:// vaults)")


@vault_app.command("init")
def vault_init(
    vault: str = typer.Argument(..., help="New vault folder, or s3://BUCKET/PREFIX"),
    recipient: list[str] = typer.Option(..., "--recipient", help="Station age recipient (age1...)"),
    signer: list[str] = typer.Option(..., "--signer", help="Signer public key file (minisign .pub)"),
    checkpoint_interval: int = typer.Option(50, help="Write a full segment every N segments"),
    retention_days: int | None = typer.Option(
        None, help="s3:// only: days every object is locked (COMPLIANCE), the bucket's default"),
    endpoint: str | None = ENDPOINT,
    region: str | None = REGION,
) -> None:
    """Create an empty vault: in a new folder, or under a prefix of a bucket with Object Lock."""
    with clear_errors():
        if is_s3(vault):
            if retention_days is None:
                raise VaultError("a vault on S3 needs --retention-days (how long the store "
                                 "refuses any deletion of what Relève puts)")
            from ..vault.s3 import S3Vault

            config = S3Vault.init(vault, recipient, signer, checkpoint_interval, retention_days,
                                  endpoint, region).config
        else:
            if retention_days is not None:
                raise VaultError("--retention-days is for a vault on S3 (s3://BUCKET/PREFIX)")
            config = LocalVault.init(Path(vault), recipient, signer, checkpoint_interval).config
    lock = f", objects locked {retention_days} days (COMPLIANCE)" if retention_days else ""
    out.print(f"vault {config.vault_id} created in {escape(vault)}: "
              f"{len(recipient)} recipient(s), {len(signer)} signer(s){lock}", highlight=False)


def stored_bytes(vault: Walked) -> int:
    """The segments' size, for a progress bar."""
    if isinstance(vault, LocalVault):
        return sum(p.stat().st_size for p in vault.segments_dir.glob("*.age"))
    return int(getattr(vault, "stored_bytes", lambda: 0)())


@vault_app.command("verify")
def vault_verify(
    vault: str = typer.Argument(..., help="Vault folder, or s3://BUCKET/PREFIX"),
    identity: Path | None = typer.Option(None, help="Also decrypt every segment and check its plaintext"),
    endpoint: str | None = ENDPOINT,
    region: str | None = REGION,
) -> None:
    """Check signatures, numbering and hash chain (and, with --identity, the plaintext); on
    S3, also report every extra version and delete marker as an incident (exit 1)."""
    with clear_errors():
        opened = open_walked(vault, endpoint, region)
        identities = vault_keys.load_identities(identity) if identity else None
        total = stored_bytes(opened)
        with progress_bar(total) as bar:
            task = bar.add_task("verifying", total=total)
            try:
                report = verify_vault(opened, identities, lambda n: bar.advance(task, n))
            except BrokenSegment as exc:
                err.print(f"[bold red]BROKEN[/] segment {exc.seq}: {escape(exc.reason)}",
                          highlight=False)
                raise typer.Exit(1) from None
            finally:
                getattr(opened, "close", lambda: None)()
    for warning in report.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    for incident in report.incidents:
        err.print(f"[bold red]INCIDENT[/] {escape(incident)}", highlight=False)
    checked = f", {report.records} records decrypted and checked" if identities else ""
    suspect = f", suspect: {', '.join(map(str, report.suspect))}" if report.suspect else ""
    out.print(f"[green]OK[/] vault {opened.config.vault_id}: {report.segments} segments "
              f"({report.full} full), {report.bytes} bytes, chain sound{checked}{suspect}; "
              f"head {report.head[:16]}", highlight=False)
    if report.incidents:
        err.print(f"[bold red]{len(report.incidents)} incident(s)[/]: the chain read is sound, "
                  "but someone tried to rewrite or delete it (docs/s3.md)", highlight=False)
        raise typer.Exit(1)


@vault_app.command("cat")
def vault_cat(
    vault: str = typer.Argument(..., help="Vault folder, or s3://BUCKET/PREFIX"),
    identity: Path = typer.Option(..., help="Station identity (age)"),
    segment: int | None = typer.Option(None, help="Print this segment's whole plaintext"),
    endpoint: str | None = ENDPOINT,
    region: str | None = REGION,
) -> None:
    """Plaintext to stdout: one segment as stored, or else the current state as FHIR ndjson.
    Every segment is checked without a key up to the one printed, the chain followed, and
    every segment decrypted is checked as `verify --identity` checks it (one printed whole
    is checked as it is printed: a fault ends it with an error and exit status 1, as
    `zstd -d` ends). Memory stays small whatever the vault's size."""
    with clear_errors():
        opened = open_walked(vault, endpoint, region)
        identities = vault_keys.load_identities(identity)
        stdout = sys.stdout.buffer
        try:
            if segment is not None:
                info = next((i for i in follow(opened) if i.seq == segment), None)
                if info is None:
                    raise VaultError(f"the vault has no segment {segment}")
                for _ in segment_records(opened.segment_path(segment), info.descriptor,
                                         identities, tee=stdout):
                    pass
                return
            stdout.writelines(current_lines(opened, identities))
        finally:
            getattr(opened, "close", lambda: None)()


@vault_app.command("serve")
def vault_serve(
    vault: Path,
    port: int = typer.Option(8700, help="TCP port"),
    host: str = typer.Option("127.0.0.1", help="Address to listen on"),
    writer_token_file: Path | None = SERVE_WRITER_FILE,
    writer_token: str = SERVE_WRITER,
    reader_token_file: Path | None = SERVE_READER_FILE,
    reader_token: str = SERVE_READER,
    tls_cert: Path | None = TLS_CERT,
    tls_key: Path | None = TLS_KEY,
    head_timeout: float = HEAD_TIMEOUT,
    body_timeout: float = BODY_TIMEOUT,
    max_connections: int = MAX_CONNECTIONS,
    max_uploads: int = typer.Option(UploadLimits.most, min=1,
                                    help="Segment uploads received at once; one more gets 503"),
    upload_idle: float = typer.Option(UploadLimits.idle, min=1.0,
                                      help="Seconds an upload may stall before it is dropped"),
) -> None:
    """Serve the vault over HTTP(S): read with the reader token, append-only with the writer's."""
    import uvicorn

    from ..serving import Limits, server_config
    from ..vault.server import create_app

    check_tls(tls_cert, tls_key)
    with clear_errors():
        application = create_app(LocalVault(vault), writer_token, reader_token,
                                 UploadLimits(max_uploads, upload_idle))
    logs.configure()
    logging.getLogger("releve.vault.server").info(
        "vault served on %s://%s:%s/v1 (append-only)", "https" if tls_cert else "http", host, port)
    limits = Limits(head_timeout, body_timeout, max_connections)
    uvicorn.Server(server_config(application, host, port, limits, **logs.uvicorn_options(),
                                 ssl_certfile=str(tls_cert) if tls_cert else None,
                                 ssl_keyfile=str(tls_key) if tls_key else None)).run()


@vault_app.command("policy")
def vault_policy(
    vault: str = typer.Argument(..., help="s3://BUCKET/PREFIX"),
    writer: list[str] = typer.Option([], "--writer", help="The capture's S3 user (or ARN)"),
    reader: list[str] = typer.Option([], "--reader", help="The stations' S3 user (or ARN)"),
    apply: bool = typer.Option(False, "--apply", help="Put it as the bucket's policy (the "
                               "owner's credentials; replaces the bucket's policy)"),
    endpoint: str | None = ENDPOINT,
    region: str | None = REGION,
) -> None:
    """The least-privilege bucket policy of a vault on S3 (docs/s3.md), printed as JSON or
    applied. Apply it after `vault init`: it forbids everyone, the owner included, to
    change the bucket's default retention."""
    import json

    from ..vault.s3_client import answers, parse_url, s3_client
    from ..vault.s3_policy import bucket_policy

    with clear_errors():
        bucket, prefix = parse_url(vault)
        if not writer and not reader:
            raise VaultError("name the capture's user (--writer) and the stations' (--reader)")
        text = json.dumps(bucket_policy(bucket, prefix, writer, reader), indent=2)
        if not apply:
            sys.stdout.write(text + "\n")
            return
        with answers(vault, "applying the bucket policy"):
            s3_client(endpoint, region).put_bucket_policy(Bucket=bucket, Policy=text)
    out.print(f"bucket policy of {escape(bucket)} applied: {len(writer)} writer(s), "
              f"{len(reader)} reader(s); deletion refused to all", highlight=False)


@vault_app.command("retain")
def vault_retain(
    vault: str = typer.Argument(..., help="s3://BUCKET/PREFIX"),
    days: int = typer.Option(..., help="Days from now the objects stay locked (COMPLIANCE)"),
    endpoint: str | None = ENDPOINT,
    region: str | None = REGION,
) -> None:
    """Keep what a new station needs locked longer: the config and the chain from the
    latest checkpoint on (run it after each checkpoint, or daily)."""
    with clear_errors():
        if not is_s3(vault):
            raise VaultError("retention is kept by an S3 store: give s3://BUCKET/PREFIX")
        from ..vault.s3 import S3Vault
        from ..vault.s3_locks import retain

        extended, first, until = retain(S3Vault(vault, endpoint, region), days)
    out.print(f"{extended} object(s) now locked until {until:%Y-%m-%d %H:%M} UTC: config.json and "
              f"segments {first} on (the chain from the latest checkpoint)", highlight=False)


@vault_app.command("checkpoint")
def vault_checkpoint(
    vault: str = typer.Option(..., help="Vault folder or URL"),
    signing_key: Path = typer.Option(..., help="Signer's minisign secret key"),
    token_file: Path | None = TOKEN_FILE,
    token: str | None = WRITER_TOKEN,
    state: Path | None = typer.Option(None, help="Writer state folder"),
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
    token_file: Path | None = TOKEN_FILE,
    token: str | None = READER_TOKEN,
    state: Path | None = typer.Option(None, help="Writer state folder to rebuild"),
) -> None:
    """Rebuild a writer's lost or stale state from the vault (reads from the last full segment)."""
    from ..capture.rebuild import rebuild_state

    with clear_errors():
        source = open_source(vault, token)
        identities = vault_keys.load_identities(identity)
        state_dir = state or default_state_dir(source.config.vault_id)
        count = rebuild_state(source, identities, state_dir)
    out.print(f"writer state in {escape(str(state_dir))} rebuilt: {count} resources")
