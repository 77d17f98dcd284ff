"""Paper with the next downtime numbers: a sheet of numbered labels (an IPP and a stay
number per sticker, to pre-stick paper admission forms) and blank admission forms printed
with their numbers. The numbers printed are reserved (station/local/identifiers.py): the
web routes (web/rec_movements_print.py) and `releve station print downtime-labels|
admission-form` both come here, so the rule is kept in one place.
"""

from __future__ import annotations

from pathlib import Path

from ..local.identifiers import Identifiers, Number
from ..views import census as census_q
from . import codes
from .documents import Desk, Printout
from .pdf import render

PER_SHEET = 24  # 3 x 8 stickers, as the patient labels
MAX_LABELS = 4 * PER_SHEET
SHEETS = {"downtime-labels": "rec_numbers.html", "admission-form": "rec_admission_form.html"}


def label_view(pair: tuple[Number, Number]) -> dict:
    ipp, stay = pair
    return {"ipp": ipp.value, "stay": stay.value, "ipp_bar": codes.code128_img(ipp.value)}


def numbered(desk: Desk, station_dir: Path, ward: str, page: str, count: int) -> Printout:
    """Reserve `count` pairs of numbers (IdentifierError when too few are left) and lay
    them out; the audit detail names the numbers, never a patient."""
    pairs = Identifiers(station_dir).reserve(min(max(count, 1), MAX_LABELS))
    unit = census_q.all_places(desk.conn).get(ward)
    pdf = render(SHEETS[page], desk.lang, desk.zone, sheet=desk.sheet(),
                 labels=[label_view(p) for p in pairs], ward_name=unit.name if unit else ward)
    detail = (f"ipp {pairs[0][0].value}-{pairs[-1][0].value} "
              f"stay {pairs[0][1].value}-{pairs[-1][1].value}")
    return Printout(pdf, page, f"{page}.pdf", [], detail)
