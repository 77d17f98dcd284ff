"""Every printout the station makes, as data gathered from the index then one PDF.

Each function answers a `Printout` (the PDF, and what the audit must record of it) or
None when the index does not know the patient or the ward. The data comes from the same
code as the pages: views.summary for a patient's medications and due times (the MAR is
the summary's plan, never a second reading of the orders), views/census.py, schedule.py
and directory.py for the sheets. Who printed, when, and how old the data is go in every
page's footer: a sheet lying on a desk must say what it was true of.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from ... import clock
from ...journal.book import Journal
from ...journal.fates import Fates
from ..i18n import LANGUAGES
from ..index.head import read_head
from ..local.audit import Audit
from ..recorded import recorded_for
from ..sync import Settings
from ..views import census as census_q
from ..views import directory as directory_q
from ..views import formats, movements
from ..views import schedule as schedule_q
from ..views import summary as summary_v
from ..views.summary import shifts
from ..views.summary.reader import Recorded
from . import card as cards
from .pdf import Pdf, local_now, render


@dataclass
class Desk:
    """Where, when and by whom a printout is made: what every sheet says in its footer."""

    conn: sqlite3.Connection
    station: str
    zone: str
    lang: str
    user: str
    now: dt.datetime
    data_as_of: str  # "02/12 14:03", the capture time of the data, in the station's zone
    journal: Journal | None = None  # what the wards recorded: printed beside the vault's
    fates: Fates | None = None  # what reconcile did with the entries (the app's, when open)

    @classmethod
    def open(cls, station_dir: Path, conn: sqlite3.Connection, user: str,
             lang: str | None = None, journal: Journal | None = None,
             fates: Fates | None = None) -> Desk:
        settings = Settings.load(station_dir)
        head = read_head(conn)
        chosen = lang if lang in LANGUAGES else settings.language
        return cls(conn, settings.name, settings.timezone, chosen, user,
                   clock.now(),
                   formats.datetime_text(head.state_time, settings.timezone) if head else "",
                   journal or Journal(station_dir), fates)

    def recorded(self, pid: str) -> Recorded | None:
        """The patient's downtime entries, so that paper and screen show the same."""
        return recorded_for(self.journal, pid) if self.journal is not None else None

    def moves(self) -> movements.Moves | None:
        """The movements recorded during the downtime: the printed census is the screen's."""
        return movements.read(self.journal) if self.journal is not None else None

    def summary(self, pid: str) -> summary_v.Summary | None:
        return summary_v.summary(self.conn, pid, self.now, self.zone, self.recorded(pid))

    def sheet(self) -> dict:
        return {"station": self.station, "printed_at": local_now(self.zone),
                "printed_by": self.user, "data_as_of": self.data_as_of}


@dataclass
class Printout:
    """A PDF and what the audit log records of it (one entry listing every patient printed)."""

    pdf: Pdf
    page: str  # mar, mar-ward, census, or, directory, labels, wristband, forms
    filename: str  # names no patient: it ends up in download folders and print queues
    patients: list[str] = field(default_factory=list)
    detail: str | None = None


PATIENT_SHEETS = ("mar", "labels", "wristband", "forms")  # one patient's, from their summary


def record(audit: Audit, user: str, printout: Printout) -> None:
    """Audit a printout like a view: one patient's sheet names them as the entry's
    patient; a sheet of many lists them all in the one entry."""
    page = f"print-{printout.page}"
    if printout.page in PATIENT_SHEETS and len(printout.patients) == 1:
        audit.record(user, "print", page, patient=printout.patients[0], detail=printout.detail)
    else:
        audit.record(user, "print", page, detail=printout.detail, patients=printout.patients)


# --- the MAR ---------------------------------------------------------------------------------


@dataclass
class MarPatient:
    """One patient's pages of the MAR: the summary, and the bed the census gives."""

    s: summary_v.Summary
    bed: str


def _render(desk: Desk, template: str, **context) -> Pdf:
    return render(template, desk.lang, desk.zone, sheet=desk.sheet(), **context)


def _mar(desk: Desk, patients: list[MarPatient], title: str, shift: str | None = None) -> Pdf:
    return _render(desk, "mar.html", **mar_context(desk, patients, title, shift))


