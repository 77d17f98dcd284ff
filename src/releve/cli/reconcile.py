"""`releve journal reconcile`: file the station's merged journal into the restored HIS
(docs/way-back.md §1). Registered on `releve journal` by journal.py.

Exit status: 0 when every entry is done (a dry run: done or to be sent), 1 when some
entry waits, was refused, failed or is in conflict, 2 for bad usage.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from ..errors import ReleveError
from ..files import write_atomic
from .console import clear_errors, err, fail, out
from .his import CA_CERT, CLIENT_ID, CLIENT_KEY, HIS_TOKEN, HIS_TOKEN_FILE, TOKEN_URL, WRITE_SCOPE, his_client

STATION = typer.Option(..., "--station", help="The station's folder")
SHOWN = 200  # entries not done listed on the terminal (the --report file has them all)


def reconcile(station: Path = STATION,
              fhir: str = typer.Option(..., "--fhir", help="Base URL of the restored HIS"),
              token_file: Path | None = HIS_TOKEN_FILE,
              token: str | None = HIS_TOKEN,
              client_id: str | None = CLIENT_ID,
              client_key: Path | None = CLIENT_KEY,
              token_url: str | None = TOKEN_URL,
              ca_cert: Path | None = CA_CERT,
              dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; send no "
                                                                    "write, record nothing"),
              only: str | None = typer.Option(None, "--only", help="Only the entries about "
                                              "this patient (Patient/ID or a downtime IPP)"),
              report: Path | None = typer.Option(None, "--report", dir_okay=False,
                                                 help="Write the report as JSON (0600)")) -> None:
    """File every entry of the station's journals into the restored HIS, each once."""
    from ..wayback.reconcile import UnknownPatient
    from ..wayback.reconcile import reconcile as run
    from ..wayback.reconcile_report import complete

    if not (station / "journal.key").exists():
        fail(f"{station} is not a station folder with a journal", 2)
    with clear_errors():
        client = his_client(fhir, token, client_id, client_key, token_url, WRITE_SCOPE, ca_cert)
        try:
            with bar() as progress, collector_paused():
                task = progress.add_task("filing", total=None)
                done = run(station, client, only, dry_run,
                           lambda answered, total: progress.update(task, completed=answered,
                                                                   total=total))
        except UnknownPatient as exc:
            fail(str(exc), 2)
        finally:
            client.close()
        if report is not None:
            write_atomic(report, orjson.dumps(done, option=orjson.OPT_INDENT_2))
            write_pdf(done, report.with_suffix(".pdf"), station_zone(station))
    summary(done)
    raise typer.Exit(0 if complete(done) else 1)


def station_zone(station: Path) -> str | None:
    """The hospital's time zone for the printed report: the station's setting, when the
    folder is a whole station (a journal folder alone has none: times stay UTC)."""
    from ..station.sync import Settings

    try:
        return Settings.load(station).timezone
    except ReleveError:
        return None


def write_pdf(report: dict, path: Path, zone: str | None) -> None:
    """The crisis cell's copy of the report, beside the JSON (WeasyPrint loads only here)."""
    from ..wayback.reconcile_pdf import write

    write(report, path, zone)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off while the run goes: the run keeps every entry it read,
    parsed (half a million objects at 10,000 entries), until its end and makes next to no
    cycles, so the full collections that loading them set off, again and again, freed
    nothing and cost a fifth of the run's CPU. Reference counting frees the rest as usual.
    What the run allocated is frozen before the collector comes back: else the first
    collection after it walks every one of those objects (about 0.1 s) on the way out."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.freeze()
            gc.enable()


def bar() -> Progress:
    """The filing's progress on stderr, on a terminal only (a log would fill with it)."""
    return Progress("[progress.description]{task.description}", BarColumn(),
                    MofNCompleteColumn(), TimeRemainingColumn(), console=err,
                    disable=not err.is_terminal, transient=True)


def summary(report: dict) -> None:
    """Identities, counts per state, then each entry a person has to look at."""
    from ..wayback.reconcile_report import not_done

    for who in report["identities"]:
        decided = (f"decided: {who['decision']} {who['decided_his'] or ''}".strip()
                   if who["decision"] else "UNDECIDED: `releve journal identities` to confirm")
        out.print(escape(f"identity {who['patient']} (IPP {who['ipp']}, {who['name']}, "
                         f"{who['birthDate']}): proposed {who['proposal']} {who['his'] or ''} "
                         f"[{who['basis']}], {decided}"), highlight=False)
    what = "plan" if report["dry_run"] else "reconcile"
    counts = ", ".join(f"{state} {n}" for state, n in report["counts"].items())
    out.print(escape(f"{what}: {len(report['entries'])} entries: {counts or 'none'}"),
              highlight=False)
    rows = not_done(report)
    if report["dry_run"]:
        rows.sort(key=lambda row: str(row["detail"]) if row["state"] == "pending" else "~")
    for row in rows[:SHOWN]:
        author = row["author"]
        out.print(escape(f"{row['entry']}  {row['kind']}  {author['name']} ({author['role']})  "
                         f"{row['time']}  {row['state']}"
                         + (f" {row['status']}" if row["status"] else "")
                         + (f": {row['detail']}" if row["detail"] else "")), highlight=False)
    if len(rows) > SHOWN:
        out.print(f"… and {len(rows) - SHOWN} more (--report FILE lists them all)")
