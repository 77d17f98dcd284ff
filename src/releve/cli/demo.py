"""`releve demo ...`: the demo hospital, its HIS, and the whole system around them.

  releve demo [--dir DIR] [--port P]         the whole system on loopback (system/run.py)
  releve demo --s3 [--dir DIR] [--port P]    the same, the vault in a bucket with Object
                                             Lock on a Ceph radosgw (system/object_store.py)
  releve demo attack [--dir DIR]             the ransomware, against that demo (system/attack.py)
  releve demo restore [--dir DIR]            the HIS restored from its backup (system/restore.py)
  releve demo status [--dir DIR]             every component's health (system/health.py)
  releve demo s3-env ROLE [--dir DIR]        --s3: export lines of an S3 user's keys
  releve demo tour [--dir DIR]               a guided tour of the vault (system/walkthrough.py)
  releve demo generate --out DIR ...         the demo hospital as FHIR ndjson (hospital/)
  releve demo his --port P ...               its information system, a FHIR R4 server (his/)

`releve.cli` mounts `demo_app` lazily, so that other commands (a capture cycle) do not
pay for importing the demo hospital.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from ..demo.system.place import Place
from .console import clear_errors, err, out

demo_app = typer.Typer(help="The demo: a French hospital, its HIS, and Relève around it.",
                       invoke_without_command=True)

DIR = typer.Option(None, "--dir", help="The demo's folder (default: ~/.local/state/releve/demo)")


@demo_app.callback()
def demo(ctx: typer.Context,
         directory: Path | None = DIR,
         port: int = typer.Option(8000, help="Port of the first station's web app (the "
                                             "second one listens on the next port)"),
         beds: int = typer.Option(60, min=10, max=5000, help="Hospital size, at the first start"),
         patients: int | None = typer.Option(None, min=1, hidden=True,
                                             help="Patients in the MPI, at the first start"),
         capture_interval: float = typer.Option(30.0, min=1.0, hidden=True,
                                                envvar="RELEVE_DEMO_CAPTURE_INTERVAL",
                                                help="Seconds between capture cycles"),
         sync_interval: float = typer.Option(10.0, min=1.0, hidden=True,
                                             envvar="RELEVE_DEMO_SYNC_INTERVAL",
                                             help="Seconds between station syncs"),
         activity: bool = typer.Option(True, hidden=True,
                                       help="The HIS changes as a hospital does (--no-activity: "
                                            "it changes only through its API)"),
         s3: bool = typer.Option(False, "--s3", help="The vault in a bucket with Object Lock "
                                 "on a Ceph radosgw that the demo runs in DIR/object-store "
                                 "(needs scripts/bootstrap's Ceph packages), at the first start"),
         s3_port: int | None = typer.Option(None, hidden=True, help="--s3, first start: "
                                            "radosgw's port, the Ceph monitor's the next one")
         ) -> None:
    """Without a sub-command: the whole system on this machine (HIS with activity,
    capture every 30 s, vault served append-only, two wards' stations and their web
    app), until Ctrl-C. The same --dir again resumes it. With --s3, the vault is a bucket
    with Object Lock on a real Ceph radosgw instead (docs/demo.md)."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = directory  # `releve demo --dir D attack` is `releve demo attack --dir D`
        return
    from ..demo.system.run import run

    with clear_errors():
        run(directory, port, beds, patients, capture_interval, sync_interval, out, activity,
            s3, s3_port)


@demo_app.command("attack")
def demo_attack(ctx: typer.Context, directory: Path | None = DIR) -> None:
    """Simulate the ransomware: encrypt the demo HIS's database in place and declare the
    downtime on the stations (docs/demo.md says exactly what it does)."""
    from ..demo.system.attack import attack

    with clear_errors():
        attack(Place(directory or ctx.obj), out)


@demo_app.command("restore")
def demo_restore(ctx: typer.Context, directory: Path | None = DIR) -> None:
    """The IT team restores the HIS from its last backup before the attack: the HIS is
    stopped, its database replaced by the backup, and started again; then it prints the
    way back's commands (reconcile, verify) with this demo's paths."""
    from ..demo.system.restore import restore

    with clear_errors():
        restore(Place(directory or ctx.obj), out)


@demo_app.command("status")
def demo_status(ctx: typer.Context, directory: Path | None = DIR) -> None:
    """Every component's health, one line each; exit status 1 if one is not ok."""
    from ..demo.system.health import OK, check

    with clear_errors():
        lines = check(Place(directory or ctx.obj))
    colours = {"ok": "green", "ALERT": "bold red", "DOWN": "bold red"}
    for line in lines:
        out.print(f"{line.component:<20} [{colours[line.state]}]{line.state:<5}[/] "
                  f"{escape(line.detail)}", highlight=False)
    if any(line.state != OK for line in lines):
        raise typer.Exit(1)


