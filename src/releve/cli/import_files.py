"""`releve import PATHS...`: FHIR files into the vault, as one segment."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from ..capture.files import discover, import_tasks, total_size
from .console import clear_errors, err, out, progress_bar
from .writing import describe, open_writer


def import_files(
    paths: list[Path] = typer.Argument(..., help="ndjson (.gz, .zst), Bundle JSON files or folders"),
    vault: str = typer.Option(..., help="Vault folder or URL"),
    signing_key: Path = typer.Option(..., help="Signer's minisign secret key"),
    token: str | None = typer.Option(None, envvar="RELEVE_TOKEN", help="Writer token (URL vaults)"),
    state: Path | None = typer.Option(None, help="Writer state folder (default: per vault, "
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
