"""A patient's downtime entries as a history (« Saisies du mode dégradé »): every entry
from every station the station holds, newest first, the versions that were replaced kept
and marked, for the patient page, its full list and the paper chart.

The rules (docs/journal.md §5.8): nothing is ever left out; an entry another
one superseded is shown struck, « remplacé par » the newer one, or « annulé : raison »
when the newer one is a cancellation (its resource entered-in-error); a correction says
which entry it corrects and why. Two stations correcting the same entry leave two
current versions, both shown. Once `releve journal reconcile` has run, each entry also
says what became of it on the way back into the HIS (journal/fates.py): `with_fates`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..fhir.clinical.values import resource_text
from ..journal.book import Journal, versions
from ..journal.entry import Entry
from ..journal.fates import Fate, Fates
from ..journal.kinds import order_check
from .views.summary.downtime_orders import order_text

KIND_WORDS = {"administration": "Administration", "observation": "Observation", "note": "Note",
              "transmission": "Transmission", "admission": "Admission", "transfer": "Transfert",
              "discharge": "Sortie", "death": "Décès", "order": "Prescription",
              "order-check": "Validation pharmaceutique"}
STATUS_WORDS = {"stopped": "arrêtée", "revoked": "arrêtée", "entered-in-error": "annulée"}


@dataclass(frozen=True)
class Line:
    """One entry of the history, in words."""

    key: str
    time: str  # UTC ISO, when it was written
    kind: str  # in French
    what: str
    author: str
    role: str
    station: str
    here: bool  # written on this station
    corrects: str = ""  # the key of the entry this one replaced
    reason: str = ""  # why it was corrected, stopped or cancelled
    replaced_by: str = ""  # the key of the entry that replaced this one
    replaced_at: str = ""
    cancelled: str = ""  # the reason given by the cancellation that replaced it ("" if none)
    fate: Fate | None = None  # what reconcile did with it; None when never reconciled

    @property
    def struck(self) -> bool:
        return bool(self.replaced_by)


def history(journal: Journal, patient_id: str, limit: int | None = None,
            entries: list[Entry] | None = None) -> tuple[list[Line], int]:
    """The patient's entries newest first (the `limit` newest when given: a line's words
    cost more than its reading, and the patient page shows a few), with how many there
    are in all."""
    if entries is None:  # oldest first
        entries = journal.for_patient(f"Patient/{patient_id}")
    by_key = {e.key: e for e in entries}
    later = versions(entries).replaced_by
    newest = entries[::-1][:limit] if limit is not None else entries[::-1]
    return [_line(journal.station, e, by_key, later.get(e.key)) for e in newest], len(entries)


def with_fates(lines: list[Line], fates: Fates) -> list[Line]:
    """The lines, each with its fate on the way back. The lines may be shared (a page's
    history is kept between views), the fates change under them: copies are given."""
    found = fates.fates(line.key for line in lines)
    return [replace(line, fate=found[line.key]) if line.key in found else line for line in lines]


def _line(here: str, entry: Entry, by_key: dict[str, Entry], replaced: Entry | None) -> Line:
    author = entry.author
    cancelled = ""
    if replaced is not None and replaced.resource.get("status") == "entered-in-error":
        cancelled = replaced.body.get("reason") or "sans raison donnée"
    return Line(entry.key, entry.time, KIND_WORDS.get(entry.kind, entry.kind), what(entry, by_key),
                author.name, author.role, entry.station, entry.station == here,
                entry.supersedes or "", entry.body.get("reason") or "",
                replaced.key if replaced else "", replaced.time if replaced else "", cancelled)


def what(entry: Entry, by_key: dict[str, Entry]) -> str:
    """What an entry recorded, in one line."""
    resource = entry.resource
    status = STATUS_WORDS.get(str(resource.get("status")), "")
    if entry.kind == "order":
        text = order_text(resource)
        return f"{text} — {status}" if status else text
    if entry.kind == "order-check":
        outcome = order_check.OUTCOMES.get(order_check.outcome_of(resource), "")
        comment = order_check.comment_of(resource)
        checked = by_key.get(order_check.checked_entry(resource))
        about = order_text(checked.resource) if checked else order_check.checked_entry(resource)
        return f"{outcome}{' : ' + comment if comment else ''} — {about}"
    try:
        text = resource_text(resource) or resource["resourceType"]
    except Exception:  # noqa: BLE001 - a resource a peer wrote oddly still has a line
        text = resource["resourceType"]
    return f"{text} — {status}" if status else text