@demo_app.command("s3-env")
def demo_s3_env(ctx: typer.Context,
                role: str = typer.Argument("station", help="owner, capture or station"),
                directory: Path | None = DIR) -> None:
    """A demo on S3 (--s3): shell lines exporting an S3 user's keys and the store's
    endpoint, for `eval "$(releve demo s3-env station)"` before your own `releve vault
    verify s3://...`; the demo's components get theirs the same way, by environment."""
    import sys

    from ..demo.system.object_store import exports

    with clear_errors():
        text = exports(Place(directory or ctx.obj), role)
    sys.stdout.write(text)


@demo_app.command("tour")
def demo_tour(ctx: typer.Context,
              directory: Path | None = typer.Option(None, "--dir", help="Where to put the tour")) -> None:
    """A guided tour of the vault: keys, import, verification, tampering caught."""
    from ..demo.system.walkthrough import run

    with clear_errors():
        run(directory or ctx.obj, out)


@demo_app.command("generate")
def demo_generate(
    out_dir: Path = typer.Option(..., "--out", help="Folder for the FHIR ndjson files"),
    seed: int = typer.Option(1, help="Same seed and size, same bytes"),
    beds: int = typer.Option(400, min=10, max=5000, help="Hospital size in beds"),
    patients: int | None = typer.Option(None, min=1, help="Patients in the MPI "
                                                          "(default: 100 per bed)"),
    now: str | None = typer.Option(None, help="The hospital's 'now', ISO 8601 "
                                              "(default: now, Europe/Paris)"),
) -> None:
    """Generate the demo hospital as FHIR R4 ndjson, one file per resource type."""
    from ..demo.hospital.generate import generate_to

    with clear_errors():
        counts = generate_to(out_dir, seed=seed, beds=beds, patients=patients, now=now)
    out.print(f"{sum(counts.values())} resources written to {escape(str(out_dir))}: "
              + ", ".join(f"{n} {t}" for t, n in sorted(counts.items())), highlight=False)


@demo_app.command("his")
def demo_his(
    port: int = typer.Option(8800, help="TCP port"),
    host: str = typer.Option("127.0.0.1", help="Address to listen on"),
    seed: int = typer.Option(1, help="Seed of the generated hospital"),
    beds: int = typer.Option(400, min=10, max=5000, help="Size of the generated hospital"),
    patients: int | None = typer.Option(None, min=1, help="Patients in the MPI"),
    load: list[Path] | None = typer.Option(None, help="Serve these FHIR files (ndjson, "
                                                      "Bundles) instead of generating"),
    db: Path | None = typer.Option(None, help="SQLite file of the server (default: temporary)"),
    activity: bool = typer.Option(False, help="Keep changing like a real hospital"),
    bulk_fault: list[str] | None = typer.Option(
        None, help="A fault of $export (repeatable): error-file[:TYPE], transient[:N], "
                   "throttle[:S], unavailable[:S], slow:N (docs/demo.md)"),
    bulk_fault_exports: int | None = typer.Option(
        None, min=1, help="The faults hit the first N exports only (default: every export)"),
    smart_clients: Path | None = typer.Option(None, dir_okay=False,
                                              help="SMART Backend Services mode: the clients' "
                                                   "JWKS (NAME.jwks.json, or a map of client "
                                                   "ids to JWKS); every FHIR request then "
                                                   "needs a token"),
    token_seconds: float = typer.Option(300.0, min=1.0, help="SMART mode: how long a token lasts"),
    hide_deletions: bool = typer.Option(False, help="Leave deletions out of $export "
                                                    "manifests, as many servers do"),
    write_faults: Path | None = typer.Option(None, dir_okay=False,
                                             help="Write faults on demand: a JSON file read "
                                                  "at each write request, absent = none "
                                                  "(docs/demo.md)"),
) -> None:
    """A small FHIR R4 server standing in for the hospital's information system."""
    from ..demo.his import bulk_faults
    from ..demo.his.server import serve

    with clear_errors():
        faults = bulk_faults.parse(bulk_fault or [], bulk_fault_exports)
        serve(host=host, port=port, seed=seed, beds=beds, patients=patients, load=load or [],
              db=db, activity=activity, console=err, bulk_faults=faults,
              smart_clients=smart_clients, token_seconds=token_seconds,
              hide_deletions=hide_deletions, write_faults=write_faults)
