"""« Imprimer les saisies du mode dégradé »: every downtime entry of a patient, from every
station held, on paper for the chart, the replaced versions struck as on screen
(station/entry_history.py), with what became of each on the way back into the HIS.
Audited like every print (documents.record)."""

from __future__ import annotations

from ...journal.book import Journal
from ...journal.fates import Fates
from ..entry_history import history, with_fates
from ..recorded import recorded_for
from ..views import summary as summary_v
from .documents import Desk, Printout, _render


def entries_of(desk: Desk, pid: str) -> Printout | None:
    """The same, from the journal the desk was opened with (the page's print button)."""
    return entries_sheet(desk, desk.journal, pid, desk.fates) if desk.journal is not None else None


def entries_sheet(desk: Desk, journal: Journal, pid: str, fates: Fates | None = None) -> Printout | None:
    """The patient's entries as PDF, or None when the station knows no such patient.
    `fates`: the station's, when it has them open (a command opens its own)."""
    found = summary_v.summary(desk.conn, pid, desk.now, desk.zone, recorded_for(journal, pid))
    if found is None:
        return None
    lines, _ = history(journal, pid)
    lines = with_fates(lines, fates if fates is not None else Fates(journal.dir))
    pdf = _render(desk, "entries.html", s=found, lines=lines, here=journal.station)
    return Printout(pdf, "entries", "saisies-mode-degrade.pdf", [pid], f"{len(lines)} saisies")
