"""`releve station print ...`: the station's printouts from the shell, for batch runs.

    releve station print mar --ward UNIT --out FILE.pdf --station DIR
    releve station print mar --patient ID --out FILE.pdf --station DIR
        [--shift matin|apres-midi|nuit|jour]   one nursing shift, or the next 24 h
    releve station print census --ward UNIT ...      print or [--date YYYY-MM-DD] ...
    releve station print directory ...                print labels|wristband --patient ID ...
    releve station print forms [--patient ID] ...
    releve station print entries --patient ID ...    every downtime entry of the patient
    releve station print downtime-labels|admission-form --ward UNIT [--count N] ...
    releve station print binder --ward UNIT ...      every patient's summary, MAR, wristband
                                                     and labels, in one PDF (a progress bar)

IT schedules `print mar --ward ...` for every ward every few hours before a planned
outage, as hospitals do. UNIT is the ward's Location id, its name or its code. Every
print is audited like a view, one entry per patient on the paper; the user is the OS
login (`os:<login>`) unless `--user` names who asked for it. Nothing printed on the
terminal names a patient: only the file, its pages and how long it took.
"""

from __future__ import annotations

import datetime as dt
import getpass
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape

from ..errors import ReleveError
from ..files import AS_CREATED, write_atomic
from ..station.index.connection import reader
from ..station.local.audit import Audit
from ..station.sync import Settings
from ..station.views.wards import UnknownWard, find_ward
from .console import err, fail, out

if TYPE_CHECKING:
    from ..station.printing import documents

print_app = typer.Typer(help="Print the station's sheets as PDF (MAR, census, OR, directory, "
                             "labels, wristband, downtime forms).",
                        no_args_is_help=True, add_completion=False)
STATION = typer.Option(..., "--station", help="The station's folder")
OUT = typer.Option(..., "--out", help="The PDF file to write")
USER = typer.Option(None, "--user", help="Who the print is for, in the audit log (default: os:<login>)")
LANG = typer.Option(None, "--lang", help="fr or en (default: the station's language)")
WARD = typer.Option(..., "--ward", help="The ward: its Location id, name or code")
PATIENT = typer.Option(..., "--patient", help="The Patient id")


def _docs():
    """The printouts' module, imported when a command runs: it brings in the web app's
    modules and WeasyPrint, which the other `releve` commands should not wait for."""
    from ..station.printing import documents

    return documents


def _run(station: Path, out_file: Path, user: str | None, lang: str | None,
         make: Callable[[documents.Desk], documents.Printout | None], missing: str) -> None:
    """Open the index, make the printout, write it, audit it; clear errors otherwise."""
    started = time.perf_counter()
    who = user or f"os:{getpass.getuser()}"
    try:
        Settings.load(station)  # a folder that is not a station says so, before anything else
        conn = reader(station)
        if conn is None:
            fail("this station holds no data yet: run `releve station sync` first")
        desk = _docs().Desk.open(station, conn, who, lang)
        try:
            printout = make(desk)
        except UnknownWard as exc:
            known = ", ".join(f"{u.place.id} ({u.place.name})" for u in exc.known) or "none"
            fail(f"no ward named {exc.text!r} on this station; wards: {known}")
        if printout is None:
            fail(missing)
        _write(out_file, printout.pdf.data)
        _docs().record(Audit(station), who, printout)
    except ReleveError as exc:
        fail(str(exc))
    except OSError as exc:  # the station's own files (index, audit log)
        if exc.filename is None:  # not a file that failed: Jinja's TemplateNotFound is one
            raise
        fail(f"{exc.filename}: {exc.strerror}")
    out.print(f"wrote {escape(str(out_file))} ({printout.pdf.pages} page(s), {len(printout.patients)} "
              f"patient(s), {time.perf_counter() - started:.1f} s)", highlight=False)


def _write(out_file: Path, data: bytes) -> None:
    """The PDF to --out, its folder made if need be. Written beside it then renamed: a
    scheduled print that fails half-way leaves the last good PDF, not a torn one. An
    --out that cannot be written says so by its name, and nothing is audited."""
    try:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(out_file, data, AS_CREATED)
    except FileExistsError:  # what mkdir says of a file standing where the folder should be
        fail(f"cannot write the PDF to {out_file}: {out_file.parent} is not a folder")
    except OSError as exc:
        fail(f"cannot write the PDF to {out_file}: {exc.strerror or exc}")


NO_PATIENT = "no patient with this id in the station's data"
NO_WARD = "no such ward in the station's data"


@print_app.command("mar")
def mar(station: Path = STATION, out_file: Path = OUT,
        ward: str | None = typer.Option(None, "--ward", help="The whole ward (Location id, name or code)"),
        patient: str | None = typer.Option(None, "--patient", help="One patient (Patient id)"),
        shift: str | None = typer.Option(None, "--shift",
                                  help="matin (07-15), apres-midi (15-23), nuit (23-07): the shift in "
                                       "progress or the next; jour (default): the next 24 h"),
        user: str | None = USER, lang: str | None = LANG) -> None:
    """The MAR for the next 24 h or one shift: a ward's in one document, or one patient's."""
    if (ward is None) == (patient is None):
        fail("give exactly one of --ward or --patient", 2)
    if ward is not None:
        _run(station, out_file, user, lang,
             lambda desk: _docs().ward_mar(desk, find_ward(desk.conn, ward), shift), NO_WARD)
    else:
        _run(station, out_file, user, lang, lambda desk: _docs().patient_mar(desk, patient, shift),
             NO_PATIENT)


