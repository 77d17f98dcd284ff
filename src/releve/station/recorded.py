"""What the wards recorded, in the form the pages read: the journal's current entries of a
patient turned into `Recorded` for the summary (views/summary/reader.py).

The current version of a resource is the last entry nobody replaced; a cancellation is a
replacement whose resource is entered-in-error, which the summary counts and never
shows. Every page and printout that shows a patient's record goes through
`recorded_for`, so the screen and the paper agree.

Only what a summary can show is handed to it: the newest SHOWN_VALUES measures of each
code (the pages show no more of one measure, on screen or on paper) and the
administrations of the last RECENT hours (its plan and its 24 h look no further back). A
patient with hundreds of entries would otherwise make every view of the page pay for all
of them; the entries' page, which reads the entries themselves, still shows every one.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from .. import clock
from ..journal.book import Journal, versions
from ..journal.entry import Entry, utc_text
from .views.summary.observations import SHOWN_VALUES
from .views.summary.reader import Mark, Recorded

RECENT = dt.timedelta(hours=72)  # an administration entered late may be 24 h older


def recorded_for(journal: Journal, patient_id: str, entries: list[Entry] | None = None) -> Recorded:
    """`entries`: the patient's entries when the caller has read them already; without
    them, what the journal made of its entries for the last view is given again (made
    once per state of the journal and hour: the recent administrations are an hour's)."""
    if entries is not None:
        return _recorded(patient_id, entries)
    hour = utc_text(clock.now())[:13]
    return journal.derived(f"Patient/{patient_id}", f"recorded:{hour}",
                           lambda found: _recorded(patient_id, found))


def _recorded(patient_id: str, entries: list[Entry]) -> Recorded:
    out = Recorded()
    chains = {chain.entry.key: chain for chain in versions(entries).chains}
    for entry in shown([chain.entry for chain in chains.values()]):
        resource = entry.resource
        rtype = resource["resourceType"]
        if rtype == "Patient":
            if resource.get("id") == patient_id:
                out.patient = resource
            continue
        out.resources.append((rtype, resource))
        out.entries[id(resource)] = mark_of(entry, chains[entry.key].oldest_first())
    return out


def shown(entries: list[Entry]) -> list[Entry]:
    """The entries a summary can show: all but older measures and administrations."""
    since = utc_text(clock.now() - RECENT)
    by_code: dict[str, list[tuple[float, Entry]]] = defaultdict(list)
    out = []
    for entry in entries:
        rtype = entry.resource.get("resourceType")
        if rtype == "Observation":
            by_code[entry.code].append((entry.when, entry))
        elif rtype != "MedicationAdministration" or entry.time >= since:
            out.append(entry)
    for measures in by_code.values():
        measures.sort(key=lambda pair: pair[0], reverse=True)
        out += [entry for _, entry in measures[:SHOWN_VALUES]]
    return out


def mark_of(entry: Entry, superseded: tuple[str, ...] = ()) -> Mark:
    author = entry.author
    return Mark(entry.key, entry.station, entry.time, author.name, author.role, superseded)