def mar_context(desk: Desk, patients: list[MarPatient], title: str,
                shift: str | None = None) -> dict:
    """What mar.html is given: the patients and the window it covers, the next 24 h or
    one nursing shift (views/summary/shifts.py)."""
    tz = ZoneInfo(desk.zone)
    window = shifts.window(shift, desk.now.astimezone(tz), desk.zone)
    return dict(patients=patients, title=title, window=window,
                start=window.start.astimezone(tz).strftime("%d/%m/%Y %H:%M"),
                end=window.end.astimezone(tz).strftime("%d/%m/%Y %H:%M"),
                day=lambda when: when.astimezone(tz).strftime("%d/%m"),
                num=formats.number_filter(desk.lang), crit=summary_v.CRITICALITY)


def _bed_of(s: summary_v.Summary) -> str:
    stay = s.stay
    return " · ".join(p for p in (stay.unit, stay.room, stay.bed) if p) if stay else ""


def patient_mar(desk: Desk, pid: str, shift: str | None = None) -> Printout | None:
    found = desk.summary(pid)
    if found is None:
        return None
    pdf = _mar(desk, [MarPatient(found, _bed_of(found))], title=found.identity.name, shift=shift)
    return Printout(pdf, "mar", "mar.pdf", [pid], shift)


def ward_mar(desk: Desk, unit_id: str, shift: str | None = None) -> Printout | None:
    """The whole ward's MAR in one document, a patient per page group, in bed order."""
    census = census_q.census(desk.conn, unit_id, desk.now, desk.zone, desk.moves())
    if census is None:
        return None
    patients = []
    for pid, place in census_q.ward_patients(census):
        found = desk.summary(pid)
        if found is not None:
            patients.append(MarPatient(found, " · ".join(p for p in (census.unit.name, place) if p)))
    pdf = _mar(desk, patients, title=census.unit.name, shift=shift)
    return Printout(pdf, "mar-ward", "mar-ward.pdf", [p.s.patient_id for p in patients],
                    "; ".join(d for d in (unit_id, shift) if d))


# --- sheets ----------------------------------------------------------------------------------


def census_sheet(desk: Desk, unit_id: str) -> Printout | None:
    census = census_q.census(desk.conn, unit_id, desk.now, desk.zone, desk.moves())
    if census is None:
        return None
    ipps = census_q.identifiers(desk.conn, census.patient_ids)
    pdf = _render(desk, "census.html", census=census, ids=ipps,
                  patient_name=census_q.patient_name)
    return Printout(pdf, "census", "census.pdf", census.patient_ids, unit_id)


def or_sheet(desk: Desk, day: dt.date) -> Printout:
    rooms = schedule_q.day_schedule(desk.conn, day, desk.zone)
    pdf = _render(desk, "or.html", rooms=rooms, day_title=schedule_q.long_date(day, desk.lang))
    return Printout(pdf, "or", f"bloc-{day.isoformat()}.pdf", schedule_q.patient_ids(rooms),
                    day.isoformat())


def directory_sheet(desk: Desk) -> Printout:
    found = directory_q.entries(desk.conn)
    pdf = _render(desk, "directory.html", units=[e for e in found if e.kind == "unit"],
                  people=[e for e in found if e.kind == "person"])
    return Printout(pdf, "directory", "annuaire.pdf")


# --- identity: labels, wristband, forms ------------------------------------------------------------


def labels(desk: Desk, pid: str, count: int = cards.LABELS_PER_SHEET) -> Printout | None:
    card = cards.card(desk.conn, pid, desk.now, desk.zone, local=desk.recorded(pid))
    if card is None:
        return None
    pdf = _render(desk, "labels.html", card=card, count=count)
    return Printout(pdf, "labels", "etiquettes.pdf", [pid])


def wristband(desk: Desk, pid: str) -> Printout | None:
    card = cards.card(desk.conn, pid, desk.now, desk.zone, local=desk.recorded(pid), band=True)
    if card is None:
        return None
    pdf = _render(desk, "wristband.html", card=card)
    return Printout(pdf, "wristband", "bracelet.pdf", [pid])


def forms(desk: Desk, pid: str | None = None) -> Printout | None:
    """Admission, medication order and observation chart: pre-filled with the patient's
    identity, or with empty identity boxes for someone who arrives during the outage."""
    card = None
    if pid is not None:
        card = cards.card(desk.conn, pid, desk.now, desk.zone, local=desk.recorded(pid))
        if card is None:
            return None
    pdf = _render(desk, "forms.html", card=card)
    return Printout(pdf, "forms", "formulaires.pdf" if card else "formulaires-vierges.pdf",
                    [pid] if pid else [])