@print_app.command("census")
def census(station: Path = STATION, out_file: Path = OUT, ward: str = WARD,
           user: str | None = USER, lang: str | None = LANG) -> None:
    """The ward's census sheet: beds, patients, allergies, alerts, diet."""
    _run(station, out_file, user, lang,
         lambda desk: _docs().census_sheet(desk, find_ward(desk.conn, ward)), NO_WARD)


@print_app.command("or")
def operating_rooms(station: Path = STATION, out_file: Path = OUT,
                    date: str | None = typer.Option(None, "--date", help="YYYY-MM-DD (default: today)"),
                    user: str | None = USER, lang: str | None = LANG) -> None:
    """One day of the OR schedule, room by room."""
    try:
        day = dt.date.fromisoformat(date) if date else None
    except ValueError:
        fail(f"--date must be YYYY-MM-DD, not {date!r}", 2)

    def make(desk: documents.Desk) -> documents.Printout:
        return _docs().or_sheet(desk, day or desk.now.astimezone(ZoneInfo(desk.zone)).date())

    _run(station, out_file, user, lang, make, "")


@print_app.command("directory")
def directory(station: Path = STATION, out_file: Path = OUT,
              user: str | None = USER, lang: str | None = LANG) -> None:
    """The phone directory: units, then people."""
    _run(station, out_file, user, lang, lambda desk: _docs().directory_sheet(desk), "")


@print_app.command("labels")
def labels(station: Path = STATION, out_file: Path = OUT, patient: str = PATIENT,
           user: str | None = USER, lang: str | None = LANG) -> None:
    """An A4 sheet of 24 patient labels (DataMatrix INS and the IPP's Code 128)."""
    _run(station, out_file, user, lang, lambda desk: _docs().labels(desk, patient), NO_PATIENT)


@print_app.command("wristband")
def wristband(station: Path = STATION, out_file: Path = OUT, patient: str = PATIENT,
              user: str | None = USER, lang: str | None = LANG) -> None:
    """The patient's wristband (two copies on an A4 sheet, to cut out)."""
    _run(station, out_file, user, lang, lambda desk: _docs().wristband(desk, patient), NO_PATIENT)


@print_app.command("forms")
def forms(station: Path = STATION, out_file: Path = OUT,
          patient: str | None = typer.Option(None, "--patient", help="Pre-fill with this patient's identity"),
          user: str | None = USER, lang: str | None = LANG) -> None:
    """Downtime forms (admission, medication order, observation chart), pre-filled with a
    patient's identity or blank for someone who arrives during the outage."""
    _run(station, out_file, user, lang, lambda desk: _docs().forms(desk, patient), NO_PATIENT)


@print_app.command("binder")
def binder(station: Path = STATION, out_file: Path = OUT, ward: str = WARD,
           user: str | None = USER, lang: str | None = LANG) -> None:
    """The ward binder: for every patient of the ward, in bed order, the summary, the MAR
    for the next 24 h, the wristband and a sheet of labels, in one PDF."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from ..station.printing.binder import ward_binder

    def make(desk: documents.Desk) -> documents.Printout | None:
        unit = find_ward(desk.conn, ward)
        with Progress("[progress.description]{task.description}", BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), console=err,
                      disable=not err.is_terminal, transient=True) as bar:
            task = bar.add_task("patients", total=None)
            return ward_binder(desk, unit, lambda done, total: bar.update(task, completed=done,
                                                                           total=total))

    _run(station, out_file, user, lang, make, NO_WARD)


@print_app.command("entries")
def entries(station: Path = STATION, out_file: Path = OUT, patient: str = PATIENT,
            user: str | None = USER, lang: str | None = LANG) -> None:
    """Every downtime entry of a patient (« Saisies du mode dégradé »), from every station
    held, replaced versions struck: for the paper chart."""
    from ..journal.book import Journal
    from ..station.printing.entries import entries_sheet

    _run(station, out_file, user, lang, lambda desk: entries_sheet(desk, Journal(station), patient),
         NO_PATIENT)


@print_app.command("downtime-labels")
def downtime_labels(station: Path = STATION, out_file: Path = OUT, ward: str = WARD,
                    count: int = typer.Option(24, "--count", help="Stickers, 1 to 96"),
                    user: str | None = USER, lang: str | None = LANG) -> None:
    """Numbered labels, each with the next downtime IPP and stay number, to pre-stick
    paper admission forms. The numbers printed are reserved: never given again."""
    from ..station.printing.numbers import numbered

    _run(station, out_file, user, lang, lambda desk: numbered(
        desk, station, find_ward(desk.conn, ward), "downtime-labels", count), NO_WARD)


@print_app.command("admission-form")
def admission_form(station: Path = STATION, out_file: Path = OUT, ward: str = WARD,
                   user: str | None = USER, lang: str | None = LANG) -> None:
    """A blank admission form printed with the next downtime IPP and stay number (reserved)."""
    from ..station.printing.numbers import numbered

    _run(station, out_file, user, lang, lambda desk: numbered(
        desk, station, find_ward(desk.conn, ward), "admission-form", 1), NO_WARD)
