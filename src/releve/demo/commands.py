"""`releve demo ...`: the demo hospital, its HIS, and the whole system around them.

  releve demo [--dir DIR] [--port P]         the whole system on loopback (system.py)
  releve demo attack [--dir DIR]             the ransomware, against that demo (attack.py)
  releve demo status [--dir DIR]             every component's health (health.py)
  releve demo tour [--dir DIR]               a guided tour of the vault (walkthrough.py)
  releve demo generate --out DIR ...         the demo hospital as FHIR ndjson
  releve demo his --port P ...               its information system, a FHIR R4 server

`releve.cli` mounts `demo_app` lazily, so that other commands (a capture cycle) do not
pay for importing the demo hospital.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from ..vault.format import FormatError
from ..vault.minisign import MinisignError
from ..vault.store import VaultError
from ..vault.verify import BrokenSegment
from .his_fhir import HisError
from .hospital import DemoInputError

demo_app = typer.Typer(help="The demo: a French hospital, its HIS, and Relève around it.",
                       invoke_without_command=True)

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

KNOWN_ERRORS = (HisError, DemoInputError, VaultError, FormatError, MinisignError, BrokenSegment)


@contextlib.contextmanager
def clear_errors() -> Iterator[None]:
    """Turn the errors an operator can act on into one red line and exit status 1."""
    try:
        yield
    except KNOWN_ERRORS as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from None


@demo_app.callback()
def demo(ctx: typer.Context,
         directory: Optional[Path] = typer.Option(None, "--dir", help="Where to put the demo")) -> None:
    """Without a sub-command: a walkthrough of the vault (keys, import, verification,
    tampering caught)."""
    if ctx.invoked_subcommand is not None:
        return
    from .walkthrough import run

    with clear_errors():
        run(directory, out)


@demo_app.command("generate")
def demo_generate(
    out_dir: Path = typer.Option(..., "--out", help="Folder for the FHIR ndjson files"),
    seed: int = typer.Option(1, help="Same seed and size, same bytes"),
    beds: int = typer.Option(400, min=10, max=5000, help="Hospital size in beds"),
    patients: Optional[int] = typer.Option(None, min=1, help="Patients in the MPI "
                                                             "(default: 100 per bed)"),
    now: Optional[str] = typer.Option(None, help="The hospital's 'now', ISO 8601 "
                                                 "(default: today 06:00 Europe/Paris)"),
) -> None:
    """Generate the demo hospital as FHIR R4 ndjson, one file per resource type."""
    from .hospital import generate_to

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
    patients: Optional[int] = typer.Option(None, min=1, help="Patients in the MPI"),
    load: Optional[list[Path]] = typer.Option(None, help="Serve these FHIR files (ndjson, "
                                                         "Bundles) instead of generating"),
    db: Optional[Path] = typer.Option(None, help="SQLite file of the server (default: temporary)"),
    activity: bool = typer.Option(False, help="Keep changing like a real hospital"),
) -> None:
    """A small FHIR R4 server standing in for the hospital's information system."""
    from .his import serve

    with clear_errors():
        serve(host=host, port=port, seed=seed, beds=beds, patients=patients, load=load or [],
              db=db, activity=activity, console=err)
