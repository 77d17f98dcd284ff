"""`releve verify` ("tout vérifier"): the restored HIS against the vault's last good
state, or its state as of a time (docs/way-back.md §3). Registered on `releve` by
__init__.py. Exit status 0 when nothing is missing nor changed without the journal
explaining it, 1 otherwise (or on an error), 2 for bad usage."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import orjson
import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from .console import clear_errors, err, fail, out
from .his import CA_CERT, CLIENT_ID, CLIENT_KEY, HIS_TOKEN, HIS_TOKEN_FILE, READ_SCOPE, TOKEN_URL, his_client


def verify(
    vault: str = typer.Option(..., "--vault", help="The vault: a folder, or s3://BUCKET/PREFIX"),
    identity: Path = typer.Option(..., "--identity", help="A station identity (age) that can read it"),
    fhir: str = typer.Option(..., "--fhir", help="Base URL of the restored HIS's FHIR R4 API"),
    as_of: str | None = typer.Option(None, "--as-of", help="Compare with the vault's state as of "
                                                           "this time (ISO 8601 with an offset): "
                                                           "only segments written at or before it"),
    report: Path | None = typer.Option(None, "--out", dir_okay=False,
                                       help="Write the report: R.json, R.html and R.pdf (0600)"),
    types: list[str] | None = typer.Option(None, "--type", help="Only this resource type (repeatable)"),
    station: Path | None = typer.Option(None, "--station", file_okay=False,
                                        help="A station's folder: only identifiers its journal "
                                             "holds explain a difference"),
    show: int = typer.Option(20, "--show", help="Field diffs kept for the first N changed "
                                                "resources of each type"),
    token_file: Path | None = HIS_TOKEN_FILE,
    token: str | None = HIS_TOKEN,
    client_id: str | None = CLIENT_ID,
    client_key: Path | None = CLIENT_KEY,
    token_url: str | None = TOKEN_URL,
    ca_cert: Path | None = CA_CERT,
) -> None:
    """Compare every resource of the restored HIS with the vault's last good state."""
    from ..wayback.verify.compare import Request, Verification

    if show < 0:
        fail("--show must be 0 or more", 2)
    moment = _as_of(as_of)
    if report is not None and report.suffix != ".json":
        fail("--out names the JSON report: R.json (R.html and R.pdf are written beside it)", 2)
    if report is not None and not report.parent.is_dir():
        fail(f"--out {report}: no such folder {report.parent}", 2)
    with clear_errors():
        client = his_client(fhir, token, client_id, client_key, token_url, READ_SCOPE, ca_cert)
        request = Request(vault, identity, moment, tuple(dict.fromkeys(types or ())), station, show)
        run = Verification(client, request)
        try:
            with _Bar() as bar:
                run.progress = bar
                outcome = run.run()
            _print(outcome, show)
            if report is not None:
                _write(outcome, show, report)
        finally:
            run.close()
            client.close()
    raise typer.Exit(0 if outcome.verdict == "ok" else 1)


def _as_of(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        fail(f"--as-of {text!r} is not an ISO 8601 date-time (e.g. 2026-01-14T06:00:00+01:00)", 2)
    if moment.tzinfo is None:
        fail(f"--as-of {text!r} has no UTC offset: say which instant it is", 2)
    return moment.astimezone(dt.UTC)


class _Bar:
    """The progress bar: resources read from the vault and paged from the HIS."""

    def __enter__(self) -> _Bar:
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                 TextColumn("{task.completed:,.0f} resources"), TimeElapsedColumn(),
                                 console=err, disable=not err.is_terminal)
        self.progress.start()
        self.tasks = {"vault": self.progress.add_task("vault (last good state)", total=None),
                      "his": self.progress.add_task("HIS (paged)", total=None),
                      "step": self.progress.add_task("differences", total=None, visible=False)}
        return self

    def __call__(self, what: str, count: int) -> None:
        if what == "step":
            self.progress.update(self.tasks["step"], visible=True)
        else:
            self.progress.update(self.tasks[what], completed=count)

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()


def _print(outcome, show: int) -> None:
    """Counts and verdicts per type, then the first differences: ids and field paths,
    never a value (a name, a birth date)."""
    table = Table("type", "vault", "HIS", "identical", "changed (journal)", "missing",
                  "extra (journal)", "verdict", title="releve verify")
    for rtype, result in sorted(outcome.types.items()):
        if not (result.vault or result.his or result.error):
            continue
        colour = "green" if result.verdict == "ok" else "red"
        table.add_row(rtype, str(result.vault), str(result.his), str(result.identical),
                      f"{result.changed} ({result.changed_explained})", str(result.missing),
                      f"{result.extra} ({result.extra_explained})", f"[{colour}]{result.verdict}[/]")
    out.print(table)
    for rtype, paths in outcome.additions.items():
        listed = ", ".join(f"{path} ({n})" for path, n in sorted(paths.items()))
        out.print(f"server's own additions, ignored: {rtype}: {listed}", highlight=False)
    for rtype, result in sorted(outcome.types.items()):
        if result.error:
            out.print(f"[red]{rtype}: not read[/]: {escape(result.error)}", highlight=False)
    limit = min(show, 5)
    for rtype in sorted(outcome.types):
        for status in ("missing", "changed", "extra"):
            for key, _, _, explained, _, _, diff in outcome.rows(rtype, status, limit):
                note = " (journal)" if explained else ""
                paths = ": " + ", ".join(c["path"] for c in orjson.loads(diff)) if diff else ""
                out.print(f"{status}{note} {escape(key)}{escape(paths)}", highlight=False)
    reference = outcome.reference
    verdict = "[green]OK[/]" if outcome.verdict == "ok" else "[bold red]DIFFERENCES[/]"
    out.print(f"{verdict}: the HIS against vault {reference.vault_id} as of {reference.time} "
              f"(segments up to {reference.segments[-1] if reference.segments else '-'})",
              highlight=False)


def _write(outcome, show: int, report: Path) -> None:
    from ..wayback.verify.pages import write_pages
    from ..wayback.verify.report import write_json

    write_json(outcome, report)
    write_pages(outcome, show, report.with_suffix(".html"), report.with_suffix(".pdf"))
    out.print(f"report: {escape(str(report))}, .html, .pdf", highlight=False)
