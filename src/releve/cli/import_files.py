"""`releve import PATHS...`: FHIR files into the vault, as one segment."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import typer
from rich.markup import escape

from ..capture.files import total_size
from ..capture.guard import Guard, removal_suspicion
from ..capture.inputs import find_inputs
from ..capture.urns import write_import
from .console import clear_errors, err, out, progress_bar
from .tokens import TOKEN_FILE, WRITER_TOKEN
from .writing import describe, open_writer

SUSPECT_EXIT = 3


def import_files(
    # readable=False: the import says itself, in one line, which input it cannot read
    paths: list[Path] = typer.Argument(..., readable=False,
                                       help="ndjson (.gz, .zst, .bz2, .xz), Bundle JSON files "
                                            "or folders"),
    vault: str = typer.Option(..., help="Vault folder or URL"),
    signing_key: Path = typer.Option(..., help="Signer's minisign secret key"),
    token_file: Path | None = TOKEN_FILE,
    token: str | None = WRITER_TOKEN,
    state: Path | None = typer.Option(None, help="Writer state folder (default: per vault, "
                                                     "under ~/.local/state/releve)"),
    full: bool = typer.Option(False, "--full", help="The input is the whole current state: "
                                                    "write a full segment"),
    max_resource_mb: float = typer.Option(16.0, min=0.001, help="Largest resource accepted, in MiB"),
    max_delete_share: float = typer.Option(0.2, min=0.0, max=1.0,
                                           help="A --full import leaving out more than this "
                                                "share of the resources held is marked suspect"),
) -> None:
    """Import FHIR files into the vault as one segment (unchanged resources are skipped).
    Every file is read whole, or the import is refused, naming it, and nothing is written:
    a compressed file must end where its last stream ends; a file or folder that cannot be
    read is an error. A symbolic link named here is followed; one found inside a folder is
    refused (name its target instead). Other files inside a folder (README.txt) are passed
    over and counted; archives (.zip, .tar...) are refused. document, message,
    collection, searchset, transaction, batch and history Bundles are unpacked into
    their entries. A `urn:uuid:` reference, in a Bundle or in ndjson, becomes
    the resource of the import with that fullUrl, or else that id; one that designates
    nothing is refused, naming its file and line. A --full import that leaves
    out more than --max-delete-share of the resources the writer holds is written marked
    suspect: stations do not adopt it, and the command exits with status 3."""
    with clear_errors():
        found = find_inputs(paths)
        sources = found.sources
        if found.skipped:
            out.print(f"passed over {_skipped(found.skipped)}", highlight=False)
        size = total_size(sources)
        writer = open_writer(vault, token, signing_key, state, int(max_resource_mb * 1024 * 1024))
        guard, verdict = Guard(max_delete_share), []

        def judge() -> str | None:  # once every record is applied to the pending state
            verdict.append(removal_suspicion(writer.state, guard))
            return verdict[-1]

        try:
            with progress_bar(size) as bar:
                task = bar.add_task("importing", total=size)
                written = write_import(writer, sources, f"import ({len(sources)} files)",
                                       kind="full" if full else "delta", size_hint=size,
                                       progress=lambda n: bar.advance(task, n),
                                       judge=judge if full else None)
        finally:
            writer.close()
    if written is None:
        out.print("nothing changed: no segment written")
        return
    describe(written)
    if verdict and verdict[-1]:
        err.print(f"[bold red]ALERT:[/] segment {written.seq} marked suspect: "
                  f"{escape(verdict[-1])}. Stations will not adopt it; if the extract "
                  "is right, import it again with a higher --max-delete-share.",
                  highlight=False)
        raise typer.Exit(SUSPECT_EXIT)
    if written.checkpoint:
        describe(written.checkpoint)
    if written.checkpoint_error:
        err.print(f"[yellow]warning:[/] the periodic checkpoint was not written: "
                  f"{escape(written.checkpoint_error)}", highlight=False)


def _skipped(skipped: Counter[str]) -> str:
    """'3 files that are not FHIR (.txt: 2, .csv: 1)': names of kinds, never of patients."""
    total = sum(skipped.values())
    kinds = ", ".join(f"{suffix}: {count}" for suffix, count in sorted(skipped.items()))
    return f"{total} file{'s' if total > 1 else ''} that {'are' if total > 1 else 'is'} not FHIR ({kinds})"
