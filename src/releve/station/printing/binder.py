"""The ward binder ("Imprimer le classeur du service"): for every patient of a ward, in
bed order, their summary, their MAR for the next 24 h, their wristband and a sheet of
labels, bound in one PDF. What a ward prints at the start of a downtime, or before a
planned one, so that each patient has their paper file.

Each patient's four documents are laid out one after the other (each with its own page
size: the wristband is landscape) and bound at the end (pdf.bound); the caller is told
after each patient, so the command line and the web page can show the progress. The
data is the pages' and the other printouts': views.summary for the summary and the MAR,
card.py for the wristband and labels, views/census.py for who lies where.
"""

from __future__ import annotations

from collections.abc import Callable

from ..views import census as census_q
from ..views import formats
from ..views import summary as summary_v
from . import card as cards
from .documents import Desk, MarPatient, Printout, mar_context
from .pdf import bound, engine

Progress = Callable[[int, int], None]  # (patients done, patients in all)
MAX_RESULTS = 20  # results on a printed summary: the latest first; the station has the rest


def ward_binder(desk: Desk, unit_id: str, progress: Progress | None = None) -> Printout | None:
    """The binder of the ward `unit_id`; None if the index does not know the ward."""
    census = census_q.census(desk.conn, unit_id, desk.now, desk.zone, desk.moves())
    if census is None:
        return None
    patients = census_q.ward_patients(census)
    tell = progress or (lambda done, total: None)
    tell(0, len(patients))
    documents, printed = [], []
    for number, (pid, place) in enumerate(patients, start=1):
        found = desk.summary(pid)
        card = cards.card(desk.conn, pid, desk.now, desk.zone, band=True,
                          summarised=found) if found is not None else None
        if found is not None and card is not None:
            bed = " · ".join(p for p in (census.unit.name, place) if p)
            documents += patient_part(desk, found, card, bed)
            printed.append(pid)
        tell(number, len(patients))
    if not documents:
        documents.append(_document(desk, "mar.html", **mar_context(desk, [], census.unit.name)))
    return Printout(bound(documents), "binder", "classeur.pdf", printed, unit_id)


def patient_part(desk: Desk, found: summary_v.Summary, card: cards.Card, bed: str) -> list:
    """One patient's four documents, laid out, in the binder's order (`card` made with
    band=True serves the wristband and the labels)."""
    return [
        _document(desk, "summary.html", s=found, bed=bed, max_results=MAX_RESULTS,
                  num=formats.number_filter(desk.lang)),
        _document(desk, "mar.html", **mar_context(desk, [MarPatient(found, bed)], found.identity.name)),
        _document(desk, "wristband.html", card=card),
        _document(desk, "labels.html", card=card, count=cards.LABELS_PER_SHEET),
    ]


def _document(desk: Desk, template: str, **context):
    shared = engine()
    return shared.document(shared.html(template, desk.lang, desk.zone, sheet=desk.sheet(),
                                       **context))
